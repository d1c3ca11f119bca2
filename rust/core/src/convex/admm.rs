//! ADMM for both programs, for every loss (the loss enters only through its proximal map).
//!
//! Splitting (u = all blocks, A the model map, S the cone map, η a fixed balancing weight):
//!   min ℓ(q) + β Σ_b ‖z_b‖ + ι_{≥0}(t)   s.t.  q = A u,  z = u,  t = S u   (t only for ReLU).
//! The u-update solves (AᵀA + η I + SᵀS) u = Aᵀ(q − a) + η(z − b) + Sᵀ(t − c). SᵀS is
//! block diagonal with the same d × d block XᵀX (because (2D_i − I)² = I), so with
//! B₀ = η I + XᵀX (ReLU) or η I (gated) Woodbury reduces the solve to one n × n system
//! K = I + A B⁻¹ Aᵀ = I + n_b · (X B₀⁻¹ Xᵀ) ∘ (Σ_i d_i d_iᵀ), factored once (independent of ρ).
//! The other updates are exact: the loss prox (closed form, Newton for logistic), group
//! soft-thresholding, and the projection on the non-negative orthant. Over-relaxation 1.6 and
//! residual balancing of ρ. The certificate (see [`Problem::certify`]) uses the cone multipliers
//! μ = −ρ c ≥ 0 of the t-split and the loss multiplier ρ a.

use ndarray::{Array1, Array2, Axis, Zip};

use super::linalg::{cholesky, cholesky_solve, matmul, spd_inverse};
use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

const RELAX: f64 = 1.6;

/// Solve with ADMM.
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    warm: &WarmStart,
    ctl: &Control,
) -> Result<Solution> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    let relu = prob.kind == Kind::Relu;
    let par = prob.par;

    // ---- factorisation ------------------------------------------------------------------
    let xtx = prob.x.t().dot(&prob.x);
    let eta = (xtx.diag().sum() / d as f64).max(1e-12);
    let mut b0 = Array2::<f64>::eye(d) * eta;
    if relu {
        b0 += &xtx;
    }
    let b0inv = spd_inverse(&b0)?;
    let cmat = b0inv.dot(&prob.x.t()); // d × n
    let h = prob.x.dot(&cmat); // n × n
    let mm = matmul(prob.mask.view(), prob.mask.t(), par); // n × n
    ctl.check()?;
    let factor = if relu { 2.0 } else { 1.0 };
    let mut kmat = &h * &mm * factor;
    // at most three n × n matrices at once (the memory estimate's 3 n²): H and M·Mᵀ go before
    // the factor is made
    drop(h);
    drop(mm);
    for k in 0..n {
        kmat[[k, k]] += 1.0;
    }
    let lk = cholesky(&kmat)?;
    ctl.check()?;

    // ---- state --------------------------------------------------------------------------
    let mut z = match &warm.z {
        Some(z0) if z0.dim() == (d, nb) => z0.clone(),
        _ => Array2::<f64>::zeros((d, nb)),
    };
    let mut u = z.clone();
    let mut xu = prob.xu(u.view());
    let mut q = prob.predict_from_xu(&xu);
    let mut a = match &warm.a {
        Some(a0) if a0.len() == n => a0.clone(),
        _ => Array1::<f64>::zeros(n),
    };
    let mut bd = match &warm.b {
        Some(b0) if b0.dim() == (d, nb) => b0.clone(),
        _ => Array2::<f64>::zeros((d, nb)),
    };
    let mut t = Array2::<f64>::zeros((n, if relu { nb } else { 0 }));
    let mut c = match &warm.c {
        Some(c0) if relu && c0.dim() == (n, nb) => c0.clone(),
        _ => Array2::<f64>::zeros((n, if relu { nb } else { 0 })),
    };
    if relu {
        // t = S z (clipped)
        for k in 0..n {
            for i in 0..p {
                let s = prob.sign[[k, i]];
                t[[k, i]] = (s * xu[[k, i]]).max(0.0);
                t[[k, p + i]] = (s * xu[[k, p + i]]).max(0.0);
            }
        }
    }
    let mut rho = warm
        .rho
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(0.1);

    let mut best_dual = f64::NEG_INFINITY;
    let mut best_dual_point = Array1::<f64>::zeros(n);
    let mut last_cert = None;
    let mut converged = false;
    let mut iters = 0usize;
    ctl.begin_stage();
    ctl.set_total(settings.max_iter as u64);

    let mut w = Array2::<f64>::zeros((n, nb));
    let mut next_polish = 100usize;
    let mut tried = Vec::new(); // faces whose polish failed (see try_polish)
    for it in 1..=settings.max_iter {
        ctl.check()?;
        iters = it;
        // ---- u-update -------------------------------------------------------------------
        let qa = &q - &a;
        {
            let qa = qa.view();
            for k in 0..n {
                let m = prob.mask.row(k);
                let mut wr = w.row_mut(k);
                for i in 0..p {
                    wr[i] = m[i] * qa[k];
                }
                if relu {
                    let sg = prob.sign.row(k);
                    let tr = t.row(k);
                    let cr = c.row(k);
                    for i in 0..p {
                        wr[p + i] = -m[i] * qa[k] + sg[i] * (tr[p + i] - cr[p + i]);
                        wr[i] += sg[i] * (tr[i] - cr[i]);
                    }
                }
            }
        }
        let mut r = matmul(prob.x.t(), w.view(), par); // d × B
        Zip::from(&mut r)
            .and(&z)
            .and(&bd)
            .for_each(|r, &zz, &bb| *r += eta * (zz - bb));
        let y = b0inv.dot(&r); // d × B
                               // A y
        let ydiff = if relu {
            &y.slice(ndarray::s![.., 0..p]) - &y.slice(ndarray::s![.., p..2 * p])
        } else {
            y.clone()
        };
        let xyd = matmul(prob.x.view(), ydiff.view(), par); // n × P
        let mut sv = (&prob.mask * &xyd).sum_axis(Axis(1));
        cholesky_solve(&lk, &mut sv);
        let ms = &prob.mask * &sv.view().insert_axis(Axis(1)); // n × P
        let g = matmul(cmat.view(), ms.view(), par); // d × P
        u.assign(&y);
        {
            let mut uv = u.slice_mut(ndarray::s![.., 0..p]);
            uv -= &g;
        }
        if relu {
            let mut uw = u.slice_mut(ndarray::s![.., p..2 * p]);
            uw += &g;
        }
        xu = prob.xu(u.view());
        let au = prob.predict_from_xu(&xu);

        // ---- q, z, t updates (over-relaxed) --------------------------------------------------
        let q_old = q.clone();
        let z_old = z.clone();
        let mut pr2 = 0.0;
        let mut dr2 = 0.0;
        for k in 0..n {
            let ah = RELAX * au[k] + (1.0 - RELAX) * q[k];
            let qn = prob.loss.prox(ah + a[k], prob.y[k], rho);
            a[k] += ah - qn;
            pr2 += (au[k] - qn) * (au[k] - qn);
            dr2 += (qn - q_old[k]) * (qn - q_old[k]);
            q[k] = qn;
        }
        // z: group soft-thresholding of û + b with threshold β / (ρ η)
        let thr = prob.beta / (rho * eta);
        for bcol in 0..nb {
            let mut nrm2 = 0.0;
            for j in 0..d {
                let uh = RELAX * u[[j, bcol]] + (1.0 - RELAX) * z[[j, bcol]];
                let v = uh + bd[[j, bcol]];
                nrm2 += v * v;
            }
            let nrm = nrm2.sqrt();
            let shrink = if nrm > thr { 1.0 - thr / nrm } else { 0.0 };
            for j in 0..d {
                let uh = RELAX * u[[j, bcol]] + (1.0 - RELAX) * z[[j, bcol]];
                let v = uh + bd[[j, bcol]];
                let zn = shrink * v;
                bd[[j, bcol]] = v - zn;
                let du = u[[j, bcol]] - zn;
                pr2 += eta * du * du;
                let dz = zn - z_old[[j, bcol]];
                dr2 += eta * dz * dz;
                z[[j, bcol]] = zn;
            }
        }
        if relu {
            for k in 0..n {
                let sg = prob.sign.row(k);
                let xr = xu.row(k);
                let mut tr = t.row_mut(k);
                let mut cr = c.row_mut(k);
                for bcol in 0..nb {
                    let i = if bcol < p { bcol } else { bcol - p };
                    let su = sg[i] * xr[bcol];
                    let sh = RELAX * su + (1.0 - RELAX) * tr[bcol];
                    let tn = (sh + cr[bcol]).max(0.0);
                    cr[bcol] += sh - tn;
                    pr2 += (su - tn) * (su - tn);
                    dr2 += (tn - tr[bcol]) * (tn - tr[bcol]);
                    tr[bcol] = tn;
                }
            }
        }
        let prim = pr2.sqrt();
        let dual_res = rho * dr2.sqrt();
        if !prim.is_finite() {
            return Err(Error::Numerical(format!(
                "ADMM diverged at iteration {it} (primal residual {prim})"
            )));
        }

        // ---- certificate ---------------------------------------------------------------------
        if it % settings.check_every == 0 || it == settings.max_iter {
            let mu = if relu {
                Some(c.mapv(|v| (-rho * v).max(0.0)))
            } else {
                None
            };
            let lam_admm = a.mapv(|v| rho * v);
            let cert = prob.certify(&z, mu.as_ref(), Some(&lam_admm));
            if cert.dual > best_dual {
                best_dual = cert.dual;
                best_dual_point = cert.dual_point.clone();
            }
            let ub = cert.objective.max(cert.network_objective);
            let mut done = gap_ok(ub, best_dual, settings.tol);
            if done && relu && cert.violation > 0.0 {
                // The iterate is slightly infeasible: project every block on its cone (exact)
                // and accept only if the feasible point still closes the gap.
                let zp = project_blocks(prob, &z, ctl)?;
                let cp = prob.certify(&zp, None, None);
                let ubp = cp.objective.max(cp.network_objective);
                done = gap_ok(ubp, best_dual, settings.tol);
                if done {
                    z = zp;
                    let mu = Some(c.mapv(|v| (-rho * v).max(0.0)));
                    last_cert = Some((cp, mu));
                    converged = true;
                    break;
                }
            }
            last_cert = Some((cert, mu));
            if done {
                converged = true;
                break;
            }
            if relu && prob.loss.is_smooth() && it >= next_polish {
                next_polish = (next_polish * 2).max(it + 1);
                if let Some((zp, cp, mup)) = try_polish(prob, &z, settings, &mut tried, ctl)? {
                    return Ok(Solution {
                        z: zp.clone(),
                        objective: cp.objective,
                        network_objective: cp.network_objective,
                        dual: cp.dual,
                        dual_point: cp.dual_point,
                        cone_multipliers: mup,
                        violation: cp.violation,
                        n_iter: it,
                        converged: true,
                        rho,
                        warm: WarmStart {
                            z: Some(zp),
                            a: Some(a),
                            b: Some(bd),
                            c: Some(c),
                            rho: Some(rho),
                        },
                    });
                }
            }
        }
        // ---- residual balancing (every 10 iterations) --------------------------------------
        if it % 10 == 0 {
            let scale = if prim > 10.0 * dual_res {
                2.0
            } else if dual_res > 10.0 * prim {
                0.5
            } else {
                1.0
            };
            if scale != 1.0 {
                rho *= scale;
                a /= scale;
                bd /= scale;
                if relu {
                    c /= scale;
                }
            }
        }
        ctl.set_done(it as u64);
    }
    let (cert, mu) = match last_cert {
        Some(x) => x,
        None => {
            let mu = if relu {
                Some(c.mapv(|v| (-rho * v).max(0.0)))
            } else {
                None
            };
            (
                prob.certify(&z, mu.as_ref(), Some(&a.mapv(|v| rho * v))),
                mu,
            )
        }
    };
    if cert.dual > best_dual {
        best_dual = cert.dual;
        best_dual_point = cert.dual_point.clone();
    }
    Ok(Solution {
        z: z.clone(),
        objective: cert.objective,
        network_objective: cert.network_objective,
        dual: best_dual,
        dual_point: best_dual_point,
        cone_multipliers: mu.unwrap_or_else(|| Array2::zeros((n, 0))),
        violation: cert.violation,
        n_iter: iters,
        converged,
        rho,
        warm: WarmStart {
            z: Some(z),
            a: Some(a),
            b: Some(bd),
            c: if relu { Some(c) } else { None },
            rho: Some(rho),
        },
    })
}

/// Try polishing at two activity thresholds; return the polished point when its sharp
/// certificate closes the gap. `tried` holds the faces whose polish already failed at this
/// problem (a caller that polishes repeatedly, e.g. every few hundred iterations, keeps it
/// between calls): the face-Newton result depends on the face, not on the iterate it starts
/// from (the reduced objective's optimum; its prediction, hence λ and the certificate, is
/// unique for a strictly convex loss), so a face tried once — or given by both thresholds —
/// is not factorised again. A face whose dense system exceeds `settings.budget` is skipped
/// (recorded in the budget).
#[allow(clippy::type_complexity)]
pub(crate) fn try_polish(
    prob: &Problem,
    z: &Array2<f64>,
    settings: &Settings,
    tried: &mut Vec<super::polish::Face>,
    ctl: &Control,
) -> Result<Option<(Array2<f64>, super::Certificate, Array2<f64>)>> {
    for act in POLISH_THRESHOLDS {
        let Some(face) = super::polish::face(prob, z, act, ctl)? else {
            return Ok(None);
        };
        if tried.contains(&face) {
            continue;
        }
        let pz = super::polish::polish_with(
            prob,
            z,
            &|b| face.on(b),
            &|k, b| face.row_on(k, b),
            &settings.budget,
            ctl,
        )?;
        if let Some(zp) = pz {
            let (cert, mu) = super::polish::sharp_certificate(prob, &zp, ctl)?;
            let ub = cert.objective.max(cert.network_objective);
            if gap_ok(ub, cert.dual, settings.tol) {
                return Ok(Some((zp, cert, mu)));
            }
        }
        tried.push(face);
    }
    Ok(None)
}

/// The activity thresholds of [`try_polish`] (relative slack of a cone row counted active).
pub(crate) const POLISH_THRESHOLDS: [f64; 2] = [1e-3, 1e-6];

/// Exact projection of every nonzero block on its cone (see [`super::fista::project_cone`]),
/// checking `ctl` before each block (and within its projection).
pub(crate) fn project_blocks(
    prob: &Problem,
    z: &Array2<f64>,
    ctl: &Control,
) -> Result<Array2<f64>> {
    let p = prob.p();
    let mut out = z.clone();
    for b in 0..z.ncols() {
        ctl.check()?;
        let col: Vec<f64> = z.column(b).to_vec();
        if col.iter().all(|v| *v == 0.0) {
            continue;
        }
        let i = if b < p { b } else { b - p };
        let mut warm = (Vec::new(), Vec::new());
        let pc = super::fista::project_cone(prob, i, &col, &mut warm, ctl);
        for (j, v) in pc.into_iter().enumerate() {
            out[[j, b]] = v;
        }
    }
    ctl.check()?;
    Ok(out)
}
