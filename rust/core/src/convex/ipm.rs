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
/// zeroing keeps every cone constraint.
fn sparsify(
    prob: &Problem,
    z: &Array2<f64>,
    dual: f64,
    tol: f64,
) -> (Array2<f64>, super::Certificate) {
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0, f64::max);
    for eps in [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9] {
        let mut zt = z.clone();
        for b in 0..z.ncols() {
            if norms[b] < eps * zmax {
                zt.column_mut(b).fill(0.0);
            }
        }
        let ct = prob.certify(&zt, None, None);
        if gap_ok(ct.objective.max(ct.network_objective), dual, tol) && ct.violation == 0.0 {
            return (zt, ct);
        }
    }
    (z.clone(), prob.certify(z, None, None))
}

/// Solve the ReLU program by the barrier method; `gates` (P × d) are strictly interior points of
/// the cones. Returns `None` when no strictly feasible start is available (caller falls back).
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
    if !prob.loss.is_smooth() {
        return Err(Error::invalid(
            "solver",
            "the interior-point solver needs a smooth loss",
        ));
    }
    if prob.kind == Kind::Relu && gates.is_none() {
        // without witnesses no block can be repaired to exact feasibility: let FISTA solve it
        return Ok(None);
    }
    let pd = super::pdip::solve(prob, settings, gates, ctl)?;
    // the dual bound: the interior-point multipliers first, the NNLS-sharpened one if needed
    let mut cert = prob.certify(&pd.z, Some(&pd.mu), None);
    let mut mu = pd.mu;
    if !gap_ok(
        cert.objective.max(cert.network_objective),
        cert.dual,
        settings.tol,
    ) {
        let (c2, m2) = super::polish::sharp_certificate(prob, &pd.z, ctl)?;
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
    Ok(Some(Solution {
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
    }))
}

/// Patterns below which [`solve_working_set`] runs the barrier method on the whole program.
pub const DIRECT_MAX_PATTERNS: usize = 200;

/// Work per interior-point iteration (Σ_i n_i² d, the assembly of the n × n Woodbury matrix)
/// below which the whole program is solved directly rather than in a working-set loop.
pub const DIRECT_MAX_WORK: f64 = 1e8;

/// The interior-point method inside a working-set (column generation) loop, for programs with many
/// patterns: a short FISTA run guesses the support; the interior-point method solves the program
/// restricted to the working set W; the full program's sharp certificate at that point (dual
/// point λ = ℓ'(prediction), every pattern checked) either closes the gap — a rigorous
/// certificate for the full program, since the dual bound is computed on all patterns — or
/// names the patterns whose dual constraint fails (‖A_bᵀλ − S_bᵀμ_b‖ > β), which join W.
pub fn solve_working_set(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    let p = prob.p();
    let n = prob.n();
    let n_active: f64 = (0..p)
        .map(|i| {
            let ni = (0..n).filter(|&k| prob.mask[[k, i]] != 0.0).count() as f64;
            ni * ni
        })
        .sum();
    let direct = p <= DIRECT_MAX_PATTERNS || n_active * prob.d() as f64 <= DIRECT_MAX_WORK;
    if prob.kind == Kind::Gated {
        // the gated program needs no witnesses; its working-set variant is FISTA's job
        return if direct {
            solve(prob, settings, gates, ctl)
        } else {
            Ok(None)
        };
    }
    let Some(gates) = gates else { return Ok(None) };
    if direct {
        return solve(prob, settings, Some(gates), ctl);
    }
    let d = prob.d();
    if gates.dim() != (p, d) {
        return Ok(None);
    }
    let par = if prob.par { 0 } else { usize::MAX };
    // support guess from a short FISTA run
    let short = Settings {
        tol: settings.tol,
        max_iter: 200.min(settings.max_iter),
        check_every: 25,
    };
    let f0 = super::fista::solve(prob, &short, &WarmStart::default(), ctl)?;
    if f0.converged {
        return Ok(Some(f0));
    }
    let (_, _, scores0) = super::polish::sharp_certificate_scores(prob, &f0.z, ctl)?;
    let norms0 = super::block_norms(&f0.z);
    let mut in_w = vec![false; p];
    for b in 0..2 * p {
        if norms0[b] > 0.0 {
            in_w[b % p] = true;
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| scores0[b].total_cmp(&scores0[a]));
    let k0 = (2 * n + 20).min(p);
    for &i in order.iter() {
        if in_w.iter().filter(|&&v| v).count() >= k0 {
            break;
        }
        in_w[i] = true;
    }
    let mut iters = f0.n_iter;
    let mut sub_tol = 0.5 * settings.tol;
    let mut best: Option<Solution> = None;
    for _round in 0..30 {
        ctl.check()?;
        let idx: Vec<usize> = (0..p).filter(|&i| in_w[i]).collect();
        let sub = prob.subset(&idx, par);
        let g_sub = gates.select(ndarray::Axis(0), &idx);
        let sub_settings = Settings {
            tol: sub_tol,
            max_iter: settings.max_iter.saturating_sub(iters).max(1),
            check_every: settings.check_every,
        };
        let Some(ss) = solve_impl(&sub, &sub_settings, Some(g_sub.view()), ctl, false)? else {
            return Ok(None);
        };
        iters += ss.n_iter;
        // embed
        let mut z = Array2::<f64>::zeros((d, 2 * p));
        let q = idx.len();
        for (a, &i) in idx.iter().enumerate() {
            for j in 0..d {
                z[[j, i]] = ss.z[[j, a]];
                z[[j, p + i]] = ss.z[[j, q + a]];
            }
        }
        let (cert, mu, scores) = super::polish::sharp_certificate_scores(prob, &z, ctl)?;
        let ub = cert.objective.max(cert.network_objective);
        let done = gap_ok(ub, cert.dual, settings.tol);
        let (z, cert) = if done {
            let (zs, cs) = sparsify(prob, &z, cert.dual, settings.tol);
            let mut c2 = cert;
            c2.objective = cs.objective;
            c2.network_objective = cs.network_objective;
            c2.violation = cs.violation;
            (zs, c2)
        } else {
            (z, cert)
        };
        let sol = Solution {
            z: z.clone(),
            objective: cert.objective,
            network_objective: cert.network_objective,
            dual: cert.dual,
            dual_point: cert.dual_point,
            cone_multipliers: mu,
            violation: cert.violation,
            n_iter: iters,
            converged: done,
            rho: 0.0,
            warm: WarmStart {
                z: Some(z),
                ..Default::default()
            },
        };
        let better = best.as_ref().is_none_or(|b| sol.dual > b.dual);
        if done || iters >= settings.max_iter {
            if !done && !better {
                if let Some(b) = best {
                    return Ok(Some(b));
                }
            }
            return Ok(Some(sol));
        }
        // patterns whose dual constraint fails join the working set (largest first)
        let mut add: Vec<usize> = (0..p)
            .filter(|&i| !in_w[i] && scores[i] > prob.beta * (1.0 + 1e-12))
            .collect();
        add.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        add.truncate((idx.len() / 2).max(10));
        if add.is_empty() {
            if !ss.converged || sub_tol < 1e-3 * settings.tol {
                best = Some(sol);
                break;
            }
            sub_tol *= 0.1;
        }
        for i in add {
            in_w[i] = true;
        }
        if better {
            best = Some(sol);
        }
    }
    Ok(best)
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
    let d = prob.d();
    let par = if prob.par { 0 } else { usize::MAX };
    let reps = prob.n_blocks() / p; // blocks per pattern: 2 (ReLU) or 1 (gated)
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
    let mut z = z0.clone();
    let mut iters = 0usize;
    let mut sub_tol = 0.5 * settings.tol;
    let mut best: Option<Solution> = None;
    for _round in 0..20 {
        ctl.check()?;
        let idx: Vec<usize> = (0..p).filter(|&i| in_w[i]).collect();
        if idx.is_empty() {
            break;
        }
        let sub = prob.subset(&idx, par);
        let q = idx.len();
        let mut zs = Array2::<f64>::zeros((d, reps * q));
        for (a, &i) in idx.iter().enumerate() {
            for r in 0..reps {
                for j in 0..d {
                    zs[[j, r * q + a]] = z[[j, r * p + i]];
                }
            }
        }
        let sub_settings = Settings {
            tol: sub_tol,
            max_iter: settings.max_iter.saturating_sub(iters).max(1),
            check_every: settings.check_every,
        };
        let warm = WarmStart {
            z: Some(zs),
            ..Default::default()
        };
        let ss = super::fista::solve(&sub, &sub_settings, &warm, ctl)?;
        iters += ss.n_iter;
        z.fill(0.0);
        for (a, &i) in idx.iter().enumerate() {
            for r in 0..reps {
                for j in 0..d {
                    z[[j, r * p + i]] = ss.z[[j, r * q + a]];
                }
            }
        }
        let (mut cert, mu, scores) = super::polish::sharp_certificate_scores(prob, &z, ctl)?;
        if cert.violation > 0.0
            && gap_ok(
                cert.objective.max(cert.network_objective),
                cert.dual,
                settings.tol,
            )
        {
            // rounding-level violations of the cone projections: repair along the witnesses
            let zc = super::pdip::clean_feasible(prob, &z, gates);
            let c2 = prob.certify(&zc, Some(&mu), Some(&cert.dual_point));
            if c2.violation == 0.0
                && gap_ok(
                    c2.objective.max(c2.network_objective),
                    c2.dual.max(cert.dual),
                    settings.tol,
                )
            {
                z = zc;
                let dual = c2.dual.max(cert.dual);
                let dp = if c2.dual >= cert.dual {
                    c2.dual_point.clone()
                } else {
                    cert.dual_point.clone()
                };
                cert = c2;
                cert.dual = dual;
                cert.dual_point = dp;
            }
        }
        let ub = cert.objective.max(cert.network_objective);
        // the cone projections leave rounding-level violations (~1e-17); the certificate's upper
        // bound already uses the recovered network's own objective, so it stays rigorous
        let done = gap_ok(ub, cert.dual, settings.tol) && cert.violation <= super::VIOLATION_TOL;
        if std::env::var("HC_IPM_DEBUG").is_ok() {
            eprintln!(
                "finish round: |W|={q} sub_conv={} sub_iters={} ub={ub:.12e} dual={:.12e} viol={:e}",
                ss.converged, ss.n_iter, cert.dual, cert.violation
            );
        }
        let sol = Solution {
            z: z.clone(),
            objective: cert.objective,
            network_objective: cert.network_objective,
            dual: cert.dual,
            dual_point: cert.dual_point,
            cone_multipliers: mu,
            violation: cert.violation,
            n_iter: iters,
            converged: done,
            rho: ss.rho,
            warm: WarmStart {
                z: Some(z.clone()),
                ..Default::default()
            },
        };
        let better = best.as_ref().is_none_or(|b| sol.dual > b.dual);
        if done || iters >= settings.max_iter {
            return Ok(if !done && !better {
                best.unwrap_or(sol)
            } else {
                sol
            });
        }
        let mut add: Vec<usize> = (0..p)
            .filter(|&i| !in_w[i] && scores[i] > prob.beta * (1.0 + 1e-12))
            .collect();
        add.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        add.truncate((q / 2).max(10));
        if add.is_empty() {
            if !ss.converged || sub_tol < 1e-3 * settings.tol {
                if better {
                    best = Some(sol);
                }
                break;
            }
            sub_tol *= 0.1;
        }
        for i in add {
            in_w[i] = true;
        }
        if better {
            best = Some(sol);
        }
    }
    match best {
        Some(b) => Ok(b),
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
}
