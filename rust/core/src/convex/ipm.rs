//! A primal barrier (path-following) interior-point method for the ReLU program with a smooth
//! loss, for small and medium problems.
//!
//! With epigraph variables s_b ≥ ‖z_b‖ the program is
//! min L(Σ_b σ_b D_i X z_b) + β Σ_b s_b s.t. ‖z_b‖ ≤ s_b, (2D_i − I) X z_b ≥ 0, and for a
//! barrier weight t we minimise by damped Newton
//!   F_t = t (L + β Σ s_b) − Σ_b log(s_b² − ‖z_b‖²) − Σ_b Σ_k log(e_kᵀ z_b),  e_k = (2D_i − I)_kk x_k,
//! then raise t (×10) until the rigorous certificate of [`super::polish::sharp_certificate`]
//! closes the gap. The Hessian is block diagonal (one (d+1)² block per neuron, from the
//! barriers) plus t·Jᵀ diag(ℓ'') J of rank ≤ n (J maps the blocks to the prediction), so each
//! Newton system is solved by Woodbury in the n-dimensional residual space:
//! (H_B + KᵀK)⁻¹ = H_B⁻¹ − H_B⁻¹Kᵀ (I + K H_B⁻¹ Kᵀ)⁻¹ K H_B⁻¹, K = diag(√(tℓ'')) J — cost
//! O(Σ_b (n_i² d + n d²) + n³) per step. Iterates stay strictly feasible (every cone constraint
//! holds), so the network recovered from them has exactly the convex objective. At the end,
//! blocks of negligible norm are zeroed when the certified gap allows it (the dual bound does not
//! depend on the primal point).
//!
//! The start needs a strictly feasible point of every cone: the chambers' witnesses g_i
//! ((2D_i − I) X g_i > 0). Without them (or if one is not strictly interior) [`solve`] returns
//! `None` and the caller falls back to FISTA.

use ndarray::{Array1, Array2, ArrayView2};

use super::{gap_ok, Kind, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

fn loss_hess(prob: &Problem, z: f64, y: f64) -> f64 {
    match prob.loss {
        super::Loss::Squared => 1.0,
        super::Loss::Logistic => {
            let t = -y * z;
            let s = if t >= 0.0 {
                1.0 / (1.0 + (-t).exp())
            } else {
                t.exp() / (1.0 + t.exp())
            };
            s * (1.0 - s)
        }
        super::Loss::Huber(dl) => {
            if (z - y).abs() <= dl {
                1.0
            } else {
                0.0
            }
        }
        super::Loss::Hinge => 0.0,
    }
}

/// State of the barrier problem: blocks z (d × B), epigraph s (B), and X z (n × B).
struct State {
    z: Array2<f64>,
    s: Array1<f64>,
    xz: Array2<f64>,
}

/// Inverse of a small SPD matrix, with a growing diagonal jitter when rounding makes it
/// numerically indefinite (the barrier Hessians are ill-conditioned near the boundary).
fn robust_inverse(mut h: Array2<f64>) -> Result<Array2<f64>> {
    let m = h.nrows();
    let tr = (0..m).map(|a| h[[a, a]].abs()).sum::<f64>().max(1e-300);
    let mut jitter = 0.0;
    for _ in 0..8 {
        if let Ok(inv) = super::linalg::spd_inverse(&h) {
            return Ok(inv);
        }
        let add = if jitter == 0.0 {
            1e-15 * tr
        } else {
            jitter * 9.0
        };
        for a in 0..m {
            h[[a, a]] += add;
        }
        jitter += add;
    }
    super::linalg::spd_inverse(&h)
}

/// F_t at (z, s) given X z; +∞ outside the domain.
fn barrier_value(prob: &Problem, st: &State, t: f64) -> f64 {
    let n = prob.n();
    let p = prob.p();
    let nb = prob.n_blocks();
    let mut phi = 0.0;
    for b in 0..nb {
        let i = b % p;
        let zn = st.z.column(b).iter().map(|v| v * v).sum::<f64>().sqrt();
        let q = (st.s[b] - zn) * (st.s[b] + zn);
        if !(q > 0.0) || !(st.s[b] > 0.0) {
            return f64::INFINITY;
        }
        phi -= q.ln();
        for k in 0..n {
            let h = prob.sign[[k, i]] * st.xz[[k, b]];
            if !(h > 0.0) {
                return f64::INFINITY;
            }
            phi -= h.ln();
        }
    }
    let pred = prob.predict_from_xu(&st.xz);
    let f = prob.loss_value(&pred) + prob.beta * st.s.sum();
    t * f + phi
}

/// Solve the ReLU program by the barrier method; `gates` (P × d) are strictly interior points of
/// the cones. Returns `None` when no strictly feasible start is available (caller falls back).
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<Option<Solution>> {
    if prob.kind != Kind::Relu || !prob.loss.is_smooth() {
        return Err(Error::invalid(
            "solver",
            "the interior-point solver handles the ReLU program with a smooth loss",
        ));
    }
    let Some(gates) = gates else { return Ok(None) };
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    if gates.dim() != (p, d) {
        return Ok(None);
    }
    // Strictly feasible start: z_b = c g_i/‖g_i‖, s_b = 2c.
    let xmax = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
        .max(1e-300);
    let ynorm = prob.y.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0);
    let c = 1e-2 * ynorm / (xmax * nb as f64);
    let mut z = Array2::<f64>::zeros((d, nb));
    for b in 0..nb {
        let i = b % p;
        let g = gates.row(i);
        let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(gn > 0.0 && gn.is_finite()) {
            return Ok(None);
        }
        for j in 0..d {
            z[[j, b]] = c * g[j] / gn;
        }
    }
    let s = Array1::from_elem(nb, 2.0 * c);
    let xz = prob.xu(z.view());
    let mut st = State { z, s, xz };
    for b in 0..nb {
        let i = b % p;
        for k in 0..n {
            if !(prob.sign[[k, i]] * st.xz[[k, b]] > 0.0) {
                return Ok(None);
            }
        }
    }
    let rows: Vec<Vec<usize>> = (0..p)
        .map(|i| (0..n).filter(|&k| prob.mask[[k, i]] != 0.0).collect())
        .collect();
    let nu = (nb * (n + 2)) as f64;
    let pred0 = prob.predict_from_xu(&st.xz);
    let f0 = prob.loss_value(&pred0) + prob.beta * st.s.sum();
    let mut t = (nu / f0.abs().max(1e-12)).max(1.0);
    let dm = d + 1;
    let mut iters = 0usize;
    let mut converged = false;
    let mut best: Option<(f64, Array1<f64>, Array2<f64>)> = None; // (dual, λ, μ)
    ctl.set_total(settings.max_iter as u64);
    'outer: loop {
        // ---- centering by damped Newton ----
        let mut fval = barrier_value(prob, &st, t);
        for _ in 0..100 {
            ctl.check()?;
            if iters >= settings.max_iter {
                break 'outer;
            }
            iters += 1;
            ctl.advance(1);
            let pred = prob.predict_from_xu(&st.xz);
            let gl: Array1<f64> = pred
                .iter()
                .zip(prob.y.iter())
                .map(|(&a, &b)| prob.loss.grad(a, b))
                .collect();
            let sk: Array1<f64> = pred
                .iter()
                .zip(prob.y.iter())
                .map(|(&a, &b)| (t * loss_hess(prob, a, b)).sqrt())
                .collect();
            let gx = prob.at(&gl); // d × P
            let mut hinv: Vec<Array2<f64>> = Vec::with_capacity(nb);
            let mut grad = Array2::<f64>::zeros((dm, nb));
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let mut h = Array2::<f64>::zeros((dm, dm));
                let zb = st.z.column(b);
                let sb = st.s[b];
                let zn = zb.iter().map(|v| v * v).sum::<f64>().sqrt();
                let q = (sb - zn) * (sb + zn);
                // −log q: ∇ = (2z, −2s)/q; ∇²: zz = 2I/q + 4zzᵀ/q², zs = −4sz/q²,
                // ss = 2(s² + ‖z‖²)/q² (written without cancellation)
                let q2 = q * q;
                for j in 0..d {
                    grad[[j, b]] = t * sig * gx[[j, i]] + 2.0 * zb[j] / q;
                    h[[j, j]] += 2.0 / q;
                    for l in 0..d {
                        h[[j, l]] += 4.0 * zb[j] * zb[l] / q2;
                    }
                    h[[j, d]] = -4.0 * sb * zb[j] / q2;
                    h[[d, j]] = h[[j, d]];
                }
                grad[[d, b]] = t * prob.beta - 2.0 * sb / q;
                h[[d, d]] = 2.0 * (sb * sb + zn * zn) / q2;
                for k in 0..n {
                    let sg = prob.sign[[k, i]];
                    let hk = sg * st.xz[[k, b]];
                    let xr = prob.x.row(k);
                    let w = 1.0 / (hk * hk);
                    for j in 0..d {
                        grad[[j, b]] -= sg * xr[j] / hk;
                        for l in 0..=j {
                            h[[j, l]] += w * xr[j] * xr[l];
                        }
                    }
                }
                for j in 0..d {
                    for l in 0..j {
                        h[[l, j]] = h[[j, l]];
                    }
                }
                hinv.push(robust_inverse(h)?);
            }
            // u_b = H_b⁻¹ g_b; c = Σ K_b u_b; M = I + Σ K_b H_b⁻¹ K_bᵀ
            let mut u = Array2::<f64>::zeros((dm, nb));
            let mut cvec = Array1::<f64>::zeros(n);
            let mut m = Array2::<f64>::eye(n);
            let mut tmp = vec![0.0; n * d];
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let hb = &hinv[b];
                for a in 0..dm {
                    let mut acc = 0.0;
                    for c2 in 0..dm {
                        acc += hb[[a, c2]] * grad[[c2, b]];
                    }
                    u[[a, b]] = acc;
                }
                let r = &rows[i];
                for (ra, &k) in r.iter().enumerate() {
                    let xr = prob.x.row(k);
                    let mut dot = 0.0;
                    for j in 0..d {
                        dot += xr[j] * u[[j, b]];
                        // tmp = (H⁻¹_zz x_k) for this row
                        let mut acc = 0.0;
                        for l in 0..d {
                            acc += hb[[j, l]] * xr[l];
                        }
                        tmp[ra * d + j] = acc;
                    }
                    cvec[k] += sk[k] * sig * dot;
                }
                for (ra, &k) in r.iter().enumerate() {
                    for (rb, &l) in r.iter().enumerate().take(ra + 1) {
                        let xl = prob.x.row(l);
                        let mut acc = 0.0;
                        for j in 0..d {
                            acc += tmp[ra * d + j] * xl[j];
                        }
                        let v = sk[k] * sk[l] * acc;
                        m[[k, l]] += v;
                        if rb != ra {
                            m[[l, k]] += v;
                        }
                    }
                }
            }
            let lm = match super::linalg::cholesky(&m) {
                Ok(l) => l,
                Err(_) => break 'outer,
            };
            let mut xi = cvec;
            super::linalg::cholesky_solve(&lm, &mut xi);
            // Δ_b = −u_b + H_b⁻¹ K_bᵀ ξ
            let mut dz = Array2::<f64>::zeros((d, nb));
            let mut ds = Array1::<f64>::zeros(nb);
            let mut dec = 0.0;
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let mut kt = vec![0.0; dm];
                for &k in &rows[i] {
                    let xr = prob.x.row(k);
                    let f = sig * sk[k] * xi[k];
                    for j in 0..d {
                        kt[j] += f * xr[j];
                    }
                }
                let hb = &hinv[b];
                for a in 0..dm {
                    let mut acc = -u[[a, b]];
                    for c2 in 0..dm {
                        acc += hb[[a, c2]] * kt[c2];
                    }
                    if a < d {
                        dz[[a, b]] = acc;
                    } else {
                        ds[b] = acc;
                    }
                    dec -= grad[[a, b]] * acc;
                }
            }
            if !dec.is_finite() {
                return Err(Error::Numerical(
                    "interior-point Newton step is not finite".into(),
                ));
            }
            if dec / 2.0 <= 1e-9 {
                break;
            }
            let xdz = prob.xu(dz.view());
            let mut alpha = 1.0f64;
            let mut moved = false;
            for _ in 0..60 {
                let trial = State {
                    z: &st.z + &(&dz * alpha),
                    s: &st.s + &(&ds * alpha),
                    xz: &st.xz + &(&xdz * alpha),
                };
                let fv = barrier_value(prob, &trial, t);
                if fv.is_finite() && fv <= fval - 0.25 * alpha * dec {
                    st = trial;
                    fval = fv;
                    moved = true;
                    break;
                }
                alpha *= 0.5;
            }
            if !moved {
                break;
            }
        }
        ctl.set_done(iters as u64);
        // ---- certificate ----
        let pred = prob.predict_from_xu(&st.xz);
        let fcur = prob.loss_value(&pred) + prob.penalty(&st.z);
        if nu / t <= 0.5 * settings.tol * fcur.abs().max(1.0) || t > 1e15 {
            let (cert, mu) = super::polish::sharp_certificate(prob, &st.z, ctl)?;
            if best.as_ref().is_none_or(|b| cert.dual > b.0) {
                best = Some((cert.dual, cert.dual_point.clone(), mu));
            }
            let dual = best.as_ref().map_or(f64::NEG_INFINITY, |b| b.0);
            if gap_ok(
                cert.objective.max(cert.network_objective),
                dual,
                settings.tol,
            ) {
                converged = true;
                break 'outer;
            }
            if t > 1e15 {
                break 'outer;
            }
        }
        t *= 10.0;
    }
    let (dual, dual_point, mu) = match best {
        Some(b) => b,
        None => {
            let (cert, mu) = super::polish::sharp_certificate(prob, &st.z, ctl)?;
            (cert.dual, cert.dual_point, mu)
        }
    };
    // Sparsify: zero blocks of negligible norm while the certified gap stays within tol/2
    // (zeroing keeps every cone constraint; the dual bound is independent of z).
    let mut zbest = st.z.clone();
    let mut cbest = prob.certify(&zbest, None, None);
    if converged {
        let norms = super::block_norms(&st.z);
        let zmax = norms.iter().cloned().fold(0.0, f64::max);
        for eps in [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9] {
            let mut zt = st.z.clone();
            for b in 0..nb {
                if norms[b] < eps * zmax {
                    zt.column_mut(b).fill(0.0);
                }
            }
            let ct = prob.certify(&zt, None, None);
            if gap_ok(
                ct.objective.max(ct.network_objective),
                dual,
                0.5 * settings.tol,
            ) && ct.violation == 0.0
            {
                zbest = zt;
                cbest = ct;
                break;
            }
        }
    }
    Ok(Some(Solution {
        z: zbest.clone(),
        objective: cbest.objective,
        network_objective: cbest.network_objective,
        dual,
        dual_point,
        cone_multipliers: mu,
        violation: cbest.violation,
        n_iter: iters,
        converged,
        rho: t,
        warm: WarmStart {
            z: Some(zbest),
            ..Default::default()
        },
    }))
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
        // no strictly feasible start → None (the caller falls back to FISTA)
        let bad = array![[-1.0, 1.0]];
        assert!(solve(&prob, &settings, Some(bad.view()), &Control::new())
            .unwrap()
            .is_none());
        assert!(solve(&prob, &settings, None, &Control::new())
            .unwrap()
            .is_none());
    }
}
