//! Projected Newton on the variational form of the gated program (smooth losses).
//!
//! For the squared loss, β‖w‖ = min_{c > 0} ‖w‖²/(2c) + β²c/2 turns the group Lasso
//! min_w ½‖Σ_i A_i w_i − y‖² + β Σ_i ‖w_i‖ (A_i = D_i X) into a smooth convex program over one
//! scalar per pattern (the "η-trick" of multiple-kernel learning; Bach et al. 2012, §5.1):
//!
//!   f(c) = ½ yᵀ (I + K(c))⁻¹ y + (β²/2) Σ_i c_i,   c ≥ 0,
//!   K(c) = Σ_i c_i A_i A_iᵀ = (X Xᵀ) ⊙ (M diag(c) Mᵀ)   (M = the n × P 0/1 pattern matrix),
//!
//! with w_i = c_i A_iᵀ μ, μ = (I + K)⁻¹ y (the residual is −μ),
//! ∂f/∂c_i = ½ (β² − ‖A_iᵀ μ‖²) and ∂²f/∂c_i∂c_j = v_iᵀ (I + K)⁻¹ v_j, v_i = A_i A_iᵀ μ. The
//! Hadamard form costs n²·|supp c| per assembly instead of Σ_i n_i² d, and the Hessian lives in
//! the |free set| dimensions only (the nonzero c_i plus the patterns whose dual constraint
//! ‖A_iᵀμ‖ ≤ β fails, the worst first). Bertsekas' projected Newton (ε-binding set, Armijo search
//! along the projection arc) with Levenberg–Marquardt damping (the program is degenerate when
//! several patterns explain the same direction) converges in ~10–30 iterations of
//! O(n³/3 + n²(|S| + |F|) + n|F|² + n d P) flops (Cholesky factorisation and triangular solves
//! on faer's kernels, GEMMs on fixed blocks: results do not depend on the thread count).
//!
//! Other smooth losses (logistic, Huber): proximal Newton (Lee, Sun & Saunders 2014) — the loss is
//! replaced by its second-order model ½ Σ_k h_k (z_k − t_k)², a weighted squared loss solved as
//! above with rows scaled by √h_k, followed by an Armijo search on the true objective.
//!
//! Every point is certified on the full program by [`Problem::certify`]; a run that stalls is
//! finished by FISTA from its last point.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::{gap_ok, linalg, Certificate, Kind, Loss, Problem, Settings, Solution, WarmStart};
use crate::control::Control;
use crate::error::{Error, Result};

/// Column block of the lower-triangle GEMM.
const NB: usize = 64;

/// Largest n accepted (three n × n matrices are held).
pub const MAX_N: usize = 20_000;

/// Lower Cholesky factor (row-major, zero upper triangle).
struct Chol {
    l: Array2<f64>,
}

/// Cholesky factorisation of the symmetric positive-definite `a` (lower triangle read):
/// [`linalg::cholesky_ctl`] (faer's kernels, fixed blocks, parallel when `par`; the result does
/// not depend on the thread count), checking `ctl` once per panel and trailing column block.
fn cholesky_blocked(a: Array2<f64>, par: bool, ctl: &Control) -> Result<Chol> {
    Ok(Chol {
        l: linalg::cholesky_ctl(&a, par, ctl)?,
    })
}

/// The lower block triangle (NB-column blocks, diagonal blocks in full) of a · bᵀ for a, b of
/// shape m × k, when a · bᵀ is known to be symmetric; the strict upper block triangle is zero.
/// Fixed blocks, parallel when `par` (results do not depend on the thread count). Checks `ctl`
/// once per block column.
fn gemm_lower(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    par: bool,
    ctl: &Control,
) -> Result<Array2<f64>> {
    let m = a.nrows();
    let mut out = Array2::<f64>::zeros((m, m));
    let one = |(jb, mut col): (usize, ArrayViewMut2<f64>)| {
        if ctl.is_cancelled() {
            return; // the check after the loop reports it
        }
        let r0 = jb * NB;
        let w = col.ncols();
        let mut o = col.slice_mut(s![r0.., ..]);
        general_mat_mul(
            1.0,
            &a.slice(s![r0.., ..]),
            &b.slice(s![r0..r0 + w, ..]).t(),
            0.0,
            &mut o,
        );
    };
    let cols: Vec<(usize, ArrayViewMut2<f64>)> =
        out.axis_chunks_iter_mut(Axis(1), NB).enumerate().collect();
    if par && cols.len() > 1 {
        cols.into_par_iter().for_each(one);
    } else {
        cols.into_iter().for_each(one);
    }
    ctl.check()?;
    Ok(out)
}

impl Chol {
    /// V ← L⁻¹ V for many right-hand sides ([`linalg::forward_solve_rows_ctl`]: fixed column
    /// chunks, parallel when `par`). Checks `ctl` once per row block of each chunk.
    fn forward_many(&self, v: &mut Array2<f64>, par: bool, ctl: &Control) -> Result<()> {
        linalg::forward_solve_rows_ctl(&self.l, v, par, ctl)
    }

    /// Solve (L Lᵀ) x = b.
    fn solve(&self, b: &Array1<f64>) -> Array1<f64> {
        let mut x = b.clone();
        linalg::cholesky_solve(&self.l, &mut x);
        x
    }
}

/// The squared-loss group Lasso ½‖Σ_i M_i ⊙ (X̃ w_i) − ỹ‖² + β Σ‖w_i‖ on row-scaled data
/// (X̃ = diag(√h) X, ỹ), in the variational form over c.
struct Quad<'a> {
    mask: &'a Array2<f64>,
    xt: Array2<f64>,
    yt: Array1<f64>,
    /// X̃ X̃ᵀ.
    xx: Array2<f64>,
    beta: f64,
    par: bool,
}

/// f(c) − ½‖ỹ‖², its Cholesky factor of I + K(c) and μ = (I + K)⁻¹ ỹ.
struct Eval {
    /// f(c) less the constant ½‖ỹ‖², evaluated in a form stationary in μ (see [`Quad::eval`]).
    f: f64,
    chol: Chol,
    mu: Array1<f64>,
}

impl<'a> Quad<'a> {
    /// X̃ X̃ᵀ by fixed parts, checking `ctl` between them.
    fn new(
        mask: &'a Array2<f64>,
        xt: Array2<f64>,
        yt: Array1<f64>,
        beta: f64,
        par: bool,
        ctl: &Control,
    ) -> Result<Self> {
        let xx = linalg::matmul_ctl(xt.view(), xt.t(), par, ctl)?;
        Ok(Quad {
            mask,
            xt,
            yt,
            xx,
            beta,
            par,
        })
    }

    fn n(&self) -> usize {
        self.xt.nrows()
    }

    fn eval(&self, c: &[f64], ctl: &Control) -> Result<Eval> {
        let n = self.n();
        let supp: Vec<usize> = (0..c.len()).filter(|&i| c[i] > 0.0).collect();
        let ms = self.mask.select(Axis(1), &supp);
        let mut mc = ms.clone();
        for (a, &i) in supp.iter().enumerate() {
            mc.column_mut(a).mapv_inplace(|v| v * c[i]);
        }
        let mut k = if supp.is_empty() {
            Array2::<f64>::zeros((n, n))
        } else {
            gemm_lower(mc.view(), ms.view(), self.par, ctl)?
        };
        // K ⊙ X̃X̃ᵀ + I by blocks of rows, a check each
        for (kb, xb) in k
            .axis_chunks_iter_mut(Axis(0), NB)
            .zip(self.xx.axis_chunks_iter(Axis(0), NB))
        {
            ctl.check()?;
            ndarray::Zip::from(kb).and(xb).for_each(|a, &b| *a *= b);
        }
        for i in 0..n {
            k[[i, i]] += 1.0;
        }
        ctl.check()?;
        let chol = cholesky_blocked(k, self.par, ctl)?;
        ctl.check()?;
        let mu = chol.solve(&self.yt);
        ctl.check()?;
        // ½ ỹᵀ(I + K)⁻¹ỹ = max_μ ỹᵀμ − ½ μᵀ(I + K)μ = ½‖ỹ‖² − ½‖ỹ − μ‖² − ½ Σ_i c_i ‖A_iᵀμ‖² at
        // the solved μ. The constant ½‖ỹ‖² is dropped: in the proximal-Newton model of Huber or
        // logistic it is ½ Σ_k g_k²/h_k, up to 10⁵ times the objective where ℓ'' is at its floor
        // (outliers), and carrying it left the line search comparing numbers whose rounding is
        // 10⁻¹⁶ of it. The form is stationary in μ (a solve error δμ changes it by O(‖δμ‖²))
        // and sums no large terms that cancel.
        let r = &self.yt - &mu;
        let ck: f64 = if supp.is_empty() {
            0.0
        } else {
            let xm = &self.xt * &mu.view().insert_axis(Axis(1));
            let gs = ms.t().dot(&xm);
            supp.iter()
                .enumerate()
                .map(|(a, &i)| c[i] * gs.row(a).dot(&gs.row(a)))
                .sum()
        };
        let f = -0.5 * r.dot(&r) - 0.5 * ck + 0.5 * self.beta * self.beta * c.iter().sum::<f64>();
        Ok(Eval { f, chol, mu })
    }

    /// G = X̃ᵀ (M ⊙ μ): column i is A_iᵀ μ (d × P), checking `ctl` between the product's parts.
    fn at(&self, mu: &Array1<f64>, ctl: &Control) -> Result<Array2<f64>> {
        let xm = &self.xt * &mu.view().insert_axis(Axis(1));
        linalg::matmul_ctl(xm.t(), self.mask.view(), self.par, ctl)
    }
}

/// Σ_i D_i x z_i, i.e. rowsum(x ⊙ (M_S z_Sᵀ)) over the nonzero columns S of z.
fn predict_sparse(
    mask: &Array2<f64>,
    x: ArrayView2<f64>,
    z: &Array2<f64>,
    par: bool,
) -> Array1<f64> {
    let supp: Vec<usize> = (0..z.ncols())
        .filter(|&i| z.column(i).iter().any(|v| *v != 0.0))
        .collect();
    let n = x.nrows();
    if supp.is_empty() {
        return Array1::zeros(n);
    }
    let ms = mask.select(Axis(1), &supp);
    let zs = z.select(Axis(1), &supp);
    // (n × |S|)(|S| × d): chunk over the d output columns
    let mz = linalg::matmul(ms.view(), zs.t(), par);
    (0..n)
        .map(|k| x.row(k).dot(&mz.row(k)))
        .collect::<Array1<f64>>()
}

/// The stopping test of [`projected_newton`]: (blocks, estimated absolute gap, model objective).
type StopFn<'a> = dyn FnMut(&Array2<f64>, f64, f64) -> Result<bool> + 'a;

/// Outcome of the inner projected-Newton solve.
struct InnerOut {
    c: Vec<f64>,
    z: Array2<f64>,
    iters: usize,
    stalled: bool,
}

/// Projected Newton on f(c) from `c0`; `stop(z, est)` is asked after every iteration with the
/// blocks w_i = c_i A_iᵀ μ of the current point, the (absolute) duality gap of the model
/// problem estimated from μ alone (residual −μ, dual point −sμ) and the model objective there;
/// it ends the solve when it returns true.
fn projected_newton(
    q: &Quad,
    c0: Vec<f64>,
    max_iter: usize,
    ctl: &Control,
    stop: &mut StopFn<'_>,
) -> Result<InnerOut> {
    let p = q.mask.ncols();
    let beta2 = q.beta * q.beta;
    let mut c = c0;
    let mut ev = q.eval(&c, ctl)?;
    let mut rho = 1e-6f64;
    let mut iters = 0usize;
    loop {
        ctl.check()?;
        let g_at = q.at(&ev.mu, ctl)?;
        let gnorm: Vec<f64> = (0..p)
            .map(|i| g_at.column(i).iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        let mut z = g_at.clone();
        for (i, &ci) in c.iter().enumerate() {
            z.column_mut(i).mapv_inplace(|v| v * ci);
        }
        let est = {
            // primal ½‖μ‖² + β Σ c_i‖g_i‖ minus dual −(½ s²‖μ‖² − s μᵀỹ) (s = min(1, β/max‖g_i‖)),
            // with μᵀỹ = ‖μ‖² + Σ c_i‖g_i‖²: ½(1 − s)²‖μ‖² + Σ c_i‖g_i‖(β − s‖g_i‖), a sum of
            // nonnegative terms (the difference of the two would cancel the model's ½‖ỹ‖²)
            let mm = ev.mu.dot(&ev.mu);
            let ub = 0.5 * mm + q.beta * (0..p).map(|i| c[i] * gnorm[i]).sum::<f64>();
            let worst = gnorm.iter().cloned().fold(0.0, f64::max);
            let sc = if worst > q.beta { q.beta / worst } else { 1.0 };
            let gap = 0.5 * (1.0 - sc) * (1.0 - sc) * mm
                + (0..p)
                    .map(|i| c[i] * gnorm[i] * (q.beta - sc * gnorm[i]))
                    .sum::<f64>();
            (gap, ub)
        };
        if stop(&z, est.0, est.1)? {
            return Ok(InnerOut {
                c,
                z,
                iters,
                stalled: false,
            });
        }
        if iters >= max_iter {
            return Ok(InnerOut {
                c,
                z,
                iters,
                stalled: true,
            });
        }
        iters += 1;
        let grad: Vec<f64> = gnorm.iter().map(|g| 0.5 * (beta2 - g * g)).collect();
        // ε-binding set (Bertsekas 1982): at (or within ε of) the bound with a positive gradient
        let pg: f64 = (0..p)
            .map(|i| {
                let t = c[i] - (c[i] - grad[i]).max(0.0);
                t * t
            })
            .sum::<f64>()
            .sqrt();
        let cmax = c.iter().cloned().fold(0.0, f64::max);
        let eps = pg.min(1e-6 * cmax);
        let mut free: Vec<usize> = (0..p)
            .filter(|&i| c[i] > eps || (c[i] > 0.0 && grad[i] <= 0.0))
            .collect();
        // the ε-binding set proper (0 < c_i ≤ ε, ∂f/∂c_i > 0) takes Bertsekas' step too: along
        // the projection arc with a positive diagonal scaling, here the one that reaches the
        // bound at the full step (c_i → (1 − α) c_i). Left where it was, such a c_i (a pattern
        // the optimum does not use) kept its share c_i‖g_i‖(β − ‖g_i‖) of the gap for good.
        let binding: Vec<usize> = (0..p)
            .filter(|&i| c[i] > 0.0 && c[i] <= eps && grad[i] > 0.0)
            .collect();
        let n_pos = free.len();
        let mut viol: Vec<usize> = (0..p).filter(|&i| c[i] == 0.0 && grad[i] < 0.0).collect();
        viol.sort_by(|&a, &b| grad[a].total_cmp(&grad[b]).then(a.cmp(&b)));
        viol.truncate(n_pos.max(20));
        free.extend(viol);
        free.sort_unstable();
        let m = free.len();
        if m == 0 && binding.is_empty() {
            // every pattern at zero with a nonnegative gradient: stationary
            return Ok(InnerOut {
                c,
                z,
                iters,
                stalled: true,
            });
        }
        // V_F = M_F ⊙ (X̃ G_F), Z = L⁻¹ V_F, H = ZᵀZ
        let gf = g_at.select(Axis(1), &free);
        let mut v = linalg::matmul_ctl(q.xt.view(), gf.view(), q.par, ctl)?;
        for (a, &i) in free.iter().enumerate() {
            let mcol = q.mask.column(i);
            v.column_mut(a)
                .iter_mut()
                .zip(mcol.iter())
                .for_each(|(x, &mk)| *x *= mk);
        }
        ev.chol.forward_many(&mut v, q.par, ctl)?;
        let h = gemm_lower(v.t(), v.t(), q.par, ctl)?;
        let tr = (0..m).map(|a| h[[a, a]]).sum::<f64>() / m.max(1) as f64;
        let gfree: Array1<f64> = free.iter().map(|&i| grad[i]).collect();
        let mut accepted = None;
        for _attempt in 0..12 {
            ctl.check()?;
            let mut hr = h.clone();
            let tau = (rho + 1e-14) * tr.max(1e-300);
            for a in 0..m {
                hr[[a, a]] += tau;
            }
            let hc = match cholesky_blocked(hr, q.par, ctl) {
                Ok(hc) => hc,
                Err(Error::Interrupted) => return Err(Error::Interrupted),
                Err(_) => {
                    rho *= 10.0;
                    continue;
                }
            };
            let dir = hc.solve(&gfree).mapv(|v| -v);
            let mut alpha = 1.0;
            for _ls in 0..15 {
                let mut cn = c.clone();
                let mut decrease = 0.0;
                for (a, &i) in free.iter().enumerate() {
                    cn[i] = (c[i] + alpha * dir[a]).max(0.0);
                    decrease += grad[i] * (cn[i] - c[i]);
                }
                for &i in &binding {
                    cn[i] = if alpha == 1.0 {
                        0.0
                    } else {
                        (1.0 - alpha) * c[i]
                    };
                    decrease += grad[i] * (cn[i] - c[i]);
                }
                if decrease >= 0.0 {
                    alpha *= 0.5;
                    continue;
                }
                let en = q.eval(&cn, ctl)?;
                if en.f <= ev.f + 1e-4 * decrease {
                    accepted = Some((cn, en, alpha));
                    break;
                }
                alpha *= 0.5;
            }
            if accepted.is_some() {
                break;
            }
            rho *= 10.0;
        }
        let Some((cn, en, alpha)) = accepted else {
            return Ok(InnerOut {
                c,
                z,
                iters,
                stalled: true,
            });
        };
        if alpha == 1.0 {
            rho = (rho * 0.1).max(1e-12);
        } else if alpha < 0.25 {
            rho *= 4.0;
        }
        c = cn;
        ev = en;
        ctl.advance(1);
    }
}

/// Solve the gated program (smooth loss, β > 0) by projected Newton on the variational form
/// (squared loss) or proximal Newton around it (other smooth losses); see the module docs.
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    warm: &WarmStart,
    ctl: &Control,
) -> Result<Solution> {
    if prob.kind != Kind::Gated {
        return Err(Error::invalid(
            "solver",
            "'newton' solves the gated program (use 'ipm' or 'fista' for the ReLU program)",
        ));
    }
    prob.require_smooth("'newton'")?;
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    if n > MAX_N {
        return Err(Error::too_large(
            "n (the Newton solver factors an n × n matrix)",
            n,
            MAX_N,
            "use solver='fista'",
        ));
    }
    if prob.beta <= 0.0 {
        // the variational form needs β > 0 (c → ∞ at β = 0)
        return super::fista::solve(prob, settings, warm, ctl);
    }
    let beta = prob.beta;
    let mut z = match &warm.z {
        Some(z0) if z0.dim() == (d, p) => z0.clone(),
        _ => Array2::<f64>::zeros((d, p)),
    };
    // c_i = ‖w_i‖/β at an optimum
    let mut c: Vec<f64> = super::block_norms(&z).iter().map(|v| v / beta).collect();
    ctl.begin_stage();
    ctl.set_total(settings.max_iter as u64);
    let mut best_dual = f64::NEG_INFINITY;
    let mut best_dual_point = Array1::<f64>::zeros(n);
    let mut last: Option<Certificate> = None;
    let mut iters = 0usize;
    let mut converged = false;
    let mut stalled = false;
    let squared = prob.loss == Loss::Squared;
    let record = |cert: Certificate, best_dual: &mut f64, best_pt: &mut Array1<f64>| {
        if cert.dual > *best_dual {
            *best_dual = cert.dual;
            *best_pt = cert.dual_point.clone();
        }
        let done = gap_ok(cert.objective, *best_dual, settings.tol);
        (done, cert)
    };
    if squared {
        ctl.check()?;
        let q = Quad::new(
            &prob.mask,
            prob.x.clone(),
            prob.y.clone(),
            beta,
            prob.par,
            ctl,
        )?;
        ctl.check()?;
        let mut stop = |zz: &Array2<f64>, est: f64, ub: f64| -> Result<bool> {
            // the rigorous certificate only once the estimate says the gap is (nearly) closed
            if est > settings.tol * ub.abs().max(1.0) {
                return Ok(false);
            }
            let (done, cert) = record(
                prob.certify(zz, None, None),
                &mut best_dual,
                &mut best_dual_point,
            );
            last = Some(cert);
            Ok(done)
        };
        let out = projected_newton(&q, c, settings.max_iter, ctl, &mut stop)?;
        iters = out.iters;
        z = out.z;
        stalled = out.stalled;
        converged = !stalled;
    } else {
        // proximal Newton around the weighted squared model of the loss
        let mut pred = predict_sparse(&prob.mask, prob.x.view(), &z, prob.par);
        let objective =
            |pred: &Array1<f64>, z: &Array2<f64>| prob.loss_value(pred) + prob.penalty(z);
        let mut fz = objective(&pred, &z);
        let mut inner_tol = 1e-2f64;
        // floor of the model curvature: Huber's ℓ'' vanishes outside δ and the logistic one decays
        // exponentially; 1e-6 of the loss's curvature bound kept the model problem well scaled
        // (1e-10 stalled on Huber with outliers, 1e-2 slowed the logistic loss).
        let h_floor = 1e-6 * prob.loss.curvature();
        for _outer in 0..200 {
            ctl.check()?;
            let cert = prob.certify(&z, None, None);
            let (done, cert) = record(cert, &mut best_dual, &mut best_dual_point);
            let rel = (cert.objective - best_dual) / cert.objective.abs().max(1.0);
            last = Some(cert);
            if done {
                converged = true;
                break;
            }
            if iters >= settings.max_iter {
                break;
            }
            inner_tol = inner_tol.min(0.1 * rel).max(0.1 * settings.tol);
            let gk = prob.loss_grad(&pred);
            let hk = prob.loss_second(&pred).mapv(|v| v.max(h_floor));
            let sq = hk.mapv(f64::sqrt);
            let xt = &prob.x * &sq.view().insert_axis(Axis(1));
            let yt: Array1<f64> = (0..n).map(|k| sq[k] * pred[k] - gk[k] / sq[k]).collect();
            let q = Quad::new(&prob.mask, xt, yt, beta, prob.par, ctl)?;
            let scale = fz.abs().max(1.0);
            let mut stop = |_zz: &Array2<f64>, est: f64, _ub: f64| -> Result<bool> {
                Ok(est <= inner_tol * scale)
            };
            let out = projected_newton(&q, c.clone(), settings.max_iter - iters, ctl, &mut stop)?;
            iters += out.iters.max(1);
            // Armijo on the true objective along z + α (ẑ − z)
            let zh = out.z;
            let ph = predict_sparse(&prob.mask, prob.x.view(), &zh, prob.par);
            let dpred = &ph - &pred;
            let slope = gk.dot(&dpred)
                + beta * (super::block_norms(&zh).sum() - super::block_norms(&z).sum());
            let mut alpha = 1.0;
            let mut moved = false;
            for _ in 0..30 {
                let zt = &z + &((&zh - &z) * alpha);
                let pt = &pred + &(&dpred * alpha);
                let ft = objective(&pt, &zt);
                if ft <= fz + 1e-4 * alpha * slope.min(0.0) && ft <= fz {
                    z = zt;
                    pred = pt;
                    fz = ft;
                    moved = true;
                    break;
                }
                alpha *= 0.5;
            }
            c = if alpha == 1.0 {
                out.c
            } else {
                super::block_norms(&z).iter().map(|v| v / beta).collect()
            };
            if !moved {
                stalled = true;
                break;
            }
        }
        if !converged && !stalled && iters < settings.max_iter {
            stalled = true;
        }
    }
    if !converged && stalled && iters < settings.max_iter {
        // finish with FISTA from the last point
        let rest = Settings {
            max_iter: settings.max_iter - iters,
            ..settings.clone()
        };
        let w = WarmStart {
            z: Some(z.clone()),
            ..Default::default()
        };
        let mut f = super::fista::solve(prob, &rest, &w, ctl)?;
        f.n_iter += iters;
        if best_dual > f.dual {
            f.dual = best_dual;
            f.dual_point = best_dual_point;
        }
        f.converged = gap_ok(f.objective, f.dual, settings.tol);
        return Ok(f);
    }
    let cert = last.unwrap_or_else(|| prob.certify(&z, None, None));
    let (dual, dual_point) =
        super::best_dual_of(cert.dual, cert.dual_point, best_dual, best_dual_point);
    let converged = converged || gap_ok(cert.objective, dual, settings.tol);
    Ok(Solution {
        z: z.clone(),
        objective: cert.objective,
        network_objective: cert.network_objective,
        dual,
        dual_point,
        cone_multipliers: Array2::zeros((n, 0)),
        violation: 0.0,
        n_iter: iters,
        converged,
        rho: 0.0,
        warm: WarmStart {
            z: Some(z),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn spd(n: usize, seed: u64) -> Array2<f64> {
        let mut rng = crate::rng::stream_rng(seed, 0);
        let b = Array2::from_shape_fn((n, n + 3), |_| rng.random::<f64>() * 2.0 - 1.0);
        let mut a = b.dot(&b.t());
        for i in 0..n {
            a[[i, i]] += 1.0;
        }
        a
    }

    /// Blocked Cholesky, the many-RHS forward solve and the lower-block GEMM against the plain
    /// kernels, at sizes that are not multiples of the block; serial and parallel agree bit for bit.
    #[test]
    fn blocked_kernels_match_the_plain_ones() {
        for &n in &[1usize, 5, 64, 65, 150] {
            let a = spd(n, n as u64);
            let plain = linalg::cholesky(&a).unwrap();
            let ctl = Control::new();
            let c1 = cholesky_blocked(a.clone(), false, &ctl).unwrap();
            let c2 = cholesky_blocked(a.clone(), true, &ctl).unwrap();
            for i in 0..n {
                for j in 0..=i {
                    assert!((c1.l[[i, j]] - plain[[i, j]]).abs() < 1e-10 * plain[[i, i]].abs());
                    assert_eq!(c1.l[[i, j]], c2.l[[i, j]]);
                }
            }
            let mut rng = crate::rng::stream_rng(3, n as u64);
            let v = Array2::from_shape_fn((n, 130), |_| rng.random::<f64>() - 0.5);
            let (mut z1, mut z2) = (v.clone(), v.clone());
            c1.forward_many(&mut z1, false, &ctl).unwrap();
            c2.forward_many(&mut z2, true, &ctl).unwrap();
            assert_eq!(z1, z2);
            // L z = v
            let mut lo = plain.clone();
            for i in 0..n {
                for j in i + 1..n {
                    lo[[i, j]] = 0.0;
                }
            }
            let back = lo.dot(&z1);
            for (x, y) in back.iter().zip(v.iter()) {
                assert!((x - y).abs() < 1e-9);
            }
            let b = Array2::from_shape_fn((n, 7), |(i, j)| ((i * 7 + j) % 5) as f64 - 2.0);
            let g1 = gemm_lower(b.view(), b.view(), false, &ctl).unwrap();
            let g2 = gemm_lower(b.view(), b.view(), true, &ctl).unwrap();
            assert_eq!(g1, g2);
            let full = b.dot(&b.t());
            for i in 0..n {
                for j in 0..=i {
                    assert!((g1[[i, j]] - full[[i, j]]).abs() < 1e-12);
                }
            }
        }
        let bad = ndarray::array![[1.0, 2.0], [2.0, 1.0]];
        assert!(cholesky_blocked(bad, false, &Control::new()).is_err());
    }

    #[test]
    fn the_blocked_kernels_stop_when_cancelled() {
        // the n × n products and triangular solves of a Newton step check for Ctrl-C inside
        // (one block column at a time), not only between steps
        let n = 3 * NB + 5;
        let a = spd(n, 4);
        let ctl = Control::new();
        let c = cholesky_blocked(a.clone(), true, &ctl).unwrap();
        let b = Array2::from_shape_fn((n, 9), |(i, j)| ((i * 3 + j) as f64).cos());
        ctl.cancel();
        for par in [false, true] {
            assert!(matches!(
                cholesky_blocked(a.clone(), par, &ctl),
                Err(Error::Interrupted)
            ));
            assert_eq!(
                gemm_lower(b.view(), b.view(), par, &ctl).unwrap_err(),
                Error::Interrupted
            );
            let mut z = b.clone();
            assert_eq!(
                c.forward_many(&mut z, par, &ctl).unwrap_err(),
                Error::Interrupted
            );
        }
    }

    /// X = I, one all-ones pattern: w = (1 − β/‖y‖)₊ y, optimum 4.5 (see
    /// `every_solver_finds_the_closed_form_optimum`), for the squared loss and through the
    /// proximal-Newton path (Huber with δ large is the squared loss); β ≥ ‖y‖ gives w = 0.
    #[test]
    fn a_small_positive_c_with_a_positive_gradient_goes_to_zero() {
        // x = I, y = (3, 4), β = 1: pattern 0 (both rows) carries the optimum, c = (4, 0), and
        // pattern 1 (row 0 only) has ‖A_1ᵀμ‖ = 0.6 < β. Started from c_1 = 1e-7, inside the
        // ε-binding band (ε = min(‖projected gradient‖, 1e-6 · max c)), c_1 must be moved to the
        // bound: left there it holds c_1 · 0.6 · 0.4 ≈ 2.4e-8 of the model gap for good.
        let mask = ndarray::array![[1.0, 1.0], [1.0, 0.0]];
        let q = Quad::new(
            &mask,
            Array2::<f64>::eye(2),
            ndarray::array![3.0, 4.0],
            1.0,
            false,
            &Control::new(),
        )
        .unwrap();
        let ctl = Control::new();
        let mut gaps = Vec::new();
        let mut stop = |_z: &Array2<f64>, est: f64, _ub: f64| -> Result<bool> {
            gaps.push(est);
            Ok(est <= 1e-13)
        };
        let out = projected_newton(&q, vec![4.0, 1e-7], 50, &ctl, &mut stop).unwrap();
        assert!(!out.stalled, "{gaps:?}");
        assert_eq!(out.c[1], 0.0);
        assert!((out.c[0] - 4.0).abs() < 1e-6, "{:?}", out.c);
        assert!(gaps[0] > 1e-8 && out.iters <= 5, "{gaps:?}");
    }

    #[test]
    fn newton_finds_the_closed_form_optimum() {
        let x = ndarray::array![[1.0, 0.0], [0.0, 1.0]];
        let y = ndarray::array![3.0, 4.0];
        let pats = ndarray::array![[true, true], [true, false]];
        let settings = Settings {
            tol: 1e-12,
            max_iter: 1000,
            check_every: 1,
            ..Default::default()
        };
        let ctl = Control::new();
        for loss in [Loss::Squared, Loss::Huber(100.0)] {
            let prob = Problem::new(
                x.view(),
                y.view(),
                pats.view(),
                loss,
                1.0,
                Kind::Gated,
                usize::MAX,
            )
            .unwrap();
            let s = solve(&prob, &settings, &WarmStart::default(), &ctl).unwrap();
            assert!(s.converged);
            assert!(
                (s.objective - 4.5).abs() < 1e-10,
                "{loss:?} {}",
                s.objective
            );
            assert!(s.dual <= 4.5 + 1e-12 && s.dual > 4.5 - 1e-10);
            // the blocks are accurate to ~√gap (the objective is flat to second order)
            let pred0 = s.z[[0, 0]] + s.z[[0, 1]];
            assert!(
                (pred0 - 2.4).abs() < 1e-5 && (s.z[[1, 0]] - 3.2).abs() < 1e-5,
                "{:?}",
                s.z
            );
        }
        let prob = Problem::new(
            x.view(),
            y.view(),
            pats.view(),
            Loss::Squared,
            6.0,
            Kind::Gated,
            usize::MAX,
        )
        .unwrap();
        let s = solve(&prob, &settings, &WarmStart::default(), &ctl).unwrap();
        assert!(s.converged && s.z.iter().all(|v| *v == 0.0));
        assert!((s.objective - 12.5).abs() < 1e-12);
    }
}
