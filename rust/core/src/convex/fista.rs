//! FISTA for both programs with a smooth loss: proximal gradient on
//! Σ_k ℓ((Σ_i D_i X w_i)_k; y_k) + β Σ_i ‖w_i‖ (prox = group soft-thresholding), with
//! backtracking on the step 1/L (L also shrinks by 30% every 10 iterations), gradient-based adaptive
//! restart (O'Donoghue & Candès 2015) and the duality-gap stopping rule of [`Problem::certify`].
//! Two products with X per iteration (X·w is carried along linearly for the extrapolated point).
//! For the ReLU program the prox is shrink(Π_K(·)) per block (exact cone projection by NNLS),
//! patterns are removed by GAP safe screening once provably inactive, and a Newton polish on the
//! identified face is tried when the gap is small (accepted only with a closed certificate).

use ndarray::{Array1, Array2, Zip};

use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::Result;

/// Projection of v onto the cone K_i = {u : (2D_i − I) X u ≥ 0}: Π_K(v) = v + Eμ* with
/// μ* = argmin_{μ ≥ 0} ‖−v − Eμ‖ (Moreau: the polar cone is −cone(E), E = [s_k x_k]).
/// Lawson–Hanson on the columns e_k = s_k x_k without forming E, warm-started from the passive
/// set of the previous call for this block (`warm`, updated).
///
/// Once `ctl` is cancelled the active-set loop stops (one check per step: a projection onto a
/// cone of many rows takes up to tens of ms) and the result is not a projection; the caller's
/// next check reports the interruption.
pub fn project_cone(
    prob: &Problem,
    i: usize,
    v: &[f64],
    warm: &mut ConeWarm,
    ctl: &Control,
) -> Vec<f64> {
    let n = prob.n();
    let d = prob.d();
    let x = &prob.x;
    let sgn = |k: usize| prob.sign[[k, i]];
    // e_kᵀ u
    let edot = |k: usize, u: &[f64]| -> f64 {
        let row = x.row(k);
        let mut s = 0.0;
        for j in 0..d {
            s += row[j] * u[j];
        }
        sgn(k) * s
    };
    if (0..n).all(|k| edot(k, v) >= 0.0) {
        return v.to_vec();
    }
    let g: Vec<f64> = v.iter().map(|a| -a).collect();
    let gnorm = g.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
    // least squares of g on the columns `idx` (normal equations, tiny ridge)
    let ls = |idx: &[usize]| -> Option<Vec<f64>> {
        let p = idx.len();
        let mut gram = Array2::<f64>::zeros((p, p));
        let mut rhs = Array1::<f64>::zeros(p);
        for (a, &ka) in idx.iter().enumerate() {
            rhs[a] = edot(ka, &g);
            let ra = x.row(ka);
            for (b, &kb) in idx.iter().enumerate().skip(a) {
                let rb = x.row(kb);
                let mut s = 0.0;
                for j in 0..d {
                    s += ra[j] * rb[j];
                }
                let val = sgn(ka) * sgn(kb) * s;
                gram[[a, b]] = val;
                gram[[b, a]] = val;
            }
        }
        let tr = (0..p).map(|a| gram[[a, a]]).sum::<f64>().max(1e-300);
        for a in 0..p {
            gram[[a, a]] += 1e-13 * tr;
        }
        let l = super::linalg::cholesky(&gram).ok()?;
        super::linalg::cholesky_solve(&l, &mut rhs);
        Some(rhs.to_vec())
    };
    // residual r = g − Σ μ_k e_k
    let resid = |idx: &[usize], mu: &[f64]| -> Vec<f64> {
        let mut r = g.clone();
        for (a, &k) in idx.iter().enumerate() {
            let row = x.row(k);
            let c = mu[a] * sgn(k);
            for j in 0..d {
                r[j] -= c * row[j];
            }
        }
        r
    };
    let mut idx: Vec<usize> = Vec::new();
    let mut mu: Vec<f64> = Vec::new();
    if !warm.0.is_empty() && warm.0.iter().all(|&k| k < n) {
        if let Some(s) = ls(&warm.0) {
            if s.iter().all(|&a| a > 0.0) {
                idx = warm.0.clone();
                mu = s;
            }
        }
    }
    let mut r = resid(&idx, &mu);
    for _ in 0..(3 * n + 10) {
        if ctl.is_cancelled() {
            break;
        }
        // entering variable: largest e_kᵀ r outside the passive set
        let mut best = None;
        let mut wmax = 1e-12 * gnorm;
        for k in 0..n {
            if idx.contains(&k) {
                continue;
            }
            let w = edot(k, &r);
            if w > wmax {
                wmax = w;
                best = Some(k);
            }
        }
        let Some(k) = best else { break };
        idx.push(k);
        mu.push(0.0);
        loop {
            let Some(s) = ls(&idx) else {
                idx.pop();
                mu.pop();
                break;
            };
            if s.iter().all(|&a| a > 0.0) {
                mu = s;
                break;
            }
            let mut alpha = f64::INFINITY;
            for a in 0..idx.len() {
                if s[a] <= 0.0 {
                    let den = mu[a] - s[a];
                    if den > 0.0 {
                        alpha = alpha.min(mu[a] / den);
                    }
                }
            }
            if !alpha.is_finite() {
                alpha = 0.0;
            }
            let mut keep_i = Vec::with_capacity(idx.len());
            let mut keep_m = Vec::with_capacity(idx.len());
            for a in 0..idx.len() {
                let m = mu[a] + alpha * (s[a] - mu[a]);
                if m > 1e-15 * gnorm {
                    keep_i.push(idx[a]);
                    keep_m.push(m);
                }
            }
            idx = keep_i;
            mu = keep_m;
            if idx.is_empty() {
                break;
            }
        }
        r = resid(&idx, &mu);
    }
    warm.0.clear();
    warm.0.extend(idx.iter().copied());
    warm.1.clear();
    warm.1.extend(mu.iter().copied());
    // Π_K(v) = v + Eμ = −r_at_g... computed directly: v + Σ μ_k e_k
    let mut out = v.to_vec();
    for (a, &k) in idx.iter().enumerate() {
        let row = x.row(k);
        let c = mu[a] * sgn(k);
        for j in 0..d {
            out[j] += c * row[j];
        }
    }
    out
}

/// Per-block warm start of the cone projection: passive set and multipliers of the last call.
pub type ConeWarm = (Vec<usize>, Vec<f64>);

/// ‖v + Σ μ_k e_k‖ for the cached multipliers: an upper bound on ‖Π_K(v)‖ = dist(v, K°).
fn cached_bound(prob: &Problem, i: usize, v: &[f64], warm: &ConeWarm) -> f64 {
    let d = prob.d();
    let mut u = v.to_vec();
    for (a, &k) in warm.0.iter().enumerate() {
        let c = warm.1.get(a).copied().unwrap_or(0.0) * prob.sign[[k, i]];
        let row = prob.x.row(k);
        for j in 0..d {
            u[j] += c * row[j];
        }
    }
    u.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// prox of β/L Σ‖·‖ (+ cone indicators for ReLU): shrink(Π_K(v)) column by column.
fn prox_into(
    prob: &Problem,
    v: &Array2<f64>,
    thr: f64,
    out: &mut Array2<f64>,
    cache: &mut [ConeWarm],
    alive: &[bool],
    ctl: &Control,
) {
    let p = prob.p();
    let relu = prob.kind == Kind::Relu;
    let one = |b: usize, vc: ndarray::ArrayView1<f64>, warm: &mut ConeWarm| -> Vec<f64> {
        // once cancelled, every remaining block is skipped (the caller's next check stops)
        if ctl.is_cancelled() {
            return vec![0.0; vc.len()];
        }
        let nrm = vc.iter().map(|x| x * x).sum::<f64>().sqrt();
        let i = if b < p { b } else { b - p };
        if nrm <= thr || !alive[i] {
            return vec![0.0; vc.len()];
        }
        let w: Vec<f64> = if relu {
            let i = if b < p { b } else { b - p };
            let vv = vc.to_vec();
            if !warm.0.is_empty() && cached_bound(prob, i, &vv, warm) <= thr {
                return vec![0.0; vc.len()];
            }
            project_cone(prob, i, &vv, warm, ctl)
        } else {
            vc.to_vec()
        };
        let nw = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        let s = if nw > thr { 1.0 - thr / nw } else { 0.0 };
        w.iter().map(|x| s * x).collect()
    };
    let cols: Vec<Vec<f64>> = if prob.par && relu {
        use rayon::prelude::*;
        cache
            .par_iter_mut()
            .enumerate()
            .map(|(b, w)| one(b, v.column(b), w))
            .collect()
    } else {
        cache
            .iter_mut()
            .enumerate()
            .map(|(b, w)| one(b, v.column(b), w))
            .collect()
    };
    for (b, c) in cols.into_iter().enumerate() {
        for (j, x) in c.into_iter().enumerate() {
            out[[j, b]] = x;
        }
    }
}

/// Gradient of the data-fit term w.r.t. all blocks (d × B).
fn full_grad(prob: &Problem, r: &Array1<f64>) -> Array2<f64> {
    let g = prob.at(r);
    if prob.kind == Kind::Gated {
        return g;
    }
    let p = prob.p();
    let mut out = Array2::<f64>::zeros((prob.d(), 2 * p));
    out.slice_mut(ndarray::s![.., 0..p]).assign(&g);
    out.slice_mut(ndarray::s![.., p..2 * p])
        .assign(&g.mapv(|v| -v));
    out
}

/// Solve the gated program with FISTA (smooth losses only).
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    warm: &WarmStart,
    ctl: &Control,
) -> Result<Solution> {
    prob.require_smooth("FISTA")?;
    let n = prob.n();
    let d = prob.d();
    let p = prob.n_blocks();
    let relu = prob.kind == Kind::Relu;
    let grad_of = |pred: &Array1<f64>| -> Array1<f64> { prob.loss_grad(pred) };
    let mut x = match &warm.z {
        Some(z0) if z0.dim() == (d, p) => z0.clone(),
        _ => Array2::<f64>::zeros((d, p)),
    };
    ctl.check()?;
    let mut xx = prob.xu_ctl(x.view(), ctl)?; // X·x (n × P)
    let mut yv = x.clone();
    let mut xy = xx.clone();
    // Initial Lipschitz estimate: curvature · ‖X‖_F² (an upper bound on ‖A‖² / P-ish) scaled down.
    let mut lip = warm
        .rho
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or_else(|| {
            (prob.loss.curvature() * prob.x.iter().map(|v| v * v).sum::<f64>()).max(1e-12)
        });
    let mut tk = 1.0f64;
    let mut best_dual = f64::NEG_INFINITY;
    let mut best_dual_point = Array1::<f64>::zeros(n);
    let mut converged = false;
    let mut iters = 0;
    let mut last = None;
    let mut xn = Array2::<f64>::zeros((d, p));
    let mut next_polish = 50usize;
    let mut tried = Vec::new(); // faces whose polish failed (see admm::try_polish)
    let mut alive = vec![true; prob.p()];
    let anorm: Vec<f64> = (0..prob.p())
        .map(|i| {
            ctl.check()?;
            Ok((0..n)
                .filter(|&k| prob.mask[[k, i]] != 0.0)
                .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>())
                .sum::<f64>()
                .sqrt())
        })
        .collect::<Result<_>>()?;
    let mut cache: Vec<ConeWarm> = vec![(Vec::new(), Vec::new()); p];
    ctl.begin_stage();
    ctl.set_total(settings.max_iter as u64);
    for it in 1..=settings.max_iter {
        ctl.check()?;
        iters = it;
        let pred_y = prob.predict_from_xu(&xy);
        let f_y = prob.loss_value(&pred_y);
        let g = full_grad(prob, &grad_of(&pred_y));
        ctl.check()?;
        if it % 10 == 0 {
            lip *= 0.7;
        }
        let mut xxn;
        let mut tries = 0;
        let lip0 = lip;
        loop {
            ctl.check()?;
            let step = &yv - &(&g / lip);
            prox_into(
                prob,
                &step,
                prob.beta / lip,
                &mut xn,
                &mut cache,
                &alive,
                ctl,
            );
            ctl.check()?;
            xxn = prob.xu_ctl(xn.view(), ctl)?;
            let f_x = prob.loss_value(&prob.predict_from_xu(&xxn));
            let diff = &xn - &yv;
            let lin: f64 = (&g * &diff).sum();
            let quad: f64 = diff.iter().map(|v| v * v).sum::<f64>();
            if f_x <= f_y + lin + 0.5 * lip * quad + 1e-13 * f_y.abs().max(1.0) {
                break;
            }
            lip *= 2.0;
            tries += 1;
            if tries > 60 || !lip.is_finite() {
                // Only rounding noise can get here (the sufficient-decrease test holds for every
                // L ≥ the true Lipschitz constant): keep the last trial and the old step size.
                lip = lip0;
                break;
            }
        }
        // adaptive restart: (y − x_new)·(x_new − x) > 0
        momentum_step(&mut tk, &x, &xn, &xx, &xxn, &mut yv, &mut xy);
        std::mem::swap(&mut x, &mut xn);
        xx = xxn;
        ctl.check()?;
        if it % settings.check_every == 0 || it == settings.max_iter {
            let cert = if relu {
                let (cert, _, scores) = super::polish::sharp_certificate_scores(prob, &x, ctl)?;
                // GAP safe screening (Ndiaye et al. 2017): the dual optimum lies within
                // r = √(2·gap·curvature) of θ = sλ; a pattern whose residual bound
                // s·score + ‖D_iX‖_F·r stays below β has zero blocks at the optimum.
                let worst = scores.iter().cloned().fold(0.0, f64::max);
                let sc = if worst > prob.beta {
                    prob.beta / worst
                } else {
                    1.0
                };
                // the ball is centred at θ = sc·λ (λ = ∇ℓ at the iterate, whose block residuals
                // are `scores`), so the gap is the one at θ itself, not at the certificate's
                // best-scaled dual point
                ctl.check()?;
                let lam = prob.loss_grad(&prob.predict(x.view()));
                let dual_at = prob.dual_value(&lam.mapv(|u| u * sc));
                let gap = (cert.objective - dual_at).max(0.0);
                let r = (2.0 * gap * prob.loss.curvature()).sqrt();
                let mut killed = false;
                for i in 0..prob.p() {
                    if alive[i] && sc * scores[i] + anorm[i] * r < prob.beta * (1.0 - 1e-12) {
                        alive[i] = false;
                        for col in [i, prob.p() + i] {
                            if x.column(col).iter().any(|v| *v != 0.0)
                                || yv.column(col).iter().any(|v| *v != 0.0)
                            {
                                killed = true;
                            }
                            x.column_mut(col).fill(0.0);
                            yv.column_mut(col).fill(0.0);
                        }
                    }
                }
                if killed {
                    xx = prob.xu_ctl(x.view(), ctl)?;
                    xy = prob.xu_ctl(yv.view(), ctl)?;
                }
                cert
            } else {
                prob.certify(&x, None, None)
            };
            if cert.dual > best_dual {
                best_dual = cert.dual;
                best_dual_point = cert.dual_point.clone();
            }
            let done = gap_ok(
                cert.objective.max(cert.network_objective),
                best_dual,
                settings.tol,
            );
            let ub = cert.objective.max(cert.network_objective);
            let rel_gap = (ub - best_dual) / ub.abs().max(1.0);
            last = Some(cert);
            if done {
                converged = true;
                break;
            }
            // Polish (Newton on the identified face) once the iterate is close; accepted only
            // when the full certificate closes the gap at the polished, feasible point.
            if relu && it >= next_polish && rel_gap < 1e-2 {
                next_polish = (2 * next_polish).max(it + 1);
                if let Some((zp, cp, _)) =
                    super::admm::try_polish(prob, &x, settings, &mut tried, ctl)?
                {
                    x = zp;
                    best_dual = best_dual.max(cp.dual);
                    last = Some(cp);
                    converged = true;
                    break;
                }
            }
        }
        ctl.set_done(it as u64);
    }
    // the iteration that converged left the loop before reporting itself
    ctl.set_done(iters as u64);
    let (cert, mu) = super::final_certificate(prob, &x, relu, last, ctl)?;
    let (dual, dual_point) =
        super::best_dual_of(cert.dual, cert.dual_point, best_dual, best_dual_point);
    Ok(Solution {
        z: x.clone(),
        objective: cert.objective,
        network_objective: cert.network_objective,
        dual,
        dual_point,
        cone_multipliers: mu,
        violation: 0.0,
        n_iter: iters,
        converged,
        rho: lip,
        warm: WarmStart {
            z: Some(x),
            rho: Some(lip),
            ..Default::default()
        },
    })
}

/// FISTA momentum with gradient-based adaptive restart (O'Donoghue & Candès 2015): restart
/// (t = 1, no momentum) when ⟨y − x_new, x_new − x⟩ > 0, else t ← (1 + √(1 + 4t²))/2. Updates
/// the extrapolated point y = x_new + μ (x_new − x) and its image X·y = X·x_new + μ (X·x_new − X·x).
pub(super) fn momentum_step(
    tk: &mut f64,
    x: &Array2<f64>,
    xn: &Array2<f64>,
    xx: &Array2<f64>,
    xxn: &Array2<f64>,
    yv: &mut Array2<f64>,
    xy: &mut Array2<f64>,
) {
    let mut s = 0.0;
    Zip::from(&*yv)
        .and(xn)
        .and(x)
        .for_each(|&yy, &a, &b| s += (yy - a) * (a - b));
    let restart = s > 0.0;
    let t_new = if restart {
        1.0
    } else {
        0.5 * (1.0 + (1.0 + 4.0 * *tk * *tk).sqrt())
    };
    let mom = if restart { 0.0 } else { (*tk - 1.0) / t_new };
    *tk = t_new;
    Zip::from(yv)
        .and(xn)
        .and(x)
        .for_each(|yy, &a, &b| *yy = a + mom * (a - b));
    Zip::from(xy)
        .and(xxn)
        .and(xx)
        .for_each(|yy, &a, &b| *yy = a + mom * (a - b));
}
