//! A primal–dual interior-point method (Mehrotra predictor–corrector, Nesterov–Todd scaling)
//! for the ReLU program with a smooth loss.
//!
//! Per block b (pattern i = b mod P, sign σ_b = ±1) the variables are z_b ∈ ℝ^d and an
//! epigraph t_b ≥ ‖z_b‖; the program is
//!   min f(z) + β Σ_b t_b  s.t. (t_b, z_b) ∈ Q^{d+1},  h_b := S_i X z_b ∈ ℝⁿ₊,
//! with f(z) = Σ_k ℓ((Σ_b σ_b D_i X z_b)_k; y_k) and S_i = diag(2D_i − I). The LP slacks h_b are
//! separate variables (residual r_p = h − S X z, zero from a strictly feasible start at the
//! chambers' witnesses, decaying geometrically otherwise), so any pattern set is accepted.
//! Dual variables: y_b ∈ Q^{d+1} for the cone, μ_b ∈ ℝⁿ₊ for the LP part.
//!
//! Each iteration linearises the KKT conditions with NT scaling W (LP: W⁻² = diag(μ/h)), which
//! leaves one reduced system in the primal blocks,
//!   (∇²f + Gᵀ W⁻² G) Δx = −r_d + Gᵀ W⁻¹ q + Gᵀ W⁻² r_p,
//! whose matrix is block diagonal ((d+1)² per block: W_b⁻² plus Xᵀ diag(μ_b/h_b) X) plus
//! Jᵀ diag(ℓ'') J of rank ≤ n. It is solved by Woodbury in the n-dimensional residual space —
//! M = I + K B⁻¹ Kᵀ, K = diag(√ℓ'') J, assembled pattern by pattern (the v and w blocks of a
//! pattern share their rows, so their inverses are summed first: Σ_i n_i² d flops) — with
//! iterative refinement against the exact operator; blocks whose B_b⁻¹ is too large for that
//! update to stay accurate (nonzero neurons near the optimum) are solved through their own Schur
//! complement instead. Predictor and corrector share the factorisation; steps keep 1% to the
//! boundary. The n-row arrays of the cone rows are stored per block (column-major) and each stage
//! of an iteration is one fused pass over them, parallel over fixed chunks of blocks. About 20–40
//! iterations, each O(Σ_b n d + Σ_b d³ + Σ_i n_i² d + n³).

use std::borrow::Cow;

use ndarray::linalg::general_mat_mul;

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};
use rayon::prelude::*;

use super::{Kind, Problem, Settings};
use crate::control::Control;
use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Second-order cone helpers. A cone vector is (u₀, u₁) with u₀ ≥ ‖u₁‖; J = diag(1, −I).
// ---------------------------------------------------------------------------------------------

/// u₀² − ‖u₁‖², computed as (u₀ − ‖u₁‖)(u₀ + ‖u₁‖).
#[inline]
fn soc_det(u: &[f64]) -> f64 {
    let n1 = u[1..].iter().map(|v| v * v).sum::<f64>().sqrt();
    (u[0] - n1) * (u[0] + n1)
}

/// Nesterov–Todd scaling of the pair (s, y), both strictly inside the cone: writes the
/// normalised scaling point w̄ (w̄ᵀJw̄ = 1) and returns η, so that W = η W̄ with
/// W̄ = [[w̄₀, w̄₁ᵀ], [w̄₁, I + w̄₁w̄₁ᵀ/(1 + w̄₀)]] and W y = W⁻¹ s.
fn soc_nt(s: &[f64], y: &[f64], wbar: &mut [f64]) -> Option<f64> {
    let sd = soc_det(s);
    let yd = soc_det(y);
    if !(sd > 0.0 && yd > 0.0 && s[0] > 0.0 && y[0] > 0.0) {
        return None;
    }
    let sn = sd.sqrt();
    let yn = yd.sqrt();
    let mut dot = 0.0;
    for a in 0..s.len() {
        dot += (s[a] / sn) * (y[a] / yn);
    }
    let gamma = ((1.0 + dot) / 2.0).sqrt();
    wbar[0] = (s[0] / sn + y[0] / yn) / (2.0 * gamma);
    for a in 1..s.len() {
        wbar[a] = (s[a] / sn - y[a] / yn) / (2.0 * gamma);
    }
    Some((sn / yn).sqrt())
}

/// out = W v (inverse = false) or W⁻¹ v (inverse = true).
fn soc_apply_w(wbar: &[f64], eta: f64, v: &[f64], out: &mut [f64], inverse: bool) {
    let sg = if inverse { -1.0 } else { 1.0 };
    let w1v1: f64 = wbar[1..].iter().zip(&v[1..]).map(|(a, b)| a * b).sum();
    let f = if inverse { 1.0 / eta } else { eta };
    out[0] = f * (wbar[0] * v[0] + sg * w1v1);
    let c = w1v1 / (1.0 + wbar[0]);
    for a in 1..v.len() {
        out[a] = f * (sg * v[0] * wbar[a] + v[a] + c * wbar[a]);
    }
}

/// W⁻² = η⁻² (2 (Jw̄)(Jw̄)ᵀ − J), row-major into `out` (m²).
fn soc_w2inv(wbar: &[f64], eta: f64, out: &mut [f64]) {
    let m = wbar.len();
    let e2 = 1.0 / (eta * eta);
    for a in 0..m {
        let ja = if a == 0 { wbar[0] } else { -wbar[a] };
        for c in 0..m {
            let jc = if c == 0 { wbar[0] } else { -wbar[c] };
            let jac = match (a == c, a == 0) {
                (true, true) => 1.0,
                (true, false) => -1.0,
                _ => 0.0,
            };
            out[a * m + c] = e2 * (2.0 * ja * jc - jac);
        }
    }
}

/// Jordan product u ∘ v = (uᵀv, u₀v₁ + v₀u₁).
fn soc_jordan(u: &[f64], v: &[f64], out: &mut [f64]) {
    out[0] = u.iter().zip(v).map(|(a, b)| a * b).sum();
    for a in 1..u.len() {
        out[a] = u[0] * v[a] + v[0] * u[a];
    }
}

/// Solve l ∘ q = r for q (l strictly inside the cone).
fn soc_jordan_div(l: &[f64], r: &[f64], q: &mut [f64]) {
    let l1r1: f64 = l[1..].iter().zip(&r[1..]).map(|(a, b)| a * b).sum();
    let det = soc_det(l);
    q[0] = (l[0] * r[0] - l1r1) / det;
    for a in 1..l.len() {
        q[a] = (r[a] - q[0] * l[a]) / l[0];
    }
}

/// Largest α ≥ 0 (capped at `cap`) with u + α δ in the cone (u strictly inside).
fn soc_max_step(u: &[f64], du: &[f64], cap: f64) -> f64 {
    let c = soc_det(u);
    let a = du[0] * du[0] - du[1..].iter().map(|v| v * v).sum::<f64>();
    let b = u[0] * du[0] - u[1..].iter().zip(&du[1..]).map(|(x, y)| x * y).sum::<f64>();
    let mut alpha = cap;
    if du[0] < 0.0 {
        alpha = alpha.min(-u[0] / du[0]);
    }
    // q(α) = c + 2bα + aα², q(0) = c > 0: first positive root
    let disc = b * b - a * c;
    if disc >= 0.0 {
        let sq = disc.sqrt();
        let qq = -(b + b.signum() * sq);
        let mut roots = [f64::INFINITY; 2];
        if a != 0.0 {
            roots[0] = qq / a;
        }
        if qq != 0.0 {
            roots[1] = c / qq;
        }
        for r in roots {
            if r > 0.0 {
                alpha = alpha.min(r);
            }
        }
    }
    alpha.max(0.0)
}

// ---------------------------------------------------------------------------------------------
// The reduced Newton system.
// ---------------------------------------------------------------------------------------------

/// Per-thread scratch of the block factorisations.
struct Scratch {
    pw: Vec<f64>,
    am: Vec<f64>,
    v: Vec<f64>,
    /// Cholesky factor and inverse of `am`, one column.
    l: Vec<f64>,
    ainv: Vec<f64>,
    e: Vec<f64>,
}

impl Scratch {
    fn new(dm: usize) -> Self {
        Scratch {
            pw: vec![0.0; dm * dm],
            am: vec![0.0; dm * dm],
            v: vec![0.0; 4 * dm],
            l: vec![0.0; dm * dm],
            ainv: vec![0.0; dm * dm],
            e: vec![0.0; dm],
        }
    }
}

/// Factorised reduced system for one iteration.
struct Kkt<'a> {
    prob: &'a Problem,
    /// Block matrices B_b, row-major (d+1)², order (t, z).
    bmat: Vec<f64>,
    /// Their inverses.
    binv: Vec<f64>,
    /// √ℓ'' per sample.
    sqw: Array1<f64>,
    /// Cholesky factor of M = I + K_N B_N⁻¹ K_Nᵀ (N: the blocks not kept in `schur`).
    lm: Array2<f64>,
    /// Blocks solved by their own Schur complement instead of the Woodbury update.
    schur: Option<Schur>,
    /// Relative residual at which iterative refinement stops.
    refine_tol: f64,
    /// The largest relative residual a solve returned with.
    worst_residual: std::cell::Cell<f64>,
    /// Whether the per-block products run in parallel.
    par: bool,
}

/// Blocks whose B_b⁻¹ is too large for the Woodbury update in the n-dimensional residual space
/// (the nonzero blocks near the optimum: along the cone's tangent only the loss curvature holds
/// them, so B_b⁻¹ ~ 1/μ and I + K B⁻¹ Kᵀ cancels catastrophically). They are kept as unknowns:
/// with S = B_A + K_Aᵀ M_N⁻¹ K_A and W_A the blocks' NT scalings, S = W⁻¹ T W⁻¹ with
/// T = I + W (P + δI) W + Fᵀ F, F = L_N⁻¹ K_A W — identity plus positive semidefinite terms, so
/// its Cholesky factorisation is as well conditioned as the cone scaling allows.
struct Schur {
    blocks: Vec<usize>,
    /// Cholesky factor of S.
    lt: Array2<f64>,
}

/// Inverse of a small SPD matrix (row-major m²) by a Cholesky factorisation in which a pivot
/// that rounding has made tiny (≤ 1e-15 of its original diagonal) is replaced by a huge one
/// ("Cholesky-infinity", as in LIPSOL/PCx): the matching component of the solution becomes ~0
/// instead of garbage. Interior-point blocks are this ill-conditioned near the optimum (active
/// constraints carry weights μ/h → ∞), and the error this makes lies in the directions that
/// do not matter.
fn small_spd_inverse(
    h: &[f64],
    m: usize,
    l: &mut [f64],
    inv: &mut [f64],
    e: &mut [f64],
) -> Result<()> {
    // Cholesky factor L (lower, row-major), pivots kept as reciprocals in e
    l.fill(0.0);
    for j in 0..m {
        let mut sj = h[j * m + j];
        for k in 0..j {
            sj -= l[j * m + k] * l[j * m + k];
        }
        let djj = h[j * m + j].abs();
        if !sj.is_finite() || !djj.is_finite() {
            return Err(Error::Numerical(
                "interior-point block matrix is not finite".into(),
            ));
        }
        let piv = if sj <= 1e-15 * djj || sj <= 0.0 {
            1e64
        } else {
            sj.sqrt()
        };
        l[j * m + j] = piv;
        let rp = 1.0 / piv;
        for i in j + 1..m {
            let mut si = h[i * m + j];
            for k in 0..j {
                si -= l[i * m + k] * l[j * m + k];
            }
            l[i * m + j] = si * rp;
        }
    }
    // L⁻¹ in place, column by column from the last (L⁻¹[j+1.., j] = −L⁻¹[j+1.., j+1..] L[j+1.., j] / L_jj)
    for j in (0..m).rev() {
        let dj = 1.0 / l[j * m + j];
        l[j * m + j] = dj;
        for i in j + 1..m {
            e[i] = l[i * m + j];
        }
        for i in j + 1..m {
            let mut acc = 0.0;
            for k in j + 1..=i {
                acc += l[i * m + k] * e[k];
            }
            l[i * m + j] = -acc * dj;
        }
    }
    // B⁻¹ = L⁻ᵀ L⁻¹: (a, b) = Σ_{k ≥ max(a, b)} L⁻¹[k, a] L⁻¹[k, b], symmetric by construction
    for a in 0..m {
        for b in 0..=a {
            let mut acc = 0.0;
            for k in a..m {
                acc += l[k * m + a] * l[k * m + b];
            }
            inv[a * m + b] = acc;
            inv[b * m + a] = acc;
        }
    }
    Ok(())
}

impl<'a> Kkt<'a> {
    fn dm(&self) -> usize {
        self.prob.d() + 1
    }

    /// K v: √ℓ'' ∘ Σ_b σ_b D_i X v_z,b.
    fn k_apply(&self, v: &Array2<f64>) -> Array1<f64> {
        let vz = v.slice(s![1.., ..]);
        let mut out = self.prob.predict(vz);
        out *= &self.sqw;
        out
    }

    /// Kᵀ ξ as a (d+1) × B matrix (zero t-row).
    fn kt_apply(&self, xi: &Array1<f64>) -> Array2<f64> {
        let p = self.prob.p();
        let d = self.prob.d();
        let nb = self.prob.n_blocks();
        let g = self.prob.at(&(xi * &self.sqw)); // d × P
        let mut out = Array2::<f64>::zeros((d + 1, nb));
        for b in 0..nb {
            let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
            for j in 0..d {
                out[[j + 1, b]] = sig * g[[j, i]];
            }
        }
        out
    }

    /// Block b of the result is the dm × dm matrix b of `mats` (row-major) times column b of
    /// `v`, by fixed chunks of blocks (in parallel when `par`: the same result either way).
    fn block_mul(mats: &[f64], v: &Array2<f64>, dm: usize, par: bool) -> Array2<f64> {
        let nb = v.ncols();
        let mut out = Array2::<f64>::zeros((dm, nb));
        if mats.len() < nb * dm * dm || v.nrows() != dm {
            return out;
        }
        let work = |(c, mut o): (usize, ArrayViewMut2<f64>)| {
            let mut vb = vec![0.0; dm];
            for q in 0..o.ncols() {
                let b = c * BCH + q;
                for (a, x) in vb.iter_mut().enumerate() {
                    *x = v[[a, b]];
                }
                let m = &mats[b * dm * dm..(b + 1) * dm * dm];
                for (a, row) in m.chunks_exact(dm).enumerate() {
                    o[[a, q]] = row.iter().zip(&vb).map(|(p, q)| p * q).sum();
                }
            }
        };
        let chunks: Vec<(usize, ArrayViewMut2<f64>)> =
            out.axis_chunks_iter_mut(Axis(1), BCH).enumerate().collect();
        if par {
            chunks.into_par_iter().for_each(work);
        } else {
            chunks.into_iter().for_each(work);
        }
        out
    }

    /// H v = B v + Kᵀ K v.
    fn apply(&self, v: &Array2<f64>) -> Array2<f64> {
        let kv = self.k_apply(v);
        Self::block_mul(&self.bmat, v, self.dm(), self.par) + self.kt_apply(&kv)
    }

    /// One solve with the factorisation: Woodbury for the blocks N, the Schur complement T
    /// for the kept blocks A (Δ_A = W T⁻¹ W (r_A − K_Aᵀ M_N⁻¹ K_N B_N⁻¹ r_N), then
    /// Δ_N = B_N⁻¹ (r_N − K_Nᵀ ξ) with ξ = M_N⁻¹ (K_A Δ_A + K_N B_N⁻¹ r_N)).
    fn solve_once(&self, r: &Array2<f64>) -> Array2<f64> {
        let dm = self.dm();
        let mut u = Self::block_mul(&self.binv, r, dm, self.par);
        let Some(sc) = &self.schur else {
            let mut xi = self.k_apply(&u);
            super::linalg::cholesky_solve(&self.lm, &mut xi);
            let kt = self.kt_apply(&xi);
            return u - Self::block_mul(&self.binv, &kt, dm, self.par);
        };
        for &b in &sc.blocks {
            u.column_mut(b).fill(0.0);
        }
        let g = self.k_apply(&u);
        let mut q = g.clone();
        super::linalg::cholesky_solve(&self.lm, &mut q);
        let kt = self.kt_apply(&q);
        let mut rhs = Array1::<f64>::zeros(sc.blocks.len() * dm);
        for (a, &b) in sc.blocks.iter().enumerate() {
            for i in 0..dm {
                rhs[a * dm + i] = r[[i, b]] - kt[[i, b]];
            }
        }
        super::linalg::cholesky_solve(&sc.lt, &mut rhs);
        let mut da = Array2::<f64>::zeros((dm, r.ncols()));
        for (a, &b) in sc.blocks.iter().enumerate() {
            for i in 0..dm {
                da[[i, b]] = rhs[a * dm + i];
            }
        }
        let mut xi = self.k_apply(&da) + g;
        super::linalg::cholesky_solve(&self.lm, &mut xi);
        let kt = self.kt_apply(&xi);
        let mut out = u - Self::block_mul(&self.binv, &kt, dm, self.par);
        for &b in &sc.blocks {
            out.column_mut(b).assign(&da.column(b));
        }
        out
    }

    /// H⁻¹ r, plus iterative refinement against the exact operator.
    fn solve(&self, r: &Array2<f64>, ctl: &Control) -> Result<Array2<f64>> {
        let once = |r: &Array2<f64>| {
            ctl.check()?;
            Ok::<_, Error>(self.solve_once(r))
        };
        let rn = r
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        let mut x = once(r)?;
        let mut best: Option<(f64, Array2<f64>)> = None;
        let note = |en: f64| {
            let rel = if en.is_finite() {
                en / rn
            } else {
                f64::INFINITY
            };
            self.worst_residual.set(self.worst_residual.get().max(rel));
        };
        for _ in 0..6 {
            let res = r - &self.apply(&x);
            let en = res.iter().map(|v| v * v).sum::<f64>().sqrt();
            let prev = best.as_ref().map_or(f64::INFINITY, |b| b.0);
            if en.is_nan() || en >= prev {
                break;
            }
            if en <= self.refine_tol * rn || en > 0.5 * prev {
                note(en);
                return Ok(x); // accurate, or refinement stagnates: x is the best so far
            }
            let next = &x + &once(&res)?;
            best = Some((en, std::mem::replace(&mut x, next)));
        }
        Ok(match best {
            Some((en, xb)) => {
                note(en);
                xb
            }
            None => {
                note(f64::INFINITY);
                x
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The solver.
// ---------------------------------------------------------------------------------------------

/// What the primal–dual method returns.
pub struct PdResult {
    /// Blocks d × B.
    pub z: Array2<f64>,
    /// LP multipliers μ (n × B) of the cone constraints S_i X z_b ≥ 0.
    pub mu: Array2<f64>,
    pub iters: usize,
    /// Whether the rigorous certificate closed the gap within `settings.tol`.
    #[allow(dead_code)] // the callers re-certify the point themselves
    pub converged: bool,
    /// Whether it stopped at the relative gap asked by [`solve_until`] (neither converged nor
    /// stalled).
    pub stopped_early: bool,
    /// The iterate it stopped at, when `stopped_early`.
    pub iterate: Option<Iterate>,
    /// Whether it ended beyond rows it had left out and solved again with every row.
    #[cfg_attr(not(test), allow(dead_code))]
    pub all_rows_again: bool,
}

/// An interior iterate of the method: blocks z (d × B), epigraphs t (B), LP slacks h and their
/// multipliers μ (n × B, column-major), cone duals y ((d+1) × B). A screened solve hands it on to
/// the program restricted to the patterns it keeps, where it is still interior.
#[derive(Clone)]
pub struct Iterate {
    pub z: Array2<f64>,
    pub t: Array1<f64>,
    pub h: Array2<f64>,
    pub lam: Array2<f64>,
    pub ysoc: Array2<f64>,
    /// The complementarity measure μ at this iterate …
    pub mu: f64,
    /// … and (μ, t) two iterations earlier, when the run made them (a block whose epigraph
    /// t_b keeps its size while μ shrinks is heading for the support: Tapia's indicator).
    pub back: Option<(f64, Array1<f64>)>,
    /// The data rows of each pattern's LP rows (column-major nl × P, see [`nearest_rows`]);
    /// `None`: all n rows.
    pub lp_rows: Option<Vec<usize>>,
}

impl Iterate {
    /// The iterate restricted to the patterns `idx` of a program with `p` patterns and `reps`
    /// blocks per pattern (block r·p + i becomes r·|idx| + a for idx[a] = i).
    pub fn select(&self, idx: &[usize], p: usize, reps: usize) -> Iterate {
        let cols: Vec<usize> = (0..reps)
            .flat_map(|r| idx.iter().map(move |&i| r * p + i))
            .collect();
        let sel_f = |a: &Array2<f64>| {
            let mut out = Array2::<f64>::zeros((a.nrows(), cols.len()).f());
            for (c, &b) in cols.iter().enumerate() {
                out.column_mut(c).assign(&a.column(b));
            }
            out
        };
        Iterate {
            z: self.z.select(Axis(1), &cols),
            t: self.t.select(Axis(0), &cols),
            h: sel_f(&self.h),
            lam: sel_f(&self.lam),
            ysoc: self.ysoc.select(Axis(1), &cols),
            mu: self.mu,
            back: self
                .back
                .as_ref()
                .map(|(m, tb)| (*m, tb.select(Axis(0), &cols))),
            lp_rows: self.lp_rows.as_ref().map(|ix| {
                let nl = self.lam.nrows();
                idx.iter()
                    .flat_map(|&i| ix[i * nl..(i + 1) * nl].iter().copied())
                    .collect()
            }),
        }
    }

    /// Tapia's indicator per block: t_b / t_b two iterations earlier, and the same ratio of μ
    /// (the rate at which a block outside the support shrinks); `None` before two iterations.
    pub fn growth(&self) -> Option<(Array1<f64>, f64)> {
        let (mu_back, t_back) = self.back.as_ref()?;
        let rho = Array1::from_shape_fn(self.t.len(), |b| {
            if t_back[b] > 0.0 {
                self.t[b] / t_back[b]
            } else {
                f64::INFINITY
            }
        });
        Some((
            rho,
            if *mu_back > 0.0 {
                self.mu / mu_back
            } else {
                1.0
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Per-block kernels over the LP part. Every n-row array of the ReLU program (slacks h, their
// multipliers μ, S X z, residuals, steps) is stored column-major (nl × B, `.f()`), so a block's
// rows are contiguous. The arrays are allocated once per solve and each kernel makes one pass
// over them, in parallel over fixed chunks of blocks (results never depend on the thread count):
// the elementwise work of a chunk between two products, X Δz and Xᵀ S w, done by the GEMM
// kernels (inner dimension d resp. n), so no per-row dot product of length d is left. The gated
// program has no LP rows (nl = 0) and the kernels return zeros.
// ---------------------------------------------------------------------------------------------

/// Blocks per chunk of the per-block kernels.
const BCH: usize = 32;

/// The column-major data of an nl × B array.
fn fdata(a: &Array2<f64>) -> Result<&[f64]> {
    match a.as_slice_memory_order() {
        Some(s) if a.t().is_standard_layout() => Ok(s),
        _ => Err(Error::Numerical(
            "interior-point LP array is not column-major".into(),
        )),
    }
}

/// [`fdata`], mutable.
fn fdata_mut(a: &mut Array2<f64>) -> Result<&mut [f64]> {
    if !a.t().is_standard_layout() {
        return Err(Error::Numerical(
            "interior-point LP array is not column-major".into(),
        ));
    }
    a.as_slice_memory_order_mut()
        .ok_or_else(|| Error::Numerical("interior-point LP array is not contiguous".into()))
}

/// A new nl × B column-major array of zeros.
fn lp_zeros(nl: usize, nb: usize) -> Array2<f64> {
    Array2::<f64>::zeros((nl, nb).f())
}

/// An nl × B array over the LP rows `ix` (column-major nl × P; block b has pattern b mod P)
/// scattered into all n rows (n × B, column-major), `fill` elsewhere.
fn scatter_rows(
    a: &Array2<f64>,
    ix: &[usize],
    nl: usize,
    p: usize,
    n: usize,
    fill: f64,
) -> Array2<f64> {
    let nb = a.ncols();
    let mut out = Array2::<f64>::from_elem((n, nb).f(), fill);
    if p == 0 {
        return out;
    }
    for b in 0..nb {
        let i = b % p;
        let mut col = out.column_mut(b);
        for (r, &k) in ix[i * nl..(i + 1) * nl].iter().enumerate() {
            col[k] = a[[r, b]];
        }
    }
    out
}

/// The LP rows of each pattern's cone {z : S_i X z ≥ 0} the interior-point method keeps: the
/// `m` rows whose hyperplanes are nearest (in angle) to the pattern's witness g_i, i.e. the
/// smallest s_k x_kᵀ g_i / ‖x_k‖ (column-major m × P, ascending row order within a pattern).
///
/// A chamber of n hyperplanes in ℝᵈ has far fewer facets than n (about 6d for the chambers that
/// Gaussian witnesses sample at n = 1000, d = 20, against 1000 rows), and the facets are among
/// the hyperplanes nearest to an interior point; the other rows are redundant and dropping them
/// leaves the cone — and the program — unchanged. The choice is a heuristic only for speed:
/// the method's certificate and the caller's checks always use all n rows, so a facet left out
/// can cost iterations, never correctness. `None` when every row is kept (m ≥ n) or a witness
/// is not strictly inside its cone.
fn nearest_rows(
    xs: &[f64],
    n: usize,
    d: usize,
    sign: impl Fn(usize, usize) -> f64 + Sync,
    gates: ArrayView2<f64>,
    m: usize,
    par: bool,
) -> Option<Vec<usize>> {
    let p = gates.nrows();
    if m >= n || p == 0 || gates.ncols() != d {
        return None;
    }
    let inv_norm: Vec<f64> = (0..n)
        .map(|k| {
            let r = xs[k * d..(k + 1) * d]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt();
            if r > 0.0 {
                1.0 / r
            } else {
                0.0
            }
        })
        .collect();
    let xv = ArrayView2::from_shape((n, d), xs).ok()?;
    let xg = super::linalg::matmul(xv, gates.t(), par); // n × P
    let pick = |i: usize| -> Option<Vec<usize>> {
        let mut marg: Vec<(f64, usize)> = Vec::with_capacity(n);
        for k in 0..n {
            let v = sign(k, i) * xg[[k, i]];
            if inv_norm[k] == 0.0 {
                // a zero row: 0 ≥ 0 holds for every z, never needed
                marg.push((f64::INFINITY, k));
                continue;
            }
            if !(v > 0.0 && v.is_finite()) {
                return None;
            }
            marg.push((v * inv_norm[k], k));
        }
        marg.select_nth_unstable_by(m, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut rows: Vec<usize> = marg[..m].iter().map(|&(_, k)| k).collect();
        rows.sort_unstable();
        Some(rows)
    };
    let per: Option<Vec<Vec<usize>>> = if par {
        (0..p).into_par_iter().map(pick).collect()
    } else {
        (0..p).map(pick).collect()
    };
    Some(per?.into_iter().flatten().collect())
}

thread_local! {
    /// Per-thread scratch of the LP-row kernels (nl × 32 values, reused across calls: a fresh
    /// allocation of that size is a new mapping whose pages the kernel zeroes on every call).
    static LP_SCRATCH: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's scratch buffer as `len` zeros (hand it back with [`give_scratch`]).
fn take_scratch(len: usize) -> Vec<f64> {
    let mut v = LP_SCRATCH.with(|c| c.take());
    v.clear();
    v.resize(len, 0.0);
    v
}

/// Return a buffer from [`take_scratch`] for the thread's next call.
fn give_scratch(v: Vec<f64>) {
    LP_SCRATCH.with(|c| c.set(v));
}

/// Run `f(first_block, n_blocks, outputs)` over fixed chunks of blocks, handing each call the
/// columns of its blocks in every array of `outs` (nl × B column-major data); the summaries
/// come back in block order.
fn over_blocks<R, F>(nb: usize, nl: usize, outs: Vec<&mut [f64]>, par: bool, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize, usize, &mut [&mut [f64]]) -> R + Sync,
{
    let nch = nb.div_ceil(BCH);
    let mut per: Vec<Vec<&mut [f64]>> = (0..nch).map(|_| Vec::with_capacity(outs.len())).collect();
    for buf in outs {
        let mut rest: &mut [f64] = buf;
        for (c, slot) in per.iter_mut().enumerate() {
            let len = (nl * BCH.min(nb - c * BCH)).min(rest.len());
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            slot.push(head);
            rest = tail;
        }
    }
    let run = |(c, mut sl): (usize, Vec<&mut [f64]>)| {
        let b0 = c * BCH;
        f(b0, BCH.min(nb - b0), &mut sl)
    };
    if par {
        per.into_par_iter().enumerate().map(run).collect()
    } else {
        per.into_iter().enumerate().map(run).collect()
    }
}

/// Column b of `m` into `out` (the per-block loops reuse one buffer instead of a Vec per block).
#[inline]
fn col_into(m: &Array2<f64>, b: usize, out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(m.column(b)) {
        *o = v;
    }
}

/// Write per-chunk d × len results (in block order) into the columns of a d × B matrix.
fn gather_blocks(parts: &[Array2<f64>], d: usize, nb: usize) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((d, nb));
    let mut b0 = 0;
    for part in parts {
        let len = part.ncols();
        out.slice_mut(s![.., b0..b0 + len]).assign(part);
        b0 += len;
    }
    out
}

/// The complementarity target r_c of the LP rows in a Newton direction.
#[derive(Clone, Copy)]
enum LpTarget<'a> {
    /// The affine-scaling (predictor) direction: r_c = −h ∘ μ.
    Affine,
    /// Mehrotra's corrector: r_c = σμ − h ∘ μ − Δh_a ∘ Δμ_a (the predictor's steps), plus
    /// Gondzio's centrality correction `extra` when given.
    Corrector {
        sigma_mu: f64,
        dh: &'a [f64],
        dl: &'a [f64],
        extra: Option<&'a [f64]>,
    },
}

impl<'a> LpTarget<'a> {
    /// The corrector's σμ, predictor steps and correction on the rows `r`; `None` for the
    /// affine target.
    #[allow(clippy::type_complexity)]
    fn rows(
        self,
        r: std::ops::Range<usize>,
    ) -> Option<(f64, &'a [f64], &'a [f64], Option<&'a [f64]>)> {
        match self {
            LpTarget::Affine => None,
            LpTarget::Corrector {
                sigma_mu,
                dh,
                dl,
                extra,
            } => Some((
                sigma_mu,
                &dh[r.clone()],
                &dl[r.clone()],
                extra.map(|e| &e[r]),
            )),
        }
    }
}

/// Gondzio's correction of a trial complementarity product (an LP pair's, or a spectral value of
/// a scaled cone product) towards the band [lo, hi]: lo − v below it, max(hi − v, −hi) above,
/// 0 inside.
fn band_correction(v: f64, lo: f64, hi: f64) -> f64 {
    if v < lo {
        lo - v
    } else if v > hi {
        (hi - v).max(-hi)
    } else {
        0.0
    }
}

/// The LP slacks h, multipliers μ and a step (Δh, Δμ) of them (nl × B column-major each): the
/// operands of the step-length, gap and centrality kernels.
#[derive(Clone, Copy)]
struct LpStep<'a> {
    h: &'a Array2<f64>,
    dh: &'a Array2<f64>,
    lam: &'a Array2<f64>,
    dlam: &'a Array2<f64>,
}

impl<'a> LpStep<'a> {
    fn new(
        h: &'a Array2<f64>,
        dh: &'a Array2<f64>,
        lam: &'a Array2<f64>,
        dlam: &'a Array2<f64>,
    ) -> Self {
        LpStep { h, dh, lam, dlam }
    }

    /// The four arrays' data (h, Δh, μ, Δμ).
    #[allow(clippy::type_complexity)]
    fn data(&self) -> Result<(&'a [f64], &'a [f64], &'a [f64], &'a [f64])> {
        Ok((
            fdata(self.h)?,
            fdata(self.dh)?,
            fdata(self.lam)?,
            fdata(self.dlam)?,
        ))
    }
}

/// The LP data shared by the kernels: X (n × d), the LP rows of each pattern (all n, or the
/// nl rows of [`nearest_rows`]: `idx`, column-major nl × P) and their signs S (column-major
/// nl × P).
struct LpData<'a> {
    x: ArrayView2<'a, f64>,
    /// X row-major (n × d).
    xr: &'a [f64],
    /// ‖x_k‖ per data row.
    row_norm: Vec<f64>,
    idx: Option<Vec<usize>>,
    sg: Vec<f64>,
    nl: usize,
    d: usize,
    p: usize,
    nb: usize,
    par: bool,
}

impl LpData<'_> {
    /// The sign column of block b.
    fn signs(&self, b: usize) -> &[f64] {
        let i = b % self.p;
        &self.sg[i * self.nl..(i + 1) * self.nl]
    }

    /// The data rows of block b's LP rows (`None`: rows 0..n).
    fn rows_of(&self, b: usize) -> Option<&[usize]> {
        let i = b % self.p;
        self.idx
            .as_ref()
            .map(|ix| &ix[i * self.nl..(i + 1) * self.nl])
    }

    /// Xᵀ w for the len blocks of a chunk starting at block b0 (w: nl × len column-major) →
    /// d × len.
    fn xt_times(&self, w: &[f64], b0: usize, len: usize) -> Array2<f64> {
        let (d, nl) = (self.d, self.nl);
        let mut acc = Array2::<f64>::zeros((d, len));
        if self.idx.is_none() {
            if let Ok(wv) = ArrayView2::from_shape((nl, len).f(), w) {
                general_mat_mul(1.0, &self.x.t(), &wv, 0.0, &mut acc);
            }
            return acc;
        }
        let mut col = vec![0.0; d];
        for j in 0..len {
            let Some(ix) = self.rows_of(b0 + j) else {
                continue;
            };
            col.fill(0.0);
            super::linalg::gathered_axpy(&mut col, self.xr, d, ix, &w[j * nl..(j + 1) * nl]);
            for (a, &c) in col.iter().enumerate() {
                acc[[a, j]] = c;
            }
        }
        acc
    }

    /// X v for the len blocks of a chunk starting at block b0 (v: d × B, its columns b0..)
    /// into `out` (nl × len column-major).
    fn x_times(&self, v: ArrayView2<f64>, b0: usize, len: usize, out: &mut [f64]) {
        let (d, nl) = (self.d, self.nl);
        if self.idx.is_none() {
            if let Ok(mut ov) = ArrayViewMut2::from_shape((nl, len).f(), &mut out[..nl * len]) {
                let vc = v.slice(s![.., b0..b0 + len]);
                general_mat_mul(1.0, &self.x, &vc, 0.0, &mut ov);
            }
            return;
        }
        let mut col = vec![0.0; d];
        for j in 0..len {
            let Some(ix) = self.rows_of(b0 + j) else {
                continue;
            };
            for (a, c) in col.iter_mut().enumerate() {
                *c = v[[a, b0 + j]];
            }
            super::linalg::gathered_dots(&mut out[j * nl..(j + 1) * nl], self.xr, d, ix, &col);
        }
    }

    /// S X z for every block (nl × B, column-major).
    fn signed_x(&self, z: &Array2<f64>) -> Result<Array2<f64>> {
        let nl = self.nl;
        let mut out = lp_zeros(nl, self.nb);
        let outs = vec![fdata_mut(&mut out)?];
        over_blocks(self.nb, nl, outs, self.par, |b0, len, o| {
            self.x_times(z.view(), b0, len, o[0]);
            for j in 0..len {
                let s = self.signs(b0 + j);
                for (v, sk) in o[0][j * nl..(j + 1) * nl].iter_mut().zip(s) {
                    *v *= sk;
                }
            }
        });
        Ok(out)
    }

    /// The LP rows' Gram matrices Xᵀ diag(w_b) X of every block, as the lower triangles
    /// (rows of X⊙X, `xx`: n × d(d+1)/2) weighted by w (nl × B column-major): B × d(d+1)/2.
    fn gram(&self, xx: &Array2<f64>, w: &Array2<f64>) -> Result<Array2<f64>> {
        let nt = xx.ncols();
        if self.idx.is_none() {
            return Ok(super::linalg::matmul(
                w.t(),
                xx.slice(s![..self.nl, ..]),
                self.par,
            ));
        }
        let (nl, nb) = (self.nl, self.nb);
        let wd = fdata(w)?;
        let Some(xxs) = xx.as_slice() else {
            return Err(Error::Numerical("X⊙X is not contiguous".into()));
        };
        let mut out = Array2::<f64>::zeros((nb, nt));
        let Some(od) = out.as_slice_mut() else {
            return Err(Error::Numerical("Gram output is not contiguous".into()));
        };
        let one = |b: usize, o: &mut [f64]| {
            if let Some(ix) = self.rows_of(b) {
                super::linalg::gathered_axpy(o, xxs, nt, ix, &wd[b * nl..(b + 1) * nl]);
            }
        };
        if self.par {
            od.par_chunks_mut(nt)
                .enumerate()
                .for_each(|(b, o)| one(b, o));
        } else {
            od.chunks_mut(nt).enumerate().for_each(|(b, o)| one(b, o));
        }
        Ok(out)
    }

    /// The blocks of z beyond a row outside their LP rows by more than `rel` (relative to
    /// ‖x_k‖‖z_b‖): how many, and the worst relative violation.
    fn dropped_violations(&self, prob: &Problem, z: &Array2<f64>, rel: f64) -> (usize, f64) {
        let Some(ix) = self.idx.as_ref() else {
            return (0, 0.0);
        };
        let (n, nl) = (prob.n(), self.nl);
        let xz = prob.xu(z.view()); // n × B
        let (mut count, mut worst) = (0usize, 0.0f64);
        let mut kept = vec![false; n];
        for b in 0..self.nb {
            let i = b % self.p;
            let zn = z.column(b).iter().map(|v| v * v).sum::<f64>().sqrt();
            if zn == 0.0 {
                continue;
            }
            kept.fill(false);
            for &k in &ix[i * nl..(i + 1) * nl] {
                kept[k] = true;
            }
            let mut beyond = false;
            for k in (0..n).filter(|&k| !kept[k]) {
                let v = -prob.sign[[k, i]] * xz[[k, b]] / (self.row_norm[k] * zn).max(1e-300);
                if v > rel {
                    beyond = true;
                    worst = worst.max(v);
                }
            }
            count += usize::from(beyond);
        }
        (count, worst)
    }

    /// An nl × B array of this program's LP rows on all n rows (column-major), `fill` on the
    /// rows that are not LP rows (the array itself when every row is one).
    fn scatter<'b>(&self, a: &'b Array2<f64>, n: usize, fill: f64) -> Cow<'b, Array2<f64>> {
        match self.idx.as_ref() {
            None => Cow::Borrowed(a),
            Some(ix) => Cow::Owned(scatter_rows(a, ix, self.nl, self.p, n, fill)),
        }
    }

    /// Per block: r_p = h − S X z and μ/h (written), and the summary (Σ h μ per block,
    /// max |r_p|, Xᵀ S μ as d × B).
    fn residual(
        &self,
        h: &Array2<f64>,
        lam: &Array2<f64>,
        sxz: &Array2<f64>,
        rp: &mut Array2<f64>,
        dlp: &mut Array2<f64>,
    ) -> Result<(Vec<f64>, f64, Array2<f64>)> {
        let nl = self.nl;
        let (hd, ld, xd) = (fdata(h)?, fdata(lam)?, fdata(sxz)?);
        let outs = vec![fdata_mut(rp)?, fdata_mut(dlp)?];
        let parts = over_blocks(self.nb, nl, outs, self.par, |b0, len, out| {
            let mut gaps = Vec::with_capacity(len);
            let mut rmax = 0.0f64;
            let mut w = take_scratch(nl * len);
            for j in 0..len {
                let b = b0 + j;
                let s = self.signs(b);
                let r = b * nl..(b + 1) * nl;
                let (hb, lb, xb) = (&hd[r.clone()], &ld[r.clone()], &xd[r]);
                let (rpo, rest) = out.split_at_mut(1);
                let rpb = &mut rpo[0][j * nl..(j + 1) * nl];
                let dlb = &mut rest[0][j * nl..(j + 1) * nl];
                let wb = &mut w[j * nl..(j + 1) * nl];
                let mut gap = 0.0;
                for k in 0..nl {
                    let v = hb[k] - xb[k];
                    rpb[k] = v;
                    rmax = rmax.max(v.abs());
                    gap += hb[k] * lb[k];
                    dlb[k] = lb[k] / hb[k];
                    wb[k] = s[k] * lb[k];
                }
                gaps.push(gap);
            }
            let acc = self.xt_times(&w, b0, len);
            give_scratch(w);
            (gaps, rmax, acc)
        });
        let gaps: Vec<f64> = parts.iter().flat_map(|p| p.0.iter().copied()).collect();
        let rmax = parts.iter().map(|p| p.1).fold(0.0, f64::max);
        let accs: Vec<Array2<f64>> = parts.into_iter().map(|p| p.2).collect();
        Ok((gaps, rmax, gather_blocks(&accs, self.d, self.nb)))
    }

    /// Per block: Xᵀ S ((r_c + μ ∘ r_p) / h), the LP part of the reduced right-hand side.
    fn rhs(
        &self,
        tg: LpTarget<'_>,
        h: &Array2<f64>,
        lam: &Array2<f64>,
        rp: &Array2<f64>,
    ) -> Result<Array2<f64>> {
        let nl = self.nl;
        let (hd, ld, pd) = (fdata(h)?, fdata(lam)?, fdata(rp)?);
        let parts = over_blocks(self.nb, nl, Vec::new(), self.par, |b0, len, _| {
            let mut w = take_scratch(nl * len);
            for j in 0..len {
                let b = b0 + j;
                let s = self.signs(b);
                let r = b * nl..(b + 1) * nl;
                let (hb, lb, pb) = (&hd[r.clone()], &ld[r.clone()], &pd[r.clone()]);
                let wb = &mut w[j * nl..(j + 1) * nl];
                match tg.rows(r) {
                    None => {
                        for k in 0..nl {
                            wb[k] = s[k] * (-hb[k] * lb[k] + lb[k] * pb[k]) / hb[k];
                        }
                    }
                    Some((smu, dha, dla, ex)) => {
                        for k in 0..nl {
                            let rc = smu - hb[k] * lb[k] - dha[k] * dla[k];
                            wb[k] = s[k] * (rc + lb[k] * pb[k]) / hb[k];
                        }
                        if let Some(ex) = ex {
                            for k in 0..nl {
                                wb[k] += s[k] * ex[k] / hb[k];
                            }
                        }
                    }
                }
            }
            let acc = self.xt_times(&w, b0, len);
            give_scratch(w);
            acc
        });
        Ok(gather_blocks(&parts, self.d, self.nb))
    }

    /// Per block, from Δz: Δh = S X Δz − r_p and Δμ = (r_c − μ ∘ Δh) / h (written), and
    /// Xᵀ S Δμ (returned, d × B).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        tg: LpTarget<'_>,
        dz: ArrayView2<f64>,
        h: &Array2<f64>,
        lam: &Array2<f64>,
        rp: &Array2<f64>,
        dh: &mut Array2<f64>,
        dl: &mut Array2<f64>,
    ) -> Result<Array2<f64>> {
        let nl = self.nl;
        let (hd, ld, pd) = (fdata(h)?, fdata(lam)?, fdata(rp)?);
        let outs = vec![fdata_mut(dh)?, fdata_mut(dl)?];
        let parts = over_blocks(self.nb, nl, outs, self.par, |b0, len, out| {
            // X Δz for the chunk's blocks (nl × len, column-major), overwritten by S Δμ
            let mut w = take_scratch(nl * len);
            self.x_times(dz, b0, len, &mut w);
            let (dho, rest) = out.split_at_mut(1);
            for j in 0..len {
                let b = b0 + j;
                let s = self.signs(b);
                let r = b * nl..(b + 1) * nl;
                let (hb, lb, pb) = (&hd[r.clone()], &ld[r.clone()], &pd[r.clone()]);
                let dhb = &mut dho[0][j * nl..(j + 1) * nl];
                let dlb = &mut rest[0][j * nl..(j + 1) * nl];
                let wb = &mut w[j * nl..(j + 1) * nl];
                match tg.rows(r) {
                    None => {
                        for k in 0..nl {
                            let dhk = s[k] * wb[k] - pb[k];
                            let dlk = (-hb[k] * lb[k] - lb[k] * dhk) / hb[k];
                            dhb[k] = dhk;
                            dlb[k] = dlk;
                            wb[k] = s[k] * dlk;
                        }
                    }
                    Some((smu, dha, dla, ex)) => {
                        for k in 0..nl {
                            let dhk = s[k] * wb[k] - pb[k];
                            let rc = smu - hb[k] * lb[k] - dha[k] * dla[k];
                            let dlk = (rc - lb[k] * dhk) / hb[k];
                            dhb[k] = dhk;
                            dlb[k] = dlk;
                            wb[k] = s[k] * dlk;
                        }
                        if let Some(ex) = ex {
                            for k in 0..nl {
                                let dlk = ex[k] / hb[k];
                                dlb[k] += dlk;
                                wb[k] += s[k] * dlk;
                            }
                        }
                    }
                }
            }
            let acc = self.xt_times(&w, b0, len);
            give_scratch(w);
            acc
        });
        Ok(gather_blocks(&parts, self.d, self.nb))
    }

    /// Gondzio's centrality correction (written into `out`): [`band_correction`] of the trial
    /// products (h + α Δh)(μ + α Δμ).
    fn centrality(
        &self,
        st: LpStep<'_>,
        alpha: f64,
        (lo, hi): (f64, f64),
        out: &mut Array2<f64>,
    ) -> Result<()> {
        let (hd, dhd, ld, dld) = st.data()?;
        let nl = self.nl;
        over_blocks(
            self.nb,
            nl,
            vec![fdata_mut(out)?],
            self.par,
            |b0, len, o| {
                let r = b0 * nl..(b0 + len) * nl;
                let (hb, dhb, lb, dlb) = (&hd[r.clone()], &dhd[r.clone()], &ld[r.clone()], &dld[r]);
                for (k, ok) in o[0].iter_mut().enumerate() {
                    *ok = band_correction(
                        (hb[k] + alpha * dhb[k]) * (lb[k] + alpha * dlb[k]),
                        lo,
                        hi,
                    );
                }
            },
        );
        Ok(())
    }

    /// Largest α ≤ cap keeping h + α Δh ≥ 0 and μ + α Δμ ≥ 0.
    fn max_step(&self, st: LpStep<'_>, cap: f64) -> Result<f64> {
        let (hd, dhd, ld, dld) = st.data()?;
        let nl = self.nl;
        let parts = over_blocks(self.nb, nl, Vec::new(), self.par, |b0, len, _| {
            let r = b0 * nl..(b0 + len) * nl;
            let mut a = cap;
            for (vs, dvs) in [(&hd[r.clone()], &dhd[r.clone()]), (&ld[r.clone()], &dld[r])] {
                for (v, dv) in vs.iter().zip(dvs) {
                    // α ≤ v / (−Δv) where Δv < 0, i.e. −α Δv ≤ v
                    if *dv < 0.0 && -a * dv > *v {
                        a = -v / dv;
                    }
                }
            }
            a
        });
        Ok(parts.into_iter().fold(cap, f64::min))
    }

    /// Σ (h + α Δh)(μ + α Δμ).
    fn gap_after(&self, st: LpStep<'_>, alpha: f64) -> Result<f64> {
        let (hd, dhd, ld, dld) = st.data()?;
        let nl = self.nl;
        let parts = over_blocks(self.nb, nl, Vec::new(), self.par, |b0, len, _| {
            let r = b0 * nl..(b0 + len) * nl;
            let mut acc = 0.0;
            for k in r {
                acc += (hd[k] + alpha * dhd[k]) * (ld[k] + alpha * dld[k]);
            }
            acc
        });
        Ok(parts.into_iter().sum())
    }

    /// The step: h += α Δh, μ += α Δμ, S X z += α (Δh + r_p) (= α S X Δz).
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        alpha: f64,
        h: &mut Array2<f64>,
        lam: &mut Array2<f64>,
        sxz: &mut Array2<f64>,
        dh: &Array2<f64>,
        dl: &Array2<f64>,
        rp: &Array2<f64>,
    ) -> Result<()> {
        let (dhd, dld, pd) = (fdata(dh)?, fdata(dl)?, fdata(rp)?);
        let nl = self.nl;
        let outs = vec![fdata_mut(h)?, fdata_mut(lam)?, fdata_mut(sxz)?];
        over_blocks(self.nb, nl, outs, self.par, |b0, _len, out| {
            let off = b0 * nl;
            let (ho, rest) = out.split_at_mut(1);
            let (lo, xo) = rest.split_at_mut(1);
            for (k, ((hk, lk), xk)) in ho[0]
                .iter_mut()
                .zip(lo[0].iter_mut())
                .zip(xo[0].iter_mut())
                .enumerate()
            {
                let g = off + k;
                *hk += alpha * dhd[g];
                *lk += alpha * dld[g];
                *xk += alpha * (dhd[g] + pd[g]);
            }
        });
        Ok(())
    }
}

/// Wall time per stage of the iterations, one line of [`Settings::trace`] when the solve ends
/// (collected only while tracing).
struct Phases {
    on: Option<super::Trace>,
    secs: [f64; 8],
    last: std::time::Instant,
}

impl Phases {
    const NAMES: [&'static str; 8] = [
        "residuals",
        "certificate/polish",
        "scaling+blocks",
        "woodbury",
        "factorisations",
        "predictor",
        "corrector",
        "update",
    ];

    fn new(on: Option<super::Trace>) -> Self {
        Phases {
            on,
            secs: [0.0; 8],
            last: std::time::Instant::now(),
        }
    }

    /// Charge the time since the last call to stage `k`.
    fn lap(&mut self, k: usize) {
        if self.on.is_some() {
            let now = std::time::Instant::now();
            self.secs[k] += (now - self.last).as_secs_f64();
            self.last = now;
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(t) = &self.on {
            let parts: Vec<String> = Self::NAMES
                .iter()
                .zip(self.secs)
                .map(|(n, s)| format!("{n}={s:.4}"))
                .collect();
            t.push(format!("pdip phases (s): {}", parts.join(" ")));
        }
    }
}

/// Solve the ReLU program (smooth loss). `gates` (P × d), when given, are strictly interior
/// points of the cones and give a feasible start; otherwise the LP slacks start infeasible.
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<PdResult> {
    solve_rows(prob, settings, gates, None, None, None, START_EPIGRAPH, ctl)
}

/// [`solve`], stopping early (`stopped_early`, with the iterate) once the relative gap
/// μν/max(1, |f|) is at most `stop_rel_gap` — the caller then screens the blocks the iterate has
/// driven to ~0 —, and starting from `warm` (an interior iterate of this program) when given.
pub fn solve_until(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    warm: Option<&Iterate>,
    ctl: &Control,
) -> Result<PdResult> {
    let epigraph = if keeps_row_subset(prob.n(), prob.d()) {
        SCREENED_START_EPIGRAPH
    } else {
        START_EPIGRAPH
    };
    solve_rows(
        prob,
        settings,
        gates,
        stop_rel_gap,
        warm,
        None,
        epigraph,
        ctl,
    )
}

/// [`solve_until`] keeping `lp_rows` LP rows per pattern on a cold start ([`nearest_rows`];
/// `None`: [`lp_row_count`]), whose epigraphs start at `epigraph` × ‖z_b‖. When the method ends
/// uncertified at a point beyond a row it did not keep (a facet of that pattern's cone was left
/// out, and the relaxed program's optimum lies past it), it solves again with every row.
#[allow(clippy::too_many_arguments)]
fn solve_rows(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    warm: Option<&Iterate>,
    lp_rows: Option<usize>,
    epigraph: f64,
    ctl: &Control,
) -> Result<PdResult> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    let dm = d + 1;
    let beta = prob.beta;
    let t_start = std::time::Instant::now();
    let rows: Vec<Vec<usize>> = (0..p)
        .map(|i| (0..n).filter(|&k| prob.mask[[k, i]] != 0.0).collect())
        .collect();
    let xs = prob.x.as_standard_layout().into_owned();
    let Some(xsl) = xs.as_slice() else {
        return Err(Error::Numerical("data matrix is not contiguous".into()));
    };

    // X⊙X (n × d(d+1)/2, row k = the lower triangle of x_k x_kᵀ): the LP Gram matrices of all
    // blocks are one product with it
    let nt = d * (d + 1) / 2;
    let mut xx = Array2::<f64>::zeros((n, nt));
    for k in 0..n {
        let mut c = 0;
        for j in 0..d {
            for l in 0..=j {
                xx[[k, c]] = xsl[k * d + j] * xsl[k * d + l];
                c += 1;
            }
        }
    }
    // the Woodbury matrix is assembled in tiles of w × w (≤ WOODBURY_TILE) that stay in cache
    // while every pattern adds its share; the rows of X active in each pattern, packed by tile
    // in blocks of the assembly kernel's register tile (the operand of the Woodbury assembly),
    // and c_xt[i] = C_i X_iᵀ in the same layout, made once per iteration and read by every tile
    let panel = super::linalg::PANEL;
    let ntile = n.div_ceil(WOODBURY_TILE).max(1);
    let wt = n.div_ceil(ntile).div_ceil(panel) * panel;
    let packed: Vec<super::linalg::PackedRows> = rows
        .iter()
        .map(|r| {
            ctl.check()?;
            Ok(super::linalg::PackedRows::new(xsl, d, r, wt, ntile))
        })
        .collect::<Result<_>>()?;
    let mut c_xt: Vec<Vec<f64>> = packed
        .iter()
        .map(|pk| ctl.check().map(|_| vec![0.0; pk.x.len()]))
        .collect::<Result<_>>()?;
    let row_norm2: Vec<f64> = (0..n)
        .map(|k| xsl[k * d..(k + 1) * d].iter().map(|v| v * v).sum())
        .collect();
    let xr_max2: Vec<f64> = rows
        .iter()
        .map(|r| r.iter().map(|&k| row_norm2[k]).fold(0.0, f64::max))
        .collect();
    // LP rows: the n cone rows per block of the ReLU program; none in the gated program (its
    // blocks are free, only the norm cones remain)
    let nl_full = if prob.kind == Kind::Relu { n } else { 0 };
    // the LP rows each pattern keeps: a warm start's, else the rows nearest to the witnesses
    let lp_idx: Option<Vec<usize>> = match warm {
        _ if nl_full == 0 => None,
        Some(w) if w.z.dim() == (d, nb) => w.lp_rows.clone(),
        _ => gates.filter(|g| g.dim() == (p, d)).and_then(|g| {
            let par_sel = prob.par || crate::parallel::should_parallelize(n * d * p, 50_000);
            nearest_rows(
                xsl,
                n,
                d,
                |k, i| prob.sign[[k, i]],
                g,
                lp_rows.unwrap_or_else(|| lp_row_count(n, d)),
                par_sel,
            )
        }),
    };
    ctl.check()?;
    let nl = match &lp_idx {
        Some(ix) if p > 0 => ix.len() / p,
        _ => nl_full,
    };
    // ---- start ----
    let xmax = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
        .max(1e-300);
    let ynorm = prob.y.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0);
    let c0 = ynorm / (xmax * (nb as f64).sqrt());
    let mut z = Array2::<f64>::zeros((d, nb));
    if let Some(g) = gates {
        if g.dim() == (p, d) {
            let gz: Vec<f64> = (0..p)
                .map(|i| g.row(i).iter().map(|v| v * v).sum::<f64>().sqrt())
                .collect();
            if gz.iter().all(|&v| v.is_finite() && v > 0.0) {
                for b in 0..nb {
                    let i = b % p;
                    for j in 0..d {
                        z[[j, b]] = 0.1 * c0 * g[[i, j]] / gz[i];
                    }
                }
            }
        }
    }
    // the per-block work of an iteration (LP rows and (d+1)² block algebra) decides, not the
    // problem's n·d·P
    let par = prob.par || crate::parallel::should_parallelize(nb * (nl + dm * dm), 50_000);
    let lp = LpData {
        x: xs.slice(s![..nl_full, ..]),
        xr: xsl,
        row_norm: row_norm2.iter().map(|v| v.sqrt()).collect(),
        // S (column-major nl × P): +1 on the pattern's active rows, −1 elsewhere
        sg: match lp_idx.as_ref() {
            Some(ix) => ix
                .iter()
                .enumerate()
                .map(|(a, &k)| prob.sign[[k, a / nl]])
                .collect(),
            None => {
                let mut sg = vec![-1.0; nl * p];
                if nl > 0 {
                    for (i, r) in rows.iter().enumerate() {
                        for &k in r {
                            sg[i * nl + k] = 1.0;
                        }
                    }
                }
                sg
            }
        },
        idx: lp_idx,
        nl,
        d,
        p,
        nb,
        par,
    };
    // S X z per block (LP rows), column-major like every LP array below
    let mut sxz = lp.signed_x(&z)?;
    // LP slacks: max(S X z, floor) — rows where the witness margin is small start infeasible
    // (r_p = h − S X z ≠ 0), which keeps the start well centred.
    let hfloor = 0.1 * c0 * xmax;
    let mut h = sxz.mapv(|v| v.max(hfloor));
    let mut t = Array1::<f64>::from_elem(nb, 0.0);
    for b in 0..nb {
        let zn = z.column(b).iter().map(|v| v * v).sum::<f64>().sqrt();
        t[b] = (epigraph * zn).max(0.05 * epigraph * c0);
    }
    // duals: centred at μ₀ (s ∘ y = μ₀ e)
    let mu0 = beta.max(1e-3 * ynorm) * 0.1 * c0;
    let mut lam = h.mapv(|v| mu0 / v);
    let mut ysoc = Array2::<f64>::zeros((dm, nb));
    for b in 0..nb {
        let mut sv = vec![t[b]];
        sv.extend(z.column(b).iter());
        let det = soc_det(&sv);
        ysoc[[0, b]] = mu0 * sv[0] / det;
        for j in 0..d {
            ysoc[[j + 1, b]] = -mu0 * sv[j + 1] / det;
        }
    }
    if let Some(w) = warm {
        if w.z.dim() == (d, nb)
            && w.t.len() == nb
            && w.h.dim() == (nl, nb)
            && w.lam.dim() == (nl, nb)
            && w.ysoc.dim() == (dm, nb)
        {
            z = w.z.clone();
            t = w.t.clone();
            h = Array2::<f64>::zeros((nl, nb).f());
            h.assign(&w.h);
            lam = Array2::<f64>::zeros((nl, nb).f());
            lam.assign(&w.lam);
            ysoc = w.ysoc.clone();
            sxz = lp.signed_x(&z)?;
        }
    }
    let nu = (nb * (nl + 1)) as f64;
    // the LP rows' work arrays, allocated once: r_p, μ/h (W⁻² of the LP part), the
    // predictor's and the corrector's Δh, Δμ
    let mut rp = lp_zeros(nl, nb);
    let mut dlp = lp_zeros(nl, nb);
    let (mut dh_a, mut dl_a) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let (mut dh, mut dl) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let (mut dh_c, mut dl_c) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let mut lp_extra = lp_zeros(nl, nb);

    let mut iters = 0usize;
    let mut converged = false;
    let mut best_mu: Option<(f64, Array2<f64>, Array2<f64>)> = None; // (dual, z, μ)
    let max_iter = settings.max_iter.min(200);
    ctl.begin_stage();
    ctl.set_total(max_iter as u64);
    let mut stall = 0usize;
    let mut polish_at = 1e-4f64;
    // Stop at the second short step in a row (α < 0.01): past that point the reduced solve has lost the
    // accuracy it needs and the caller finishes from this iterate.
    let max_stall = 2usize;
    let mut phases = Phases::new(settings.trace.clone());
    // lowered (×0.1, down to 1) each time a solve stops short of its refinement tolerance by
    // far: the Woodbury update has lost the accuracy the direction needs
    let mut schur_min_weight = SCHUR_MIN_WEIGHT;
    // (μ, t) of the last two iterations, oldest first (for the screening indicator)
    let mut hist: std::collections::VecDeque<(f64, Array1<f64>)> =
        std::collections::VecDeque::with_capacity(3);
    while iters < max_iter {
        phases.lap(7);
        ctl.check()?;
        iters += 1;
        ctl.advance(1);
        let pred = prob.predict(z.view());
        let gl = prob.loss_grad(&pred);
        let sqw = prob.loss_second(&pred).mapv(|v| v.max(0.0).sqrt());
        // ---- residuals ----
        // r_d,z = σ_b Xᵀ D_i ℓ' − ȳ_b − Xᵀ S_i μ_b ; r_d,t = β − y₀
        let gx = prob.at(&gl); // d × P
                               // r_p = h − S X z, Σ h μ, max |r_p| and Xᵀ S_i μ_b (d × B) in one pass
        let (gaps, rpn, xsmu) = lp.residual(&h, &lam, &sxz, &mut rp, &mut dlp)?;
        let mut rd = Array2::<f64>::zeros((dm, nb));
        for b in 0..nb {
            let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
            rd[[0, b]] = beta - ysoc[[0, b]];
            for j in 0..d {
                rd[[j + 1, b]] = sig * gx[[j, i]] - ysoc[[j + 1, b]] - xsmu[[j, b]];
            }
        }
        let gap_lp: f64 = gaps.iter().sum();
        let mut gap_soc = 0.0;
        for b in 0..nb {
            gap_soc += t[b] * ysoc[[0, b]];
            for j in 0..d {
                gap_soc += z[[j, b]] * ysoc[[j + 1, b]];
            }
        }
        let mu = (gap_lp + gap_soc) / nu;
        let pobj = prob.loss_value(&pred) + beta * t.sum();
        let rdn = rd.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if settings.tracing() {
            settings.note(|| format!(
                "pdip it={iters} pobj={pobj:.12e} mu={mu:.3e} gap={:.3e} rd={rdn:.3e} rp={rpn:.3e} t={:.3}",
                mu * nu,
                t_start.elapsed().as_secs_f64()
            ));
        }
        phases.lap(0);
        // ---- certificate when the internal measures say we are close ----
        let scale = pobj.abs().max(1.0);
        if mu * nu <= settings.tol * scale {
            let zc = clean_feasible(prob, &z, gates);
            let lam_full = lp.scatter(&lam, n, 0.0);
            let cert = prob.certify(&zc, Some(&lam_full), None);
            let ub = cert.objective.max(cert.network_objective);
            if best_mu.as_ref().is_none_or(|bm| cert.dual > bm.0) {
                best_mu = Some((cert.dual, zc.clone(), lam_full.clone().into_owned()));
            }
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "pdip cert ub={ub:.12e} dual={:.12e} viol={:e}",
                        cert.dual, cert.violation
                    )
                });
            }
            if super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
                converged = true;
                return Ok(PdResult {
                    z: zc,
                    mu: lam_full.into_owned(),
                    iters,
                    converged,
                    stopped_early: false,
                    iterate: None,
                    all_rows_again: false,
                });
            }
            // a point beyond a row the method left out stays there: no iteration fixes that
            if lp.dropped_violations(prob, &z, DROPPED_ROW_TOL).0 > 0 {
                break;
            }
        }
        if mu * nu <= 1e-15 * scale || stall >= max_stall {
            break;
        }

        // ---- polish on the identified support once the iterate is close or progress stalls ----
        let rel_gap = mu * nu / scale;
        if stop_rel_gap.is_some_and(|g| rel_gap <= g) {
            ctl.set_done(iters as u64);
            let back = if hist.len() == 2 {
                hist.pop_front()
            } else {
                None
            };
            return Ok(PdResult {
                z: z.clone(),
                mu: lp.scatter(&lam, n, 0.0).into_owned(),
                iters,
                converged: false,
                stopped_early: true,
                all_rows_again: false,
                iterate: Some(Iterate {
                    z,
                    t,
                    h,
                    lam,
                    ysoc,
                    mu,
                    back,
                    lp_rows: lp.idx.clone(),
                }),
            });
        }
        if stop_rel_gap.is_some() {
            if hist.len() == 2 {
                hist.pop_front();
            }
            hist.push_back((mu, t.clone()));
        }
        if rel_gap <= polish_at || stall > 0 {
            let (hf, lf) = (lp.scatter(&h, n, f64::INFINITY), lp.scatter(&lam, n, 0.0));
            if let Some(done) =
                polish_from_indicators(prob, settings, &z, &hf, &lf, &ysoc, gates, stall > 0, ctl)?
            {
                if settings.tracing() {
                    settings.note(|| format!("pdip polished at it={iters}"));
                }
                return Ok(PdResult { iters, ..done });
            }
            polish_at = rel_gap * 1e-2;
        }
        phases.lap(1);
        // ---- scaling ----
        let mut numerics_failed = false;
        let mut wbar = Array2::<f64>::zeros((dm, nb));
        let mut eta = Array1::<f64>::zeros(nb);
        let mut lt = Array2::<f64>::zeros((dm, nb)); // λ̃ = W y = W⁻¹ s (SOC)
        let mut sv = vec![0.0; dm];
        let mut yv = vec![0.0; dm];
        let mut wb = vec![0.0; dm];
        let mut out = vec![0.0; dm];
        for b in 0..nb {
            sv[0] = t[b];
            for j in 0..d {
                sv[j + 1] = z[[j, b]];
            }
            for a in 0..dm {
                yv[a] = ysoc[[a, b]];
            }
            let Some(e) = soc_nt(&sv, &yv, &mut wb) else {
                // rounding put an iterate on the cone's boundary: stop with what we have
                numerics_failed = true;
                break;
            };
            eta[b] = e;
            soc_apply_w(&wb, e, &yv, &mut out, false);
            for a in 0..dm {
                wbar[[a, b]] = wb[a];
                lt[[a, b]] = out[a];
            }
        }
        if numerics_failed {
            break;
        }
        let delta = 1e-9 * xmax * xmax * prob.loss.curvature().min(1.0);
        let mut w2 = vec![0.0; nb * dm * dm]; // W⁻² of the cones
        for b in 0..nb {
            for a in 0..dm {
                wb[a] = wbar[[a, b]];
            }
            soc_w2inv(&wb, eta[b], &mut w2[b * dm * dm..(b + 1) * dm * dm]);
        }
        // ---- block matrices B_b = W_b⁻² + P_b and their inverses ----
        // P_b = Xᵀ diag(μ_b/h_b) X for every block at once: (X⊙X)ᵀ (μ/h), one GEMM
        ctl.check()?;
        let gram = lp.gram(&xx, &dlp)?; // B × nt
        let mut bmat = vec![0.0; nb * dm * dm];
        let mut binv = vec![0.0; nb * dm * dm];
        let make = |b: usize, m: &mut [f64], inv: &mut [f64], sc: &mut Scratch| -> Result<()> {
            // B = W⁻² + P, P the LP rows' Gram matrix on the z indices
            let pm = &mut sc.pw;
            pm.fill(0.0);
            let mut c = 0;
            for j in 0..d {
                for l in 0..=j {
                    let v = gram[[b, c]];
                    pm[(j + 1) * dm + l + 1] = v;
                    pm[(l + 1) * dm + j + 1] = v;
                    c += 1;
                }
            }
            for ((mv, &wv), &pv) in m
                .iter_mut()
                .zip(&w2[b * dm * dm..(b + 1) * dm * dm])
                .zip(pm.iter())
            {
                *mv = wv + pv;
            }
            // B⁻¹ = W (I + W (P + δI) W)⁻¹ W with W the cone's NT scaling: far better conditioned
            // than inverting B directly (W⁻² has condition ~1/μ² near the cone's boundary); δ
            // regularises the ray direction of a block on the boundary, where B alone is nearly
            // singular and Woodbury would cancel catastrophically (refinement against the exact
            // operator removes δ's effect). W = η (J + c a aᵀ) with J = diag(−1, I),
            // a = (1 + w̄₀, w̄₁), c = 1/(1 + w̄₀), so both congruences cost O((d+1)²):
            // W Q W = η² (J Q J + c (q aᵀ + a qᵀ) + c² (aᵀ Q a) a aᵀ), q = J Q a.
            for a in 0..dm {
                pm[a * dm + a] += delta;
            }
            let e2 = eta[b] * eta[b];
            let cc = 1.0 / (1.0 + wbar[[0, b]]);
            let (av, rest) = sc.v.split_at_mut(dm);
            let (qv, rest) = rest.split_at_mut(dm);
            let (rv, rest) = rest.split_at_mut(dm);
            let uv = &mut rest[..dm];
            av[0] = 1.0 + wbar[[0, b]];
            for a in 1..dm {
                av[a] = wbar[[a, b]];
            }
            // with u = c q + ½ c² (aᵀ Q a) a: W Q W = η² (J Q J + u aᵀ + a uᵀ)
            let congruence = |qm: &[f64],
                              out: &mut [f64],
                              qv: &mut [f64],
                              uv: &mut [f64],
                              add_identity: bool| {
                let mut s = 0.0;
                for i in 0..dm {
                    let row = &qm[i * dm..(i + 1) * dm];
                    let qa: f64 = row.iter().zip(av.iter()).map(|(x, y)| x * y).sum();
                    s += av[i] * qa;
                    qv[i] = if i == 0 { -qa } else { qa };
                }
                let h2 = 0.5 * cc * cc * s;
                for i in 0..dm {
                    uv[i] = cc * qv[i] + h2 * av[i];
                }
                for i in 0..dm {
                    let ji = if i == 0 { -1.0 } else { 1.0 };
                    let (ui, ai) = (uv[i], av[i]);
                    let row = &qm[i * dm..(i + 1) * dm];
                    let orow = &mut out[i * dm..(i + 1) * dm];
                    // J Q J: the signs flip row 0 and column 0
                    orow[0] = e2 * (-ji * row[0] + ui * av[0] + ai * uv[0]);
                    for j in 1..dm {
                        orow[j] = e2 * (ji * row[j] + ui * av[j] + ai * uv[j]);
                    }
                    if add_identity {
                        orow[i] += 1.0;
                    }
                }
            };
            congruence(pm, &mut sc.am, qv, uv, true);
            small_spd_inverse(&sc.am, dm, &mut sc.l, &mut sc.ainv, &mut sc.e)?;
            congruence(&sc.ainv, inv, rv, uv, false);
            Ok(())
        };
        let res: Result<()> = if par {
            bmat.par_chunks_mut(dm * dm)
                .zip(binv.par_chunks_mut(dm * dm))
                .enumerate()
                .try_for_each_init(|| Scratch::new(dm), |sc, (b, (m, inv))| make(b, m, inv, sc))
        } else {
            let mut sc = Scratch::new(dm);
            bmat.chunks_mut(dm * dm)
                .zip(binv.chunks_mut(dm * dm))
                .enumerate()
                .try_for_each(|(b, (m, inv))| make(b, m, inv, &mut sc))
        };
        res?;
        ctl.check()?;
        phases.lap(2);
        // ---- M = I + diag(√w) Σ_i X_R (C_v + C_w) X_Rᵀ diag(√w) ----
        let wmax = sqw.iter().fold(0.0f64, |a, v| a.max(v * v));
        // blocks too large for the Woodbury update (see `Schur`): the largest first, capped
        let big = |b: usize| -> f64 {
            let inv = &binv[b * dm * dm..(b + 1) * dm * dm];
            let mut f = 0.0;
            for j in 1..dm {
                for l in 1..dm {
                    f += inv[j * dm + l] * inv[j * dm + l];
                }
            }
            f.sqrt() * xr_max2[b % p] * wmax
        };
        let mut kept: Vec<(usize, f64)> = (0..nb)
            .map(|b| (b, big(b)))
            .filter(|&(_, c)| c > schur_min_weight)
            .collect();
        if kept.len() * dm > SCHUR_MAX_DIM {
            kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            kept.truncate(SCHUR_MAX_DIM / dm);
        }
        let mut kept: Vec<usize> = kept.into_iter().map(|(b, _)| b).collect();
        kept.sort_unstable();
        if settings.tracing() {
            settings.note(|| format!("   schur blocks={}", kept.len()));
        }
        let mut in_schur = vec![false; nb];
        for &b in &kept {
            in_schur[b] = true;
        }
        // C_i = Σ over the pattern's blocks outside the Schur set of B_b⁻¹'s z part (d × d); a
        // pattern whose blocks are pinned at zero (B⁻¹ ~ μ) adds nothing visible to M and is
        // skipped (the refinement against the exact operator covers the difference)
        let nblk = if nb == 2 * p { 2 } else { 1 };
        let mut cmat = vec![0.0; p * d * d];
        let live: Vec<bool> = cmat
            .chunks_mut(d * d)
            .enumerate()
            .map(|(i, c)| {
                if rows[i].is_empty() {
                    return false;
                }
                for rep in 0..nblk {
                    let b = i + rep * p;
                    if in_schur[b] {
                        continue;
                    }
                    let inv = &binv[b * dm * dm..(b + 1) * dm * dm];
                    for j in 0..d {
                        for l in 0..d {
                            c[j * d + l] += inv[(j + 1) * dm + l + 1];
                        }
                    }
                }
                let cn = c.iter().map(|v| v * v).sum::<f64>().sqrt();
                cn * xr_max2[i] * wmax > 1e-14
            })
            .collect();
        // units of work: the tiles (I, J ≤ I) of the lower triangle, each split into fixed
        // chunks of patterns (summed in order): bit-identical results whatever the thread count
        let pairs: Vec<(usize, usize)> = (0..ntile)
            .flat_map(|ti| (0..=ti).map(move |tj| (ti, tj)))
            .collect();
        let nchunks = ASSEMBLY_UNITS.div_ceil(pairs.len());
        let chunk = p.div_ceil(nchunks).max(1);
        let units: Vec<(usize, usize)> = (0..pairs.len())
            .flat_map(|u| (0..p.div_ceil(chunk)).map(move |c| (u, c)))
            .collect();
        // C_i X_iᵀ of every live pattern (packed, one product per pattern)
        let c_product = |i: usize, out: &mut Vec<f64>| -> Result<()> {
            ctl.check()?;
            if live[i] && !super::linalg::packed_product(&cmat[i * d * d..], &packed[i].x, out, d) {
                return Err(Error::Numerical(
                    "Woodbury assembly: inconsistent packed sizes".into(),
                ));
            }
            Ok(())
        };
        if par {
            c_xt.par_iter_mut()
                .enumerate()
                .try_for_each(|(i, out)| c_product(i, out))?;
        } else {
            c_xt.iter_mut()
                .enumerate()
                .try_for_each(|(i, out)| c_product(i, out))?;
        }
        let tile_of = |&(u, c): &(usize, usize)| -> Result<Vec<f64>> {
            let (ti, tj) = pairs[u];
            let mut buf = vec![0.0; wt * wt];
            for i in c * chunk..((c + 1) * chunk).min(p) {
                // a unit adds up to P/8 patterns (seconds in all for n = 1000, P = 1000)
                ctl.check()?;
                let pk = &packed[i];
                let (a, b) = (
                    pk.starts[ti]..pk.starts[ti + 1],
                    pk.starts[tj]..pk.starts[tj + 1],
                );
                if !live[i] || a.is_empty() || b.is_empty() {
                    continue;
                }
                let op = super::linalg::BlockProduct {
                    t: &c_xt[i],
                    x: &pk.x,
                    rows: &pk.rows,
                    len: &pk.len,
                    d,
                    a,
                    b,
                    diagonal: ti == tj,
                    origin: (ti * wt, tj * wt),
                };
                super::linalg::add_block_product(&op, &mut buf, wt);
            }
            Ok(buf)
        };
        let bufs: Vec<Vec<f64>> = if par {
            units.par_iter().map(tile_of).collect::<Result<_>>()?
        } else {
            units.iter().map(tile_of).collect::<Result<_>>()?
        };
        // M = I + diag(√w) (lower triangle of the tiles) diag(√w): the lower triangle, all the
        // factorisation reads
        // (by chunks of rows, in parallel: every entry sums the units in their order)
        let mut mm = Array2::<f64>::zeros((n, n));
        let sq = sqw
            .as_slice()
            .ok_or_else(|| Error::Numerical("√w not contiguous".into()))?;
        let fill = |(c, mut rows): (usize, ArrayViewMut2<f64>)| {
            for (q, mut row) in rows.outer_iter_mut().enumerate() {
                let k = c * BCH + q;
                let ti = k / wt;
                row[k] = 1.0;
                for (&(u, _), buf) in units.iter().zip(&bufs) {
                    let (ui, tj) = pairs[u];
                    let lend = ((tj + 1) * wt).min(k + 1);
                    if ui != ti || lend <= tj * wt {
                        continue;
                    }
                    let brow = &buf[(k - ti * wt) * wt..(k - ti * wt) * wt + (lend - tj * wt)];
                    let seg = row.slice_mut(s![tj * wt..lend]);
                    for ((m, &b), &sl) in seg.into_iter().zip(brow).zip(&sq[tj * wt..lend]) {
                        *m += sq[k] * sl * b;
                    }
                }
            }
        };
        let chunks: Vec<(usize, ArrayViewMut2<f64>)> =
            mm.axis_chunks_iter_mut(Axis(0), BCH).enumerate().collect();
        if par {
            chunks.into_par_iter().for_each(fill);
        } else {
            chunks.into_iter().for_each(fill);
        }
        phases.lap(3);
        ctl.check()?;
        let lm = super::linalg::cholesky_ctl(&mm, true, ctl)?;
        ctl.check()?;
        let schur = if kept.is_empty() {
            None
        } else {
            // F = L_N⁻¹ K_A (n × |A|(d+1), zero t columns); S = Fᵀ F + blockdiag(B_b)
            let ka = kept.len() * dm;
            let mut f = Array2::<f64>::zeros((n, ka));
            for (a, &b) in kept.iter().enumerate() {
                let sig = if b < p { 1.0 } else { -1.0 };
                for &k in &rows[b % p] {
                    for j in 0..d {
                        f[[k, a * dm + j + 1]] = sig * sqw[k] * xsl[k * d + j];
                    }
                }
            }
            super::linalg::forward_solve_rows(&lm, &mut f, par);
            let mut tm = super::linalg::matmul(f.t(), f.view(), par);
            for (a, &b) in kept.iter().enumerate() {
                let bm = &bmat[b * dm * dm..(b + 1) * dm * dm];
                for i in 0..dm {
                    for j in 0..dm {
                        tm[[a * dm + i, a * dm + j]] += bm[i * dm + j];
                    }
                }
            }
            let lt = super::linalg::cholesky_inf(&tm)?;
            Some(Schur { blocks: kept, lt })
        };
        ctl.check()?;
        phases.lap(4);
        let kkt = Kkt {
            prob,
            bmat,
            binv,
            sqw,
            lm,
            schur,
            // far from the optimum a direction needs less accuracy than near it (the residual
            // equations are exact whatever the solve's error; only the linearised
            // complementarity sees it): refine to 1e-6 of the relative gap, within
            // [REFINE_REL_RESIDUAL, REFINE_MAX_REL_RESIDUAL]
            refine_tol: (1e-6 * rel_gap).clamp(REFINE_REL_RESIDUAL, REFINE_MAX_REL_RESIDUAL),
            worst_residual: std::cell::Cell::new(0.0),
            par,
        };

        // ---- one Newton direction for a given complementarity target ----
        // LP target `tg` (Δh, Δμ written into `dh`, `dl`), rc_soc ((d+1) × B): targets of
        // λ̃ ∘ (W Δy + W⁻¹ Δs)
        let direction = |tg: LpTarget<'_>,
                         rc_soc: &Array2<f64>,
                         dh: &mut Array2<f64>,
                         dl: &mut Array2<f64>|
         -> Result<(Array2<f64>, Array2<f64>)> {
            // LP: W⁻¹ q = rc/h ; SOC: W⁻¹ q with q = λ̃ ⊘ rc
            let mut socq = Array2::<f64>::zeros((dm, nb)); // W⁻¹ q
            let mut qv = vec![0.0; dm];
            let mut out = vec![0.0; dm];
            let (mut l, mut r, mut wb) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
            for b in 0..nb {
                col_into(&lt, b, &mut l);
                col_into(rc_soc, b, &mut r);
                soc_jordan_div(&l, &r, &mut qv);
                col_into(&wbar, b, &mut wb);
                soc_apply_w(&wb, eta[b], &qv, &mut out, true);
                for a in 0..dm {
                    socq[[a, b]] = out[a];
                }
            }
            // rhs = −r_d + Gᵀ W⁻¹ q + Gᵀ W⁻² r_p
            let xl = lp.rhs(tg, &h, &lam, &rp)?; // d × B
            let mut rhs = -&rd + &socq;
            {
                let mut zpart = rhs.slice_mut(s![1.., ..]);
                zpart += &xl;
            }
            let dx = kkt.solve(&rhs, ctl)?;
            // Δh = S X Δz − r_p ; Δμ = W⁻¹q − W⁻²Δh ; SOC Δs = Δx, Δy = W⁻¹q − W⁻²Δx
            let dz = dx.slice(s![1.., ..]);
            let xsdl = lp.step(tg, dz, &h, &lam, &rp, dh, dl)?;
            // Δy from the dual-residual equation (Gᵀ Δλ = r_d + ∇²f Δx), so the dual residual
            // contracts by exactly (1 − α) whatever the accuracy of the reduced solve.
            let pd = prob.predict(dz);
            let hd: Array1<f64> = pd
                .iter()
                .zip(kkt.sqw.iter())
                .map(|(a, w)| a * w * w)
                .collect();
            let ghd = prob.at(&hd); // d × P
            let mut dy = rd.clone();
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                for j in 0..d {
                    dy[[j + 1, b]] += sig * ghd[[j, i]] - xsdl[[j, b]];
                }
            }
            Ok((dx, dy))
        };
        // step lengths
        let max_step =
            |dx: &Array2<f64>, dh: &Array2<f64>, dlam: &Array2<f64>, dy: &Array2<f64>| {
                let mut a = lp.max_step(LpStep::new(&h, dh, &lam, dlam), 1.0 / 0.99)?;
                let mut u = vec![0.0; dm];
                let (mut du, mut yv, mut dyv) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
                for b in 0..nb {
                    u[0] = t[b];
                    for j in 0..d {
                        u[j + 1] = z[[j, b]];
                    }
                    col_into(dx, b, &mut du);
                    a = soc_max_step(&u, &du, a);
                    col_into(&ysoc, b, &mut yv);
                    col_into(dy, b, &mut dyv);
                    a = soc_max_step(&yv, &dyv, a);
                }
                Ok::<f64, Error>(a)
            };
        // ---- predictor ----
        let mut rc_soc_aff = Array2::<f64>::zeros((dm, nb));
        let mut tmp = vec![0.0; dm];
        let mut l = vec![0.0; dm];
        for b in 0..nb {
            col_into(&lt, b, &mut l);
            soc_jordan(&l, &l, &mut tmp);
            for a in 0..dm {
                rc_soc_aff[[a, b]] = -tmp[a];
            }
        }
        // LP target −λ̃∘λ̃ = −hμ
        let (dxa, dya) = direction(LpTarget::Affine, &rc_soc_aff, &mut dh_a, &mut dl_a)?;
        let aa = max_step(&dxa, &dh_a, &dl_a, &dya)?.min(1.0);
        let mut gap_aff = lp.gap_after(LpStep::new(&h, &dh_a, &lam, &dl_a), aa)?;
        for b in 0..nb {
            let mut s1 = t[b] + aa * dxa[[0, b]];
            let mut acc = s1 * (ysoc[[0, b]] + aa * dya[[0, b]]);
            for j in 0..d {
                s1 = z[[j, b]] + aa * dxa[[j + 1, b]];
                acc += s1 * (ysoc[[j + 1, b]] + aa * dya[[j + 1, b]]);
            }
            gap_aff += acc;
        }
        let mu_aff = (gap_aff / nu).max(0.0);
        let sigma = (mu_aff / mu).powi(3).clamp(0.0, 1.0);
        phases.lap(5);
        ctl.check()?;
        // ---- corrector: σμe − λ̃∘λ̃ − (W⁻¹Δs_a)∘(WΔy_a) ----
        let mut rc_soc = rc_soc_aff.clone();
        let mut ws = vec![0.0; dm];
        let mut wy = vec![0.0; dm];
        // block b of a direction in the scaled space: W⁻¹Δs into `ws`, WΔy into `wy`
        let (mut wb, mut dsv, mut dyv) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
        let mut scaled =
            |b: usize, dxm: &Array2<f64>, dym: &Array2<f64>, ws: &mut [f64], wy: &mut [f64]| {
                col_into(&wbar, b, &mut wb);
                col_into(dxm, b, &mut dsv);
                col_into(dym, b, &mut dyv);
                soc_apply_w(&wb, eta[b], &dsv, ws, true);
                soc_apply_w(&wb, eta[b], &dyv, wy, false);
            };
        for b in 0..nb {
            scaled(b, &dxa, &dya, &mut ws, &mut wy);
            soc_jordan(&ws, &wy, &mut tmp);
            rc_soc[[0, b]] += sigma * mu;
            for a in 0..dm {
                rc_soc[[a, b]] -= tmp[a];
            }
        }
        let tg = LpTarget::Corrector {
            sigma_mu: sigma * mu,
            dh: fdata(&dh_a)?,
            dl: fdata(&dl_a)?,
            extra: None,
        };
        let (mut dx, mut dy) = direction(tg, &rc_soc, &mut dh, &mut dl)?;
        let amax = max_step(&dx, &dh, &dl, &dy)?;
        let mut alpha = (0.99 * amax).min(1.0);
        // ---- Gondzio's centrality correctors: aim at a longer step α̃ and push the trial
        // complementarity products that would leave [0.1, 10]·σμ back into it ----
        let mut n_corr = 0;
        while n_corr < GONDZIO_MAX && alpha < GONDZIO_BELOW && alpha > 0.0 {
            let at = (alpha + GONDZIO_STEP).min(1.0);
            let band = (GONDZIO_LO * sigma * mu, GONDZIO_HI * sigma * mu);
            lp.centrality(LpStep::new(&h, &dh, &lam, &dl), at, band, &mut lp_extra)?;
            let mut rc_c = rc_soc.clone();
            for b in 0..nb {
                // the scaled trial point's Jordan product, its spectral values moved into the band
                scaled(b, &dx, &dy, &mut ws, &mut wy);
                for a in 0..dm {
                    ws[a] = lt[[a, b]] + at * ws[a];
                    wy[a] = lt[[a, b]] + at * wy[a];
                }
                soc_jordan(&ws, &wy, &mut tmp);
                let v1 = tmp[1..].iter().map(|v| v * v).sum::<f64>().sqrt();
                let (t1, t2) = (
                    band_correction(tmp[0] + v1, band.0, band.1),
                    band_correction(tmp[0] - v1, band.0, band.1),
                );
                // t = t1 c₊ + t2 c₋ with c± = ½(1, ±v̂)
                rc_c[[0, b]] += 0.5 * (t1 + t2);
                if v1 > 0.0 {
                    for a in 1..dm {
                        rc_c[[a, b]] += 0.5 * (t1 - t2) * tmp[a] / v1;
                    }
                }
            }
            let tgc = LpTarget::Corrector {
                sigma_mu: sigma * mu,
                dh: fdata(&dh_a)?,
                dl: fdata(&dl_a)?,
                extra: Some(fdata(&lp_extra)?),
            };
            let (dxc, dyc) = direction(tgc, &rc_c, &mut dh_c, &mut dl_c)?;
            let ac = (0.99 * max_step(&dxc, &dh_c, &dl_c, &dyc)?).min(1.0);
            n_corr += 1;
            if settings.tracing() {
                settings.note(|| format!("   corrector {n_corr}: alpha {alpha:.3e} -> {ac:.3e}"));
            }
            if ac < alpha + GONDZIO_GAIN * GONDZIO_STEP {
                break;
            }
            alpha = ac;
            dx = dxc;
            dy = dyc;
            std::mem::swap(&mut dh, &mut dh_c);
            std::mem::swap(&mut dl, &mut dl_c);
        }
        if !alpha.is_finite() || alpha <= 0.0 {
            break;
        }
        if settings.tracing() {
            settings.note(|| format!("   alpha_aff={aa:.3e} sigma={sigma:.3e} alpha={alpha:.3e}"));
        }
        if kkt.worst_residual.get() > 1e3 * kkt.refine_tol {
            schur_min_weight = (0.1 * schur_min_weight).max(1.0);
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "   solve residual {:.1e}: Schur weight now {schur_min_weight:.0e}",
                        kkt.worst_residual.get()
                    )
                });
            }
        }
        if alpha < 1e-2 {
            stall += 1;
        } else {
            stall = 0;
        }
        phases.lap(6);
        // ---- update ----
        t.scaled_add(alpha, &dx.row(0));
        z.scaled_add(alpha, &dx.slice(s![1.., ..]));
        lp.update(alpha, &mut h, &mut lam, &mut sxz, &dh, &dl, &rp)?;
        ysoc.scaled_add(alpha, &dy);
    }
    ctl.set_done(iters as u64);
    let (beyond, worst) = lp.dropped_violations(prob, &z, DROPPED_ROW_TOL);
    if beyond > 0 {
        if settings.tracing() {
            settings.note(|| format!(
                "pdip: {beyond} blocks end beyond rows they did not keep (worst {worst:.2e}): all rows"
            ));
        }
        let again = solve_rows(
            prob,
            settings,
            gates,
            stop_rel_gap,
            None,
            Some(n),
            epigraph,
            ctl,
        )?;
        return Ok(PdResult {
            iters: iters + again.iters,
            all_rows_again: true,
            ..again
        });
    }
    let (z, mu) = match best_mu {
        Some((_, zb, mb)) => (zb, mb),
        None => (
            clean_feasible(prob, &z, gates),
            lp.scatter(&lam, n, 0.0).into_owned(),
        ),
    };
    Ok(PdResult {
        z,
        mu,
        iters,
        converged,
        stopped_early: false,
        iterate: None,
        all_rows_again: false,
    })
}

/// Gondzio's multiple centrality correctors: at most `GONDZIO_MAX` per iteration, tried while
/// the step is below `GONDZIO_BELOW`, each aiming at α + `GONDZIO_STEP` with the trial
/// complementarity products kept within [`GONDZIO_LO`, `GONDZIO_HI`]·σμ, kept when the step
/// grows by at least `GONDZIO_GAIN`·`GONDZIO_STEP`.
const GONDZIO_MAX: usize = 1;
const GONDZIO_BELOW: f64 = 0.9;
const GONDZIO_STEP: f64 = 0.2;
const GONDZIO_LO: f64 = 0.1;
const GONDZIO_HI: f64 = 10.0;
const GONDZIO_GAIN: f64 = 0.1;

/// A block's weight ‖B_b⁻¹‖·max‖x‖²·max ℓ'' in M above which it is kept out of the Woodbury
/// update and solved through the Schur complement.
const SCHUR_MIN_WEIGHT: f64 = 1e3;
/// Cap on the Schur complement's dimension (the blocks with the largest weights are kept): its
/// dense factorisation is paid every iteration, and beyond the largest few dozen blocks the
/// refinement does the rest (measured: (200, 10, 500) 0.51 → 0.43 s against weight 1e2 and no
/// cap, the real-data cases within noise at 1e-6 and 1e-8).
const SCHUR_MAX_DIM: usize = 600;

/// Largest side of the tiles the n × n Woodbury matrix is assembled in, each pattern adding its
/// share while the tile stays in cache: scattering into the whole matrix at once went to memory
/// (n = 1000, d = 20, 1000 patterns: 0.20 → 0.15 s per iteration against tiles of 256), and with
/// the packed 8 × 8 kernel tiles of 500 beat 256 (fewer partial blocks at tile edges and fewer
/// per-pattern passes: single thread 0.195 → 0.177 s per assembly, best of 5).
const WOODBURY_TILE: usize = 512;

/// Units of parallel work the Woodbury assembly is cut into at least: its tile pairs, each split
/// into as many fixed chunks of patterns as this takes (summed in order afterwards, so the result
/// does not depend on the thread count; at n = 1000, three tile pairs of 500 alone would keep at
/// most three cores busy).
const ASSEMBLY_UNITS: usize = 8;

/// Relative residual of the reduced Newton system at which iterative refinement stops (one
/// refinement step usually takes the Woodbury solve from ~1e-7 to ~1e-13).
const REFINE_REL_RESIDUAL: f64 = 1e-12;

/// The loosest relative residual the refinement of a direction stops at (far from the optimum).
const REFINE_MAX_REL_RESIDUAL: f64 = 1e-9;

/// Unknowns of the Newton polish above which it is only tried once the method stalls.
const POLISH_MAX_DIM: usize = 400;

/// LP rows per pattern the interior-point method keeps: `LP_ROWS_PER_DIM`·d, at least
/// `LP_ROWS_MIN`, and all n when that would keep more than half of them.
fn lp_row_count(n: usize, d: usize) -> usize {
    let m = (LP_ROWS_PER_DIM * d).max(LP_ROWS_MIN);
    if 2 * m > n {
        n
    } else {
        m
    }
}

/// The starting epigraphs t_b as a multiple of the starting ‖z_b‖ (the cone (t, z) that far
/// inside) of a direct or working-set solve …
const START_EPIGRAPH: f64 = 2.0;
/// … and of a screened one that keeps a subset of its cone rows ([`keeps_row_subset`]): at 2
/// every block's cone held the first affine steps of (1000, 20, 1000) to 0.1–0.2, at 3 the whole
/// program reaches its 30% gap in 9 iterations instead of 10–11 (seeds 0–3: 3.0–3.7 → 2.7–3.0 s;
/// 5 and above were slower again). Elsewhere 3 was slower: (200, 10, 500), all rows, 21 → 25
/// iterations; the working-set loop on all 872 chambers of n = 30 points in ℝ³ ended 1e-6 short
/// of its 1e-8 tolerance (a test).
const SCREENED_START_EPIGRAPH: f64 = 3.0;

/// Whether a program with n samples in ℝᵈ keeps only a subset of its cone rows per pattern
/// (see [`lp_row_count`]).
pub fn keeps_row_subset(n: usize, d: usize) -> bool {
    lp_row_count(n, d) < n
}

/// LP rows kept per dimension of the data: the facets of the chambers Gaussian witnesses
/// sample at (n, d) = (1000, 20) were all among the 11d rows nearest to the witness (8 chambers
/// checked by LP, 110–140 facets each), and at 12.5d no solve of 12 seeds ended beyond a row it
/// left out (7.5d did).
const LP_ROWS_PER_DIM: usize = 15;
/// The fewest LP rows kept per pattern.
const LP_ROWS_MIN: usize = 64;
/// Relative violation (by ‖x_k‖‖z_b‖) of a row a block did not keep above which the method
/// solves again with every row.
const DROPPED_ROW_TOL: f64 = 1e-9;

/// Polish on the support the interior-point pairs identify — block b nonzero when its primal
/// size beats its dual slack (‖z_b‖/max‖z‖ > (y₀ − ‖ȳ‖)/y₀), row k of block b active when its
/// multiplier beats its slack (Tapia-style indicator in natural units) — and keep the result
/// when its sharp certificate closes the gap.
#[allow(clippy::too_many_arguments)]
fn polish_from_indicators(
    prob: &Problem,
    settings: &Settings,
    z: &Array2<f64>,
    h: &Array2<f64>,
    lam: &Array2<f64>,
    ysoc: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
    forced: bool,
    ctl: &Control,
) -> Result<Option<PdResult>> {
    let n = prob.n();
    let d = prob.d();
    let nb = prob.n_blocks();
    let beta = prob.beta.max(1e-300);
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0, f64::max).max(1e-300);
    let row_norm: Vec<f64> = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let dual_slack: Vec<f64> = (0..nb)
        .map(|b| {
            let y1 = (1..=d)
                .map(|j| ysoc[[j, b]] * ysoc[[j, b]])
                .sum::<f64>()
                .sqrt();
            (ysoc[[0, b]] - y1) / ysoc[[0, b]].max(1e-300)
        })
        .collect();
    let zc = clean_feasible(prob, z, gates);
    // rows count as active when their multiplier beats their slack by a wide margin (a
    // looser rule over-constrains the polish on these degenerate programs)
    let strict = 1e2;
    {
        let block_on = |b: usize| norms[b] / zmax > dual_slack[b];
        // the polish factorises a dense system of Σ_on dim(block) unknowns a few times: while
        // the method still progresses, only try it when that is cheaper than a few iterations
        let dim_on = (0..nb).filter(|&b| block_on(b)).count() * d;
        if !forced && dim_on > POLISH_MAX_DIM {
            return Ok(None);
        }
        let row_on = |k: usize, b: usize| {
            if h.nrows() == 0 {
                return false; // gated program: no cone rows
            }
            let rel_slack = h[[k, b]] / (row_norm[k] * norms[b]).max(1e-300);
            let rel_mult = lam[[k, b]] * row_norm[k] / beta;
            row_norm[k] > 0.0 && rel_mult > strict * rel_slack
        };
        if let Some(zp) = super::polish::polish_with(prob, &zc, &block_on, &row_on, ctl)? {
            let zp = clean_feasible(prob, &zp, gates);
            let (cert, mup) = super::polish::sharp_certificate(prob, &zp, ctl)?;
            let ub = cert.objective.max(cert.network_objective);
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "  polish: ub={ub:.12e} dual={:.12e} viol={:e}",
                        cert.dual, cert.violation
                    )
                });
            }
            if super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
                return Ok(Some(PdResult {
                    z: zp,
                    mu: mup,
                    iters: 0,
                    converged: true,
                    stopped_early: false,
                    iterate: None,
                    all_rows_again: false,
                }));
            }
        }
    }
    Ok(None)
}

/// Make every block exactly feasible (S_i X z_b ≥ 0 in floating point): a block with a
/// violated row is moved along its pattern's witness (which has a positive margin) by the
/// smallest amount that clears every row; without a witness it is zeroed. Blocks already
/// feasible are returned unchanged.
pub fn clean_feasible(
    prob: &Problem,
    z: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
) -> Array2<f64> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let mut out = z.clone();
    if prob.kind != Kind::Relu {
        return out;
    }
    let xz = prob.xu(z.view());
    let gates = gates.filter(|g| g.dim() == (p, d));
    for b in 0..z.ncols() {
        let i = b % p;
        let worst = (0..n)
            .map(|k| prob.sign[[k, i]] * xz[[k, b]])
            .fold(f64::INFINITY, f64::min);
        if worst >= 0.0 {
            continue;
        }
        let mut fixed = false;
        if let Some(g) = gates {
            let gr = g.row(i);
            let xg: Vec<f64> = (0..n)
                .map(|k| prob.sign[[k, i]] * prob.x.row(k).dot(&gr))
                .collect();
            if xg.iter().all(|&v| v > 0.0) {
                // smallest ε with sign·X(z + εg) ≥ 0 on every row, with a little slack
                let mut eps: f64 = 0.0;
                for k in 0..n {
                    let v = prob.sign[[k, i]] * xz[[k, b]];
                    if v < 0.0 {
                        eps = eps.max(-v / xg[k]);
                    }
                }
                // plus an absolute margin far above the rounding of any way of computing X z
                // (so every product agrees on the sign); it costs β·1e-12‖z_b‖ of objective
                let zn = z.column(b).dot(&z.column(b)).sqrt();
                let gn = gr.dot(&gr).sqrt().max(1e-300);
                let pad = 1e-12 * zn / gn;
                for factor in [1.0 + 1e-9, 1.0 + 1e-6, 1.0 + 1e-3, 2.0] {
                    let mut zb = z.column(b).to_owned();
                    zb.scaled_add(eps * factor + pad, &gr);
                    let ok = (0..n).all(|k| prob.sign[[k, i]] * prob.x.row(k).dot(&zb) >= 0.0);
                    if ok {
                        out.column_mut(b).assign(&zb);
                        fixed = true;
                        break;
                    }
                }
            }
        }
        if !fixed {
            out.column_mut(b).fill(0.0);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A random ReLU program at β = 0.1 (see [`relu_program_at`]).
    fn relu_program(seed: u64, n: usize, d: usize, draws: usize) -> (Problem, Array2<f64>) {
        relu_program_at(seed, n, d, draws, 0.1)
    }

    /// A random ReLU program: X (n × d, uniform in [−1, 1]), y = sin(3x₀) + x₁, the distinct
    /// patterns of `draws` uniform gates in [−1, 1]ᵈ, with those gates as witnesses (P × d).
    pub(crate) fn relu_program_at(
        seed: u64,
        n: usize,
        d: usize,
        draws: usize,
        beta: f64,
    ) -> (Problem, Array2<f64>) {
        use rand::Rng;
        let mut rng = crate::rng::stream_rng(seed, 0);
        let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>() * 2.0 - 1.0);
        let y = Array1::from_shape_fn(n, |k| (x[[k, 0]] * 3.0).sin() + x[[k, 1]]);
        let mut pats: Vec<Vec<bool>> = Vec::new();
        let mut gates: Vec<Vec<f64>> = Vec::new();
        for _ in 0..draws {
            let u: Vec<f64> = (0..d).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
            let pat: Vec<bool> = (0..n)
                .map(|k| (0..d).map(|j| x[[k, j]] * u[j]).sum::<f64>() > 0.0)
                .collect();
            if !pats.contains(&pat) {
                pats.push(pat);
                gates.push(u);
            }
        }
        let p = pats.len();
        let pm = Array2::from_shape_fn((p, n), |(i, k)| pats[i][k]);
        let gm = Array2::from_shape_fn((p, d), |(i, j)| gates[i][j]);
        let prob = Problem::new(
            x.view(),
            y.view(),
            pm.view(),
            super::super::Loss::Squared,
            beta,
            Kind::Relu,
            usize::MAX,
        )
        .unwrap();
        (prob, gm)
    }

    /// The kept rows are the m with the smallest s_k x_kᵀ g / ‖x_k‖, ascending, per pattern;
    /// a zero row is never needed; no selection when m ≥ n or a witness is not strictly inside.
    #[test]
    fn nearest_rows_keeps_the_rows_nearest_to_the_witness() {
        let (prob, g) = relu_program(3, 30, 3, 40);
        let (n, d, p) = (prob.n(), prob.d(), prob.p());
        let mut x = prob.x.clone();
        x.row_mut(4).fill(0.0);
        let xs = x.as_slice().unwrap();
        let sign = |k: usize, i: usize| prob.sign[[k, i]];
        let m = 7;
        let ix = nearest_rows(xs, n, d, sign, g.view(), m, false).unwrap();
        assert_eq!(ix.len(), m * p);
        for i in 0..p {
            let mut marg: Vec<(f64, usize)> = (0..n)
                .map(|k| {
                    let r = x.row(k);
                    let nr = r.dot(&r).sqrt();
                    let v = if nr == 0.0 {
                        f64::INFINITY
                    } else {
                        sign(k, i) * r.dot(&g.row(i)) / nr
                    };
                    (v, k)
                })
                .collect();
            assert!(marg.iter().all(|v| v.0 > 0.0), "witness {i} is inside");
            marg.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut want: Vec<usize> = marg[..m].iter().map(|v| v.1).collect();
            want.sort_unstable();
            assert_eq!(&ix[i * m..(i + 1) * m], &want[..], "pattern {i}");
            assert!(!want.contains(&4));
        }
        assert!(nearest_rows(xs, n, d, sign, g.view(), n, false).is_none());
        // parallel selection: the same rows
        assert_eq!(nearest_rows(xs, n, d, sign, g.view(), m, true).unwrap(), ix);
        // a witness on a row's hyperplane gives no selection
        let mut g2 = g.clone();
        g2.row_mut(0).mapv_inplace(|v| -v);
        assert!(nearest_rows(xs, n, d, sign, g2.view(), m, false).is_none());
    }

    /// On kept rows the kernels compute what the same products over explicitly gathered rows
    /// give: S X z, Xᵀ w, X v, the Gram matrices, and the scatter back to n rows.
    #[test]
    fn kernels_on_kept_rows_match_gathered_products() {
        let (prob, g) = relu_program(5, 40, 4, 60);
        let (n, d, p) = (prob.n(), prob.d(), prob.p());
        let nb = 2 * p;
        let xs = prob.x.as_standard_layout().into_owned();
        let xsl = xs.as_slice().unwrap();
        let m = 9;
        let ix = nearest_rows(xsl, n, d, |k, i| prob.sign[[k, i]], g.view(), m, false).unwrap();
        for par in [false, true] {
            let lp = LpData {
                x: xs.view(),
                xr: xsl,
                row_norm: (0..n).map(|k| xs.row(k).dot(&xs.row(k)).sqrt()).collect(),
                sg: ix
                    .iter()
                    .enumerate()
                    .map(|(a, &k)| prob.sign[[k, a / m]])
                    .collect(),
                idx: Some(ix.clone()),
                nl: m,
                d,
                p,
                nb,
                par,
            };
            let z = Array2::from_shape_fn((d, nb), |(j, b)| ((j * 7 + b * 3) % 11) as f64 - 5.0);
            let w = Array2::from_shape_fn((m, nb).f(), |(k, b)| ((k * 5 + b) % 7) as f64 + 0.5);
            let sxz = lp.signed_x(&z).unwrap();
            let mut xx = Array2::<f64>::zeros((n, d * (d + 1) / 2));
            for k in 0..n {
                let mut c = 0;
                for j in 0..d {
                    for l in 0..=j {
                        xx[[k, c]] = xs[[k, j]] * xs[[k, l]];
                        c += 1;
                    }
                }
            }
            let gram = lp.gram(&xx, &w).unwrap();
            let xtw = lp.xt_times(w.as_slice_memory_order().unwrap(), 0, nb);
            let mut xv = vec![0.0; m * nb];
            lp.x_times(z.view(), 0, nb, &mut xv);
            for b in 0..nb {
                let i = b % p;
                // the pattern's kept rows, gathered
                let a = xs.select(Axis(0), &ix[i * m..(i + 1) * m]);
                let az = a.dot(&z.column(b));
                let atw = a.t().dot(&w.column(b));
                for r in 0..m {
                    let k = ix[i * m + r];
                    assert!((sxz[[r, b]] - prob.sign[[k, i]] * az[r]).abs() < 1e-12);
                    assert!((xv[b * m + r] - az[r]).abs() < 1e-12);
                }
                for j in 0..d {
                    assert!((xtw[[j, b]] - atw[j]).abs() < 1e-12);
                }
                let gm = a.t().dot(&(&a * &w.column(b).insert_axis(Axis(1))));
                let mut c = 0;
                for j in 0..d {
                    for l in 0..=j {
                        assert!((gram[[b, c]] - gm[[j, l]]).abs() < 1e-12);
                        c += 1;
                    }
                }
            }
            let full = lp.scatter(&w, n, -1.0);
            for b in 0..nb {
                let i = b % p;
                let kept = &ix[i * m..(i + 1) * m];
                for k in 0..n {
                    match kept.iter().position(|&r| r == k) {
                        Some(r) => assert_eq!(full[[k, b]], w[[r, b]]),
                        None => assert_eq!(full[[k, b]], -1.0),
                    }
                }
            }
        }
    }

    /// Keeping only the rows nearest to the witnesses gives the program's optimum: with enough
    /// rows directly, and with far too few (a relaxed cone whose optimum lies past rows it left
    /// out) by solving again with every row. (The bare method may stall a little short of a
    /// tight tolerance on these small programs — its callers finish it —, so the three solves
    /// are compared by their certificates: every dual bound below every objective, and every
    /// objective within 1e-5 of the best bound.)
    #[test]
    fn solve_on_kept_rows_reaches_the_full_optimum() {
        let settings = Settings {
            tol: 1e-7,
            max_iter: 1000,
            check_every: 10,
            trace: None,
        };
        let ctl = Control::new();
        for seed in [1u64, 2, 3] {
            let (prob, g) = relu_program(seed, 150, 3, 200);
            let n = prob.n();
            let mut certs = Vec::new();
            for m in [n, 64, 3] {
                let r = solve_rows(
                    &prob,
                    &settings,
                    Some(g.view()),
                    None,
                    None,
                    Some(m),
                    START_EPIGRAPH,
                    &ctl,
                )
                .unwrap();
                // three rows per pattern in ℝ³ cannot hold these chambers; 64 do
                assert_eq!(r.all_rows_again, m == 3, "seed {seed}, {m} rows");
                assert_eq!(r.mu.dim(), (n, 2 * prob.p()));
                let c = prob.certify(&r.z, Some(&r.mu), None);
                assert_eq!(c.violation, 0.0);
                certs.push(c);
            }
            let best = certs
                .iter()
                .map(|c| c.dual)
                .fold(f64::NEG_INFINITY, f64::max);
            let scale = best.abs().max(1.0);
            for c in &certs {
                let ub = c.objective.max(c.network_objective);
                assert!(ub >= best - 1e-12 * scale, "seed {seed}: {ub} < {best}");
                assert!(ub - best <= 1e-5 * scale, "seed {seed}: {ub} vs {best}");
            }
        }
    }

    fn rand_soc(seed: u64, m: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..m)
            .map(|k| (((seed * 31 + k as u64 * 17) % 97) as f64 / 97.0) - 0.5)
            .collect();
        let n1 = v[1..].iter().map(|a| a * a).sum::<f64>().sqrt();
        v[0] = n1 + 0.3;
        v
    }

    #[test]
    fn nt_scaling_maps_y_and_s_to_the_same_point() {
        for seed in 0..20u64 {
            let s = rand_soc(seed, 4);
            let y = rand_soc(seed + 100, 4);
            let mut wb = vec![0.0; 4];
            let eta = soc_nt(&s, &y, &mut wb).unwrap();
            assert!((soc_det(&wb) - 1.0).abs() < 1e-12);
            let mut wy = vec![0.0; 4];
            let mut wis = vec![0.0; 4];
            soc_apply_w(&wb, eta, &y, &mut wy, false);
            soc_apply_w(&wb, eta, &s, &mut wis, true);
            for a in 0..4 {
                assert!((wy[a] - wis[a]).abs() < 1e-12, "{wy:?} {wis:?}");
            }
            // W W⁻¹ = I
            let v = rand_soc(seed + 7, 4);
            let mut a1 = vec![0.0; 4];
            let mut a2 = vec![0.0; 4];
            soc_apply_w(&wb, eta, &v, &mut a1, true);
            soc_apply_w(&wb, eta, &a1, &mut a2, false);
            for a in 0..4 {
                assert!((a2[a] - v[a]).abs() < 1e-12);
            }
            // Jordan division inverts the product
            let mut prod = vec![0.0; 4];
            soc_jordan(&wy, &v, &mut prod);
            let mut q = vec![0.0; 4];
            soc_jordan_div(&wy, &prod, &mut q);
            for a in 0..4 {
                assert!((q[a] - v[a]).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn small_inverse_inverts_and_pins_rank_deficient_directions() {
        // A = C Cᵀ + I (m = 11, SPD): A · A⁻¹ = I, A⁻¹ symmetric
        let m = 11;
        let c: Vec<f64> = (0..m * m)
            .map(|k| ((k * 7 % 13) as f64 - 6.0) * 0.1)
            .collect();
        let mut a = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                a[i * m + j] = (0..m).map(|k| c[i * m + k] * c[j * m + k]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let (mut l, mut inv, mut e) = (vec![0.0; m * m], vec![0.0; m * m], vec![0.0; m]);
        small_spd_inverse(&a, m, &mut l, &mut inv, &mut e).unwrap();
        for i in 0..m {
            for j in 0..m {
                let v: f64 = (0..m).map(|k| a[i * m + k] * inv[k * m + j]).sum();
                assert!(
                    (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10,
                    "{i} {j} {v}"
                );
                assert_eq!(inv[i * m + j], inv[j * m + i]);
            }
        }
        // rank one (u uᵀ, m = 3): the pivots rounding kills become infinite (Cholesky-infinity),
        // so the inverse stays finite and the components they belong to are pinned at ~0: only
        // the first pivot u₀² survives
        let u = [1.0, 2.0, 2.0];
        let r1: Vec<f64> = (0..9).map(|k| u[k / 3] * u[k % 3]).collect();
        let (mut l, mut inv, mut e) = (vec![0.0; 9], vec![0.0; 9], vec![0.0; 3]);
        small_spd_inverse(&r1, 3, &mut l, &mut inv, &mut e).unwrap();
        assert!((inv[0] - 1.0 / (u[0] * u[0])).abs() < 1e-12, "{inv:?}");
        assert!(inv[1..].iter().all(|v| v.abs() < 1e-100), "{inv:?}");
        // non-finite input is an error, not a panic
        let mut bad = a.clone();
        bad[0] = f64::NAN;
        let (mut l, mut inv, mut e) = (vec![0.0; m * m], vec![0.0; m * m], vec![0.0; m]);
        assert!(small_spd_inverse(&bad, m, &mut l, &mut inv, &mut e).is_err());
    }

    #[test]
    fn centrality_moves_trial_products_into_the_band() {
        // one block of four LP rows: trial products (h + αΔh)(μ + αΔμ) at α = 0.5 of
        // 0.01 (below), 1 (inside), 33.3… (above, clipped to −hi) and 12 (above)
        let x = Array2::<f64>::zeros((4, 1));
        let lp = LpData {
            x: x.view(),
            xr: &[0.0; 4],
            row_norm: vec![0.0; 4],
            idx: None,
            sg: vec![1.0; 4],
            nl: 4,
            d: 1,
            p: 1,
            nb: 1,
            par: false,
        };
        let col = |v: [f64; 4]| Array2::from_shape_vec((4, 1).f(), v.to_vec()).unwrap();
        let h = col([0.1, 1.0, 5.0, 3.0]);
        let dh = col([0.0, 0.0, 10.0, 2.0]);
        let lam = col([0.1, 1.0, 5.0, 3.0]);
        let dl = col([0.0, 0.0, -10.0 / 3.0, 0.0]);
        // products: 0.01, 1, (5 + 5)(5 − 5/3) = 33.3…, (3 + 1)·3 = 12
        let mut out = lp_zeros(4, 1);
        lp.centrality(LpStep::new(&h, &dh, &lam, &dl), 0.5, (0.1, 10.0), &mut out)
            .unwrap();
        let v = [0.01, 1.0, 10.0 * (5.0 - 5.0 / 3.0), 12.0];
        let want = [0.1 - v[0], 0.0, -10.0, 10.0 - v[3]];
        for k in 0..4 {
            assert!(
                (out[[k, 0]] - want[k]).abs() < 1e-12,
                "{k}: {}",
                out[[k, 0]]
            );
        }
    }

    #[test]
    fn max_step_stops_at_the_boundary() {
        let u = [1.0, 0.0, 0.0];
        let du = [0.0, 1.0, 0.0];
        let a = soc_max_step(&u, &du, 10.0);
        assert!((a - 1.0).abs() < 1e-12);
        let du2 = [1.0, 0.5, 0.0];
        assert_eq!(soc_max_step(&u, &du2, 10.0), 10.0);
        let du3 = [-1.0, 0.0, 0.0];
        assert!((soc_max_step(&u, &du3, 10.0) - 1.0).abs() < 1e-12);
    }
}
