//! FISTA for the gated program with a smooth loss: proximal gradient on
//! Σ_k ℓ((Σ_i D_i X w_i)_k; y_k) + β Σ_i ‖w_i‖ (prox = group soft-thresholding), with
//! backtracking on the step 1/L (L may also shrink by 10% per iteration), gradient-based adaptive
//! restart (O'Donoghue & Candès 2015) and the duality-gap stopping rule of [`Problem::certify`].
//! Two products with X per iteration (X·w is carried along linearly for the extrapolated point).

use ndarray::{Array1, Array2, Zip};

use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

fn shrink_into(v: &Array2<f64>, thr: f64, out: &mut Array2<f64>) {
    for (vc, mut oc) in v.columns().into_iter().zip(out.columns_mut()) {
        let nrm = vc.iter().map(|x| x * x).sum::<f64>().sqrt();
        let s = if nrm > thr { 1.0 - thr / nrm } else { 0.0 };
        Zip::from(&mut oc).and(&vc).for_each(|o, &x| *o = s * x);
    }
}

/// Solve the gated program with FISTA (smooth losses only).
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    warm: &WarmStart,
    ctl: &Control,
) -> Result<Solution> {
    if prob.kind != Kind::Gated {
        return Err(Error::invalid(
            "solver",
            "FISTA handles the gated program only; use ADMM",
        ));
    }
    if !prob.loss.is_smooth() {
        return Err(Error::invalid(
            "solver",
            "FISTA needs a smooth loss; use ADMM for hinge",
        ));
    }
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let grad_of = |pred: &Array1<f64>| -> Array1<f64> {
        pred.iter()
            .zip(prob.y.iter())
            .map(|(&a, &b)| prob.loss.grad(a, b))
            .collect()
    };
    let mut x = match &warm.z {
        Some(z0) if z0.dim() == (d, p) => z0.clone(),
        _ => Array2::<f64>::zeros((d, p)),
    };
    let mut xx = prob.xu(x.view()); // X·x (n × P)
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
    ctl.set_total(settings.max_iter as u64);
    for it in 1..=settings.max_iter {
        ctl.check()?;
        iters = it;
        let pred_y = prob.predict_from_xu(&xy);
        let f_y = prob.loss_value(&pred_y);
        let g = prob.at(&grad_of(&pred_y));
        lip *= 0.9;
        let mut xxn;
        let mut tries = 0;
        loop {
            ctl.check()?;
            let step = &yv - &(&g / lip);
            shrink_into(&step, prob.beta / lip, &mut xn);
            xxn = prob.xu(xn.view());
            let f_x = prob.loss_value(&prob.predict_from_xu(&xxn));
            let diff = &xn - &yv;
            let lin: f64 = (&g * &diff).sum();
            let quad: f64 = diff.iter().map(|v| v * v).sum::<f64>();
            if f_x <= f_y + lin + 0.5 * lip * quad + 1e-12 * f_y.abs().max(1.0) * 1e-3 {
                break;
            }
            lip *= 2.0;
            tries += 1;
            if tries > 100 || !lip.is_finite() {
                return Err(Error::Numerical("FISTA line search failed".into()));
            }
        }
        // adaptive restart: (y − x_new)·(x_new − x) > 0
        let restart = {
            let mut s = 0.0;
            Zip::from(&yv)
                .and(&xn)
                .and(&x)
                .for_each(|&yy, &a, &b| s += (yy - a) * (a - b));
            s > 0.0
        };
        let t_new = if restart {
            1.0
        } else {
            0.5 * (1.0 + (1.0 + 4.0 * tk * tk).sqrt())
        };
        let mom = if restart { 0.0 } else { (tk - 1.0) / t_new };
        tk = t_new;
        // y = xn + mom (xn − x);  X y likewise
        Zip::from(&mut yv)
            .and(&xn)
            .and(&x)
            .for_each(|yy, &a, &b| *yy = a + mom * (a - b));
        Zip::from(&mut xy)
            .and(&xxn)
            .and(&xx)
            .for_each(|yy, &a, &b| *yy = a + mom * (a - b));
        std::mem::swap(&mut x, &mut xn);
        xx = xxn;
        if it % settings.check_every == 0 || it == settings.max_iter {
            let cert = prob.certify(&x, None, None);
            if cert.dual > best_dual {
                best_dual = cert.dual;
                best_dual_point = cert.dual_point.clone();
            }
            let done = gap_ok(cert.objective, best_dual, settings.tol);
            last = Some(cert);
            if done {
                converged = true;
                break;
            }
        }
        ctl.set_done(it as u64);
    }
    let cert = match last {
        Some(c) => c,
        None => prob.certify(&x, None, None),
    };
    Ok(Solution {
        z: x.clone(),
        objective: cert.objective,
        network_objective: cert.network_objective,
        dual: best_dual.max(cert.dual),
        dual_point: if cert.dual > best_dual {
            cert.dual_point
        } else {
            best_dual_point
        },
        cone_multipliers: Array2::zeros((n, 0)),
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
