//! The program as one conic problem for Clarabel (the endgame on a working set of patterns).
//!
//! Variables x = [z_1 … z_B (d each), t_1 … t_B, r (n), loss variables]; with Clarabel's form
//! min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K the rows are, in order,
//! - zero cone (n): r − Σ_b σ_b D_i X z_b = −c, i.e. r = prediction − c, with c = y for the
//!   regression losses (r is the residual) and c = 0 for the classification ones (r is the
//!   prediction),
//! - nonnegative cone: S_i X z_b ≥ 0 per ReLU block (n rows each), then the loss's linear rows,
//! - second-order cones: (t_b, z_b) per block,
//! - exponential cones: the logistic loss's two per sample,
//!
//! and the objective is the loss (squared: ½‖r‖²; Huber: min_a ½‖a‖² + δ‖r − a‖₁;
//! hinge: Σ max(0, 1 − y r); logistic: Σ s_k with e^{−s_k} + e^{−y_k r_k − s_k} ≤ 1) plus
//! β Σ_b t_b. The multipliers of the zero-cone rows are −ℓ'(prediction*): the dual point that
//! [`super::polish::sharp_certificate_at`] prices on the whole program. Clarabel runs on a
//! thread of its own with the control's cancellation flag as its termination callback, and the
//! caller waits for it polling the control (see [`solve_on_worker`]).
//!
//! **Why the residual.** Written with the prediction u as variable, the squared loss is
//! ½‖u‖² − yᵀu + const: near interpolation (small β) the objective Clarabel sees is
//! p* − ½‖y‖², a cancellation of ‖y‖²/p* digits, and its dual residual is scaled by ‖y‖ while
//! the dual constraints that decide the certificate are of size β. Clarabel then stops ~1e-6
//! relative above p* whatever its tolerance (n = 60, d = 2, β = 1e-3: 2e-6 at tol 1e-8 and
//! 1e-10); with the residual r = u − y as variable (no linear term, y in the right-hand side)
//! it reaches 1e-9 at its default tolerance and 3e-13 at 1e-10.
//!
//! **Blocks in units of 1/β.** Clarabel's dual residual is measured against the program's
//! largest terms (≈ 1), while a dual constraint of the certificate, ‖A_bᵀλ − S_bᵀμ_b‖ ≤ β,
//! is of size β: a dual point accurate to Clarabel's tolerance ε misses it by ~ε/β relative,
//! and the certificate's gap is then ~ε/β (hinge, n = 40, d = 3, β = 1e-4: 2e-4 at ε = 1e-8).
//! With `unit_scale` the variables are ζ_b = β z_b and t'_b = β t_b (cost Σ t'_b, the
//! prediction's coefficients divided by β), so the dual constraints read
//! ‖A_bᵀλ/β − S_bᵀμ'_b‖ ≤ 1 and Clarabel's tolerance applies to them directly (the same hinge
//! problem: 2e-9 at ε = 1e-13, where it stalled at 1.4e-8 before). On exponential cones
//! Clarabel sometimes stops "InsufficientProgress" in these units; the endgame then solves in
//! the original units.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolution, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};
use ndarray::{Array1, Array2};

use super::{Kind, Loss, Problem};
use crate::control::Control;
use crate::error::{Error, Result};

/// What one conic solve returns.
#[derive(Debug, Clone)]
pub struct ConicSolution {
    /// Blocks, d × B of the problem solved.
    pub z: Array2<f64>,
    /// −(multipliers of u − Σ σ D X z = 0): ℓ'(u) at Clarabel's optimum, a dual candidate.
    pub lam: Array1<f64>,
    /// Clarabel reported Solved (to `tol`).
    pub solved: bool,
    /// Clarabel reported Solved or AlmostSolved (a usable point).
    pub usable: bool,
    /// Clarabel's status, for the log.
    pub status: String,
    pub iterations: usize,
}

struct Triplets {
    i: Vec<usize>,
    j: Vec<usize>,
    v: Vec<f64>,
}

impl Triplets {
    fn push(&mut self, i: usize, j: usize, v: f64) {
        if v != 0.0 {
            self.i.push(i);
            self.j.push(j);
            self.v.push(v);
        }
    }
}

/// Solve `prob` (typically a working-set subset) with Clarabel to relative gap `tol`; with
/// `unit_scale` the blocks are variables in units of 1/β (see the module docs). `facets` (one
/// list per pattern of `prob`, see [`facet_rows`]) keeps only those cone rows: the same cones.
pub fn solve(
    prob: &Problem,
    tol: f64,
    max_iter: u32,
    unit_scale: bool,
    facets: Option<&[Vec<usize>]>,
    ctl: &Control,
) -> Result<ConicSolution> {
    solve_fast(prob, tol, max_iter, unit_scale, facets, false, true, ctl)
}

/// [`solve`]; with `chain` the zero-cone rows in the prefix-sum form when it is sparser
/// ([`pattern_chain`]), without `refine` Clarabel's iterative refinement of its KKT solves off
/// (for the logistic loss `refine` selects its tight settings, see the comment at them below;
/// without it, Clarabel's defaults with refinement off, for the endgame's loose rounds). Each
/// refinement step is a multiplication by the KKT matrix and two triangular solves: ~40 % of
/// Clarabel's time on the endgame's working sets (n = 60, d = 2, 120 patterns with facet rows;
/// n = 40, d = 3, 150–320 patterns), and without it Clarabel still reports `Solved` at its
/// tolerance in as many iterations. The fast form's point is less accurate (the prediction
/// passes through the chain's rows, and no refinement). The endgame certifies every point on
/// the whole program itself and solves without `fast` once a round's certificate falls short
/// with no pattern to add.
#[allow(clippy::too_many_arguments)]
pub fn solve_fast(
    prob: &Problem,
    tol: f64,
    max_iter: u32,
    unit_scale: bool,
    facets: Option<&[Vec<usize>]>,
    chain: bool,
    refine: bool,
    ctl: &Control,
) -> Result<ConicSolution> {
    ctl.check()?;
    let (n, d) = (prob.n(), prob.d());
    let p = prob.p();
    let nb = prob.n_blocks();
    let relu = prob.kind == Kind::Relu;
    let zi = |b: usize, j: usize| b * d + j;
    let ti = |b: usize| nb * d + b;
    let ui = |k: usize| nb * (d + 1) + k;
    let base = nb * (d + 1) + n;
    let n_extra = match prob.loss {
        Loss::Squared => 0,
        Loss::Hinge | Loss::SquaredHinge => n,
        Loss::Huber(_) => 2 * n,
        Loss::Logistic => 3 * n,
    };
    // the zero-cone rows through prefix sums of the patterns' blocks when that is sparser (see
    // [`pattern_chain`]): C_j (d each) after the loss variables
    let logistic = prob.loss == Loss::Logistic;
    let chain = if chain && (!logistic || !refine) {
        pattern_chain(prob)
    } else {
        None
    };
    let base_c = base + n_extra;
    let ci = |j: usize, jj: usize| base_c + j * d + jj;
    let nx = base_c + chain.as_ref().map_or(0, |c| c.order.len() * d);
    let mut pm = Triplets {
        i: vec![],
        j: vec![],
        v: vec![],
    };
    // the blocks in units of 1/β: ζ_b = β z_b, t'_b = β t_b (see the module docs)
    let cz = if unit_scale && prob.beta > 0.0 && prob.beta.is_finite() {
        prob.beta
    } else {
        1.0
    };
    let mut q = vec![0.0; nx];
    for b in 0..nb {
        q[ti(b)] = prob.beta / cz;
    }
    let mut a = Triplets {
        i: vec![],
        j: vec![],
        v: vec![],
    };
    let mut rhs: Vec<f64> = Vec::new();
    let mut cones: Vec<SupportedConeT<f64>> = Vec::new();
    let mut row = 0usize;
    // zero cone: r_k − Σ_b σ_b m_ki x_kᵀ z_b = −c_k (c = y for the regression losses)
    let regression = matches!(prob.loss, Loss::Squared | Loss::Huber(_));
    for k in 0..n {
        ctl.check()?; // rows of nb·d entries: a large working set takes a while
        a.push(row, ui(k), 1.0);
        if let Some(ch) = &chain {
            // Σ over the runs [a, b] of sample k's patterns (in chain order) of C_b − C_{a−1}
            for &(ra, rb) in &ch.runs[k] {
                for j in 0..d {
                    a.push(row, ci(rb, j), -prob.x[[k, j]] / cz);
                    if ra > 0 {
                        a.push(row, ci(ra - 1, j), prob.x[[k, j]] / cz);
                    }
                }
            }
        } else {
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let m = prob.mask[[k, i]];
                if m != 0.0 {
                    for j in 0..d {
                        a.push(row, zi(b, j), -sig * m * prob.x[[k, j]] / cz);
                    }
                }
            }
        }
        rhs.push(if regression { -prob.y[k] } else { 0.0 });
        row += 1;
    }
    if let Some(ch) = &chain {
        // C_j − C_{j−1} − Σ_σ σ z_{σ, o_j} = 0
        let reps = nb / p;
        // in units of the prediction rows (divided by cz like them): a residual ε of these rows
        // in units of 1/β would move the prediction by ε/β (n = 60, d = 2, hinge, β = 1e-4, tol
        // 1e-10: a gap of 3.3e-6 left by the prediction's error, 1.2e-7 in these units)
        let cs = 1.0 / cz;
        for (j, &i) in ch.order.iter().enumerate() {
            for jj in 0..d {
                a.push(row, ci(j, jj), cs);
                if j > 0 {
                    a.push(row, ci(j - 1, jj), -cs);
                }
                for r in 0..reps {
                    let sig = if r == 0 { 1.0 } else { -1.0 };
                    a.push(row, zi(r * p + i, jj), -sig * cs);
                }
                rhs.push(0.0);
                row += 1;
            }
        }
    }
    cones.push(SupportedConeT::ZeroConeT(row));
    // nonnegative rows
    let row_nn = row;
    let facets = facets.filter(|f| f.len() == p);
    let all: Vec<usize> = (0..n).collect();
    if relu {
        for b in 0..nb {
            ctl.check()?;
            let i = b % p;
            let rows_i = facets.map_or(&all[..], |f| &f[i][..]);
            for &k in rows_i {
                let s = prob.sign[[k, i]];
                for j in 0..d {
                    a.push(row, zi(b, j), -s * prob.x[[k, j]]);
                }
                rhs.push(0.0);
                row += 1;
            }
        }
    }
    match prob.loss {
        Loss::Squared => {
            for k in 0..n {
                pm.push(ui(k), ui(k), 1.0);
            }
        }
        Loss::Hinge | Loss::SquaredHinge => {
            // w ≥ 0, w + y u − 1 ≥ 0; cost w (hinge) or w² (squared hinge)
            for k in 0..n {
                let w = base + k;
                if prob.loss == Loss::Hinge {
                    q[w] = 1.0;
                } else {
                    pm.push(w, w, 2.0);
                }
                a.push(row, w, -1.0);
                rhs.push(0.0);
                row += 1;
                a.push(row, w, -1.0);
                a.push(row, ui(k), -prob.y[k]);
                rhs.push(-1.0);
                row += 1;
            }
        }
        Loss::Huber(delta) => {
            // ½a² + δ w, w ≥ ±(r − a)
            for k in 0..n {
                let (av, w) = (base + k, base + n + k);
                pm.push(av, av, 1.0);
                q[w] = delta;
                a.push(row, w, -1.0);
                a.push(row, ui(k), 1.0);
                a.push(row, av, -1.0);
                rhs.push(0.0);
                row += 1;
                a.push(row, w, -1.0);
                a.push(row, ui(k), -1.0);
                a.push(row, av, 1.0);
                rhs.push(0.0);
                row += 1;
            }
        }
        Loss::Logistic => {
            // 1 − v1 − v2 ≥ 0
            for k in 0..n {
                let (v1, v2) = (base + n + k, base + 2 * n + k);
                a.push(row, v1, 1.0);
                a.push(row, v2, 1.0);
                rhs.push(1.0);
                row += 1;
            }
        }
    }
    cones.push(SupportedConeT::NonnegativeConeT(row - row_nn));
    // second-order cones (t_b, z_b)
    for b in 0..nb {
        a.push(row, ti(b), -1.0);
        rhs.push(0.0);
        row += 1;
        for j in 0..d {
            a.push(row, zi(b, j), -1.0);
            rhs.push(0.0);
            row += 1;
        }
        cones.push(SupportedConeT::SecondOrderConeT(d + 1));
    }
    if prob.loss == Loss::Logistic {
        // (−s, 1, v1) and (−y u − s, 1, v2) in K_exp = {(x, y, z): y e^{x/y} ≤ z}
        for k in 0..n {
            let (s, v1, v2) = (base + k, base + n + k, base + 2 * n + k);
            q[s] = 1.0;
            a.push(row, s, 1.0);
            rhs.extend([0.0, 1.0, 0.0]);
            a.push(row + 2, v1, -1.0);
            row += 3;
            cones.push(SupportedConeT::ExponentialConeT());
            a.push(row, ui(k), prob.y[k]);
            a.push(row, s, 1.0);
            rhs.extend([0.0, 1.0, 0.0]);
            a.push(row + 2, v2, -1.0);
            row += 3;
            cones.push(SupportedConeT::ExponentialConeT());
        }
    }
    // Logistic loss: iterative refinement to 1e-14 (Clarabel's default stops at 1e-13
    // relative, 1e-12 absolute, after 10 steps) and a static regularisation of 1e-10 (default
    // 1e-8). On its exponential cones at small β the default KKT solves limit the multipliers'
    // accuracy, and Clarabel stops "AlmostSolved" whatever its tolerance (n = 30, d = 2,
    // β = 3e-4: a certified gap of 4.7e-6 relative; with these settings 3e-9). The dual
    // constraints that decide the certificate are of size β (1 in units of 1/β), so these
    // last digits of the multipliers are the certificate's. The other losses keep Clarabel's
    // defaults (on the hinge loss's LP these settings stall instead: n = 12,
    // d = 2 with a bias column, β = 1.2e-4, "AlmostSolved" at 1.5e-7).
    let settings = DefaultSettings::<f64> {
        verbose: false,
        max_iter,
        tol_gap_abs: tol * 1e-2,
        tol_gap_rel: tol,
        tol_feas: tol,
        tol_ktratio: 1e-8,
        max_threads: 1,
        ..DefaultSettings::default()
    };
    let settings = if logistic && refine {
        DefaultSettings::<f64> {
            iterative_refinement_reltol: 1e-14,
            iterative_refinement_abstol: 1e-14,
            iterative_refinement_max_iter: 30,
            static_regularization_constant: 1e-10,
            ..settings
        }
    } else {
        DefaultSettings::<f64> {
            iterative_refinement_enable: refine,
            ..settings
        }
    };
    let sol = solve_on_worker(nx, row, pm, a, q, rhs, cones, settings, ctl)?;
    ctl.check()?;
    let solved = matches!(sol.status, SolverStatus::Solved);
    let usable = solved || matches!(sol.status, SolverStatus::AlmostSolved);
    let status = format!("{:?}", sol.status);
    let mut z = Array2::<f64>::zeros((d, nb));
    for b in 0..nb {
        for j in 0..d {
            z[[j, b]] = sol.x[zi(b, j)] / cz;
        }
    }
    let lam = (0..n).map(|k| -sol.z[k]).collect();
    Ok(ConicSolution {
        z,
        lam,
        solved,
        usable,
        status,
        iterations: sol.iterations as usize,
    })
}

/// The patterns of a program in an order where each sample's patterns (mask 1) form few runs,
/// and those runs per sample.
struct PatternChain {
    /// Position j → pattern.
    order: Vec<usize>,
    /// Per sample: its runs of patterns as inclusive position ranges [a, b].
    runs: Vec<Vec<(usize, usize)>>,
}

/// The prefix-sum form of the prediction, when it is sparser. The zero-cone rows
/// u_k = Σ_i m_ki x_kᵀ w_i (w_i = Σ_σ σ z_{σ,i}, the pattern's two blocks) hold one d-vector per
/// pattern of sample k: about n · P · d / 2 entries, dense, which dominate Clarabel's KKT
/// factorisation and its products (nearly all of A's nonzeros: 14,400 of 16,140 at n = 60,
/// d = 2, all 120 patterns with facet rows). With the patterns in an order o and the
/// cumulative sums C_j = Σ_{l ≤ j} w_{o_l} as variables (C_j − C_{j−1} = w_{o_j}: 2 + 2 entries
/// per row of the chain), a run of sample k's patterns o_a … o_b is C_b − C_{a−1}: 2 d entries
/// per run. The order is greedy nearest-neighbour in Hamming distance between the masks (from
/// pattern 0, ties to the lower index: deterministic); chambers of an arrangement next to each
/// other differ in one sample, so in the plane each sample's patterns are one or two runs
/// (n = 60, d = 2: 94 runs in all, A 3,006 nonzeros instead of 16,140, Clarabel ~2× faster
/// per solve at a few more iterations). `None` (the dense rows) when the mask is not 0/1 or
/// the chain is not at least [`CHAIN_MIN_GAIN`] times sparser.
fn pattern_chain(prob: &Problem) -> Option<PatternChain> {
    let (n, p) = (prob.n(), prob.p());
    if p < 2 || prob.mask.iter().any(|&m| m != 0.0 && m != 1.0) {
        return None;
    }
    let words = n.div_ceil(64);
    let mut bits = vec![0u64; words * p];
    for i in 0..p {
        for k in 0..n {
            if prob.mask[[k, i]] == 1.0 {
                bits[i * words + k / 64] |= 1 << (k % 64);
            }
        }
    }
    let dist = |a: usize, b: usize| -> u32 {
        (0..words)
            .map(|w| (bits[a * words + w] ^ bits[b * words + w]).count_ones())
            .sum()
    };
    let mut order = Vec::with_capacity(p);
    let mut left: Vec<usize> = (1..p).collect();
    order.push(0);
    while !left.is_empty() {
        let last = *order.last().unwrap_or(&0);
        let (mut best, mut best_d) = (0, u32::MAX);
        for (a, &i) in left.iter().enumerate() {
            let di = dist(last, i);
            if di < best_d {
                (best, best_d) = (a, di);
            }
        }
        order.push(left.remove(best));
    }
    let mut runs = vec![Vec::new(); n];
    let mut dense = 0usize;
    let mut sparse = 4 * p;
    for (k, rk) in runs.iter_mut().enumerate() {
        let mut j = 0;
        while j < p {
            if prob.mask[[k, order[j]]] == 1.0 {
                let a = j;
                while j < p && prob.mask[[k, order[j]]] == 1.0 {
                    j += 1;
                }
                rk.push((a, j - 1));
                dense += j - a;
                sparse += 2;
            } else {
                j += 1;
            }
        }
    }
    let reps = prob.n_blocks() / p;
    if (sparse as f64) * CHAIN_MIN_GAIN > (reps * dense) as f64 {
        return None;
    }
    Some(PatternChain { order, runs })
}

/// The prefix-sum form of the zero-cone rows is used when it has at most 1/CHAIN_MIN_GAIN of
/// their nonzeros (it adds P · d rows and variables to the KKT system).
const CHAIN_MIN_GAIN: f64 = 2.0;

/// Floor of the Newton model's curvatures, relative to the largest: ℓ'' of the logistic loss
/// falls like e^{−margin}, and a weight of ~0 would drop the sample from the model.
const NEWTON_MIN_CURVATURE: f64 = 1e-8;

/// One proximal Newton step on `prob` from `z0` (blocks d × B of `prob`) for a smooth loss that
/// is not quadratic (the logistic loss), with the quadratic model solved by Clarabel.
///
/// The model replaces the loss by its second-order expansion at u₀ = prediction(z₀),
/// Σ_k g_k (u_k − u₀_k) + ½ h_k (u_k − u₀_k)² = ½ Σ_k h_k (u_k − c_k)² + const with
/// g = ℓ'(u₀), h = ℓ''(u₀) (floored at [`NEWTON_MIN_CURVATURE`] of its largest) and
/// c = u₀ − g/h, and keeps the penalty and the cones exactly: it is the squared-loss program on
/// rows scaled by √h_k (x̃_k = √h_k x_k, ỹ_k = √h_k c_k; the cone rows keep their signs), which
/// Clarabel solves to its tolerance without the exponential cones that limit it on the
/// logistic program itself (there it stops "AlmostSolved" or "InsufficientProgress" at small
/// β: the cones' points sit near their boundary, e^{−margin} ≈ 0). The step to the model's
/// solution (projected on the cones) is damped by halving until the program's objective does
/// not increase; near the
/// optimum it is a full step and the iterates converge quadratically. The dual candidate
/// returned is the model's gradient g + h (u₁ − u₀) at its solution u₁ (√h_k times the
/// model's zero-cone multipliers), projected on the conjugate's domain.
pub fn newton_step(
    prob: &Problem,
    z0: &Array2<f64>,
    tol: f64,
    max_iter: u32,
    facets: Option<&[Vec<usize>]>,
    ctl: &Control,
) -> Result<ConicSolution> {
    newton_step_fast(prob, z0, tol, max_iter, facets, false, true, ctl)
}

/// [`newton_step`] with the model (a squared-loss program, second-order cones only) solved in
/// [`solve_fast`]'s form: `chain` (the prefix-sum rows) and `refine` as there. The squared
/// loss's fast form reaches Clarabel's tolerance in as many iterations (see [`solve_fast`]),
/// at a fraction of the exponential cones' cost per iteration.
#[allow(clippy::too_many_arguments)]
pub fn newton_step_fast(
    prob: &Problem,
    z0: &Array2<f64>,
    tol: f64,
    max_iter: u32,
    facets: Option<&[Vec<usize>]>,
    chain: bool,
    refine: bool,
    ctl: &Control,
) -> Result<ConicSolution> {
    let u0 = prob.predict(z0.view());
    let g = prob.loss_grad(&u0);
    let h = prob.loss_second(&u0);
    let hmax = h.iter().cloned().fold(0.0f64, f64::max);
    if !(hmax > 0.0 && hmax.is_finite()) || g.iter().any(|v| !v.is_finite()) {
        return solve(prob, tol, max_iter, true, facets, ctl);
    }
    let sq = h.mapv(|v| v.max(NEWTON_MIN_CURVATURE * hmax).sqrt());
    let model = Problem {
        x: &prob.x * &sq.view().insert_axis(ndarray::Axis(1)),
        mask: prob.mask.clone(),
        sign: prob.sign.clone(),
        y: &sq * &u0 - &g / &sq,
        loss: Loss::Squared,
        beta: prob.beta,
        kind: prob.kind,
        par: prob.par,
    };
    let mut cs = solve_fast(&model, tol, max_iter, true, facets, chain, refine, ctl)?;
    if !cs.usable {
        let iters = cs.iterations;
        cs = solve_fast(&model, tol, max_iter, false, facets, chain, refine, ctl)?;
        cs.iterations += iters;
    }
    // damped step between points on the cones (the model's solution holds its cone rows to
    // Clarabel's tolerance only: projected first), so the program's objective at the point
    // returned, whatever its cone projection, does not increase
    let objective = |z: &Array2<f64>| prob.loss_value(&prob.predict(z.view())) + prob.penalty(z);
    let f0 = objective(z0);
    let z1 = super::admm::project_blocks(prob, &cs.z, ctl)?;
    let dz = &z1 - z0;
    let mut t = 1.0;
    let mut z = z1;
    loop {
        ctl.check()?;
        if objective(&z) <= f0 {
            break;
        }
        t *= 0.5;
        if t < 1e-6 {
            z = z0.clone();
            t = 0.0;
            break;
        }
        z = z0 + &(&dz * t);
    }
    let lam = (0..prob.n())
        .map(|k| prob.loss.project_dual(sq[k] * cs.lam[k], prob.y[k]))
        .collect();
    Ok(ConicSolution {
        z,
        lam,
        solved: cs.solved,
        usable: cs.usable,
        status: format!("Newton step {t}, model {}", cs.status),
        iterations: cs.iterations,
    })
}

/// Interval at which the calling thread checks the control while Clarabel runs.
const POLL: Duration = Duration::from_millis(5);

/// Clarabel on the program (P, q, A, b, K), on a thread of its own.
///
/// Clarabel checks its termination callback (the control's cancellation flag) once per
/// iteration, and one iteration — a sparse LDLᵀ factorisation of the KKT matrix — or its setup
/// (equilibration, ordering, symbolic factorisation) can take longer than Ctrl-C may wait. The
/// calling thread therefore waits for the solver in steps of [`POLL`] and returns
/// [`Error::Interrupted`] as soon as the run is cancelled; the abandoned solver stops at its
/// next callback and its result is discarded. A panic inside Clarabel ends its thread and is
/// reported as a numerical error.
#[allow(clippy::too_many_arguments)]
fn solve_on_worker(
    nx: usize,
    rows: usize,
    pm: Triplets,
    a: Triplets,
    q: Vec<f64>,
    rhs: Vec<f64>,
    cones: Vec<SupportedConeT<f64>>,
    settings: DefaultSettings<f64>,
    ctl: &Control,
) -> Result<DefaultSolution<f64>> {
    let flag = ctl.cancel_flag();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("hiddenconvex-clarabel".into())
        .spawn(move || {
            let pmat = CscMatrix::new_from_triplets(nx, nx, pm.i, pm.j, pm.v);
            let amat = CscMatrix::new_from_triplets(rows, nx, a.i, a.j, a.v);
            let out =
                DefaultSolver::new(&pmat, &q, &amat, &rhs, &cones, settings).map(|mut solver| {
                    solver.set_termination_callback(move |_info| flag.load(Ordering::Relaxed));
                    solver.solve();
                    solver.solution
                });
            // the receiver is gone when the run was cancelled: nothing to deliver
            let _ = tx.send(out);
        })
        .map_err(|e| Error::Numerical(format!("conic solver: no thread ({e})")))?;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(out) => {
                return out.map_err(|e| Error::Numerical(format!("conic solver setup: {e:?}")))
            }
            Err(RecvTimeoutError::Timeout) => ctl.check()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::Numerical(
                    "conic solver: Clarabel stopped without a result (internal panic)".into(),
                ))
            }
        }
    }
}

/// The rows of each pattern's cone K_i = {z : s_k x_kᵀ z ≥ 0, k = 1 … n} that are facets
/// (`None` when `gates` is not P × d or the program is not the ReLU program): with w_i the
/// pattern's witness (s_k x_kᵀ w_i > 0), row k is implied by the others exactly when
/// q_k = s_k x_k / (s_k x_kᵀ w_i) lies in the convex hull of the other q_j (Farkas), and the
/// q_k lie in the (d − 1)-dimensional plane w_iᵀq = 1. For d = 2 these are the two extreme
/// points of a segment, for d = 3 the vertices of a polygon (monotone chain); for
/// 4 ≤ d ≤ [`FLIPS_MAX_D`] and n ≤ [`FLIPS_MAX_N`] see [`facet_rows_by_flips`] (`None`
/// beyond). A cone in the plane keeps 2 of its n rows, in space about 4 on average (an
/// arrangement's chambers have few faces), which makes the conic problem ~10× smaller. Rows dropped by rounding change the cone by rounding only; the endgame projects
/// its point on the full cones and certifies it on the whole program.
pub fn facet_rows(
    prob: &Problem,
    gates: Option<ndarray::ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Option<Vec<Vec<usize>>>> {
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let Some(w) = gates.filter(|g| g.dim() == (p, d)) else {
        return Ok(None);
    };
    if prob.kind != Kind::Relu || d < 2 {
        return Ok(None);
    }
    if d >= 4 {
        // the check's NNLS per row not confirmed by a flip grows with n and d (with sampled
        // patterns few rows are): larger programs keep all their rows
        if d > FLIPS_MAX_D || n > FLIPS_MAX_N {
            return Ok(None);
        }
        return facet_rows_by_flips(prob, w, ctl).map(Some);
    }
    let mut out = Vec::with_capacity(p);
    for i in 0..p {
        if i % 256 == 0 {
            ctl.check()?;
        }
        let wi: Vec<f64> = (0..d).map(|j| w[[i, j]]).collect();
        let wn = wi.iter().map(|v| v * v).sum::<f64>().sqrt();
        if wn == 0.0 || !wn.is_finite() {
            return Ok(None);
        }
        // an orthonormal basis of w_i's complement
        let basis: Vec<Vec<f64>> = if d == 2 {
            vec![vec![-wi[1] / wn, wi[0] / wn]]
        } else {
            let u: Vec<f64> = wi.iter().map(|v| v / wn).collect();
            // the coordinate axis least aligned with u, made orthogonal to it
            let j0 = (0..3)
                .min_by(|&a, &b| u[a].abs().total_cmp(&u[b].abs()))
                .unwrap_or(0);
            let mut e1 = vec![0.0; 3];
            e1[j0] = 1.0;
            let c = u[j0];
            for j in 0..3 {
                e1[j] -= c * u[j];
            }
            let n1 = e1.iter().map(|v| v * v).sum::<f64>().sqrt();
            e1.iter_mut().for_each(|v| *v /= n1);
            let e2 = vec![
                u[1] * e1[2] - u[2] * e1[1],
                u[2] * e1[0] - u[0] * e1[2],
                u[0] * e1[1] - u[1] * e1[0],
            ];
            vec![e1, e2]
        };
        // the points q_k in the plane's coordinates (rows with s_k x_kᵀ w_i ≤ 0 — a zero row —
        // are kept as they are)
        let mut pts: Vec<(f64, f64, usize)> = Vec::with_capacity(n);
        let mut keep: Vec<usize> = Vec::new();
        for k in 0..n {
            let s = prob.sign[[k, i]];
            let a: Vec<f64> = (0..d).map(|j| s * prob.x[[k, j]]).collect();
            let aw: f64 = a.iter().zip(&wi).map(|(x, y)| x * y).sum();
            if aw <= 0.0 || !aw.is_finite() {
                keep.push(k);
                continue;
            }
            let c = |e: &Vec<f64>| a.iter().zip(e).map(|(x, y)| x * y).sum::<f64>() / aw;
            let x0 = c(&basis[0]);
            let y0 = if d == 3 { c(&basis[1]) } else { 0.0 };
            pts.push((x0, y0, k));
        }
        if d == 2 {
            let lo = pts.iter().min_by(|a, b| a.0.total_cmp(&b.0));
            let hi = pts.iter().max_by(|a, b| a.0.total_cmp(&b.0));
            keep.extend(lo.map(|q| q.2));
            keep.extend(hi.map(|q| q.2));
        } else {
            keep.extend(hull_2d(&mut pts));
        }
        keep.sort_unstable();
        keep.dedup();
        out.push(keep);
    }
    Ok(Some(out))
}

/// Largest d for which [`facet_rows`] computes facets by flips (d ≥ 4) …
pub const FLIPS_MAX_D: usize = 6;
/// … and largest n.
pub const FLIPS_MAX_N: usize = 200;

/// Relative NNLS residual below which [`facet_rows_by_flips`] takes a row as implied by the
/// rows it keeps (a row dropped at this level moves the cone by rounding only).
const IMPLIED_REL: f64 = 1e-9;

/// Facet rows of each pattern's cone for any d, exact and without a linear program:
///
/// 1. **Flips.** Row k is a facet of K_i when the pattern with bit k flipped is also one of the
///    patterns: with z ∈ K_i° and z' in the flipped pattern's open cone, the segment [z, z']
///    keeps every other row positive and crosses s_k x_kᵀz = 0, so the hyperplane meets K_i in
///    a (d − 1)-dimensional face. When the patterns are all chambers of the arrangement the
///    converse holds too (crossing a facet's relative interior enters the neighbouring
///    chamber, which differs in that bit only), so this finds every facet; with sampled
///    patterns it finds some.
/// 2. **Check.** Every other row k is dropped only when s_k x_k lies in the cone of the rows
///    kept (NNLS residual at most [`IMPLIED_REL`] of its norm): then s_k x_kᵀz ≥ 0 is implied
///    by them (Farkas), whatever step 1 found. Rows are checked in index order, each against
///    the rows kept so far, then once more the rows kept in this step against all other kept
///    rows. A row that is not implied stays, so the kept rows always describe K_i itself.
///
/// Two rows on one hyperplane (parallel x_k) flip together, so neither is confirmed by step 1;
/// step 2 keeps one of them. The cost is one hash lookup per row and one NNLS of a few columns
/// per row not confirmed by a flip (n = 30 with a bias column, d = 4: 8,180 patterns, ~6 of 30
/// rows kept per cone, several seconds — the checks dominate).
pub fn facet_rows_by_flips(
    prob: &Problem,
    w: ndarray::ArrayView2<f64>,
    ctl: &Control,
) -> Result<Vec<Vec<usize>>> {
    use rayon::prelude::*;
    use std::collections::HashMap;
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let words = n.div_ceil(64);
    let key = |i: usize| -> Vec<u64> {
        let mut k = vec![0u64; words];
        for r in 0..n {
            if prob.mask[[r, i]] != 0.0 {
                k[r / 64] |= 1u64 << (r % 64);
            }
        }
        k
    };
    let mut index: HashMap<Vec<u64>, usize> = HashMap::with_capacity(p);
    for i in 0..p {
        if i % 1024 == 0 {
            ctl.check()?;
        }
        index.entry(key(i)).or_insert(i);
    }
    // One pattern per task (each is independent; the result is collected in order, so it does
    // not depend on the thread count), with a cancellation check per pattern (~1 ms each at
    // n = 30, d = 4).
    let one = |i: usize| -> Result<Vec<usize>> {
        ctl.check()?;
        let mut ki = key(i);
        let row = |k: usize| -> Vec<f64> {
            let s = prob.sign[[k, i]];
            (0..d).map(|j| s * prob.x[[k, j]]).collect()
        };
        let mut keep: Vec<usize> = Vec::new();
        let mut check: Vec<usize> = Vec::new();
        for k in 0..n {
            let a = row(k);
            let aw: f64 = (0..d).map(|j| a[j] * w[[i, j]]).sum();
            if aw <= 0.0 || !aw.is_finite() {
                // a row the witness does not see strictly inside (a zero row): kept as it is
                keep.push(k);
                continue;
            }
            ki[k / 64] ^= 1u64 << (k % 64);
            let flipped = index.contains_key(&ki);
            ki[k / 64] ^= 1u64 << (k % 64);
            if flipped {
                keep.push(k);
            } else {
                check.push(k);
            }
        }
        // is row k implied by the rows `rows` (s_k x_k in their cone)?
        let implied = |k: usize, rows: &[usize]| -> bool {
            let a = row(k);
            let an = a.iter().map(|v| v * v).sum::<f64>().sqrt();
            if an == 0.0 {
                return true;
            }
            if rows.is_empty() {
                return false;
            }
            let xs: Vec<f64> = rows.iter().flat_map(|&r| row(r)).collect();
            let ones = vec![1.0; rows.len()];
            let (_, res) =
                super::polish::cone_nnls(&xs, &ones, d, &a, &[], 10 * rows.len() + 10, 0.0);
            res <= IMPLIED_REL * an
        };
        let mut added: Vec<usize> = Vec::new();
        for &k in &check {
            if !implied(k, &keep) {
                keep.push(k);
                added.push(k);
            }
        }
        for &k in &added {
            let others: Vec<usize> = keep.iter().copied().filter(|&r| r != k).collect();
            if implied(k, &others) {
                keep = others;
            }
        }
        keep.sort_unstable();
        Ok(keep)
    };
    (0..p).into_par_iter().map(one).collect::<Result<Vec<_>>>()
}

/// Vertices of the convex hull of planar points (Andrew's monotone chain; points on an edge
/// are dropped), as the points' labels.
fn hull_2d(pts: &mut [(f64, f64, usize)]) -> Vec<usize> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    if pts.len() <= 2 {
        return pts.iter().map(|q| q.2).collect();
    }
    let cross = |o: (f64, f64, usize), a: (f64, f64, usize), b: (f64, f64, usize)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(f64, f64, usize)> = Vec::with_capacity(2 * pts.len());
    for &q in pts.iter() {
        while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    let lower = h.len() + 1;
    for &q in pts.iter().rev().skip(1) {
        while h.len() >= lower && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    h.pop();
    h.iter().map(|q| q.2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A cancelled run: the caller returns `Interrupted` (at a poll) or Clarabel, seeing the flag
    /// at its first callback, stops without solving; never a solution reported as solved.
    /// min ½x² − x s.t. x ≥ 0 (x = 1), as Clarabel's P, A, cones and settings.
    fn unit_program() -> (
        Triplets,
        Triplets,
        Vec<SupportedConeT<f64>>,
        DefaultSettings<f64>,
    ) {
        let one = |v: f64| Triplets {
            i: vec![0],
            j: vec![0],
            v: vec![v],
        };
        let st = DefaultSettings::<f64> {
            verbose: false,
            ..DefaultSettings::default()
        };
        (
            one(1.0),
            one(-1.0),
            vec![SupportedConeT::NonnegativeConeT(1)],
            st,
        )
    }

    #[test]
    fn a_cancelled_solve_stops() {
        let ctl = Control::new();
        ctl.cancel();
        let (pm, a, cones, st) = unit_program();
        match solve_on_worker(1, 1, pm, a, vec![-1.0], vec![0.0], cones, st, &ctl) {
            Err(e) => assert_eq!(e, Error::Interrupted),
            Ok(sol) => assert!(matches!(sol.status, SolverStatus::CallbackTerminated)),
        }
        // the same program without cancellation is solved on the worker
        let ctl = Control::new();
        let (pm, a, cones, st) = unit_program();
        let sol = solve_on_worker(1, 1, pm, a, vec![-1.0], vec![0.0], cones, st, &ctl).unwrap();
        assert!(matches!(sol.status, SolverStatus::Solved));
        assert!((sol.x[0] - 1.0).abs() < 1e-7);
    }

    /// Every row `facet_rows` drops is implied by the rows it keeps: s_k x_k lies in the cone
    /// of the kept s_j x_j (NNLS residual at NNLS's accuracy), for d = 2 and 3 on random data and gates (the
    /// witnesses), and d = 2 keeps exactly 2 rows.
    #[test]
    fn facet_rows_keep_the_same_cones() {
        let mut lcg = crate::rng::Lcg(12345u64);
        let mut rnd = || lcg.unit() * 2.0 - 1.0;
        for d in [2usize, 3] {
            let n = 30;
            let x = Array2::from_shape_fn((n, d), |_| rnd());
            let y = Array1::from_shape_fn(n, |_| rnd());
            let p = 20;
            let w = Array2::from_shape_fn((p, d), |_| rnd());
            let pats = Array2::from_shape_fn((p, n), |(i, k)| {
                (0..d).map(|j| x[[k, j]] * w[[i, j]]).sum::<f64>() > 0.0
            });
            let prob = crate::convex::squared_relu_problem(x.view(), y.view(), pats.view());
            let f = facet_rows(&prob, Some(w.view()), &Control::new())
                .unwrap()
                .unwrap();
            for fi in &f {
                if d == 2 {
                    assert_eq!(fi.len(), 2, "{fi:?}");
                }
                assert!(fi.len() >= d && fi.len() < n);
            }
            // NNLS stops at ~1e-9 relative; a row outside the kept cone leaves a residual of
            // the order of its distance to it
            assert_kept_rows_imply_all(&prob, &x, &f, 1e-6, "facet_rows");
        }
    }

    /// Every row of every cone is implied by the rows `f` keeps (s_k x_k in their cone: NNLS
    /// residual at most `rel` of its norm).
    fn assert_kept_rows_imply_all(
        prob: &Problem,
        x: &Array2<f64>,
        f: &[Vec<usize>],
        rel: f64,
        what: &str,
    ) {
        let (n, d) = x.dim();
        let xs: Vec<f64> = x.iter().cloned().collect();
        for (i, fi) in f.iter().enumerate() {
            let kept: Vec<f64> = (0..n)
                .map(|k| {
                    if fi.contains(&k) {
                        prob.sign[[k, i]]
                    } else {
                        0.0
                    }
                })
                .collect();
            for k in 0..n {
                let a: Vec<f64> = (0..d).map(|j| prob.sign[[k, i]] * x[[k, j]]).collect();
                let (_, r) = crate::convex::polish::cone_nnls(&xs, &kept, d, &a, &[], 10 * n, 0.0);
                let an = a.iter().map(|v| v * v).sum::<f64>().sqrt();
                assert!(
                    r <= rel * an,
                    "{what}: d {d} pattern {i} row {k}: residual {r}"
                );
            }
        }
    }

    /// d = 4 and 5 on all chambers of random data (exact enumeration): every row dropped is
    /// implied by the rows kept (s_k x_k in their cone, NNLS residual), every cone keeps at
    /// least d rows and far fewer than n in all; on sampled patterns (few flips to find) every
    /// row dropped is still implied by the rows kept. (That every row kept is a facet is
    /// proved in [`facet_rows_by_flips`]; Lawson–Hanson on all n − 1 other rows of a cone is
    /// too ill-conditioned — more columns than dimensions — to serve as that oracle.)
    #[test]
    fn facet_rows_by_flips_are_the_facets() {
        let mut lcg = crate::rng::Lcg(777u64);
        let mut rnd = || lcg.unit() * 2.0 - 1.0;
        for (n, d) in [(10usize, 4usize), (9, 5)] {
            let x = Array2::from_shape_fn((n, d), |_| rnd());
            let y = Array1::from_shape_fn(n, |_| rnd());
            let ctl = Control::new();
            let cs = crate::arrangement::enumerate(
                x.view(),
                &crate::arrangement::Limits::default(),
                &ctl,
            )
            .unwrap();
            let p = cs.count();
            let bp = cs.bool_patterns();
            let pats = Array2::from_shape_fn((p, n), |(i, k)| bp[i * n + k] != 0);
            let w = Array2::from_shape_vec((p, d), cs.witnesses.clone()).unwrap();
            let prob = crate::convex::squared_relu_problem(x.view(), y.view(), pats.view());
            let f = facet_rows(&prob, Some(w.view()), &ctl).unwrap().unwrap();
            let mut total = 0;
            for (i, fi) in f.iter().enumerate() {
                assert!(fi.len() >= d, "pattern {i}: {fi:?}");
                total += fi.len();
            }
            assert_kept_rows_imply_all(&prob, &x, &f, 1e-8, &format!("all chambers, n {n}"));
            assert!(total < p * n, "{total} of {}", p * n);
            // sampled patterns: a subset of the chambers (every third), so most flips are absent
            let sub: Vec<usize> = (0..p).step_by(3).collect();
            let sp = Array2::from_shape_fn((sub.len(), n), |(a, k)| pats[[sub[a], k]]);
            let sw = Array2::from_shape_fn((sub.len(), d), |(a, j)| w[[sub[a], j]]);
            let sprob = crate::convex::squared_relu_problem(x.view(), y.view(), sp.view());
            let f = facet_rows(&sprob, Some(sw.view()), &ctl).unwrap().unwrap();
            assert_kept_rows_imply_all(&sprob, &x, &f, 1e-8, "sampled");
        }
    }

    /// The unit ReLU program (n = 16, 40 patterns) with ±1 labels and the logistic loss.
    fn logistic_program(seed: u64, d: usize, beta: f64) -> Problem {
        let (p0, _) = crate::convex::pdip::tests::relu_program_at(seed, 16, d, 40, beta);
        let y = p0.y.mapv(|v| if v > 0.0 { 1.0 } else { -1.0 });
        Problem {
            y,
            loss: Loss::Logistic,
            ..p0
        }
    }

    /// Newton steps on the logistic program from z = 0 reach Clarabel's optimum of the
    /// exponential-cone program itself (to 1e-9 relative) with a certificate that closes (the
    /// step's dual candidate priced on every block), and never increase the objective.
    #[test]
    fn newton_steps_reach_the_logistic_optimum() {
        let prob = logistic_program(3, 3, 0.05);
        let ctl = Control::new();
        let whole = solve(&prob, 1e-10, 300, true, None, &ctl).unwrap();
        let pstar = prob.certify(&whole.z, None, None).objective;
        let objective =
            |z: &Array2<f64>| prob.loss_value(&prob.predict(z.view())) + prob.penalty(z);
        let mut z = Array2::<f64>::zeros((prob.d(), prob.n_blocks()));
        let mut f = objective(&z);
        let mut last = None;
        for _ in 0..8 {
            let s = newton_step(&prob, &z, 1e-10, 300, None, &ctl).unwrap();
            let f1 = objective(&s.z);
            assert!(f1 <= f, "{f1} > {f}");
            f = f1;
            z = s.z.clone();
            last = Some(s);
        }
        assert!((f - pstar).abs() <= 1e-9 * pstar.abs(), "{f} vs {pstar}");
        let s = last.unwrap();
        let (cert, _, _) =
            crate::convex::polish::sharp_certificate_at(&prob, &z, Some(&s.lam), None, false, &ctl)
                .unwrap();
        assert!(
            cert.dual <= pstar * (1.0 + 1e-12),
            "{} vs {pstar}",
            cert.dual
        );
        assert!(f - cert.dual <= 1e-8 * f, "{f} {}", cert.dual);
    }

    /// The dual point moved onto the active face ([`crate::convex::polish::dual_on_face`]) at a
    /// small β: priced on every block, its bound is never below the uniformly rescaled
    /// ℓ'(prediction)'s, never above the objective at Clarabel's point (a true lower bound), and
    /// it certifies at the default tol where the rescaled ℓ'(prediction) does not.
    #[test]
    fn the_dual_point_on_the_face_tightens_the_bound() {
        let prob = logistic_program(5, 2, 1e-3);
        let ctl = Control::new();
        let whole = solve(&prob, 1e-10, 300, true, None, &ctl).unwrap();
        let z = crate::convex::admm::project_blocks(&prob, &whole.z, &ctl).unwrap();
        let (c0, _, _) =
            crate::convex::polish::sharp_certificate_at(&prob, &z, None, None, false, &ctl)
                .unwrap();
        let pstar = c0.objective.max(c0.network_objective);
        let lam0 = prob.loss_grad(&prob.predict(z.view()));
        let lf = crate::convex::polish::dual_on_face(&prob, &z, &lam0, 0.0, &ctl)
            .unwrap()
            .expect("a face");
        let (c1, _, _) =
            crate::convex::polish::sharp_certificate_at(&prob, &z, Some(&lf), None, false, &ctl)
                .unwrap();
        assert!(c1.dual <= pstar * (1.0 + 1e-12), "{} vs {pstar}", c1.dual);
        assert!(c1.dual >= c0.dual, "{} < {}", c1.dual, c0.dual);
        // here the rescaled ℓ'(prediction) leaves 3.5e-8 relative, the face 7.9e-9: the default
        // tol certifies with the second only
        assert!(
            pstar - c0.dual > 1e-8 * pstar && pstar - c1.dual <= 1e-8 * pstar,
            "face {} rescaled {} p* {pstar}",
            c1.dual,
            c0.dual
        );
        // stopped at the endgame's residual target for tol = 1e-8 (1e-3 · tol · β): the same
        // certificate, still a true lower bound
        let lt = crate::convex::polish::dual_on_face(&prob, &z, &lam0, 1e-11, &ctl)
            .unwrap()
            .expect("a face");
        let (c2, _, _) =
            crate::convex::polish::sharp_certificate_at(&prob, &z, Some(&lt), None, false, &ctl)
                .unwrap();
        assert!(c2.dual <= pstar * (1.0 + 1e-12), "{} vs {pstar}", c2.dual);
        assert!(
            pstar - c2.dual <= 1e-8 * pstar,
            "face {} p* {pstar}",
            c2.dual
        );
    }

    /// X = I, one all-ones pattern, β = 1: the closed form w = (1 − β/‖y‖)₊ y (objective 4.5
    /// for y = (3, 4)) for the squared loss, the gated and the ReLU program alike; the zero-cone
    /// multipliers give λ = w − y.
    #[test]
    fn closed_form_group_lasso() {
        let x = array![[1.0, 0.0], [0.0, 1.0]];
        let y = array![3.0, 4.0];
        let pats = array![[true, true]];
        let ctl = Control::new();
        for (kind, unit) in [
            (Kind::Gated, false),
            (Kind::Relu, false),
            (Kind::Gated, true),
            (Kind::Relu, true),
        ] {
            let prob =
                Problem::new(x.view(), y.view(), pats.view(), Loss::Squared, 1.0, kind, 1).unwrap();
            let s = solve(&prob, 1e-10, 100, unit, None, &ctl).unwrap();
            assert!(s.solved);
            // the objective to Clarabel's tolerance; the point to about its square root (the
            // v − w direction is flat to first order at the apex of the zero w block)
            let obj = prob.certify(&s.z, None, None).objective;
            assert!((obj - 4.5).abs() < 1e-9, "{kind:?} {obj}");
            assert!(
                (s.z[[0, 0]] - 2.4).abs() < 2e-6 && (s.z[[1, 0]] - 3.2).abs() < 2e-6,
                "{kind:?} {:?} {:?} {:?}",
                s.z,
                s.lam,
                s.status
            );
            assert!((s.lam[0] + 0.6).abs() < 2e-6 && (s.lam[1] + 0.8).abs() < 2e-6);
        }
    }
}
