//! The reduced Newton system of the interior-point method and its factorisation.
//!
//! Per iteration the matrix H = B + Kᵀ K of the reduced system has the block-diagonal part
//! B_b = W_b⁻² + P_b ((d+1)² per block: the cone's NT scaling plus the LP rows' Gram matrix
//! Xᵀ diag(μ_b/h_b) X) and K = diag(√ℓ'') J of rank ≤ n. [`block_matrices`] makes the B_b and
//! their inverses, [`Woodbury::schur_blocks`] picks the blocks whose B_b⁻¹ is too large for the
//! Woodbury update, [`Woodbury::assemble`] the n × n matrix M = I + K_N B_N⁻¹ K_Nᵀ over the other
//! blocks (pattern by pattern, in cache-sized tiles), [`Woodbury::factorise`] its Cholesky factor
//! and the kept blocks' Schur complement; [`Kkt`] solves with them, refined against the exact
//! operator.

use ndarray::{s, Array1, Array2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::super::Problem;
use super::lp_rows::BCH;
use crate::control::Control;
use crate::convex::linalg;
use crate::error::{Error, Result};

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
pub(super) struct Kkt<'a> {
    pub(super) prob: &'a Problem,
    /// Block matrices B_b, row-major (d+1)², order (t, z).
    pub(super) bmat: Vec<f64>,
    /// Their inverses.
    pub(super) binv: Vec<f64>,
    /// √ℓ'' per sample.
    pub(super) sqw: Array1<f64>,
    /// Cholesky factor of M = I + K_N B_N⁻¹ K_Nᵀ (N: the blocks not kept in `schur`).
    pub(super) lm: Array2<f64>,
    /// Blocks solved by their own Schur complement instead of the Woodbury update.
    pub(super) schur: Option<Schur>,
    /// Relative residual at which iterative refinement stops.
    pub(super) refine_tol: f64,
    /// The largest relative residual a solve returned with.
    pub(super) worst_residual: std::cell::Cell<f64>,
    /// Whether the per-block products run in parallel.
    pub(super) par: bool,
    /// Checked before every solve of the refinement.
    pub(super) ctl: &'a Control,
}

/// Blocks whose B_b⁻¹ is too large for the Woodbury update in the n-dimensional residual space
/// (the nonzero blocks near the optimum: along the cone's tangent only the loss curvature holds
/// them, so B_b⁻¹ ~ 1/μ and I + K B⁻¹ Kᵀ cancels catastrophically). They are kept as unknowns:
/// with S = B_A + K_Aᵀ M_N⁻¹ K_A and W_A the blocks' NT scalings, S = W⁻¹ T W⁻¹ with
/// T = I + W (P + δI) W + Fᵀ F, F = L_N⁻¹ K_A W — identity plus positive semidefinite terms, so
/// its Cholesky factorisation is as well conditioned as the cone scaling allows.
pub(super) struct Schur {
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
pub(super) fn small_spd_inverse(
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
    /// The reduced system of one iteration from its factorisations; `rel_gap` sets how far the
    /// solves are refined.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        prob: &'a Problem,
        bmat: Vec<f64>,
        binv: Vec<f64>,
        sqw: Array1<f64>,
        lm: Array2<f64>,
        schur: Option<Schur>,
        rel_gap: f64,
        par: bool,
        ctl: &'a Control,
    ) -> Self {
        Kkt {
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
            ctl,
        }
    }

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
            linalg::cholesky_solve(&self.lm, &mut xi);
            let kt = self.kt_apply(&xi);
            return u - Self::block_mul(&self.binv, &kt, dm, self.par);
        };
        for &b in &sc.blocks {
            u.column_mut(b).fill(0.0);
        }
        let g = self.k_apply(&u);
        let mut q = g.clone();
        linalg::cholesky_solve(&self.lm, &mut q);
        let kt = self.kt_apply(&q);
        let mut rhs = Array1::<f64>::zeros(sc.blocks.len() * dm);
        for (a, &b) in sc.blocks.iter().enumerate() {
            for i in 0..dm {
                rhs[a * dm + i] = r[[i, b]] - kt[[i, b]];
            }
        }
        linalg::cholesky_solve(&sc.lt, &mut rhs);
        let mut da = Array2::<f64>::zeros((dm, r.ncols()));
        for (a, &b) in sc.blocks.iter().enumerate() {
            for i in 0..dm {
                da[[i, b]] = rhs[a * dm + i];
            }
        }
        let mut xi = self.k_apply(&da) + g;
        linalg::cholesky_solve(&self.lm, &mut xi);
        let kt = self.kt_apply(&xi);
        let mut out = u - Self::block_mul(&self.binv, &kt, dm, self.par);
        for &b in &sc.blocks {
            out.column_mut(b).assign(&da.column(b));
        }
        out
    }

    /// H⁻¹ r, plus iterative refinement against the exact operator (Ctrl-C checked before
    /// every solve).
    pub(super) fn solve(&self, r: &Array2<f64>) -> Result<Array2<f64>> {
        let once = |r: &Array2<f64>| {
            self.ctl.check()?;
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

/// The data of the Woodbury assembly fixed for a solve: the rows of X active in each pattern,
/// X⊙X for the LP Gram matrices, and the packed operands of the tiled assembly.
pub(super) struct Woodbury<'a> {
    /// X row-major (n × d).
    xsl: &'a [f64],
    n: usize,
    d: usize,
    p: usize,
    nb: usize,
    /// The data rows active in each pattern (D_i = 1).
    pub(super) rows: Vec<Vec<usize>>,
    /// X⊙X (n × d(d+1)/2, row k = the lower triangle of x_k x_kᵀ): the LP Gram matrices of all
    /// blocks are one product with it.
    pub(super) xx: Array2<f64>,
    /// ‖x_k‖² per data row.
    pub(super) row_norm2: Vec<f64>,
    /// max ‖x_k‖² over each pattern's active rows.
    xr_max2: Vec<f64>,
    /// Tiles per side of M and their width (a multiple of the kernel's panel).
    ntile: usize,
    wt: usize,
    /// The rows of X active in each pattern, packed by tile in blocks of the assembly kernel's
    /// register tile (the operand of the Woodbury assembly) …
    packed: Vec<linalg::PackedRows>,
    /// … and `c_xt[i]` = C_i X_iᵀ in the same layout, made once per iteration and read by every
    /// tile.
    c_xt: Vec<Vec<f64>>,
    /// The assembly's work arrays, kept from one iteration to the next: one w × w tile per unit
    /// of work, and M itself (n × n). Fresh ones every iteration were faulted in and zeroed by
    /// the kernel on the calling thread: with 2 threads, 13% of a (1000, 20, 1000) ReLU fit's
    /// CPU time, all of it outside the parallel work.
    bufs: Vec<Vec<f64>>,
    mm: Array2<f64>,
}

impl<'a> Woodbury<'a> {
    /// The fixed data of `prob` (X row-major in `xsl`).
    pub(super) fn new(prob: &Problem, xsl: &'a [f64], ctl: &Control) -> Result<Self> {
        let n = prob.n();
        let d = prob.d();
        let p = prob.p();
        let rows: Vec<Vec<usize>> = (0..p)
            .map(|i| (0..n).filter(|&k| prob.mask[[k, i]] != 0.0).collect())
            .collect();
        ctl.check()?; // the rows of every pattern: an n × P scan
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
        // the Woodbury matrix is assembled in tiles of w × w (≤ WOODBURY_TILE) that stay in
        // cache while every pattern adds its share
        let panel = linalg::PANEL;
        let ntile = n.div_ceil(WOODBURY_TILE).max(1);
        let wt = n.div_ceil(ntile).div_ceil(panel) * panel;
        // packed per pattern, on the pool when the problem's products are (each pattern is one
        // unit; the packed operands and C_i X_iᵀ are ~2·n·d·P/2 values, first touched here: done
        // on one thread they were the largest serial part of a phase's start)
        let pack = |r: &Vec<usize>| -> Result<(linalg::PackedRows, Vec<f64>)> {
            ctl.check()?;
            let pk = linalg::PackedRows::new(xsl, d, r, wt, ntile);
            let t = vec![0.0; pk.x.len()];
            Ok((pk, t))
        };
        let both: Vec<(linalg::PackedRows, Vec<f64>)> = if prob.par {
            rows.par_iter().map(pack).collect::<Result<_>>()?
        } else {
            rows.iter().map(pack).collect::<Result<_>>()?
        };
        let (packed, c_xt): (Vec<linalg::PackedRows>, Vec<Vec<f64>>) = both.into_iter().unzip();
        let row_norm2: Vec<f64> = (0..n)
            .map(|k| xsl[k * d..(k + 1) * d].iter().map(|v| v * v).sum())
            .collect();
        let xr_max2: Vec<f64> = rows
            .iter()
            .map(|r| r.iter().map(|&k| row_norm2[k]).fold(0.0, f64::max))
            .collect();
        Ok(Woodbury {
            xsl,
            n,
            d,
            p,
            nb: prob.n_blocks(),
            rows,
            xx,
            row_norm2,
            xr_max2,
            ntile,
            wt,
            packed,
            c_xt,
            bufs: Vec::new(),
            mm: Array2::zeros((0, 0)),
        })
    }

    /// The blocks too large for the Woodbury update (see [`Schur`]): those whose weight
    /// ‖B_b⁻¹‖·max‖x‖²·max ℓ'' exceeds `schur_min_weight`, the largest first, capped at
    /// `SCHUR_MAX_DIM` unknowns; ascending.
    pub(super) fn schur_blocks(
        &self,
        binv: &[f64],
        sqw: &Array1<f64>,
        schur_min_weight: f64,
    ) -> Vec<usize> {
        let (nb, p, dm) = (self.nb, self.p, self.d + 1);
        let xr_max2 = &self.xr_max2;
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
        kept
    }

    /// M = I + diag(√w) Σ_i X_R (C_v + C_w) X_Rᵀ diag(√w) over the blocks outside `kept`
    /// (its lower triangle, all the factorisation reads), kept for [`Woodbury::factorise`].
    pub(super) fn assemble(
        &mut self,
        binv: &[f64],
        kept: &[usize],
        sqw: &Array1<f64>,
        par: bool,
        ctl: &Control,
    ) -> Result<()> {
        let (n, d, p, nb, dm) = (self.n, self.d, self.p, self.nb, self.d + 1);
        let (ntile, wt) = (self.ntile, self.wt);
        let (rows, xr_max2, packed) = (&self.rows, &self.xr_max2, &self.packed);
        let c_xt = &mut self.c_xt;
        let (bufs, mm) = (&mut self.bufs, &mut self.mm);
        let wmax = sqw.iter().fold(0.0f64, |a, v| a.max(v * v));
        let mut in_schur = vec![false; nb];
        for &b in kept {
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
            if live[i] && !linalg::packed_product(&cmat[i * d * d..], &packed[i].x, out, d) {
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
        let tile_of = |(&(u, c), buf): (&(usize, usize), &mut Vec<f64>)| -> Result<()> {
            let (ti, tj) = pairs[u];
            buf.clear();
            buf.resize(wt * wt, 0.0);
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
                let op = linalg::BlockProduct {
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
                linalg::add_block_product(&op, buf, wt);
            }
            Ok(())
        };
        bufs.resize_with(units.len(), Vec::new);
        if par {
            units
                .par_iter()
                .zip(bufs.par_iter_mut())
                .try_for_each(tile_of)?;
        } else {
            units.iter().zip(bufs.iter_mut()).try_for_each(tile_of)?;
        }
        let bufs = &*bufs;
        // M = I + diag(√w) (lower triangle of the tiles) diag(√w): the lower triangle, all the
        // factorisation reads
        // (by chunks of rows, in parallel: every entry sums the units in their order)
        if mm.dim() != (n, n) {
            *mm = Array2::<f64>::zeros((n, n));
        }
        let sq = sqw
            .as_slice()
            .ok_or_else(|| Error::Numerical("√w not contiguous".into()))?;
        let fill = |(c, mut rows): (usize, ArrayViewMut2<f64>)| {
            for (q, mut row) in rows.outer_iter_mut().enumerate() {
                let k = c * BCH + q;
                let ti = k / wt;
                row.fill(0.0);
                row[k] = 1.0;
                for (&(u, _), buf) in units.iter().zip(bufs) {
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
        Ok(())
    }

    /// The Cholesky factor of M (from the last [`Woodbury::assemble`]) and, when blocks are
    /// `kept` out of it, the Schur complement of those blocks.
    pub(super) fn factorise(
        &self,
        kept: Vec<usize>,
        bmat: &[f64],
        sqw: &Array1<f64>,
        par: bool,
        ctl: &Control,
    ) -> Result<(Array2<f64>, Option<Schur>)> {
        let (n, d, p, dm) = (self.n, self.d, self.p, self.d + 1);
        let (rows, xsl) = (&self.rows, self.xsl);
        ctl.check()?;
        let lm = linalg::cholesky_ctl(&self.mm, true, ctl)?;
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
            ctl.check()?;
            linalg::forward_solve_rows(&lm, &mut f, par);
            ctl.check()?;
            let mut tm = linalg::matmul(f.t(), f.view(), par);
            ctl.check()?;
            for (a, &b) in kept.iter().enumerate() {
                let bm = &bmat[b * dm * dm..(b + 1) * dm * dm];
                for i in 0..dm {
                    for j in 0..dm {
                        tm[[a * dm + i, a * dm + j]] += bm[i * dm + j];
                    }
                }
            }
            let lt = linalg::cholesky_inf(&tm)?;
            Some(Schur { blocks: kept, lt })
        };
        ctl.check()?;
        Ok((lm, schur))
    }
}

/// The block matrices B_b = W_b⁻² + P_b (P_b the LP rows' Gram matrix on the z indices, from
/// `gram`: B × d(d+1)/2 lower triangles) and their inverses, row-major (d+1)² per block.
/// `w2`: the cones' W⁻², (w̄, η) their NT scalings, δ the regularisation of the ray direction.
#[allow(clippy::too_many_arguments)]
pub(super) fn block_matrices(
    gram: &Array2<f64>,
    w2: &[f64],
    wbar: &Array2<f64>,
    eta: &Array1<f64>,
    delta: f64,
    d: usize,
    nb: usize,
    par: bool,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let dm = d + 1;
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
        let congruence =
            |qm: &[f64], out: &mut [f64], qv: &mut [f64], uv: &mut [f64], add_identity: bool| {
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
    Ok((bmat, binv))
}

/// A block's weight ‖B_b⁻¹‖·max‖x‖²·max ℓ'' in M above which it is kept out of the Woodbury
/// update and solved through the Schur complement.
pub(super) const SCHUR_MIN_WEIGHT: f64 = 1e3;
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
