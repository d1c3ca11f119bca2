//! One entry point for the convex programs: [`fit`] chooses the solver ("auto"), runs the chain
//! (zero test → interior-point method → conic endgame on a working set → first-order finish),
//! keeps the best point and the best dual bound seen, and says why when it cannot certify.
//!
//! **Certificate.** Every solver ends with a primal point z (upper bound ub: the larger of the
//! convex objective and the objective of the ReLU network recovered from z) and a dual-feasible
//! point λ (lower bound lb = −Σ ℓ*(λ_k), see [`Problem::certify`]). The fit is *converged*
//! when ub − lb ≤ tol · max(|ub|, tiny) ([`super::gap_ok`]).
//!
//! **β_max.** At z = 0 the dual candidate is λ₀ = ℓ'(0) and block b's dual residual is
//! min_{μ ≥ 0} ‖A_bᵀλ₀ − S_bᵀμ‖ (NNLS; for the gated program ‖A_bᵀλ₀‖); β_max is the largest
//! over the blocks. For β ≥ β_max the zero network is optimal, certified by λ₀ itself, and is
//! returned exactly (no solver runs). The NNLS per block is skipped when β is below a lower
//! bound of β_max built from the patterns' witnesses ([`beta_max_lower_bound`], O(n) per
//! block): the zero network is then not optimal and β_max is not reported.
//!
//! **Endgame.** The interior-point method of [`super::pdip`] reaches relative gaps of 1e-4 …
//! 1e-6 fast, but on degenerate optima (≈ n + 1 active blocks, rows active with zero
//! multipliers — the small-β regime) its reduced Newton systems lose the accuracy the last
//! digits need, and the dual point λ = ℓ'(prediction) built from an inaccurate primal point
//! is infeasible by ~√(primal gap), so the certificate stalls even where the objective is
//! right. The endgame solves the program restricted to a working set W of patterns (the
//! support found so far plus the patterns whose dual constraint fails) with Clarabel (a direct
//! sparse LDL on the full KKT system, with regularisation and iterative refinement), takes λ
//! from its zero-cone multipliers — a dual point accurate to the solver's tolerance, not to
//! its square root — and prices it on *every* pattern by NNLS; patterns whose dual constraint
//! fails join W (column generation) until the full program's gap closes. Patterns the solve
//! left at zero with a slack dual constraint leave W in the first rounds, so W tracks the
//! support instead of accumulating every pattern once flagged. For d ≤ 3 and n ≤ 200 (small
//! data, all chambers: P ≫ n) "auto" runs this loop from z = 0 without the interior-point
//! stage ([`CONIC_FIRST_MAX_N`]).

use ndarray::{Array1, Array2, ArrayView2};

use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

/// The solvers [`fit`] knows ("auto" chooses one of the others).
pub const SOLVERS: [&str; 6] = ["auto", "ipm", "conic", "newton", "fista", "admm"];

/// "auto" takes the interior-point path for the ReLU program when a Newton step on the whole
/// program is cheap (Σ_i n_i² d at most this) …
pub const IPM_MAX_WORK: f64 = 1e8;
/// … or the program has at most this many samples (its working-set loop).
pub const IPM_MAX_N: usize = 1000;
/// "auto" picks Newton for the gated program up to this many samples …
pub const NEWTON_MAX_N: usize = 4000;
/// … while n² ≤ NEWTON_RATIO · d · P.
pub const NEWTON_RATIO: f64 = 1000.0;
/// Largest conic problem (nonzeros of its constraint matrix) the endgame builds.
pub const CONIC_MAX_NNZ: usize = 20_000_000;
/// Bytes per nonzero of the endgame's constraint matrix charged to the memory budget
/// ([`super::Budget`]): Clarabel's KKT system, its LDL factor and the working-set problem's
/// copies (cvxpy + Clarabel measured ~150 at 80M nonzeros).
pub const CONIC_BYTES_PER_NNZ: usize = 150;
/// Iteration budget of the interior-point stage (its first-order finish included) when the
/// conic endgame follows. The interior-point iterations themselves are few (15–25 per
/// working-set round); what a larger budget buys is FISTA finishing a round the method left
/// open, which the endgame (Clarabel on the working set, facet rows only) does faster: n = 40,
/// d = 3, all 1,562 patterns, β = 1e-2 spent 1,000 iterations (a third of the fit) to leave a
/// relative gap of 0.86.
pub const IPM_STAGE_MAX_ITER: usize = 300;
/// Tightest tolerance the endgame asks of Clarabel (it reports `Solved` down to ~1e-13 on
/// these programs once they are written in the residual, see [`super::conic`]).
const CONIC_TOL_FLOOR: f64 = 1e-13;
/// Column-generation rounds of the endgame.
const CONIC_MAX_ROUNDS: usize = 30;
/// Newton rounds of the endgame (logistic loss) that may end without a pattern joining before
/// the polish and the tolerance steps take over.
const NEWTON_MAX_ROUNDS: usize = 6;
/// Newton rounds from z = 0 that may end without a pattern joining before the polish and the
/// tolerance steps take over.
const NEWTON_ZERO_MAX_ROUNDS: usize = 20;
/// Newton rounds from z = 0 price on all cone rows (not only the facet rows) after a tight
/// round whose facet-row certificate is within this many times `tol`.
const NEWTON_FULL_ROWS_GAP: f64 = 100.0;
/// … and then only for the patterns whose facet-row dual residual is at least this fraction of
/// β (n = 40, d = 3, all 1,562 patterns: the all-rows pass on every pattern was ~15 ms a round).
const NEWTON_FULL_ROWS_SCORE: f64 = 0.9;
/// Newton rounds from z = 0 keep in the working set the patterns of the best point's blocks
/// above this fraction of its largest block.
const NEWTON_SUPPORT_REL: f64 = 1e-3;
/// The first Newton round from z = 0 drops the patterns the exponential-cone round left at zero
/// with a slack dual constraint when that round's relative gap is below this.
const NEWTON_DROP_GAP: f64 = 1e-5;
/// The dual point on the face ([`super::polish::dual_on_face`]) stops once its largest dual
/// residual is at most FACE_TARGET · tol · β (its scaling then costs at most that fraction of
/// the penalty).
const FACE_TARGET: f64 = 1e-3;
/// The logistic loss's Newton rounds from z = 0: a tight round that leaves a relative gap of at
/// most this many times tol (but above it) is followed by the polish on its support before
/// another Newton round.
const NEWTON_POLISH_GAP: f64 = 1e3;
/// Newton rounds from z = 0 solve their models to [`CONIC_LOOSE_TOL`] while the last round left
/// a relative gap above this.
const NEWTON_LOOSE_GAP: f64 = 1e-3;
/// Rounds of the endgame that may also drop patterns from the working set (later rounds only
/// add, so the loop terminates).
const CONIC_DROP_ROUNDS: usize = 8;
/// A block is zero for the dropping rule below this fraction of the largest block's norm …
const CONIC_ZERO_REL: f64 = 1e-6;
/// … and its pattern is dropped when its dual residual is below this fraction of β (every
/// zero block whose dual constraint holds with a margin: W stays near the support instead of
/// keeping every pattern once flagged; with 0.9 the final sets at n = 40, d = 3, all 1,562
/// patterns, were 180–340 patterns where 70–260 suffice).
const CONIC_DROP_SLACK: f64 = 0.999;
/// From z = 0 the first working set holds the CONIC_START_FACTOR · (n + 10) patterns of
/// largest dual residual (the optimum has at most n + 1 blocks, but most of the first set's
/// patterns are replaced: a larger first set saves rounds — n = 40, d = 3, all 1,562
/// patterns: 5–6 rounds from 150 patterns instead of 6–7 from 50, 15 % less time over the
/// β grid 1e-4 … 0.4 together with [`CONIC_DROP_SLACK`]).
const CONIC_START_FACTOR: usize = 3;
/// The hinge loss's first working set from z = 0 (with n ≤ [`CONIC_FIRST_MAX_N`]) starts from a
/// short projected-Newton run on the gated program with the squared hinge loss (at most this
/// many iterations, to this relative gap; see [`gated_start`]).
const CONIC_GATED_START_ITER: usize = 30;
const CONIC_GATED_START_TOL: f64 = 1e-3;
/// The endgame prices ℓ'(prediction) as a second dual candidate once the multipliers' own
/// relative gap is below this.
const CONIC_SECOND_DUAL_GAP: f64 = 1e-3;
/// A round of the endgame on a working set smaller than the whole program, after a round that
/// left a relative gap above CONIC_LOOSE_GAP (or the first round), asks Clarabel for
/// CONIC_LOOSE_TOL only: it decides which patterns join and leave, not the certificate.
const CONIC_LOOSE_GAP: f64 = 0.1;
const CONIC_LOOSE_TOL: f64 = 1e-6;
/// The logistic loss's exponential-cone rounds from z = 0 (they choose W and a point near the
/// optimum's margins for the Newton rounds) ask Clarabel for this only (n = 40, d = 3, all
/// 1,562 patterns, β grid 1e-4 … 0.4: 1–5 % less CPU time than at [`CONIC_LOOSE_TOL`], the
/// same rounds; 5e-6 took a third round at n = 60, d = 2, all 120 patterns, β = 1e-4).
const NEWTON_ZERO_EXP_TOL: f64 = 3e-6;
/// The hinge loss's fast rounds near the optimum (prefix sums, no refinement) ask Clarabel for
/// this fraction of the endgame's tolerance: the certificate's gap it leaves is 10–10⁴ ×
/// Clarabel's tolerance at small β (n = 40, d = 3, all 1,562 patterns, β = 1e-3: 1.7e-7 at
/// 1e-10), so a round at the endgame's tolerance was followed by one at a hundredth anyway
/// (n = 60, d = 2, all 120 patterns, β = 1e-4 … 1e-2: one round instead of two).
const CONIC_HINGE_FAST_TOL: f64 = 1e-2;

/// The outcome of [`fit`].
#[derive(Debug, Clone)]
pub struct Fit {
    pub sol: Solution,
    /// The chain that ran ("ipm", "ipm+conic", "conic", "zero", "ipm+fista", "fista", …).
    pub solver: String,
    /// β_max when computed (the ReLU program, when β is not below the cheap lower bound of
    /// [`beta_max_lower_bound`]; see the module docs).
    pub beta_max: Option<f64>,
    /// Why the fit is not certified (empty when it converged).
    pub reason: String,
    /// One line per stage: what ran, its time and the gap it left.
    pub log: Vec<String>,
    /// Seconds per stage.
    pub timings: Vec<(String, f64)>,
}

/// Bytes of working memory the chain needs for `choice` (rough upper estimate).
pub fn memory_estimate(choice: &str, kind: Kind, n: usize, d: usize, n_patterns: usize) -> usize {
    let f = 8usize;
    let blocks = if kind == Kind::Relu { 2 } else { 1 } * n_patterns;
    let rows = if kind == Kind::Relu { n * blocks } else { 0 };
    let common = f * (3 * n * n_patterns + 4 * d * blocks + n * d);
    match choice {
        "ipm" | "auto" | "conic" => {
            let tiles = 9 * n.min(512).pow(2);
            common
                + f * (20 * rows
                    + 3 * n * n
                    + tiles
                    + 2 * d * n * n_patterns
                    + 3 * blocks * (d + 1) * (d + 1))
        }
        "newton" => common + f * (4 * n * n + 2 * n * n_patterns),
        "admm" => common + f * (10 * rows + 3 * n * n + 6 * n * blocks),
        _ => common + f * (10 * rows + 4 * n * blocks),
    }
}

/// Refuse, before anything is allocated, a fit whose [`memory_estimate`] exceeds `limit` bytes.
pub fn check_memory(
    choice: &str,
    kind: Kind,
    n: usize,
    d: usize,
    n_patterns: usize,
    limit: usize,
) -> Result<()> {
    let need = memory_estimate(choice, kind, n, d, n_patterns);
    if need > limit {
        return Err(Error::too_large(
            format!("convex fit (solver {choice:?}, n = {n}, d = {d}, {n_patterns} patterns)"),
            format!("{:.2} GiB of working memory", need as f64 / 1024f64.powi(3)),
            format!("memory_limit = {:.2} GiB", limit as f64 / 1024f64.powi(3)),
            "Use fewer patterns (patterns='sample' with a smaller n_patterns), another solver, \
             or raise memory_limit.",
        ));
    }
    Ok(())
}

/// β_max of the program (see the module docs; every block's residual is solved exactly, in
/// parallel over blocks when the problem is large — the result does not depend on the thread
/// count) and the certificate of z = 0 at β (with its multipliers).
pub fn beta_max(prob: &Problem, ctl: &Control) -> Result<(f64, super::Certificate, Array2<f64>)> {
    use rayon::prelude::*;
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let nb = prob.n_blocks();
    let z0 = Array2::<f64>::zeros((d, nb));
    let lam0 = prob.loss_grad(&Array1::zeros(n));
    let g = prob.at(&lam0);
    let xstd = prob.x.as_standard_layout();
    let xs: &[f64] = xstd.as_slice().unwrap_or(&[]);
    let one = |b: usize| -> Result<f64> {
        ctl.check()?;
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        let gb: Vec<f64> = (0..d).map(|j| sig * g[[j, i]]).collect();
        let nrm = gb.iter().map(|v| v * v).sum::<f64>().sqrt();
        if prob.kind == Kind::Gated || nrm == 0.0 || xs.len() != n * d {
            return Ok(nrm);
        }
        let signs: Vec<f64> = (0..n).map(|k| prob.sign[[k, i]]).collect();
        let (_, rn) = super::polish::cone_nnls(xs, &signs, d, &gb, &[], 3 * n + 10, 0.0);
        Ok(rn.min(nrm))
    };
    let res: Vec<f64> = if prob.par {
        (0..nb).into_par_iter().map(one).collect::<Result<_>>()?
    } else {
        (0..nb).map(one).collect::<Result<_>>()?
    };
    let bmax = res.iter().cloned().fold(0.0f64, f64::max);
    let (cert, mu, _) =
        super::polish::sharp_certificate_at(prob, &z0, Some(&lam0), None, false, ctl)?;
    Ok((bmax, cert, mu))
}

/// A lower bound of β_max from the patterns' witnesses, without NNLS: block b's dual residual
/// min_{μ ≥ 0} ‖g_b − S_bᵀμ‖ at λ₀ (g_b = σ_b (D_i X)ᵀλ₀) is the norm of g_b's projection on
/// the polar cone −K_i (K_i = {z : S_i X z ≥ 0}), so it is at least ⟨g_b, v⟩ for any unit
/// v ∈ −K_i. The point taken is v = −z/‖z‖ with z = −g_b + t w_i, w_i the pattern's witness
/// (S_i X w_i > 0) and t ≥ 0 the least step that puts z in K_i (z = −g_b itself when that is
/// already in the cone: the bound is then ‖g_b‖, exact). Costs two n × d by d × P products and
/// O(n) per block. 0 when `gates` is not P × d.
pub(crate) fn beta_max_lower_bound(
    prob: &Problem,
    g: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<f64> {
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let Some(w) = gates.filter(|w| w.dim() == (p, d)) else {
        return Ok(0.0);
    };
    if prob.kind != Kind::Relu || g.dim() != (d, p) {
        return Ok(0.0);
    }
    ctl.check()?;
    let xg = super::linalg::matmul(prob.x.view(), g.view(), prob.par); // n × P
    ctl.check()?;
    let xw = super::linalg::matmul(prob.x.view(), w.t(), prob.par); // n × P
    let mut best = 0.0f64;
    for b in 0..prob.n_blocks() {
        if b % 64 == 0 {
            ctl.check()?;
        }
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        // u = −g_b; the cone rows of u and of the witness: s_k x_kᵀ u, s_k x_kᵀ w
        let mut t = 0.0f64;
        let mut ok = true;
        for k in 0..n {
            let s = prob.sign[[k, i]];
            let ru = -sig * s * xg[[k, i]];
            let rw = s * xw[[k, i]];
            if ru < 0.0 {
                if rw > 0.0 {
                    t = t.max(-ru / rw);
                } else {
                    ok = false;
                    break;
                }
            }
        }
        if !ok || !t.is_finite() {
            continue;
        }
        // a step a hair longer keeps z inside K_i despite rounding
        let t = if t > 0.0 { t * (1.0 + 1e-12) } else { 0.0 };
        let mut uz = 0.0;
        let mut zz = 0.0;
        for j in 0..d {
            let u = -sig * g[[j, i]];
            let zj = u + t * w[[i, j]];
            uz += u * zj;
            zz += zj * zj;
        }
        if zz > 0.0 && uz > 0.0 {
            best = best.max(uz / zz.sqrt());
        }
    }
    Ok(best)
}

/// Append a stage line to the log, after the detailed lines the solvers traced so far
/// ([`Settings::trace`], `verbose`).
fn note(log: &mut Vec<String>, settings: &Settings, line: String) {
    note_flush(log, settings);
    log.push(line);
}

fn note_flush(log: &mut Vec<String>, settings: &Settings) {
    if let Some(t) = &settings.trace {
        log.extend(t.take());
    }
}

fn stage_secs(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Resolve "auto" for this problem.
pub fn choose(prob: &Problem, has_gates: bool) -> &'static str {
    let n = prob.n();
    let d = prob.d() as f64;
    if prob.kind == Kind::Gated {
        if !prob.loss.is_smooth() {
            return "admm";
        }
        if prob.beta > 0.0 {
            let dp = d * prob.p() as f64;
            return if n <= NEWTON_MAX_N && (n * n) as f64 <= NEWTON_RATIO * dp {
                "newton"
            } else {
                "fista"
            };
        }
        return if work(prob) <= IPM_MAX_WORK {
            "ipm"
        } else {
            "fista"
        };
    }
    if !has_gates {
        return if prob.loss.is_smooth() {
            "fista"
        } else {
            "admm"
        };
    }
    if !prob.loss.is_smooth() || conic_first(prob) {
        return "conic";
    }
    if work(prob) <= IPM_MAX_WORK || n <= IPM_MAX_N {
        "ipm"
    } else {
        "fista"
    }
}

/// Samples up to which "auto" solves the ReLU program with known gates by the conic
/// working-set loop alone (no interior-point stage) when it has at most
/// [`CONIC_FIRST_MAX_D`] columns.
pub const CONIC_FIRST_MAX_N: usize = 200;
/// Columns (the bias column included) up to which "auto" takes the conic working-set loop
/// from z = 0 (with n ≤ [`CONIC_FIRST_MAX_N`]): small data, all chambers, P ≫ n.
pub const CONIC_FIRST_MAX_D: usize = 4;

/// The ReLU program is solved by the conic working-set loop from z = 0 (see [`CONIC_FIRST_MAX_N`]).
fn conic_first(prob: &Problem) -> bool {
    prob.kind == Kind::Relu
        && (2..=CONIC_FIRST_MAX_D).contains(&prob.d())
        && prob.n() <= CONIC_FIRST_MAX_N
}

/// Σ_i n_i² d: the work of one interior-point iteration on the whole program.
fn work(prob: &Problem) -> f64 {
    let d = prob.d() as f64;
    (0..prob.p())
        .map(|i| {
            let ni = prob.mask.column(i).sum();
            ni * ni * d
        })
        .sum()
}

/// Keep the best of two solutions: the lower upper bound's point, the larger dual bound.
fn merge(best: Option<Solution>, new: Solution, tol: f64) -> Solution {
    let Some(mut b) = best else { return new };
    let ub = |s: &Solution| s.objective.max(s.network_objective);
    let (mut keep, other) = if ub(&new) < ub(&b) {
        (new, b)
    } else {
        (b.clone(), new)
    };
    if other.dual > keep.dual {
        keep.dual = other.dual;
        keep.dual_point = other.dual_point;
    }
    keep.n_iter = keep.n_iter.max(other.n_iter);
    keep.converged = gap_ok(ub(&keep), keep.dual, tol);
    b = keep;
    b
}

/// Solve `prob` with `choice` ("auto" or one of [`SOLVERS`]); `gates` (P × d) are the
/// patterns' witnesses when known.
pub fn fit(
    prob: &Problem,
    choice: &str,
    settings: &Settings,
    warm: &WarmStart,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Fit> {
    if !SOLVERS.contains(&choice) {
        return Err(Error::invalid(
            "solver",
            format!("expected one of {}, got {choice:?}", SOLVERS.join(", ")),
        ));
    }
    let gates = gates.filter(|g| g.dim() == (prob.p(), prob.d()));
    let used = if choice == "auto" {
        choose(prob, gates.is_some()).to_string()
    } else {
        choice.to_string()
    };
    match used.as_str() {
        "ipm" | "fista" | "newton" => prob.require_smooth(&used)?,
        _ => {}
    }
    if used == "newton" && prob.kind != Kind::Gated {
        return Err(Error::invalid(
            "solver",
            "'newton' solves the gated program (use 'ipm' or 'fista' for the ReLU program)",
        ));
    }
    let mut log = Vec::new();
    let mut timings = Vec::new();
    let tol = settings.tol;
    // ---- β ≥ β_max: the zero network, exactly ----
    let mut bmax = None;
    // a cheap lower bound of β_max decides most fits (β below it: the zero network is not
    // optimal) without an NNLS per block
    let below_bound = prob.kind == Kind::Relu && {
        let t0 = std::time::Instant::now();
        ctl.check()?;
        let g = prob.at(&prob.loss_grad(&Array1::zeros(prob.n())));
        let lb = beta_max_lower_bound(prob, &g, gates, ctl)?;
        timings.push(("beta_bound".to_string(), stage_secs(t0)));
        prob.beta < lb * (1.0 - 1e-9)
    };
    if prob.kind == Kind::Relu
        && !below_bound
        && matches!(used.as_str(), "ipm" | "conic" | "fista" | "admm")
    {
        let t0 = std::time::Instant::now();
        let (bm, cert, mu) = beta_max(prob, ctl)?;
        bmax = Some(bm);
        timings.push(("beta_max".to_string(), stage_secs(t0)));
        if prob.beta >= bm {
            note(
                &mut log,
                settings,
                format!("beta = {:e} >= beta_max = {bm:e}: zero network", prob.beta),
            );
            let n = prob.n();
            let z = Array2::zeros((prob.d(), prob.n_blocks()));
            let ub = cert.objective.max(cert.network_objective);
            let mu = if mu.dim() == (n, prob.n_blocks()) {
                mu
            } else {
                Array2::zeros((n, 0))
            };
            let cert = super::Certificate {
                dual: cert.dual.min(ub),
                violation: 0.0,
                ..cert
            };
            let sol = Solution::from_certificate(z, cert, mu, 0, true);
            return Ok(Fit {
                sol,
                solver: "zero".into(),
                beta_max: bmax,
                reason: String::new(),
                log,
                timings,
            });
        }
    }
    ctl.check()?;
    let mut best: Option<Solution> = None;
    let mut chain: Vec<&str> = Vec::new();
    let mut spent = 0usize;
    // ---- the first solver ----
    let t0 = std::time::Instant::now();
    let first = match used.as_str() {
        "ipm" => {
            {
                // the conic endgame follows: the interior-point path's own first-order
                // finish gets a bounded budget (what is left of max_iter goes to the
                // first-order finish after the endgame, when one is still needed)
                let st = Settings {
                    max_iter: settings.max_iter.min(IPM_STAGE_MAX_ITER),
                    ..settings.clone()
                };
                let r = super::ipm::solve_working_set(prob, &st, gates, ctl)?;
                if r.is_some() {
                    chain.push("ipm");
                }
                r
            }
        }
        "conic" => None,
        "fista" => {
            chain.push("fista");
            Some(super::fista::solve(prob, settings, warm, ctl)?)
        }
        "newton" => {
            chain.push("newton");
            Some(super::newton::solve(prob, settings, warm, ctl)?)
        }
        _ => {
            chain.push("admm");
            Some(super::admm::solve(prob, settings, warm, ctl)?)
        }
    };
    if let Some(s) = first {
        let name = chain.last().copied().unwrap_or("?");
        let ub = s.objective.max(s.network_objective);
        note(
            &mut log,
            settings,
            format!(
                "{name}: {} iterations, {:.3} s, relative gap {:.3e}",
                s.n_iter,
                stage_secs(t0),
                (ub - s.dual) / ub.abs().max(super::GAP_TINY)
            ),
        );
        timings.push((name.to_string(), stage_secs(t0)));
        spent = s.n_iter;
        best = Some(s);
    }
    let done = |b: &Option<Solution>| b.as_ref().is_some_and(|s| s.converged);
    // ---- the conic endgame (ReLU program, or any program the first solver left open) ----
    let conic_ok = prob.kind == Kind::Relu
        && (used == "ipm" || used == "conic" || (choice == "auto" && used == "fista"));
    if !done(&best) && conic_ok {
        let t0 = std::time::Instant::now();
        let z0 = best.as_ref().map(|s| s.z.clone());
        match endgame(prob, settings, z0.as_ref(), gates, ctl, &mut log)? {
            Some(s) => {
                chain.push("conic");
                spent += s.n_iter;
                best = Some(merge(best, s, tol));
            }
            None => note(
                &mut log,
                settings,
                "conic: the working set's conic problem is too large".into(),
            ),
        }
        timings.push(("conic".to_string(), stage_secs(t0)));
    }
    // ---- first-order finish of a smooth program still open (budget permitting) ----
    if !done(&best) && prob.loss.is_smooth() && spent < settings.max_iter && used != "fista" {
        let t0 = std::time::Instant::now();
        let rest = Settings {
            max_iter: settings.max_iter - spent,
            ..settings.clone()
        };
        let z0 = best.as_ref().map(|s| s.z.clone());
        let s = match (&z0, prob.kind) {
            (Some(z), Kind::Relu) => {
                let f = super::ipm::finish_on_support(prob, &rest, z, gates, ctl)?;
                if f.converged || f.n_iter >= rest.max_iter {
                    f
                } else {
                    let w = WarmStart {
                        z: Some(f.z.clone()),
                        ..warm.clone()
                    };
                    let r2 = Settings {
                        max_iter: rest.max_iter - f.n_iter,
                        ..settings.clone()
                    };
                    let f2 = super::fista::solve(prob, &r2, &w, ctl)?;
                    let mut m = merge(Some(f), f2, tol);
                    m.n_iter = rest.max_iter.min(m.n_iter);
                    m
                }
            }
            _ => super::fista::solve(
                prob,
                &rest,
                &WarmStart {
                    z: z0,
                    ..warm.clone()
                },
                ctl,
            )?,
        };
        chain.push("fista");
        let ub = s.objective.max(s.network_objective);
        note(
            &mut log,
            settings,
            format!(
                "fista finish: {} iterations, {:.3} s, relative gap {:.3e}",
                s.n_iter,
                stage_secs(t0),
                (ub - s.dual) / ub.abs().max(super::GAP_TINY)
            ),
        );
        timings.push(("fista".to_string(), stage_secs(t0)));
        spent += s.n_iter;
        best = Some(merge(best, s, tol));
    }
    for (what, times, need) in settings.budget.skipped() {
        note(
            &mut log,
            settings,
            format!(
                "{what}: skipped {times} time(s) for memory: it needs up to {need} bytes, over \
                 the {} bytes that memory_limit leaves after the solver's estimate (an optional \
                 stage: the certificate is unaffected)",
                settings.budget.limit.unwrap_or(0),
            ),
        );
    }
    note_flush(&mut log, settings);
    let Some(mut sol) = best else {
        return Err(Error::Numerical("no solver ran".into()));
    };
    sol.n_iter = spent.max(sol.n_iter);
    let t0 = std::time::Instant::now();
    prune_solution(prob, &mut sol, tol, ctl)?;
    timings.push(("prune".to_string(), stage_secs(t0)));
    let ub = sol.objective.max(sol.network_objective);
    sol.converged = gap_ok(ub, sol.dual, tol);
    let reason = if sol.converged {
        String::new()
    } else {
        format!(
            "the certified gap stalled at {:.3e} relative (tol {tol:e}) after {} iterations of {}: \
             {}",
            (ub - sol.dual) / ub.abs().max(super::GAP_TINY),
            sol.n_iter,
            chain.join("+"),
            log.last().cloned().unwrap_or_default()
        )
    };
    Ok(Fit {
        sol,
        solver: if chain.is_empty() {
            used
        } else {
            chain.join("+")
        },
        beta_max: bmax,
        reason,
        log,
        timings,
    })
}

/// Largest n + 2 for which [`fit`] prunes the blocks it returns (windows of 2(n + 1) blocks,
/// one QR of 2(n + 1) × (n + 1) each); larger problems are pruned by the caller.
pub const PRUNE_MAX_N2: usize = 200;

/// Carathéodory pruning of the returned blocks ([`super::prune`]): at most n + 1 nonzero
/// blocks, kept when the upper bound (the larger of the convex and the network objective) did
/// not grow by more than tol/10 relative (rounding); the objectives are those of the blocks
/// returned, and so is the cone violation when it exceeds [`super::VIOLATION_TOL`] (the blocks
/// are only rescaled: a block off its cone by rounding stays off by rounding). The dual bound
/// does not depend on the blocks.
fn prune_solution(prob: &Problem, sol: &mut Solution, tol: f64, ctl: &Control) -> Result<()> {
    let active = super::block_norms(&sol.z)
        .iter()
        .filter(|&&v| v > 0.0)
        .count();
    if active <= prob.n() + 1 || prob.n() + 2 > PRUNE_MAX_N2 {
        return Ok(());
    }
    let zp = super::prune::prune(prob, &sol.z, ctl)?;
    let c = prob.certify(&zp, None, None);
    let ub0 = sol.objective.max(sol.network_objective);
    let ub1 = c.objective.max(c.network_objective);
    if ub1 <= ub0 + 0.1 * tol * ub0.abs().max(super::GAP_TINY) {
        sol.z = zp;
        sol.objective = c.objective;
        sol.network_objective = c.network_objective;
        // a rescaled block on its cone's boundary can leave it by rounding (≤ VIOLATION_TOL):
        // what is reported is the solver's own violation then, else the pruned blocks'
        if c.violation > super::VIOLATION_TOL {
            sol.violation = sol.violation.max(c.violation);
        }
    }
    Ok(())
}

/// A polished point as a converged [`Solution`], its negligible blocks zeroed when the
/// certificate still closes without them ([`super::ipm::sparsify`]; the dual bound is kept).
fn sparse_solution(
    prob: &Problem,
    z: Array2<f64>,
    cert: super::Certificate,
    mu: Array2<f64>,
    iters: usize,
    tol: f64,
) -> Solution {
    let (zs, cs) = super::ipm::sparsify(prob, &z, cert.dual, tol);
    let cs = super::Certificate {
        dual: cert.dual,
        dual_point: cert.dual_point.clone(),
        ..cs
    };
    Solution::from_certificate(zs, cs, mu, iters, true)
}

/// [`super::admm::try_polish`] at `z` as a [`sparse_solution`], its outcome and time noted in
/// the log (`None`: the polish on the support did not certify).
#[allow(clippy::too_many_arguments)]
fn polish_noted(
    prob: &Problem,
    z: &Array2<f64>,
    settings: &Settings,
    tried: &mut Vec<super::polish::Face>,
    iters: usize,
    tol: f64,
    log: &mut Vec<String>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    let t = std::time::Instant::now();
    let sol = super::admm::try_polish(prob, z, settings, tried, ctl)?
        .map(|(zp, cp, mup)| sparse_solution(prob, zp, cp, mup, iters, tol));
    let line = if sol.is_some() {
        format!("conic: polished on the support ({:.3} s)", stage_secs(t))
    } else {
        format!(
            "conic: the polish on the support did not certify ({:.3} s)",
            stage_secs(t)
        )
    };
    note(log, settings, line);
    Ok(sol)
}

/// The blocks of the patterns `idx` of a whole program's blocks (`reps` per pattern), in the
/// column order of the program restricted to `idx` (the inverse of [`scatter`]).
fn gather(src: &Array2<f64>, idx: &[usize], p: usize, reps: usize) -> Array2<f64> {
    let q = idx.len();
    let mut dst = Array2::<f64>::zeros((src.nrows(), q * reps));
    for r in 0..reps {
        for (a, &i) in idx.iter().enumerate() {
            dst.column_mut(r * q + a).assign(&src.column(r * p + i));
        }
    }
    dst
}

/// Blocks of a program restricted to the patterns `idx` (`reps` blocks per pattern) scattered
/// into the whole program's columns.
fn scatter(dst: &mut Array2<f64>, src: &Array2<f64>, idx: &[usize], p: usize, reps: usize) {
    let q = idx.len();
    for r in 0..reps {
        for (a, &i) in idx.iter().enumerate() {
            dst.column_mut(r * p + i).assign(&src.column(r * q + a));
        }
    }
}

/// The hinge loss's first working set from z = 0: at most [`CONIC_GATED_START_ITER`] steps of
/// projected Newton ([`super::newton`]) on the gated program with the squared hinge loss, the
/// same patterns and β; its support (blocks above 1e-6 of the largest) and its ℓ'(prediction)
/// as the dual point that prices the ReLU program's patterns. Priced at z = 0 instead, the
/// most violated patterns are those most aligned with y, neighbours of each other: their
/// program cannot fit the data (n = 40, d = 3, all 1,562 patterns, β = 1e-4: upper bound 14
/// after the first round where the optimum is 0.037, and 5 loose rounds of 150 … 328 patterns);
/// from the gated support (~100 patterns, ~15 ms) the first round's upper bound is 0.041 and 3
/// loose rounds follow. `None` for the other losses (measured no faster), for n above
/// [`CONIC_FIRST_MAX_N`], when the first set from z = 0 would hold all patterns anyway (n = 60,
/// d = 2, 120 patterns: one round either way, the Newton run only added to it), and when the
/// Newton run fails short of a point.
fn gated_start(
    prob: &Problem,
    settings: &Settings,
    ctl: &Control,
    log: &mut Vec<String>,
) -> Result<Option<(Vec<usize>, Array1<f64>)>> {
    if prob.loss != super::Loss::Hinge
        || prob.kind != Kind::Relu
        || prob.n() > CONIC_FIRST_MAX_N
        || 2 * CONIC_START_FACTOR * (prob.n() + 10) > prob.p()
        || prob.beta <= 0.0
        || !prob.beta.is_finite()
    {
        return Ok(None);
    }
    let t0 = std::time::Instant::now();
    let gp = Problem {
        kind: Kind::Gated,
        loss: super::Loss::SquaredHinge,
        ..prob.clone()
    };
    let gs = Settings {
        tol: CONIC_GATED_START_TOL,
        max_iter: CONIC_GATED_START_ITER,
        ..Settings::default()
    };
    let g = match super::newton::solve(&gp, &gs, &WarmStart::default(), ctl) {
        Ok(g) => g,
        Err(Error::Interrupted) => return Err(Error::Interrupted),
        Err(_) => return Ok(None),
    };
    let supp = super::large_blocks(&g.z, 1e-6);
    let lam = gp.loss_grad(&gp.predict(g.z.view()));
    note(
        log,
        settings,
        format!(
            "conic: first working set from the gated program (squared hinge), {} Newton \
             iterations, {} patterns, {:.3} s",
            g.n_iter,
            supp.len(),
            stage_secs(t0)
        ),
    );
    if !lam.iter().all(|v| v.is_finite()) {
        return Ok(None);
    }
    Ok(Some((supp, lam)))
}

/// Drops from the working set the patterns of `idx` whose blocks the round's solve (to `rtol`)
/// left at zero and whose dual constraint is slack (score below CONIC_DROP_SLACK · β).
#[allow(clippy::too_many_arguments)]
fn drop_slack(
    in_w: &mut [bool],
    idx: &[usize],
    z: &Array2<f64>,
    scores: &[f64],
    rtol: f64,
    beta: f64,
    p: usize,
    reps: usize,
) {
    let znorms = super::block_norms(z);
    // a loose solve leaves its zero blocks at ~its tolerance, not at ~0
    let zero_rel = CONIC_ZERO_REL.max(1e3 * rtol);
    let zm = znorms.iter().cloned().fold(0.0f64, f64::max);
    for &i in idx {
        let zero = (0..reps).all(|r| znorms[r * p + i] <= zero_rel * zm);
        if zero && scores[i] < CONIC_DROP_SLACK * beta {
            in_w[i] = false;
        }
    }
}

/// The conic endgame (see the module docs): column generation with Clarabel from the point
/// `z0` (or z = 0). `None` when the working set's conic problem would exceed
/// [`CONIC_MAX_NNZ`] or the memory budget ([`CONIC_BYTES_PER_NNZ`] bytes per nonzero).
pub fn endgame(
    prob: &Problem,
    settings: &Settings,
    z0: Option<&Array2<f64>>,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
    log: &mut Vec<String>,
) -> Result<Option<Solution>> {
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let nb = prob.n_blocks();
    let reps = nb / p;
    let tol = settings.tol;
    let mut tried = Vec::new(); // faces whose polish failed (see admm::try_polish)
    let zstart = z0.cloned().unwrap_or_else(|| Array2::zeros((d, nb)));
    // pricing at the start: scores with λ = ℓ'(prediction) (smooth) or ℓ'(0)-like subgradient
    let lam_start = if prob.loss.is_smooth() {
        None
    } else {
        Some(prob.loss_grad(&prob.predict(zstart.view())))
    };
    // each pattern's facet rows: the conic problems and the pricing keep only those
    let t0 = std::time::Instant::now();
    let facets = super::conic::facet_rows(prob, gates, ctl)?;
    if let Some(f) = &facets {
        let rows: usize = f.iter().map(|r| r.len()).sum();
        note(
            log,
            settings,
            format!(
                "conic: facet rows, {:.1} of {n} rows per cone, {:.3} s",
                rows as f64 / p.max(1) as f64,
                stage_secs(t0)
            ),
        );
    }
    // the hinge loss from z = 0: its first working set from the gated program's support and
    // ℓ'(prediction) (see [`gated_start`])
    let start = if z0.is_none() {
        gated_start(prob, settings, ctl, log)?
    } else {
        None
    };
    let lam_start = start.as_ref().map(|s| s.1.clone()).or(lam_start);
    let (_, _, scores0) = super::polish::sharp_certificate_on_rows(
        prob,
        &zstart,
        lam_start.as_ref(),
        None,
        false,
        facets.as_deref(),
        ctl,
    )?;
    let mut in_w = vec![false; p];
    for &i in start.iter().flat_map(|s| s.0.iter()) {
        in_w[i] = true;
    }
    for b in super::large_blocks(&zstart, 1e-4) {
        in_w[b % p] = true;
    }
    let mut order: Vec<usize> = (0..p).filter(|&i| !in_w[i]).collect();
    order.sort_by(|&a, &b| scores0[b].total_cmp(&scores0[a]));
    let supp = in_w.iter().filter(|&&v| v).count();
    // from a solver's point (or the gated start's support): that support plus the patterns whose
    // dual constraint fails or nearly does; from z = 0: the CONIC_START_FACTOR · (n + 10) most
    // violated
    let want = if supp == 0 {
        (CONIC_START_FACTOR * (n + 10)).max(2 * d).min(p)
    } else {
        (supp + n + 10).min(p)
    };
    // a set of more than half the patterns: all of them (one round instead of two; n = 60,
    // d = 2, all 120 patterns, β = 1e-4: rounds of 70 and 100 patterns before)
    let want = if 2 * want > p { p } else { want };
    for &i in order.iter() {
        if in_w.iter().filter(|&&v| v).count() >= want {
            break;
        }
        if scores0[i] > 0.9 * prob.beta || supp == 0 {
            in_w[i] = true;
        }
    }
    if !in_w.iter().any(|&v| v) {
        in_w[order[0]] = true;
    }
    // Clarabel's tolerance: a hundredth of tol from the first round (between 1e-13 and 1e-8;
    // a tighter tolerance costs Clarabel a few iterations, a round solved too loosely a whole
    // round more); tighter still only when the pricing finds no pattern to add and the gap is
    // still open
    let mut ctol = (0.01 * tol).clamp(CONIC_TOL_FLOOR, 1e-8);
    let mut last_solved = ctol;
    let mut best: Option<Solution> = None;
    let mut iters = 0usize;
    let mut polished = false;
    // Newton steps with a quadratic model instead of the exponential cones (logistic loss)
    let newton_ok = prob.loss == super::Loss::Logistic;
    // from z = 0 (the conic path of "auto") the logistic loss's exponential-cone rounds are
    // all loose (they choose W and bring the margins near the optimum's) and Newton rounds
    // follow once a round's gap is below CONIC_LOOSE_GAP or it adds no pattern: proximal
    // Newton steps whose models are squared-loss programs on W (second-order cones only, in
    // Clarabel's fast form; see [`super::conic::newton_step_fast`])
    let newton_zero = newton_ok && z0.is_none();
    let mut newton = false;
    let mut newton_rounds = 0usize;
    // Clarabel's fast form (see [`super::conic::solve_fast`]) until a round's certificate falls
    // short with no pattern to add; never for the logistic loss's exponential cones, whose
    // Clarabel settings are fixed (see [`super::conic`]); its Newton models are squared-loss
    // programs and take it
    let mut fast = !newton_ok || newton_zero;
    // the relative gap the last round left (rounds far from the optimum are solved loosely)
    let mut last_rel = f64::INFINITY;
    let mut force_tight = false;
    let mut exp_original_units = false;
    let mut newton_stalled = false;
    // Newton rounds in a row that did not improve on the best point
    let mut stall_run = 0usize;
    for round in 0..CONIC_MAX_ROUNDS {
        ctl.check()?;
        if newton_zero && newton {
            // a Newton round steps from the best point restricted to W: W holds the patterns
            // of its blocks above NEWTON_SUPPORT_REL of the largest, and all of its support
            // after a round that did not improve on it (otherwise a block left out of W could
            // give the same model, hence the same point, round after round: n = 12, d = 2 with
            // a bias column, β = 1.2e-4)
            if let Some(b) = &best {
                let rel = if newton_stalled {
                    0.0
                } else {
                    NEWTON_SUPPORT_REL
                };
                for bb in super::large_blocks(&b.z, rel) {
                    in_w[bb % p] = true;
                }
            }
        }
        let idx: Vec<usize> = (0..p).filter(|&i| in_w[i]).collect();
        let nnz = n * d * idx.len() * reps * if prob.kind == Kind::Relu { 2 } else { 1 };
        if nnz > CONIC_MAX_NNZ || !settings.budget.admit("conic", CONIC_BYTES_PER_NNZ * nnz) {
            return Ok(best);
        }
        let sub = prob.subset(&idx, super::DEFAULT_PAR_THRESHOLD);
        let sub_facets: Option<Vec<Vec<usize>>> = facets
            .as_ref()
            .map(|f| idx.iter().map(|&i| f[i].clone()).collect());
        let t0 = std::time::Instant::now();
        // blocks in units of 1/β; in the original units when that solve stops short of a
        // usable point (see [`super::conic`]). Every round tries units of 1/β again: a
        // failure there is a property of that working set, not of the problem (logistic,
        // n = 30, d = 2 + bias, β = 1e-3: round 2 of 5 stops "InsufficientProgress" in units
        // of 1/β, the last round certifies to 5e-9 in them where the original units stop
        // "AlmostSolved" at 2e-6)
        // (the loose exponential-cone rounds before the Newton rounds from z = 0 stay in the
        // original units once a round failed in units of 1/β: they never certify, and the
        // next working set is the same but for a few patterns — n = 40, d = 3, all 1,562
        // patterns, β = 1e-3: rounds 2 and 3 solved twice)
        let mut unit = !(newton_zero && !newton && exp_original_units);
        // a working set that is not the whole program, far from the optimum: its solve only
        // chooses the patterns of the next round, to CONIC_LOOSE_TOL. The logistic loss's
        // exponential-cone rounds too, with Clarabel's default settings and no refinement
        // instead of its tight ones (n = 40, d = 3, all 1,562 patterns, β grid 1e-4 … 0.4: the
        // first 4–5 rounds take ~22 iterations at 1e-6 instead of 30–80 at 1e-10, the fits
        // 2–3.5× faster, the last round certifies as before)
        let loose = if newton_zero && !newton {
            // the exponential-cone rounds only find the working set and a point near the
            // optimum's margins, from which the Newton rounds converge in a few steps
            !force_tight
        } else if newton_zero {
            // a Newton model far from the optimum only gives the direction of a damped step
            last_rel > NEWTON_LOOSE_GAP && !force_tight
        } else {
            (fast || newton_ok) && idx.len() < p && last_rel > CONIC_LOOSE_GAP && !force_tight
        };
        // the hinge loss's fast rounds near the optimum: a hundredth of the tolerance (see
        // CONIC_HINGE_FAST_TOL)
        let hinge = prob.loss == super::Loss::Hinge;
        let rtol = if loose && newton_zero && !newton {
            ctol.max(NEWTON_ZERO_EXP_TOL)
        } else if loose {
            ctol.max(CONIC_LOOSE_TOL)
        } else if hinge && fast {
            (ctol * CONIC_HINGE_FAST_TOL).max(CONIC_TOL_FLOOR)
        } else {
            ctol
        };
        // the prefix-sum rows in every fast round (squared, Huber and hinge loss)
        let chain = fast
            && (loose
                || matches!(
                    prob.loss,
                    super::Loss::Squared | super::Loss::Huber(_) | super::Loss::Hinge
                ));
        let refine = !fast && !loose;
        let center = best.as_ref().map(|b| gather(&b.z, &idx, p, reps));
        let center = if newton_zero && center.is_none() {
            Some(Array2::zeros((d, idx.len() * reps)))
        } else {
            center
        };
        let mut cs = match (&center, newton) {
            (Some(zc), true) if newton_zero => {
                newton_rounds += 1;
                super::conic::newton_step_fast(
                    &sub,
                    zc,
                    rtol,
                    300,
                    sub_facets.as_deref(),
                    fast || loose,
                    !fast && !loose,
                    ctl,
                )?
            }
            (Some(zc), true) => {
                newton_rounds += 1;
                super::conic::newton_step(&sub, zc, ctol, 300, sub_facets.as_deref(), ctl)?
            }
            _ => super::conic::solve_fast(
                &sub,
                rtol,
                300,
                unit,
                sub_facets.as_deref(),
                chain,
                refine,
                ctl,
            )?,
        };
        if !cs.usable {
            iters += cs.iterations;
            note(
                log,
                settings,
                format!(
                    "conic round {round}: {} in units of 1/beta, solved again in the original units",
                    cs.status
                ),
            );
            unit = false;
            exp_original_units |= newton_zero && !newton;
            cs = super::conic::solve_fast(
                &sub,
                rtol,
                300,
                false,
                sub_facets.as_deref(),
                chain,
                refine,
                ctl,
            )?;
        }
        iters += cs.iterations;
        // the exponential cones stalled in both units ("InsufficientProgress" on working sets of
        // 500–1,200 patterns, logistic, n = 30, d = 3 with a bias column, β = 1e-3): Newton
        // rounds from here on, whatever the gap (the damped steps converge from any point). An
        // "AlmostSolved" round is usable and the exponential-cone rounds go on: from z = 0 the
        // damped Newton rounds need many rounds and grow W far (n = 40, d = 3, all 1,562
        // patterns, β = 1e-3: 14 rounds of up to 1,309 patterns, where exponential-cone rounds
        // until the gap is below 1e-3 take 6 of at most 283)
        if newton_ok && !cs.usable {
            newton = true;
        }
        let mut z = Array2::<f64>::zeros((d, nb));
        scatter(&mut z, &cs.z, &idx, p, reps);
        // the solver's cone rows hold to its tolerance: project each block on its cone (the
        // smallest move; moving along a witness of small margin can cost far more objective)
        let z = super::admm::project_blocks(prob, &z, ctl)?;
        let solve_secs = stage_secs(t0);
        let t1 = std::time::Instant::now();
        // two dual candidates priced on every pattern: Clarabel's multipliers, and ℓ'(pred)
        // once the first leaves a small gap (far from the optimum the first is enough to
        // choose the patterns that join, and each pricing runs an NNLS per block)
        // each pattern's NNLS on its facet rows; on all its rows when that leaves the gap open
        // near the optimum (the facets are the cone's up to rounding)
        // (the primal side and the ℓ'(prediction) candidate at z, once for every pricing below)
        let base = prob.certify(&z, None, None);
        let price = |rows: Option<&[Vec<usize>]>| {
            let (mut cert, mut mu, mut scores) = super::polish::sharp_certificate_from(
                prob,
                &z,
                base.clone(),
                Some(&cs.lam),
                None,
                false,
                rows,
                ctl,
            )?;
            let ub1 = cert.objective.max(cert.network_objective);
            let rel1 = (ub1 - cert.dual) / ub1.abs().max(super::GAP_TINY);
            if prob.loss.is_smooth() && rel1 < CONIC_SECOND_DUAL_GAP && !gap_ok(ub1, cert.dual, tol)
            {
                let (c2, m2, s2) = super::polish::sharp_certificate_from(
                    prob,
                    &z,
                    base.clone(),
                    None,
                    None,
                    false,
                    rows,
                    ctl,
                )?;
                if c2.dual > cert.dual {
                    cert = c2;
                    mu = m2;
                    scores = s2;
                }
            }
            Ok::<_, Error>((cert, mu, scores))
        };
        let (mut cert, mut mu, mut scores) = price(facets.as_deref())?;
        // (the face step is not taken in the logistic loss's loose rounds from z = 0: solved
        // looser than tol, their point cannot certify, and the next round is a Newton round
        // whatever the bound — n = 60, d = 2, all 120 patterns: 2–3 ms of a 12–25 ms fit)
        let face = !(newton_zero && loose && rtol > tol);
        let mut deferred: Option<Option<Vec<Vec<usize>>>> = None;
        if facets.is_some() {
            let ub1 = cert.objective.max(cert.network_objective);
            let rel1 = (ub1 - cert.dual) / ub1.abs().max(super::GAP_TINY);
            // the logistic loss's Newton rounds from z = 0: only after a round solved to the
            // endgame's tolerance that left a gap of at most NEWTON_FULL_ROWS_GAP · tol (the
            // facets are the cone's up to rounding; the NNLS on all n rows of every pattern is
            // most of a Newton round's time: n = 40, d = 3, all 1,562 patterns)
            let full = !newton_zero || (!loose && rel1 < NEWTON_FULL_ROWS_GAP * tol);
            if full && rel1 < CONIC_SECOND_DUAL_GAP && !gap_ok(ub1, cert.dual, tol) {
                // the logistic loss from z = 0: all rows only for the patterns whose facet-row
                // dual residual is at least NEWTON_FULL_ROWS_SCORE · β (all rows can only lower
                // a residual, and the bound is set by the largest; the others keep their
                // facet-row NNLS, an upper bound with a feasible μ)
                let sel: Option<Vec<Vec<usize>>> = if newton_zero {
                    facets.as_ref().map(|f| {
                        (0..p)
                            .map(|i| {
                                if scores[i] < NEWTON_FULL_ROWS_SCORE * prob.beta {
                                    f[i].clone()
                                } else {
                                    Vec::new() // all rows
                                }
                            })
                            .collect()
                    })
                } else {
                    None
                };
                if newton_zero && face {
                    // the logistic loss from z = 0: after the step onto the face below, and
                    // only when its candidate leaves the gap open (near the optimum it
                    // certifies alone: n = 60, d = 2, all 120 patterns, β = 1e-3, where the
                    // all-rows NNLS of the two candidates before it was a third of the main
                    // thread's time)
                    deferred = Some(sel);
                } else {
                    let (c2, m2, s2) = price(sel.as_deref())?;
                    if c2.dual > cert.dual {
                        cert = c2;
                        mu = m2;
                        scores = s2;
                    }
                }
            }
        }
        // the better candidate moved onto the face z identifies (second-order loss of dual
        // objective where scaling loses first order; see [`super::polish::dual_on_face`])
        let ub1 = cert.objective.max(cert.network_objective);
        let rel1 = (ub1 - cert.dual) / ub1.abs().max(super::GAP_TINY);
        if face
            && prob.loss.is_smooth()
            && rel1 < CONIC_SECOND_DUAL_GAP
            && !gap_ok(ub1, cert.dual, tol)
        {
            let t2 = std::time::Instant::now();
            if let Some(lf) =
                super::polish::dual_on_face(prob, &z, &cert.dual_point, FACE_TARGET * tol, ctl)?
            {
                // priced on the facet rows, then on all rows for the patterns whose facet-row
                // residual is at least NEWTON_FULL_ROWS_SCORE · β when that leaves the gap
                // open (as the rounds' pricing above; the all-rows NNLS of every pattern took
                // half of the face step's time: logistic, n = 60, d = 2, all 120 patterns,
                // β = 1e-4)
                let (mut c3, mut m3, mut s3) = super::polish::sharp_certificate_from(
                    prob,
                    &z,
                    base.clone(),
                    Some(&lf),
                    None,
                    false,
                    facets.as_deref(),
                    ctl,
                )?;
                if let Some(f) = facets.as_ref().filter(|_| !gap_ok(ub1, c3.dual, tol)) {
                    let sel: Vec<Vec<usize>> = (0..p)
                        .map(|i| {
                            if s3[i] < NEWTON_FULL_ROWS_SCORE * prob.beta {
                                f[i].clone()
                            } else {
                                Vec::new() // all rows
                            }
                        })
                        .collect();
                    let (c4, m4, s4) = super::polish::sharp_certificate_from(
                        prob,
                        &z,
                        base.clone(),
                        Some(&lf),
                        None,
                        false,
                        Some(&sel),
                        ctl,
                    )?;
                    if c4.dual > c3.dual {
                        (c3, m3, s3) = (c4, m4, s4);
                    }
                }
                let ub3 = c3.objective.max(c3.network_objective);
                note(
                    log,
                    settings,
                    format!(
                        "dual point on the face in conic round {round}: relative gap {:.3e} ({:.3} s)",
                        (ub3 - c3.dual) / ub3.abs().max(super::GAP_TINY),
                        stage_secs(t2)
                    ),
                );
                if c3.dual > cert.dual {
                    cert = c3;
                    mu = m3;
                    scores = s3;
                }
            }
        }
        // a tight Newton round whose face candidate left a gap below NEWTON_POLISH_GAP · tol:
        // the polish on its support before the all-rows pricing (n = 40, d = 3, all 1,562
        // patterns, β = 1e-3: the gap is the primal's, 7.5e-8 relative, which no pricing closes;
        // the polish certifies in 10 ms, the pricing took 20); the pricing follows when not
        let mut polished_sol = None;
        if let Some(sel) = deferred {
            let ub = cert.objective.max(cert.network_objective);
            let relc = (ub - cert.dual) / ub.abs().max(super::GAP_TINY);
            if !gap_ok(ub, cert.dual, tol) && !polished && relc < NEWTON_POLISH_GAP * tol {
                polished = true;
                polished_sol = polish_noted(prob, &z, settings, &mut tried, iters, tol, log, ctl)?;
            }
            if !gap_ok(ub, cert.dual, tol) && polished_sol.is_none() {
                let (c2, m2, s2) = price(sel.as_deref())?;
                if c2.dual > cert.dual {
                    cert = c2;
                    mu = m2;
                    scores = s2;
                }
            }
        }
        let ub = cert.objective.max(cert.network_objective);
        let converged = gap_ok(ub, cert.dual, tol);
        let rel = (ub - cert.dual) / ub.abs().max(super::GAP_TINY);
        note(
            log,
            settings,
            format!(
                "conic round {round}: {} patterns{}{}, tol {rtol:e}{}, {} iterations ({}), {solve_secs:.3} s, \
             pricing {:.3} s, relative gap {rel:.3e} (upper {ub:.12e}, dual {:.12e})",
                idx.len(),
                if unit { "" } else { " (original units)" },
                if newton { " (Newton model)" } else { "" },
                match (chain, fast) {
                    (true, _) => " (prefix sums, no refinement)",
                    (false, true) => " (no refinement)",
                    _ => "",
                },
                cs.iterations,
                cs.status,
                stage_secs(t1),
                cert.dual,
            ),
        );
        let (zs, cs2) = if converged {
            super::ipm::sparsify(prob, &z, cert.dual, tol)
        } else {
            (z.clone(), cert.clone())
        };
        let cs2 = super::Certificate {
            dual: cert.dual,
            dual_point: cert.dual_point.clone(),
            ..cs2
        };
        let sol = Solution::from_certificate(zs, cs2, mu, iters, converged);
        newton_stalled = newton_zero
            && newton
            && best
                .as_ref()
                .is_some_and(|b| ub >= b.objective.max(b.network_objective));
        stall_run = if newton_stalled { stall_run + 1 } else { 0 };
        best = Some(merge(best, sol, tol));
        if let Some(ps) = polished_sol {
            best = Some(merge(best, ps, tol));
        }
        if best.as_ref().is_some_and(|s| s.converged) {
            break;
        }
        // patterns whose dual constraint fails join, the most violated first
        let mut viol: Vec<usize> = (0..p)
            .filter(|&i| !in_w[i] && scores[i] > prob.beta * (1.0 + 1e-12))
            .collect();
        viol.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        // at most max(|W|, n + 10) join per round: the set at most doubles (measured at n = 40,
        // d = 3, all 1,562 patterns, β = 1e-4: 7 rounds of 50 … 411 patterns, where n + 10 per
        // round took 13 rounds and twice the time, and doubling without dropping 7 rounds of up
        // to 922 patterns and 2.7× the time)
        let cap = (n + 10).max(idx.len());
        // the logistic loss: Newton steps on the working set once the gap is small (see
        // [`super::conic::newton_step`])
        if newton_zero {
            last_rel = rel;
        }
        if newton_zero && !newton && (rel < CONIC_LOOSE_GAP || viol.is_empty()) {
            newton = true;
            if viol.is_empty() {
                // once the exponential-cone round is near the optimum (gap below
                // NEWTON_DROP_GAP) the Newton rounds run on its support and the patterns whose
                // dual constraint is nearly tight, as the first rounds' drops below (a W of the
                // whole program otherwise: n = 60, d = 2, all 120 patterns, β = 0.4: 21
                // patterns and a quarter of the Newton round's time; at β = 1e-3 and a gap of
                // 3e-4 the blocks it left at zero were not yet the optimum's, and two more
                // Newton rounds followed)
                if round < CONIC_DROP_ROUNDS && rel < NEWTON_DROP_GAP {
                    drop_slack(&mut in_w, &idx, &z, &scores, rtol, prob.beta, p, reps);
                }
                continue;
            }
        }
        if newton_ok && rel < CONIC_SECOND_DUAL_GAP && !newton {
            newton = true;
            if viol.is_empty() {
                continue;
            }
        }
        let max_newton = if newton_zero {
            NEWTON_ZERO_MAX_ROUNDS
        } else {
            NEWTON_MAX_ROUNDS
        };
        // two Newton rounds in a row that did not improve (the second on the whole support of
        // the best point, see above) would repeat the same model from the same point: the
        // rounds go on as below instead — the model solved without the fast form, or a tighter
        // Clarabel tolerance (n = 60, d = 2, all 120 patterns, β = 1e-4, tol 1e-9: 17 identical
        // rounds with a step of 0 before, where the first round without the fast form steps)
        let repeating = newton_zero && stall_run >= 2;
        if viol.is_empty() && newton && newton_rounds < max_newton && !repeating {
            // the logistic loss from z = 0: a tight Newton round that left a gap of at most
            // NEWTON_POLISH_GAP · tol is polished on its support (the face's Newton solve)
            // before another Newton round (n = 40, d = 3, all 1,562 patterns, β = 1e-3: the
            // first tight round leaves 8.6e-8, its primal 7.5e-8 above the optimum; the polish
            // certifies at a third of the second round's time)
            if newton_zero && !polished && !loose && rel < NEWTON_POLISH_GAP * tol {
                polished = true;
                let zb = best.as_ref().map(|s| s.z.clone()).unwrap_or(z);
                if let Some(sol) =
                    polish_noted(prob, &zb, settings, &mut tried, iters, tol, log, ctl)?
                {
                    best = Some(merge(best, sol, tol));
                    break;
                }
            }
            continue;
        }
        last_rel = rel;
        if viol.is_empty() && loose {
            // the working set holds the support: solve it again to the endgame's tolerance
            force_tight = true;
            continue;
        }
        if viol.is_empty() {
            // the gap is the sub-solve's accuracy: polish on the support once, then a
            // tighter conic tolerance
            if !polished && prob.loss.is_smooth() {
                polished = true;
                let zb = best.as_ref().map(|s| s.z.clone()).unwrap_or(z);
                if let Some((zp, cp, mup)) =
                    super::admm::try_polish(prob, &zb, settings, &mut tried, ctl)?
                {
                    let sol = sparse_solution(prob, zp, cp, mup, iters, tol);
                    note(log, settings, "conic: polished on the support".into());
                    best = Some(merge(best, sol, tol));
                    break;
                }
            }
            // Clarabel's tolerances are relative to the program's largest terms (the loss's),
            // the certificate's dual constraints are of size β: at small β the gap left is
            // ~ctol·‖loss terms‖/β, so the tolerance falls in proportion to the gap still open
            // (a tolerance Clarabel cannot reach — "AlmostSolved" — is retried halfway, in the
            // geometric sense, towards the last one it reached, down to a factor of 2: hinge,
            // n = 12, d = 3 + bias, β = 1e-4 stopped at a relative gap of 3.5e-8 after one
            // step from 1e-10 to 8.6e-12 failed)
            //
            // The hinge loss keeps the fast form while Clarabel reports Solved and only
            // tightens: its gap scales with the tolerance, and refinement at the
            // same tolerance leaves it where it was (n = 40, d = 3, all 1,562 patterns,
            // β = 1e-3: 1.69e-7 without, 1.68e-7 with)
            let keep_fast = hinge && cs.solved && ctol > 1.5 * CONIC_TOL_FLOOR;
            if fast && !keep_fast {
                // the same tolerance without the fast form first
                fast = false;
                continue;
            }
            if !cs.solved {
                if ctol < 0.5 * last_solved {
                    ctol = (ctol * last_solved).sqrt();
                    continue;
                }
                break;
            }
            last_solved = ctol;
            if ctol <= 1.5 * CONIC_TOL_FLOOR {
                break;
            }
            ctol = (ctol * (0.3 * tol / rel.max(1e-300)).clamp(1e-3, 0.1)).max(CONIC_TOL_FLOOR);
            continue;
        }
        // the hinge loss near the optimum: the next working set differs from this one by a few
        // patterns and its gap will follow Clarabel's tolerance as this one's did, so the
        // tolerance tightens now as it would once no pattern is left to add (n = 40, d = 3,
        // all 1,562 patterns, β = 1e-4: the round after a gap of 5e-8 at 1e-12 certified,
        // where it left 5e-8 again and a third round followed)
        if hinge && fast && !loose && cs.solved && rel < CONIC_SECOND_DUAL_GAP {
            last_solved = ctol;
            ctol = (ctol * (0.3 * tol / rel.max(1e-300)).clamp(1e-3, 0.1)).max(CONIC_TOL_FLOOR);
        }
        // the first rounds also drop the patterns of W that the solve left at zero and whose
        // dual constraint is slack (they rejoin when the pricing flags them again); later rounds
        // only grow W, so the loop ends
        if round < CONIC_DROP_ROUNDS {
            drop_slack(&mut in_w, &idx, &z, &scores, rtol, prob.beta, p, reps);
        }
        for &i in viol.iter().take(cap) {
            in_w[i] = true;
        }
    }
    if !polished && prob.loss.is_smooth() && best.as_ref().is_some_and(|s| !s.converged) {
        let zb = best.as_ref().map(|s| s.z.clone()).unwrap_or_default();
        if let Some((zp, cp, mup)) = super::admm::try_polish(prob, &zb, settings, &mut tried, ctl)?
        {
            note(log, settings, "conic: polished on the support".into());
            let sol = sparse_solution(prob, zp, cp, mup, iters, tol);
            best = Some(merge(best, sol, tol));
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convex::pdip::tests::relu_program_at;

    /// Runs `fit` once to count its cancellation checks, then once per check `k` (every one on
    /// short runs, 100 evenly spread otherwise) with a control that cancels itself there — a
    /// deterministic Ctrl-C landing at that point. Every such run must end with `Interrupted`
    /// (no stage may swallow it, finish its work anyway or hand over to the next stage) and the
    /// uninterrupted result must not depend on the run's position. Returns the number of checks.
    fn interrupted_at_every_check(name: &str, fit: impl Fn(&Control) -> Result<Fit>) -> u64 {
        let ctl = Control::new();
        let full = fit(&ctl).unwrap_or_else(|e| panic!("{name}: {e}"));
        let total = ctl.checks();
        assert!(total > 10, "{name}: only {total} checks");
        let step = (total / 100).max(1);
        for k in (1..=total).step_by(step as usize) {
            let ctl = Control::cancelled_at_check(k);
            match fit(&ctl) {
                Err(Error::Interrupted) => {}
                Err(e) => panic!("{name}: tripped at check {k} of {total}: {e}"),
                Ok(f) => panic!(
                    "{name}: tripped at check {k} of {total}, the fit went on to the end ({})",
                    f.solver
                ),
            }
        }
        // and the count itself is deterministic: the same run makes the same checks
        let again = Control::new();
        let f2 = fit(&again).unwrap();
        assert_eq!(again.checks(), total, "{name}");
        assert_eq!(f2.sol.z, full.sol.z, "{name}");
        total
    }

    fn gated(prob: &Problem) -> Problem {
        let (n, p) = (prob.n(), prob.p());
        let pm = Array2::from_shape_fn((p, n), |(i, k)| prob.mask[[k, i]] != 0.0);
        Problem::new(
            prob.x.view(),
            prob.y.view(),
            pm.view(),
            prob.loss,
            prob.beta,
            Kind::Gated,
            usize::MAX,
        )
        .unwrap()
    }

    #[test]
    fn every_stage_of_the_convex_solvers_stops_at_a_check() {
        // the interior-point path (β_max bound, working set, Woodbury assembly and Cholesky,
        // refined Newton solves, polish, certificates, conic endgame, first-order finish), the
        // gated interior point and FISTA with its certificates and polish
        let (prob, gates) = relu_program_at(5, 40, 3, 60, 0.02);
        let settings = Settings {
            tol: 1e-8,
            max_iter: 400,
            ..Settings::default()
        };
        let warm = WarmStart::default();
        let g = Some(gates.view());
        interrupted_at_every_check("relu ipm", |c| fit(&prob, "ipm", &settings, &warm, g, c));
        interrupted_at_every_check("relu fista", |c| {
            fit(&prob, "fista", &settings, &warm, g, c)
        });
        let gp = gated(&prob);
        interrupted_at_every_check("gated ipm", |c| fit(&gp, "ipm", &settings, &warm, None, c));
    }

    /// `p0` with ±1 labels (the signs of its targets) and `loss`.
    fn with_labels(p0: Problem, loss: super::super::Loss) -> Problem {
        Problem {
            y: p0.y.mapv(|v| if v > 0.0 { 1.0 } else { -1.0 }),
            loss,
            ..p0
        }
    }

    /// "auto" from z = 0 at `tol`, with the program's gates.
    fn fit_auto(prob: &Problem, gates: &Array2<f64>, tol: f64, ctl: &Control) -> Fit {
        let settings = Settings {
            tol,
            max_iter: 10_000,
            trace: None,
            ..Settings::default()
        };
        let f = fit(
            prob,
            "auto",
            &settings,
            &WarmStart::default(),
            Some(gates.view()),
            ctl,
        )
        .unwrap();
        assert!(f.solver.starts_with("conic"), "{}", f.solver);
        f
    }

    /// The sizes of the conic rounds' working sets, from the fit's log.
    fn round_sizes(f: &Fit) -> Vec<usize> {
        f.log
            .iter()
            .filter(|l| l.starts_with("conic round"))
            .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
            .collect()
    }

    /// `f` against the optimum p* of the whole program (Clarabel on all patterns and all cone
    /// rows, tight; its blocks projected onto the cones; with `solved`, Clarabel must report
    /// Solved — its exponential-cone solves may end "AlmostSolved"): converged, its upper bound
    /// at most p*, its dual bound below p*, its certificate closed. Returns the upper bound.
    fn check_whole_optimum(
        prob: &Problem,
        f: &Fit,
        solved: bool,
        what: &str,
        ctl: &Control,
    ) -> f64 {
        let s = &f.sol;
        assert!(s.converged, "{what}: {:?}", f.log);
        let whole = super::super::conic::solve(prob, 1e-10, 300, true, None, ctl).unwrap();
        assert!(whole.solved || !solved, "{what}");
        let zw = crate::convex::admm::project_blocks(prob, &whole.z, ctl).unwrap();
        let pstar = prob.certify(&zw, None, None).objective;
        let ub = s.objective.max(s.network_objective);
        assert!(ub <= pstar * (1.0 + 1e-7), "{what}: {ub} vs {pstar}");
        assert!(
            s.dual <= pstar * (1.0 + 1e-9),
            "{what}: {} vs {pstar}",
            s.dual
        );
        assert!(ub - s.dual <= 1e-8 * ub.abs(), "{what}");
        ub
    }

    /// "auto" on a program with facet rows (d = 3, n ≤ 200) runs the conic working-set loop
    /// from z = 0: its first working set (3(n + 10) patterns) and every later one are a part of
    /// the patterns, and the result is the optimum of the program over *all* patterns (Clarabel
    /// on the whole program, all cone rows), with a dual bound below it and a closed
    /// certificate.
    #[test]
    fn conic_working_set_reaches_the_whole_programs_optimum() {
        for beta in [1e-4, 1e-2] {
            let (prob, gates) = relu_program_at(11, 24, 3, 2000, beta);
            let p = prob.p();
            assert!(p > 200, "{p} patterns");
            let ctl = Control::new();
            let f = fit_auto(&prob, &gates, 1e-8, &ctl);
            let sizes = round_sizes(&f);
            assert!(
                !sizes.is_empty() && sizes[0] == CONIC_START_FACTOR * (24 + 10),
                "{sizes:?}"
            );
            assert!(sizes.iter().all(|&q| q < p), "{sizes:?} of {p}");
            check_whole_optimum(&prob, &f, true, &format!("beta {beta}"), &ctl);
        }
    }

    /// The logistic loss from z = 0 ("auto", facet rows, P ≫ n): loose exponential-cone rounds
    /// then Newton rounds on squared-loss models. Across β from 1e-4 to 0.4 the fit certifies,
    /// its upper bound is the optimum of the whole exponential-cone program (Clarabel on all
    /// patterns and rows, tight) and its dual bound is below that optimum; a tighter tol never
    /// returns a worse point.
    #[test]
    fn logistic_newton_rounds_reach_the_exponential_cone_optimum() {
        for beta in [1e-4, 1e-3, 1e-2, 0.4] {
            let (p0, gates) = relu_program_at(12, 24, 3, 2000, beta);
            let prob = with_labels(p0, super::super::Loss::Logistic);
            let ctl = Control::new();
            let f = fit_auto(&prob, &gates, 1e-8, &ctl);
            assert!(
                f.log.iter().any(|l| l.contains("(Newton model)")),
                "beta {beta}: {:?}",
                f.log
            );
            let ub = check_whole_optimum(&prob, &f, false, &format!("beta {beta}"), &ctl);
            let g = fit_auto(&prob, &gates, 1e-10, &ctl);
            let ub2 = g.sol.objective.max(g.sol.network_objective);
            assert!(ub2 <= ub * (1.0 + 1e-9), "beta {beta}: {ub2} vs {ub}");
        }
    }

    /// The hinge loss's first working set from the gated program ([`gated_start`]): it runs
    /// (logged), every working set is a part of the patterns, and the result is the optimum of
    /// the program over all patterns (Clarabel on the whole program, all cone rows), with a dual
    /// bound below it and a closed certificate.
    #[test]
    fn the_hinge_losss_gated_start_reaches_the_whole_programs_optimum() {
        for beta in [1e-4, 1e-2, 0.4] {
            let (p0, gates) = relu_program_at(11, 24, 3, 2000, beta);
            let prob = with_labels(p0, super::super::Loss::Hinge);
            let p = prob.p();
            assert!(2 * CONIC_START_FACTOR * (24 + 10) <= p, "{p} patterns");
            let ctl = Control::new();
            let f = fit_auto(&prob, &gates, 1e-8, &ctl);
            assert!(
                f.log
                    .iter()
                    .any(|l| l.starts_with("conic: first working set from the gated program")),
                "{:?}",
                f.log
            );
            let sizes = round_sizes(&f);
            assert!(
                !sizes.is_empty() && sizes.iter().all(|&q| q < p),
                "{sizes:?} of {p}"
            );
            check_whole_optimum(&prob, &f, true, &format!("beta {beta}"), &ctl);
        }
    }

    /// The logistic loss from z = 0 with the pricing of its rounds (no dual point on the face in
    /// the loose rounds, all cone rows only for the patterns whose facet-row residual is near
    /// β): across β, with P ≫ n (d = 3) and with a first working set of all the patterns
    /// (d = 2), the result is the optimum of the whole exponential-cone program (Clarabel on all
    /// patterns and rows, tight), with a dual bound below it and a closed certificate.
    #[test]
    fn the_logistic_losss_rounds_from_zero_reach_the_exponential_cone_optimum() {
        for (n, d, beta) in [(24, 3, 1e-4), (24, 3, 1e-2), (20, 2, 1e-4), (20, 2, 0.2)] {
            let (p0, gates) = relu_program_at(21, n, d, 2000, beta);
            let prob = with_labels(p0, super::super::Loss::Logistic);
            let ctl = Control::new();
            let f = fit_auto(&prob, &gates, 1e-8, &ctl);
            assert!(
                f.log.iter().any(|l| l.contains("(Newton model)")),
                "d {d} beta {beta}: {:?}",
                f.log
            );
            check_whole_optimum(&prob, &f, false, &format!("d {d} beta {beta}"), &ctl);
        }
    }

    #[test]
    fn the_newton_solver_stops_at_every_check() {
        // the gated Newton solver (squared loss: X̃X̃ᵀ by parts, K ⊙ X̃X̃ᵀ by row blocks, the
        // factorisation's copies in and out by blocks and its panels), on n = 200 rows so the
        // factorisation has two panels; and the Huber loss's proximal Newton path
        let (prob, _) = relu_program_at(7, 200, 3, 30, 0.02);
        let settings = Settings {
            tol: 1e-8,
            max_iter: 400,
            ..Settings::default()
        };
        let warm = WarmStart::default();
        let gp = gated(&prob);
        let ctl = Control::new();
        let _ = fit(&gp, "newton", &settings, &warm, None, &ctl).unwrap();
        let sites = ctl.check_sites();
        for f in ["newton.rs", "linalg.rs"] {
            assert!(
                sites.iter().any(|s| s.ends_with(f)),
                "no check in {f}: {sites:?}"
            );
        }
        interrupted_at_every_check("gated newton", |c| {
            fit(&gp, "newton", &settings, &warm, None, c)
        });
        let mut hp = gated(&prob);
        hp.loss = crate::convex::Loss::Huber(1.0);
        interrupted_at_every_check("gated newton, huber", |c| {
            fit(&hp, "newton", &settings, &warm, None, c)
        });
    }

    #[test]
    fn the_problem_masks_and_the_lp_gram_check() {
        // Problem::new_ctl builds the masks by row blocks (a check each) and gives the masks of
        // the plain construction; the interior point's LP-row Gram product checks by parts
        let (prob, gates) = relu_program_at(8, 600, 3, 20, 0.02);
        let pm = Array2::from_shape_fn((prob.p(), prob.n()), |(i, k)| prob.mask[[k, i]] != 0.0);
        let args = |c: &Control| {
            Problem::new_ctl(
                prob.x.view(),
                prob.y.view(),
                pm.view(),
                prob.loss,
                prob.beta,
                Kind::Relu,
                usize::MAX,
                c,
            )
        };
        let ctl = Control::new();
        let p2 = args(&ctl).unwrap();
        assert_eq!(p2.mask, prob.mask);
        assert_eq!(p2.sign, prob.mask.mapv(|m| 2.0 * m - 1.0));
        assert!(ctl.checks() >= 3, "{} checks", ctl.checks());
        for k in 1..=ctl.checks() {
            assert!(matches!(
                args(&Control::cancelled_at_check(k)),
                Err(Error::Interrupted)
            ));
        }
        let settings = Settings {
            tol: 1e-8,
            max_iter: 2,
            ..Settings::default()
        };
        let ctl = Control::new();
        let _ = super::super::pdip::solve(&prob, &settings, Some(gates.view()), &ctl).unwrap();
        let sites = ctl.check_sites();
        assert!(
            sites.iter().any(|s| s.ends_with("lp_rows.rs")),
            "no check in the LP rows' Gram product: {sites:?}"
        );
    }

    #[test]
    fn the_woodbury_factorisation_and_the_refined_solves_check() {
        // n = 300 rows (three Cholesky panels of 128): the interior point's n × n Woodbury
        // factorisation and its refined Newton solves check between panels / solves, so a
        // cancellation landing inside them stops there. Seen as checks made from the
        // factorisation (linalg.rs) during an interior-point run.
        let (prob, gates) = relu_program_at(6, 300, 3, 40, 0.02);
        let settings = Settings {
            tol: 1e-8,
            max_iter: 3,
            ..Settings::default()
        };
        let ctl = Control::new();
        let _ = super::super::pdip::solve(&prob, &settings, Some(gates.view()), &ctl).unwrap();
        let sites = ctl.check_sites();
        assert!(
            sites.iter().any(|s| s.ends_with("linalg.rs")),
            "no check inside the factorisation: {sites:?}"
        );
    }
}
