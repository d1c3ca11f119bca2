//! Augmented Lagrangian for the cone-constrained ReLU program (smooth losses), inner FISTA.
//!
//! For multipliers μ_b ≥ 0 (n-vectors) of the constraints S_b u_b ≥ 0 and penalty ρ, the inner
//! problem is min_u f(Au) + (1/(2ρ)) Σ_b ‖(μ_b − ρ S_b u_b)₊‖² + β Σ_b ‖u_b‖, solved by FISTA
//! (backtracking, adaptive restart, prox = group soft-thresholding) to a decreasing tolerance on
//! the gradient mapping; then μ_b ← (μ_b − ρ S_b u_b)₊ and ρ grows when the violation does not
//! halve. At an exact inner solution, Aᵀ∇f − Sᵀμ⁺ + β∂‖·‖ ∋ 0, so λ = ∇f(Au) and the updated μ
//! make the dual bound of [`Problem::certify`] tight: the certificate and the stopping rule come
//! straight from the iterates.

use ndarray::{Array1, Array2, Zip};

use super::fista::momentum_step;
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

struct Ctx<'a> {
    prob: &'a Problem,
    p: usize,
}

impl Ctx<'_> {
    /// Smooth part f(Au) + (1/(2ρ))‖(μ − ρ S u)₊‖² from XU.
    fn value(&self, xu: &Array2<f64>, mu: &Array2<f64>, rho: f64) -> f64 {
        let pred = self.prob.predict_from_xu(xu);
        let mut pen = 0.0;
        let p = self.p;
        for k in 0..xu.nrows() {
            let sg = self.prob.sign.row(k);
            let xr = xu.row(k);
            let mr = mu.row(k);
            for b in 0..2 * p {
                let i = if b < p { b } else { b - p };
                let v = (mr[b] - rho * sg[i] * xr[b]).max(0.0);
                pen += v * v;
            }
        }
        self.prob.loss_value(&pred) + pen / (2.0 * rho)
    }

    /// (value, gradient d × B).
    fn value_grad(
        &self,
        xu: &Array2<f64>,
        mu: &Array2<f64>,
        rho: f64,
        w: &mut Array2<f64>,
    ) -> (f64, Array2<f64>) {
        let prob = self.prob;
        let pred = prob.predict_from_xu(xu);
        let p = self.p;
        let mut pen = 0.0;
        let mut fval = 0.0;
        for k in 0..xu.nrows() {
            let yk = prob.y[k];
            fval += prob.loss.value(pred[k], yk);
            let gk = prob.loss.grad(pred[k], yk);
            let sg = prob.sign.row(k);
            let m = prob.mask.row(k);
            let xr = xu.row(k);
            let mr = mu.row(k);
            let mut wr = w.row_mut(k);
            for i in 0..p {
                let v1 = (mr[i] - rho * sg[i] * xr[i]).max(0.0);
                let v2 = (mr[p + i] - rho * sg[i] * xr[p + i]).max(0.0);
                pen += v1 * v1 + v2 * v2;
                wr[i] = m[i] * gk - sg[i] * v1;
                wr[p + i] = -m[i] * gk - sg[i] * v2;
            }
        }
        let g = super::linalg::matmul(prob.x.t(), w.view(), prob.par);
        (fval + pen / (2.0 * rho), g)
    }
}

/// Solve the ReLU program by the augmented Lagrangian method (smooth losses only).
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    warm: &WarmStart,
    ctl: &Control,
) -> Result<Solution> {
    if prob.kind != Kind::Relu {
        return Err(Error::invalid(
            "solver",
            "the augmented Lagrangian solver is for the ReLU program",
        ));
    }
    prob.require_smooth("the augmented Lagrangian solver")?;
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = 2 * p;
    let cx = Ctx { prob, p };
    let mut x = match &warm.z {
        Some(z0) if z0.dim() == (d, nb) => z0.clone(),
        _ => Array2::<f64>::zeros((d, nb)),
    };
    let mut mu = match &warm.c {
        Some(c0) if c0.dim() == (n, nb) => c0.mapv(|v| v.max(0.0)),
        _ => Array2::<f64>::zeros((n, nb)),
    };
    let mut rho = warm
        .rho
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(1.0);
    let fro2 = prob.x.iter().map(|v| v * v).sum::<f64>().max(1e-12);
    let mut lip = (prob.loss.curvature() + rho) * fro2 / (p as f64).sqrt().max(1.0);
    let mut xx = prob.xu(x.view());
    let mut w = Array2::<f64>::zeros((n, nb));
    let mut xn = Array2::<f64>::zeros((d, nb));
    let mut best_dual = f64::NEG_INFINITY;
    let mut best_dual_point = Array1::<f64>::zeros(n);
    let mut converged = false;
    let mut total = 0usize;
    let mut inner_tol = 1e-1 * prob.beta.max(1e-12);
    let floor_tol = 1e-3 * settings.tol * prob.beta.max(1e-12);
    let mut prev_viol = f64::INFINITY;
    let mut last = None;
    ctl.begin_stage();
    ctl.set_total(settings.max_iter as u64);
    'outer: while total < settings.max_iter {
        // ---- inner FISTA -----------------------------------------------------------------
        let mut yv = x.clone();
        let mut xy = xx.clone();
        let mut tk = 1.0f64;
        loop {
            ctl.check()?;
            if total >= settings.max_iter {
                break;
            }
            total += 1;
            let (f_y, g) = cx.value_grad(&xy, &mu, rho, &mut w);
            lip *= 0.9;
            let mut xxn;
            let mut tries = 0;
            loop {
                let step = &yv - &(&g / lip);
                shrink_into(&step, prob.beta / lip, &mut xn);
                xxn = prob.xu(xn.view());
                let f_x = cx.value(&xxn, &mu, rho);
                let diff = &xn - &yv;
                let lin: f64 = (&g * &diff).sum();
                let quad: f64 = diff.iter().map(|v| v * v).sum::<f64>();
                if f_x <= f_y + lin + 0.5 * lip * quad + 1e-15 * f_y.abs().max(1.0) {
                    break;
                }
                lip *= 2.0;
                tries += 1;
                if tries > 100 || !lip.is_finite() {
                    return Err(Error::Numerical(
                        "augmented Lagrangian line search failed".into(),
                    ));
                }
            }
            // gradient mapping (largest block)
            let mut gm: f64 = 0.0;
            for (a, b) in yv.columns().into_iter().zip(xn.columns()) {
                let s: f64 = a.iter().zip(b.iter()).map(|(u, v)| (u - v) * (u - v)).sum();
                gm = gm.max(lip * s.sqrt());
            }
            momentum_step(&mut tk, &x, &xn, &xx, &xxn, &mut yv, &mut xy);
            std::mem::swap(&mut x, &mut xn);
            xx = xxn;
            ctl.set_done(total as u64);
            if gm <= inner_tol {
                break;
            }
        }
        // ---- multiplier update and certificate ---------------------------------------------
        let mut viol: f64 = 0.0;
        for k in 0..n {
            let sg = prob.sign.row(k);
            let xr = xx.row(k);
            let mut mr = mu.row_mut(k);
            for b in 0..nb {
                let i = if b < p { b } else { b - p };
                let su = sg[i] * xr[b];
                viol = viol.max(-su);
                mr[b] = (mr[b] - rho * su).max(0.0);
            }
        }
        let cert = prob.certify(&x, Some(&mu), None);
        if cert.dual > best_dual {
            best_dual = cert.dual;
            best_dual_point = cert.dual_point.clone();
        }
        let ub = cert.objective.max(cert.network_objective);
        let done = gap_ok(ub, best_dual, settings.tol) && cert.violation == 0.0;
        last = Some(cert);
        if done {
            converged = true;
            break 'outer;
        }
        if viol > 0.5 * prev_viol && rho < 1e8 {
            rho *= 4.0;
        }
        prev_viol = viol;
        inner_tol = (inner_tol * 0.2).max(floor_tol);
    }
    let cert = match last {
        Some(c) => c,
        None => prob.certify(&x, Some(&mu), None),
    };
    let (dual, dual_point) =
        super::best_dual_of(cert.dual, cert.dual_point, best_dual, best_dual_point);
    Ok(Solution {
        z: x.clone(),
        objective: cert.objective,
        network_objective: cert.network_objective,
        dual,
        dual_point,
        cone_multipliers: mu.clone(),
        violation: cert.violation,
        n_iter: total,
        converged,
        rho,
        warm: WarmStart {
            z: Some(x),
            c: Some(mu),
            rho: Some(rho),
            ..Default::default()
        },
    })
}
