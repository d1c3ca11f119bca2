//! The interior-point path for the ReLU program with a smooth loss: the primal–dual method of
//! [`super::pdip`] wrapped with its certificate, sparsification of negligible blocks, and (for
//! programs whose Woodbury assembly Σ_i n_i² d is large) a working-set loop over patterns.
//!
//! The start uses the chambers' witnesses g_i ((2D_i − I) X g_i > 0); without them [`solve`]
//! returns `None` and the caller falls back to FISTA (a block violating a cone row by rounding
//! can only be repaired along its witness).

use ndarray::{Array2, ArrayView2};

use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

/// Zero blocks of negligible norm (relative thresholds 1e-3 … 1e-9, largest first) when the
/// certified gap against `dual` (a lower bound that does not depend on z) stays within `tol`;
/// zeroing keeps every cone constraint (a zero block violates none, so the point's largest
/// violation does not grow: a point projected on its cones, with rounding-level violations, is
/// sparsified too — the upper bound is the recovered network's own objective either way).
pub(crate) fn sparsify(
    prob: &Problem,
    z: &Array2<f64>,
    dual: f64,
    tol: f64,
) -> (Array2<f64>, super::Certificate) {
    let base = prob.certify(z, None, None).violation;
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0, f64::max);
    // a threshold that zeroes the same blocks as the last one tried (or none) gives the same
    // point: not certified again
    let mut tried = norms.iter().filter(|&&v| v == 0.0).count();
    for eps in [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9] {
        let zeroed = norms.iter().filter(|&&v| v < eps * zmax).count();
        if zeroed == tried {
            continue;
        }
        tried = zeroed;
        let mut zt = z.clone();
        for b in 0..z.ncols() {
            if norms[b] < eps * zmax {
                zt.column_mut(b).fill(0.0);
            }
        }
        let ct = prob.certify(&zt, None, None);
        if gap_ok(ct.objective.max(ct.network_objective), dual, tol)
            && ct.violation <= base.min(super::VIOLATION_TOL)
        {
            return (zt, ct);
        }
    }
    (z.clone(), prob.certify(z, None, None))
}

/// Solve the program by the primal–dual interior-point method. `gates` (P × d) are strictly
/// interior points of the ReLU program's cones; without them the ReLU program returns `None`
/// (the caller falls back to FISTA); the gated program needs none.
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    solve_impl(prob, settings, gates, ctl, true)
}

fn solve_impl(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
    do_sparsify: bool,
) -> Result<Option<Solution>> {
    prob.require_smooth("the interior-point solver")?;
    if prob.kind == Kind::Relu && gates.is_none() {
        // without witnesses no block can be repaired to exact feasibility: let FISTA solve it
        return Ok(None);
    }
    let pd = super::pdip::solve(prob, settings, gates, ctl)?;
    wrap(prob, settings, pd, ctl, do_sparsify).map(Some)
}

/// The certified [`Solution`] of an interior-point result.
fn wrap(
    prob: &Problem,
    settings: &Settings,
    pd: super::pdip::PdResult,
    ctl: &Control,
    do_sparsify: bool,
) -> Result<Solution> {
    wrap_scored(prob, settings, pd, ctl, do_sparsify).map(|(sol, _)| sol)
}

/// [`wrap`], also returning each pattern's dual-constraint score from the sharpened certificate
/// when the interior-point multipliers alone did not close the gap (`None` otherwise).
fn wrap_scored(
    prob: &Problem,
    settings: &Settings,
    pd: super::pdip::PdResult,
    ctl: &Control,
    do_sparsify: bool,
) -> Result<(Solution, Option<Vec<f64>>)> {
    // the dual bound: the interior-point multipliers first, the NNLS-sharpened one if needed
    let mut cert = prob.certify(&pd.z, Some(&pd.mu), None);
    let mut mu = pd.mu;
    let mut scores = None;
    if !gap_ok(
        cert.objective.max(cert.network_objective),
        cert.dual,
        settings.tol,
    ) {
        // NNLS only for the blocks whose interior-point multipliers leave a dual residual > β
        let t0 = std::time::Instant::now();
        let (c2, m2, sc) =
            super::polish::sharp_certificate_guided(prob, &pd.z, Some(&mu), true, ctl)?;
        if settings.tracing() {
            settings.note(|| {
                format!(
                    "wrap: sharp certificate {:.3} s",
                    t0.elapsed().as_secs_f64()
                )
            });
        }
        scores = Some(sc);
        if c2.dual > cert.dual {
            cert.dual = c2.dual;
            cert.dual_point = c2.dual_point;
            mu = m2;
        }
    }
    let converged = gap_ok(
        cert.objective.max(cert.network_objective),
        cert.dual,
        settings.tol,
    ) && cert.violation == 0.0;
    let (zbest, cbest) = if converged && do_sparsify {
        sparsify(prob, &pd.z, cert.dual, settings.tol)
    } else {
        (pd.z.clone(), cert.clone())
    };
    let sol = Solution {
        z: zbest.clone(),
        objective: cbest.objective,
        network_objective: cbest.network_objective,
        dual: cert.dual,
        dual_point: cert.dual_point,
        cone_multipliers: mu,
        violation: cbest.violation,
        n_iter: pd.iters,
        converged,
        rho: 0.0,
        warm: WarmStart {
            z: Some(zbest),
            ..Default::default()
        },
    };
    Ok((sol, scores))
}

/// Copy the block columns of a program restricted to the patterns `idx` (block r·|idx| + a,
/// `reps` blocks per pattern) into the columns of the whole program's (block `r·p + idx[a]`).
fn scatter_blocks(dst: &mut Array2<f64>, src: &Array2<f64>, idx: &[usize], p: usize, reps: usize) {
    let q = idx.len();
    for (a, &i) in idx.iter().enumerate() {
        for r in 0..reps {
            dst.column_mut(r * p + i).assign(&src.column(r * q + a));
        }
    }
}

/// Add to the working set `in_w` (of q patterns) the patterns outside it whose dual constraint
/// fails (score > β), the most violated first and at most max(q/2, 10) of them; how many joined.
fn grow_working_set(in_w: &mut [bool], scores: &[f64], beta: f64, q: usize) -> usize {
    let mut add: Vec<usize> = (0..in_w.len())
        .filter(|&i| !in_w[i] && scores[i] > beta * (1.0 + 1e-12))
        .collect();
    add.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    add.truncate((q / 2).max(10));
    for &i in &add {
        in_w[i] = true;
    }
    add.len()
}

/// Patterns below which [`solve_working_set`] runs the interior-point method on the whole program.
pub const DIRECT_MAX_PATTERNS: usize = 200;

/// Work per interior-point iteration (Σ_i n_i² d, the assembly of the n × n Woodbury matrix)
/// below which the whole program is solved directly rather than in a working-set loop.
pub const DIRECT_MAX_WORK: f64 = 1e8;

/// Work per iteration on the whole program (Σ_i n_i² d) up to which a program whose optimum
/// could use a good share of its patterns (P < 3(2n + 20)) is still screened rather than solved
/// by the working-set loop from z = 0 (measured at (1000, 20, 1000), Σ_i n_i² d = 5·10⁹: screened
/// 6–7 s — 11 iterations on the whole program to a 30% gap, 14 on the 230 kept patterns to 0.3%,
/// 13 on the 143 kept then — against 25 s for seven cold-started working-set rounds of 40–140
/// patterns).
pub const SCREEN_MAX_WORK: f64 = 1e10;

/// The ReLU program within the work budget still goes through the working-set loop when its
/// first working set is at most 1/3 of the patterns (measured: (n, d, P) = (40, 3, 1562) solves
/// 2.2× faster in four rounds of 100–337 patterns; at (200, 10, 500) the set would hold 420 of the
/// 500 patterns and the loop is slower).
const WORKING_SET_MIN_REDUCTION: usize = 3;

/// Relative gaps at which the screened solve (programs within the work budget whose first
/// working set would not be small) stops the interior-point method to screen patterns: first on
/// the whole program, then once more on the patterns kept.
const SCREEN_GAPS: [f64; 2] = [0.3, 0.003];
/// A pattern is kept when one of its blocks has an epigraph t_b above this fraction of the
/// largest …
const SCREEN_REL_NORM: f64 = 0.1;
/// … or keeps its size while μ shrinks (Tapia's indicator): over the last two iterations
/// t_b / t_b' ≥ m + c (1 − m), m = μ / μ' the rate at which blocks outside the support shrink
/// and c this constant (measured at (1000, 20, 1000): from a relative gap of 0.5 on, c = 0.15
/// kept 190–270 of the 1000 patterns, every one of the optimum's 67 blocks among them, while
/// the block norms alone still kept 580–1000).
const SCREEN_GROWTH: f64 = 0.15;
/// Times a screened solve resumes from a screen's iterate with patterns it dropped wrongly
/// before it falls back to the column-generation loop.
const MAX_RESUMES: usize = 2;
/// The first screen's growth constant, as a share of [`SCREEN_GROWTH`], on programs that keep a
/// subset of their cone rows (measured at (1000, 20, 1000), seeds 0–7: their first screen keeps
/// fewer patterns, 136–215 of 1,000 against 230 with all rows, and 1 missed one of the optimum's
/// in two seeds, whose solves resumed from the first screen's iterate (+14 iterations); 2/3 kept
/// 40–90 more, missed none, and took the same time on average. On (200, 10, 500), all rows, 2/3
/// cost 21 → 27 iterations).
const FIRST_SCREEN_GROWTH: f64 = 2.0 / 3.0;
/// A later screen that would keep more than this share of the current patterns continues on
/// them instead (a smaller program would not repay the restart).
const SCREEN_MIN_SHRINK: f64 = 0.8;

/// The interior-point method inside a working-set (column generation) loop, for programs with many
/// patterns: the patterns most violating their dual constraint at z = 0 start the set; the
/// interior-point method (finished by FISTA on its support when it stops short) solves the
/// program restricted to the working set W; the full program's sharp certificate at that point (dual
/// point λ = ℓ'(prediction), every pattern checked) either closes the gap — a rigorous
/// certificate for the full program, since the dual bound is computed on all patterns — or
/// names the patterns whose dual constraint fails (‖A_bᵀλ − S_bᵀμ_b‖ > β), which join W.
pub fn solve_working_set(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    solve_working_set_with(prob, settings, gates, Budgets::default(), ctl)
}

/// The thresholds that choose how [`solve_working_set_with`] solves a program.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Patterns up to which the whole program is solved directly.
    pub direct_patterns: usize,
    /// Work per iteration (Σ_i n_i² d) within which the whole program is solved directly or
    /// screened, and the working-set loop's first set is sized.
    pub direct_work: f64,
    /// Work per iteration up to which a program is still screened (see [`SCREEN_MAX_WORK`]).
    pub screen_work: f64,
    /// Fraction of the largest block's epigraph above which the screened solve keeps a pattern
    /// (see [`SCREEN_REL_NORM`]; tests raise it to screen out patterns the optimum needs).
    pub screen_keep: f64,
    /// The growth constant of the screen (see [`SCREEN_GROWTH`]; infinite: norms only).
    pub screen_growth: f64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            direct_patterns: DIRECT_MAX_PATTERNS,
            direct_work: DIRECT_MAX_WORK,
            screen_work: SCREEN_MAX_WORK,
            screen_keep: SCREEN_REL_NORM,
            screen_growth: SCREEN_GROWTH,
        }
    }
}

/// How [`solve_working_set_with`] solves a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The interior-point method on the whole program.
    Direct,
    /// The whole program until a loose gap, then the working-set loop from the blocks it has
    /// not driven to ~0.
    Screened,
    /// The working-set loop from the patterns most violated at z = 0.
    WorkingSet,
}

/// The path, and the size of the working-set loop's first set: as many patterns as the work
/// budget allows (at least 2d, at most 2n + 20 — the optimum has at most n + 1 nonzero blocks).
/// Within the budget, the loop still pays when that set is small next to P (P ≫ n: each
/// round's iteration costs a fraction of a full one); otherwise the screened solve.
fn plan(prob: &Problem, budgets: Budgets) -> (Path, usize) {
    let (direct_max_patterns, direct_max_work) = (budgets.direct_patterns, budgets.direct_work);
    let p = prob.p();
    let n = prob.n();
    let d = prob.d();
    let n_active: f64 = (0..p)
        .map(|i| {
            let ni = (0..n).filter(|&k| prob.mask[[k, i]] != 0.0).count() as f64;
            ni * ni
        })
        .sum();
    let mean_work = n_active * d as f64 / p as f64;
    let k0 = ((direct_max_work / mean_work.max(1.0)) as usize)
        // at least 2d patterns (so d > n works: no clamp with min > max), at most 2n + 20
        .min(2 * n + 20)
        .max(2 * d)
        .min(p);
    let work = n_active * d as f64;
    let path = if p <= direct_max_patterns {
        Path::Direct
    } else if work <= direct_max_work {
        if k0 * WORKING_SET_MIN_REDUCTION <= p {
            Path::WorkingSet
        } else {
            Path::Screened
        }
    } else if work <= budgets.screen_work && (2 * n + 20).min(p) * WORKING_SET_MIN_REDUCTION > p {
        Path::Screened
    } else {
        Path::WorkingSet
    };
    (path, k0)
}

/// [`solve_working_set`] with the thresholds of the direct solve given (tests force the loop).
pub fn solve_working_set_with(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    budgets: Budgets,
    ctl: &Control,
) -> Result<Option<Solution>> {
    let p = prob.p();
    let d = prob.d();
    let (path, k0) = plan(prob, budgets);
    if prob.kind == Kind::Gated {
        // the gated program needs no witnesses; its working-set variant is FISTA's job
        return if path == Path::WorkingSet {
            Ok(None)
        } else {
            solve(prob, settings, gates, ctl)
        };
    }
    let Some(gates) = gates else { return Ok(None) };
    if path == Path::Direct {
        return solve(prob, settings, Some(gates), ctl);
    }
    if gates.dim() != (p, d) {
        return Ok(None);
    }
    let mut inner = |sub: &Problem,
                     st: &Settings,
                     _warm: &Array2<f64>,
                     g: Option<ArrayView2<f64>>|
     -> Result<Solution> {
        let Some(ss) = solve_impl(sub, st, g, ctl, false)? else {
            return Err(Error::Numerical(
                "working set: no strictly feasible start".into(),
            ));
        };
        if ss.converged || ss.n_iter >= st.max_iter {
            return Ok(ss);
        }
        // stopped short: FISTA on its support finishes the restricted program, with a share of
        // the budget (the full program's certificate may well name new patterns, and the next
        // round needs iterations left; one finish used to spend them all)
        let left = st.max_iter - ss.n_iter;
        let rest = Settings {
            max_iter: left.min((left / 4).max(ROUND_FINISH_MIN_ITER)),
            ..st.clone()
        };
        let mut f = finish_on_support(sub, &rest, &ss.z, g, ctl)?;
        f.n_iter += ss.n_iter;
        Ok(f)
    };
    let sol = if path == Path::Screened {
        solve_screened(prob, settings, gates, budgets, &mut inner, ctl)?
    } else {
        // the first working set: the k0 patterns whose dual constraint is most violated at
        // z = 0 (λ = ℓ'(0))
        let z0 = Array2::<f64>::zeros((d, 2 * p));
        let (_, _, scores0) = super::polish::sharp_certificate_scores(prob, &z0, ctl)?;
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| scores0[b].total_cmp(&scores0[a]));
        let mut in_w = vec![false; p];
        for &i in order.iter().take(k0) {
            in_w[i] = true;
        }
        let z0 = Array2::<f64>::zeros((d, prob.n_blocks()));
        column_generation(prob, settings, in_w, z0, Some(gates), &mut inner, ctl)?
    };
    // the loop or the screened solve ended short of the tolerance with iterations left (a
    // restricted solve stalled, or the kept patterns were solved short of tol): FISTA on the
    // support of its point, certified on the full program, finishes with the rest
    match sol {
        Some(s) if !s.converged && s.n_iter < settings.max_iter => {
            let rest = Settings {
                max_iter: settings.max_iter - s.n_iter,
                ..settings.clone()
            };
            let mut f = finish_on_support(prob, &rest, &s.z, Some(gates), ctl)?;
            f.n_iter += s.n_iter;
            Ok(Some(if f.converged || f.dual > s.dual { f } else { s }))
        }
        other => Ok(other),
    }
}

/// The least iterations a working-set round's FISTA finish gets (otherwise a quarter of what is
/// left).
const ROUND_FINISH_MIN_ITER: usize = 2000;

/// The patterns (indices into the iterate's program of `q` patterns) that a screen keeps: those
/// with a block whose epigraph is above `budgets.screen_keep` of the largest, or which keeps its
/// size while μ shrinks (see [`SCREEN_GROWTH`]); by norm alone before the run has two iterations.
fn screen_patterns(it: &super::pdip::Iterate, q: usize, budgets: &Budgets) -> Vec<usize> {
    let tmax = it.t.iter().cloned().fold(0.0, f64::max);
    let growth = it.growth();
    let mut keep = vec![false; q];
    for (b, &tb) in it.t.iter().enumerate() {
        let big = tb > budgets.screen_keep * tmax;
        let grows = growth
            .as_ref()
            .is_some_and(|(rho, m)| rho[b] >= m + budgets.screen_growth * (1.0 - m));
        if big || grows {
            keep[b % q] = true;
        }
    }
    (0..q).filter(|&i| keep[i]).collect()
}

/// The screened solve: the interior-point method on the whole program until its relative gap is
/// `SCREEN_GAPS[0]`; the patterns [`screen_patterns`] keeps form a smaller program on which the
/// method continues from its iterate (still interior there) until the next gap, where it screens
/// again, and then to the end. The point, with the dropped blocks at 0 and their multipliers from
/// the iterate that dropped them, is certified on the full program; when the certificate fails,
/// the patterns it violates join the kept ones and the column-generation loop finishes (so a
/// pattern screened out wrongly costs time, never correctness); when it names none, the point
/// is returned as it is, for the caller's FISTA finish.
fn solve_screened(
    prob: &Problem,
    settings: &Settings,
    gates: ArrayView2<f64>,
    budgets: Budgets,
    inner: &mut Inner<'_>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let par = if prob.par { 0 } else { usize::MAX };
    // the current program's patterns in the full numbering, the program itself (None: the full
    // one), its iterate to continue from
    let mut idx: Vec<usize> = (0..p).collect();
    let mut sub: Option<Problem> = None;
    let mut warm: Option<super::pdip::Iterate> = None;
    let mut mu_full = Array2::<f64>::zeros((n, 2 * p));
    let mut iters = 0usize;
    let mut stage = 0usize;
    // the iterate of every screen, before it dropped patterns (with its patterns in the full
    // numbering): a pattern screened out wrongly is put back into the iterate that still had it
    let mut saved: Vec<(Vec<usize>, super::pdip::Iterate)> = Vec::new();
    let mut resumes = 0usize;
    let sol = loop {
        let pd = loop {
            let cur = sub.as_ref().unwrap_or(prob);
            let g_cur = gates.select(ndarray::Axis(0), &idx);
            let stop = SCREEN_GAPS.get(stage).copied();
            stage += 1;
            let pd = super::pdip::solve_until(
                cur,
                settings,
                Some(g_cur.view()),
                stop,
                warm.as_ref(),
                ctl,
            )?;
            iters += pd.iters;
            let it = match pd.iterate {
                Some(it) if pd.stopped_early => it,
                _ => {
                    break super::pdip::PdResult {
                        iters,
                        iterate: None,
                        ..pd
                    }
                }
            };
            let q = idx.len();
            // every block of the current program hands its multipliers on (the dropped ones keep
            // them); the result's μ is the iterate's on all n rows
            scatter_blocks(&mut mu_full, &pd.mu, &idx, p, 2);
            // the first screen, far from the optimum, is the more lenient one on programs that
            // keep a subset of their cone rows: a pattern it drops wrongly sends the solve back
            // to its iterate
            let this = if stage == 1 && super::pdip::keeps_row_subset(n, d) {
                Budgets {
                    screen_growth: FIRST_SCREEN_GROWTH * budgets.screen_growth,
                    ..budgets
                }
            } else {
                budgets
            };
            let kept = screen_patterns(&it, q, &this);
            if settings.tracing() {
                settings.note(|| format!("screen {stage}: kept {} of {q} patterns", kept.len()));
            }
            if kept.is_empty() || (stage > 1 && kept.len() as f64 > SCREEN_MIN_SHRINK * q as f64) {
                warm = Some(it);
                continue;
            }
            let next: Vec<usize> = kept.iter().map(|&a| idx[a]).collect();
            warm = Some(it.select(&kept, q, 2));
            saved.push((idx.clone(), it));
            sub = Some(prob.subset(&next, par));
            idx = next;
        };
        // the final program's point and multipliers in the full numbering
        let mut z = Array2::<f64>::zeros((d, 2 * p));
        scatter_blocks(&mut z, &pd.z, &idx, p, 2);
        scatter_blocks(&mut mu_full, &pd.mu, &idx, p, 2);
        let full = super::pdip::PdResult {
            z,
            mu: mu_full.clone(),
            iters,
            converged: false,
            stopped_early: false,
            iterate: None,
            all_rows_again: false,
        };
        let (sol, scores) = wrap_scored(prob, settings, full, ctl, true)?;
        if sol.converged {
            return Ok(Some(sol));
        }
        // the patterns whose dual constraint the point violates: when an earlier screen dropped
        // them, resume from that screen's iterate with them put back (to the end, no more screens)
        let missing: Vec<usize> = match scores.as_ref() {
            Some(sc) if resumes < MAX_RESUMES => {
                let mut m: Vec<usize> = (0..p)
                    .filter(|&i| sc[i] > prob.beta * (1.0 + 1e-12) && !idx.contains(&i))
                    .collect();
                m.sort_by(|&a, &b| sc[b].total_cmp(&sc[a]));
                m.truncate((idx.len() / 2).max(10));
                m
            }
            _ => Vec::new(),
        };
        let from = saved
            .iter()
            .rposition(|(ids, _)| missing.iter().all(|i| ids.contains(i)));
        match from {
            Some(si) if !missing.is_empty() => {
                let (ids, it) = &saved[si];
                let mut next: Vec<usize> = idx.iter().chain(&missing).copied().collect();
                next.sort_unstable();
                let pos: Vec<usize> = next
                    .iter()
                    .filter_map(|i| ids.iter().position(|j| j == i))
                    .collect();
                if settings.tracing() {
                    settings.note(|| {
                        format!(
                            "screen: {} patterns missing, resuming from screen {} with {}",
                            missing.len(),
                            si + 1,
                            next.len()
                        )
                    });
                }
                warm = Some(it.select(&pos, ids.len(), 2));
                saved.truncate(si + 1);
                sub = Some(prob.subset(&next, par));
                idx = next;
                stage = SCREEN_GAPS.len();
                resumes += 1;
                continue;
            }
            _ => break (sol, scores),
        }
    };
    let (sol, scores) = sol;
    // the kept patterns missed some of the optimum's: those whose dual constraint the finished
    // point violates join them, so the loop's first round solves the enlarged set
    let scores = match scores {
        Some(sc) => sc,
        None => {
            super::polish::sharp_certificate_guided(
                prob,
                &sol.z,
                Some(&sol.cone_multipliers),
                true,
                ctl,
            )?
            .2
        }
    };
    let mut in_w = vec![false; p];
    for &i in &idx {
        in_w[i] = true;
    }
    if grow_working_set(&mut in_w, &scores, prob.beta, idx.len()) == 0 {
        // no pattern is missing: the kept program was solved short of the tolerance, and the
        // caller's FISTA finish on the point's support completes it (a cold column-generation
        // round on the same set cost (200, 10, 500, seed 1) 22 more interior-point iterations)
        return Ok(Some(sol));
    }
    let z0 = Array2::<f64>::zeros((d, prob.n_blocks()));
    let sol = column_generation(prob, settings, in_w, z0, Some(gates), inner, ctl)?;
    Ok(sol.map(|mut s| {
        s.n_iter += iters;
        s
    }))
}

/// Finish from an interior-point iterate `z0` that stopped short of `tol`: FISTA on the
/// program restricted to the patterns of its support (blocks above 1e-6 of the largest) plus
/// the patterns the full program's sharp certificate flags (dual constraint ‖A_bᵀλ − S_bᵀμ_b‖ >
/// β), warm-started from `z0`; each round's point is certified on the *full* program (so a
/// closed gap is a certificate for every pattern) and flagged patterns join the set. Each
/// restricted FISTA iteration costs a fraction of a full one (the support is ≪ P). Returns the
/// best point found (certified or not).
pub fn finish_on_support(
    prob: &Problem,
    settings: &Settings,
    z0: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Solution> {
    let p = prob.p();
    let norms = super::block_norms(z0);
    let zmax = norms.iter().cloned().fold(0.0, f64::max);
    let mut in_w = vec![false; p];
    for b in 0..norms.len() {
        if norms[b] > 1e-6 * zmax {
            in_w[b % p] = true;
        }
    }
    let (_, _, scores0) = super::polish::sharp_certificate_scores(prob, z0, ctl)?;
    for i in 0..p {
        if scores0[i] > prob.beta * (1.0 + 1e-9) {
            in_w[i] = true;
        }
    }
    let mut inner = |sub: &Problem,
                     st: &Settings,
                     warm: &Array2<f64>,
                     _g: Option<ArrayView2<f64>>|
     -> Result<Solution> {
        let w = WarmStart {
            z: Some(warm.clone()),
            ..Default::default()
        };
        super::fista::solve(sub, st, &w, ctl)
    };
    match column_generation(prob, settings, in_w, z0.clone(), gates, &mut inner, ctl)? {
        Some(s) => Ok(s),
        None => super::fista::solve(
            prob,
            settings,
            &WarmStart {
                z: Some(z0.clone()),
                ..Default::default()
            },
            ctl,
        ),
    }
}

/// The sub-problem solver of [`column_generation`]: (restricted program, settings, warm start
/// restricted to it, the restricted gates) → its solution.
type Inner<'a> =
    dyn FnMut(&Problem, &Settings, &Array2<f64>, Option<ArrayView2<f64>>) -> Result<Solution> + 'a;

/// Column generation over patterns: solve the program restricted to the working set `in_w`
/// (warm-started from `z`), certify the point on the *full* program (a closed gap is a
/// certificate for every pattern), and add the patterns whose dual constraint fails
/// (‖A_bᵀλ − S_bᵀμ_b‖ > β, largest first). Rounding-level cone violations of a closing point are
/// repaired along the witnesses; a certified point is sparsified. Returns the best point.
fn column_generation(
    prob: &Problem,
    settings: &Settings,
    mut in_w: Vec<bool>,
    mut z: Array2<f64>,
    gates: Option<ArrayView2<f64>>,
    inner: &mut Inner<'_>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    let p = prob.p();
    let d = prob.d();
    let par = if prob.par { 0 } else { usize::MAX };
    let reps = prob.n_blocks() / p; // blocks per pattern: 2 (ReLU) or 1 (gated)
    let gates = gates.filter(|g| g.dim() == (p, d));
    let mut iters = 0usize;
    let mut sub_tol = 0.5 * settings.tol;
    let mut best: Option<Solution> = None;
    // the previous round's cone multipliers: the next certificate's NNLS starts from them
    let mut prev_mu: Option<Array2<f64>> = None;
    for _round in 0..30 {
        ctl.check()?;
        let idx: Vec<usize> = (0..p).filter(|&i| in_w[i]).collect();
        if idx.is_empty() {
            break;
        }
        let q = idx.len();
        let sub = prob.subset(&idx, par);
        let g_sub = gates.map(|g| g.select(ndarray::Axis(0), &idx));
        let cols: Vec<usize> = (0..reps)
            .flat_map(|r| idx.iter().map(move |&i| r * p + i))
            .collect();
        let zs = z.select(ndarray::Axis(1), &cols);
        let sub_settings = Settings {
            tol: sub_tol,
            max_iter: settings.max_iter.saturating_sub(iters).max(1),
            check_every: settings.check_every,
            trace: settings.trace.clone(),
            budget: settings.budget.clone(),
        };
        let ss = inner(&sub, &sub_settings, &zs, g_sub.as_ref().map(|g| g.view()))?;
        iters += ss.n_iter;
        z.fill(0.0);
        scatter_blocks(&mut z, &ss.z, &idx, p, reps);
        let (mut cert, mut mu, mut scores) =
            super::polish::sharp_certificate_guided(prob, &z, prev_mu.as_ref(), false, ctl)?;
        let closes = |c: &super::Certificate, dual: f64| {
            gap_ok(c.objective.max(c.network_objective), dual, settings.tol)
        };
        if !closes(&cert, cert.dual) && ss.dual_point.len() == prob.n() {
            // the sub-program's own certified dual point, priced on the whole program: the
            // bound ℓ'(z) gives can be far weaker (the returned z is sparsified, and a block it
            // dropped leaves ℓ' outside the dual cone by a relative ~1e-4, a 1e-4 weaker bound)
            let n = prob.n();
            let guess = (ss.cone_multipliers.dim() == (n, reps * q)).then(|| {
                let mut g = Array2::<f64>::zeros((n, reps * p));
                scatter_blocks(&mut g, &ss.cone_multipliers, &idx, p, reps);
                g
            });
            let (c2, m2, s2) = super::polish::sharp_certificate_at(
                prob,
                &z,
                Some(&ss.dual_point),
                guess.as_ref(),
                false,
                ctl,
            )?;
            if c2.dual > cert.dual {
                cert.dual = c2.dual;
                cert.dual_point = c2.dual_point;
                mu = m2;
                scores = s2;
            }
        }
        prev_mu = Some(mu.clone());
        if cert.violation > 0.0 && closes(&cert, cert.dual) {
            // rounding-level violations of the cone projections: repair along the witnesses
            let zc = super::pdip::clean_feasible(prob, &z, gates);
            let c2 = prob.certify(&zc, Some(&mu), Some(&cert.dual_point));
            if c2.violation == 0.0 && closes(&c2, c2.dual.max(cert.dual)) {
                z = zc;
                let (dual, dp) = if c2.dual >= cert.dual {
                    (c2.dual, c2.dual_point.clone())
                } else {
                    (cert.dual, cert.dual_point.clone())
                };
                cert = c2;
                cert.dual = dual;
                cert.dual_point = dp;
            }
        }
        // the projections leave rounding-level violations (~1e-17); the certificate's upper
        // bound already uses the recovered network's own objective, so it stays rigorous
        let done = closes(&cert, cert.dual) && cert.violation <= super::VIOLATION_TOL;
        if settings.tracing() {
            settings.note(|| {
                format!(
                    "column generation: |W|={q} sub_conv={} ub={:.12e} dual={:.12e} viol={:e}",
                    ss.converged,
                    cert.objective.max(cert.network_objective),
                    cert.dual,
                    cert.violation
                )
            });
        }
        let (zf, cf) = if done {
            let (zs, cs) = sparsify(prob, &z, cert.dual, settings.tol);
            let mut c2 = cert;
            c2.objective = cs.objective;
            c2.network_objective = cs.network_objective;
            c2.violation = cs.violation;
            (zs, c2)
        } else {
            (z.clone(), cert)
        };
        let sol = Solution {
            z: zf.clone(),
            objective: cf.objective,
            network_objective: cf.network_objective,
            dual: cf.dual,
            dual_point: cf.dual_point,
            cone_multipliers: mu,
            violation: cf.violation,
            n_iter: iters,
            converged: done,
            rho: ss.rho,
            warm: WarmStart {
                z: Some(zf),
                ..Default::default()
            },
        };
        let better = best.as_ref().is_none_or(|b| sol.dual > b.dual);
        if done || iters >= settings.max_iter {
            return Ok(Some(match best {
                Some(b) if !done && !better => b,
                _ => sol,
            }));
        }
        if grow_working_set(&mut in_w, &scores, prob.beta, q) == 0 {
            if !ss.converged || sub_tol < 1e-3 * settings.tol {
                if better {
                    best = Some(sol);
                }
                break;
            }
            sub_tol *= 0.1;
        }
        if better {
            best = Some(sol);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convex::Loss;
    use ndarray::array;

    /// X = I, y = (3, 4), one all-ones pattern, β = 1: optimum ½β² + β(‖y‖ − β) = 4.5 at
    /// v = (1 − β/‖y‖) y (see `every_solver_finds_the_closed_form_optimum`).
    #[test]
    fn interior_point_finds_the_closed_form_optimum() {
        let x = array![[1.0, 0.0], [0.0, 1.0]];
        let y = array![3.0, 4.0];
        let pats = array![[true, true]];
        let gates = array![[1.0, 1.0]];
        let prob = Problem::new(
            x.view(),
            y.view(),
            pats.view(),
            Loss::Squared,
            1.0,
            Kind::Relu,
            usize::MAX,
        )
        .unwrap();
        let settings = Settings {
            tol: 1e-10,
            max_iter: 1000,
            check_every: 1,
            ..Default::default()
        };
        let s = solve(&prob, &settings, Some(gates.view()), &Control::new())
            .unwrap()
            .unwrap();
        assert!(s.converged);
        assert!((s.objective - 4.5).abs() < 1e-9, "{}", s.objective);
        assert!(s.dual <= 4.5 + 1e-12 && s.dual > 4.5 - 1e-9);
        assert!((s.z[[0, 0]] - 2.4).abs() < 1e-6 && (s.z[[1, 0]] - 3.2).abs() < 1e-6);
        assert!(s.violation == 0.0);
        // a gate that is not strictly interior: the LP slacks start infeasible and the method
        // still returns a valid point and bound
        let bad = array![[-1.0, 1.0]];
        let s2 = solve(&prob, &settings, Some(bad.view()), &Control::new())
            .unwrap()
            .unwrap();
        assert!(s2.dual <= 4.5 + 1e-12);
        assert!(s2.violation == 0.0);
        assert!(s2.objective >= 4.5 - 1e-9);
        // no gates at all → None (the caller falls back to FISTA)
        assert!(solve(&prob, &settings, None, &Control::new())
            .unwrap()
            .is_none());
    }

    /// The screen keeps a pattern for a large block or for a block that keeps its size while μ
    /// shrinks, and by norm alone before the run has two iterations of history.
    #[test]
    fn screen_keeps_large_and_growing_blocks() {
        // 3 patterns, blocks b ↔ pattern b mod 3; μ halved over the last two iterations, so the
        // growth threshold is 0.5 + 0.15·0.5 = 0.575
        let t = ndarray::array![1.0, 0.05, 0.01, 0.02, 0.05, 0.001];
        let t_back = ndarray::array![1.0, 0.1, 0.011, 0.04, 0.1, 0.1];
        let mut it = crate::convex::pdip::Iterate {
            z: Array2::zeros((1, 6)),
            t,
            h: Array2::zeros((0, 6)),
            lam: Array2::zeros((0, 6)),
            ysoc: Array2::zeros((2, 6)),
            mu: 0.5,
            back: Some((1.0, t_back)),
            lp_rows: None,
        };
        let b = Budgets::default();
        // block 0 is large; block 2 is small but kept its size (ratio 0.91); pattern 1's blocks
        // halved like μ (ratio 0.5) and are small
        assert_eq!(screen_patterns(&it, 3, &b), vec![0, 2]);
        let norms_only = Budgets {
            screen_growth: f64::INFINITY,
            ..b
        };
        assert_eq!(screen_patterns(&it, 3, &norms_only), vec![0]);
        it.back = None;
        assert_eq!(screen_patterns(&it, 3, &b), vec![0]);
        // the selection carries the history along
        it.back = Some((1.0, ndarray::array![1.0, 0.1, 0.011, 0.04, 0.1, 0.1]));
        let sub = it.select(&[0, 2], 3, 2);
        assert_eq!(sub.t.to_vec(), vec![1.0, 0.01, 0.02, 0.001]);
        assert_eq!(sub.back.unwrap().1.to_vec(), vec![1.0, 0.011, 0.04, 0.1]);
    }

    /// The working-set loop (forced on a small problem) reaches the direct solve's optimum,
    /// certified on the full program.
    #[test]
    fn working_set_loop_matches_the_direct_solve() {
        let n = 16usize;
        let (prob, gm) = crate::convex::pdip::tests::relu_program_at(7, n, 3, 400, 0.05);
        let p = prob.p();
        let settings = Settings {
            tol: 1e-8,
            max_iter: 100_000,
            check_every: 10,
            ..Default::default()
        };
        let ctl = Control::new();
        let direct = solve(&prob, &settings, Some(gm.view()), &ctl)
            .unwrap()
            .unwrap();
        // the working-set loop (no budget) and the screened solve (budget without limit, first
        // set as large as allowed: 2n + 20 > P / 3)
        let budget = |w: f64| Budgets {
            direct_patterns: 0,
            direct_work: w,
            screen_work: w,
            screen_keep: SCREEN_REL_NORM,
            screen_growth: SCREEN_GROWTH,
        };
        assert_eq!(plan(&prob, budget(0.0)).0, Path::WorkingSet);
        assert!(p < 3 * (2 * n + 20), "{p} patterns");
        assert_eq!(plan(&prob, budget(1e12)).0, Path::Screened);
        // above the direct budget but within the screening one: still screened, since the
        // optimum could use a good share of the patterns (P < 3(2n + 20))
        let wide = Budgets {
            direct_patterns: 0,
            direct_work: 0.0,
            screen_work: 1e12,
            screen_keep: SCREEN_REL_NORM,
            screen_growth: SCREEN_GROWTH,
        };
        assert_eq!(plan(&prob, wide).0, Path::Screened);
        // a screen that keeps only the largest block's pattern misses some of the optimum's:
        // the patterns its point violates join it and the loop still certifies the optimum
        let harsh = Budgets {
            screen_keep: 0.999,
            screen_growth: f64::INFINITY,
            ..budget(1e12)
        };
        let n_support = {
            let norms = crate::convex::block_norms(&direct.z);
            let zmax = norms.iter().cloned().fold(0.0, f64::max);
            let mut pats: Vec<usize> = (0..2 * p)
                .filter(|&b| norms[b] > 1e-6 * zmax)
                .map(|b| b % p)
                .collect();
            pats.sort_unstable();
            pats.dedup();
            pats.len()
        };
        assert!(n_support > 1, "the optimum needs {n_support} pattern(s)");
        for b in [budget(0.0), budget(1e12), harsh] {
            let looped = solve_working_set_with(&prob, &settings, Some(gm.view()), b, &ctl)
                .unwrap()
                .unwrap();
            let best_dual = direct.dual.max(looped.dual);
            for s in [&direct, &looped] {
                // every point is an upper bound and every dual a lower bound of the same optimum
                assert!(s.objective >= best_dual - 1e-9 * best_dual.abs().max(1.0));
            }
            assert!(looped.converged, "{} {}", looped.objective, looped.dual);
            // the bare interior-point solve may stop short of 1e-8 (the caller finishes it): its
            // point and bound must bracket the loop's certified optimum
            let tol = 1e-9 * direct.objective.abs().max(1.0);
            assert!(looped.objective <= direct.objective + tol);
            assert!(looped.objective >= direct.dual - tol);
            assert!(looped.dual <= direct.objective + tol);
            assert!(looped.violation <= crate::convex::VIOLATION_TOL);
        }
    }
}
