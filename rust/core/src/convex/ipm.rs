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
        if q.is_nan() || q <= 0.0 || st.s[b].is_nan() || st.s[b] <= 0.0 {
            return f64::INFINITY;
        }
        phi -= q.ln();
        for k in 0..n {
            let h = prob.sign[[k, i]] * st.xz[[k, b]];
            if h.is_nan() || h <= 0.0 {
                return f64::INFINITY;
            }
            phi -= h.ln();
        }
    }
    let pred = prob.predict_from_xu(&st.xz);
    let f = prob.loss_value(&pred) + prob.beta * st.s.sum();
    t * f + phi
}

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
        if gn.is_nan() || gn <= 0.0 || !gn.is_finite() {
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
            let h = prob.sign[[k, i]] * st.xz[[k, b]];
            if h.is_nan() || h <= 0.0 {
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
                .map(|(&a, &b)| (t * prob.loss.second_derivative(a, b)).sqrt())
                .collect();
            let gx = prob.at(&gl); // d × P
            let mut hinv: Vec<Array2<f64>> = Vec::with_capacity(nb);
            let mut hmat: Vec<Array2<f64>> = Vec::with_capacity(nb);
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
                hmat.push(h.clone());
                hinv.push(robust_inverse(h)?);
            }
            // M = I + Σ K_b H_b⁻¹ K_bᵀ (n × n)
            let mut m = Array2::<f64>::eye(n);
            let mut tmp = vec![0.0; n * d];
            for (b, hb) in hinv.iter().enumerate() {
                let r = &rows[b % p];
                for (ra, &k) in r.iter().enumerate() {
                    let xr = prob.x.row(k);
                    for j in 0..d {
                        let mut acc = 0.0;
                        for l in 0..d {
                            acc += hb[[j, l]] * xr[l];
                        }
                        tmp[ra * d + j] = acc;
                    }
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
                Err(_) => {
                    if std::env::var("HC_IPM_DEBUG").is_ok() {
                        eprintln!("ipm: M not positive definite");
                    }
                    break 'outer;
                }
            };
            // K v (n) for v of shape dm × nb, and Kᵀ ξ per block
            let k_apply = |v: &Array2<f64>| -> Array1<f64> {
                let mut out = Array1::<f64>::zeros(n);
                for b in 0..nb {
                    let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                    for &k in &rows[i] {
                        let xr = prob.x.row(k);
                        let mut dot = 0.0;
                        for j in 0..d {
                            dot += xr[j] * v[[j, b]];
                        }
                        out[k] += sk[k] * sig * dot;
                    }
                }
                out
            };
            let kt_apply = |xi: &Array1<f64>, b: usize| -> Vec<f64> {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let mut kt = vec![0.0; dm];
                for &k in &rows[i] {
                    let xr = prob.x.row(k);
                    let f = sig * sk[k] * xi[k];
                    for j in 0..d {
                        kt[j] += f * xr[j];
                    }
                }
                kt
            };
            // H⁻¹ rhs = B⁻¹rhs − B⁻¹Kᵀ M⁻¹ K B⁻¹ rhs (Woodbury)
            let solve_h = |rhs: &Array2<f64>| -> Array2<f64> {
                let mut u = Array2::<f64>::zeros((dm, nb));
                for b in 0..nb {
                    let hb = &hinv[b];
                    for a in 0..dm {
                        let mut acc = 0.0;
                        for c2 in 0..dm {
                            acc += hb[[a, c2]] * rhs[[c2, b]];
                        }
                        u[[a, b]] = acc;
                    }
                }
                let mut xi = k_apply(&u);
                super::linalg::cholesky_solve(&lm, &mut xi);
                for b in 0..nb {
                    let kt = kt_apply(&xi, b);
                    let hb = &hinv[b];
                    for a in 0..dm {
                        let mut acc = 0.0;
                        for c2 in 0..dm {
                            acc += hb[[a, c2]] * kt[c2];
                        }
                        u[[a, b]] -= acc;
                    }
                }
                u
            };
            // H v = B v + Kᵀ K v
            let apply_h = |v: &Array2<f64>| -> Array2<f64> {
                let kv = k_apply(v);
                let mut out = Array2::<f64>::zeros((dm, nb));
                for b in 0..nb {
                    let hb = &hmat[b];
                    let kt = kt_apply(&kv, b);
                    for a in 0..dm {
                        let mut acc = kt[a];
                        for c2 in 0..dm {
                            acc += hb[[a, c2]] * v[[c2, b]];
                        }
                        out[[a, b]] = acc;
                    }
                }
                out
            };
            let neg_g = grad.mapv(|v| -v);
            let mut delta = solve_h(&neg_g);
            // iterative refinement: Woodbury loses accuracy when the data term dominates
            for _ in 0..3 {
                let res = &neg_g - &apply_h(&delta);
                let rn = res.iter().map(|v| v * v).sum::<f64>().sqrt();
                let gn = neg_g.iter().map(|v| v * v).sum::<f64>().sqrt();
                if rn.is_nan() || rn <= 1e-14 * gn {
                    break;
                }
                delta = delta + solve_h(&res);
            }
            let dz = delta.slice(ndarray::s![0..d, ..]).to_owned();
            let ds = delta.row(d).to_owned();
            let dec: f64 = -(&grad * &delta).sum();
            if !dec.is_finite() {
                return Err(Error::Numerical(
                    "interior-point Newton step is not finite".into(),
                ));
            }
            if dec / 2.0 <= 1e-9 {
                break;
            }
            let xdz = prob.xu(dz.view());
            // Backtracking under the Armijo test; in the quadratic-convergence region of the
            // self-concordant F_t (Newton decrement λ² < 0.1) a feasible full step is taken
            // without it, since rounding of F_t defeats the test once t·f is large.
            let mut alpha = 1.0f64;
            let mut moved = false;
            for _ in 0..60 {
                let trial = State {
                    z: &st.z + &(&dz * alpha),
                    s: &st.s + &(&ds * alpha),
                    xz: &st.xz + &(&xdz * alpha),
                };
                let fv = barrier_value(prob, &trial, t);
                let quad = alpha == 1.0 && dec < 0.1;
                if fv.is_finite() && (quad || fv <= fval - 0.25 * alpha * dec) {
                    st = trial;
                    fval = fv;
                    moved = true;
                    break;
                }
                alpha *= 0.5;
            }
            if !moved {
                if std::env::var("HC_IPM_DEBUG").is_ok() {
                    eprintln!("ipm line search failed: dec={dec:e} fval={fval:e}");
                }
                break;
            }
        }
        ctl.set_done(iters as u64);
        if std::env::var("HC_IPM_DEBUG").is_ok() {
            let pred = prob.predict_from_xu(&st.xz);
            eprintln!(
                "ipm t={t:e} iters={iters} f={:.12e} nb={nb} elapsed={:?}",
                prob.loss_value(&pred) + prob.beta * st.s.sum(),
                std::time::Instant::now()
            );
        }
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
    let (zbest, cbest) = if converged && do_sparsify {
        sparsify(prob, &st.z, dual, settings.tol)
    } else {
        (st.z.clone(), prob.certify(&st.z, None, None))
    };
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

/// Patterns below which [`solve_working_set`] runs the barrier method on the whole program.
pub const DIRECT_MAX_PATTERNS: usize = 200;

/// The barrier method inside a working-set (column generation) loop, for programs with many
/// patterns: a short FISTA run guesses the support; the barrier method solves the program
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
    let Some(gates) = gates else { return Ok(None) };
    if p <= DIRECT_MAX_PATTERNS {
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
