//! LP rows of the interior-point method (the cone constraints S_i X z_b ≥ 0).
//!
//! Per-block kernels over the LP part. Every n-row array of the ReLU program (slacks h, their
//! multipliers μ, S X z, residuals, steps) is stored column-major (nl × B, `.f()`), so a block's
//! rows are contiguous. The arrays are allocated once per solve and each kernel makes one pass
//! over them, in parallel over fixed chunks of blocks (results never depend on the thread count):
//! the elementwise work of a chunk between two products, X Δz and Xᵀ S w, done by the GEMM
//! kernels (inner dimension d resp. n), so no per-row dot product of length d is left. The gated
//! program has no LP rows (nl = 0) and the kernels return zeros.

use std::borrow::Cow;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

use super::super::{Kind, Problem};
use super::Iterate;
use crate::control::Control;
use crate::convex::linalg;
use crate::error::{Error, Result};

/// Blocks per chunk of the per-block kernels.
pub(super) const BCH: usize = 32;

/// The column-major data of an nl × B array.
pub(super) fn fdata(a: &Array2<f64>) -> Result<&[f64]> {
    match a.as_slice_memory_order() {
        Some(s) if a.t().is_standard_layout() => Ok(s),
        _ => Err(Error::Numerical(
            "interior-point LP array is not column-major".into(),
        )),
    }
}

/// [`fdata`], mutable.
pub(super) fn fdata_mut(a: &mut Array2<f64>) -> Result<&mut [f64]> {
    if !a.t().is_standard_layout() {
        return Err(Error::Numerical(
            "interior-point LP array is not column-major".into(),
        ));
    }
    a.as_slice_memory_order_mut()
        .ok_or_else(|| Error::Numerical("interior-point LP array is not contiguous".into()))
}

/// A new nl × B column-major array of zeros.
pub(super) fn lp_zeros(nl: usize, nb: usize) -> Array2<f64> {
    Array2::<f64>::zeros((nl, nb).f())
}

/// An nl × B array over the LP rows `ix` (column-major nl × P; block b has pattern b mod P)
/// scattered into all n rows (n × B, column-major), `fill` elsewhere.
pub(super) fn scatter_rows(
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
/// is not strictly inside its cone (or `ctl` was cancelled: the caller checks next).
#[allow(clippy::too_many_arguments)]
pub(super) fn nearest_rows(
    xs: &[f64],
    n: usize,
    d: usize,
    sign: impl Fn(usize, usize) -> f64 + Sync,
    gates: ArrayView2<f64>,
    m: usize,
    par: bool,
    ctl: &Control,
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
    // once cancelled: None (all rows), and the caller's next check stops the run
    let xg = linalg::matmul_ctl(xv, gates.t(), par, ctl).ok()?; // n × P
    let pick = |i: usize| -> Option<Vec<usize>> {
        if ctl.is_cancelled() {
            return None;
        }
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
pub(super) fn take_scratch(len: usize) -> Vec<f64> {
    let mut v = LP_SCRATCH.with(|c| c.take());
    v.clear();
    v.resize(len, 0.0);
    v
}

/// Return a buffer from [`take_scratch`] for the thread's next call.
pub(super) fn give_scratch(v: Vec<f64>) {
    LP_SCRATCH.with(|c| c.set(v));
}

/// Run `f(first_block, n_blocks, outputs)` over fixed chunks of blocks, handing each call the
/// columns of its blocks in every array of `outs` (nl × B column-major data); the summaries
/// come back in block order.
pub(super) fn over_blocks<R, F>(
    nb: usize,
    nl: usize,
    outs: Vec<&mut [f64]>,
    par: bool,
    f: F,
) -> Vec<R>
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
pub(super) fn col_into(m: &Array2<f64>, b: usize, out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(m.column(b)) {
        *o = v;
    }
}

/// Write per-chunk d × len results (in block order) into the columns of a d × B matrix.
pub(super) fn gather_blocks(parts: &[Array2<f64>], d: usize, nb: usize) -> Array2<f64> {
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
pub(super) enum LpTarget<'a> {
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
    pub(super) fn rows(
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
pub(super) fn band_correction(v: f64, lo: f64, hi: f64) -> f64 {
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
pub(super) struct LpStep<'a> {
    pub(super) h: &'a Array2<f64>,
    pub(super) dh: &'a Array2<f64>,
    pub(super) lam: &'a Array2<f64>,
    pub(super) dlam: &'a Array2<f64>,
}

impl<'a> LpStep<'a> {
    pub(super) fn new(
        h: &'a Array2<f64>,
        dh: &'a Array2<f64>,
        lam: &'a Array2<f64>,
        dlam: &'a Array2<f64>,
    ) -> Self {
        LpStep { h, dh, lam, dlam }
    }

    /// The four arrays' data (h, Δh, μ, Δμ).
    #[allow(clippy::type_complexity)]
    pub(super) fn data(&self) -> Result<(&'a [f64], &'a [f64], &'a [f64], &'a [f64])> {
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
pub(super) struct LpData<'a> {
    pub(super) x: ArrayView2<'a, f64>,
    /// X row-major (n × d).
    pub(super) xr: &'a [f64],
    /// ‖x_k‖ per data row.
    pub(super) row_norm: Vec<f64>,
    pub(super) idx: Option<Vec<usize>>,
    pub(super) sg: Vec<f64>,
    pub(super) nl: usize,
    pub(super) d: usize,
    pub(super) p: usize,
    pub(super) nb: usize,
    pub(super) par: bool,
}

impl<'a> LpData<'a> {
    /// The LP rows of `prob` (X row-major in `xs`/`xsl`, the rows active in each pattern
    /// `rows`, ‖x_k‖² `row_norm2`): the n cone rows per block of the ReLU program, none in the
    /// gated program (its blocks are free, only the norm cones remain); of those, the rows a
    /// warm start kept, else the `lp_rows` rows nearest to the witnesses `gates` ([`nearest_rows`];
    /// `None`: [`lp_row_count`]), else all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        prob: &Problem,
        xs: &'a Array2<f64>,
        xsl: &'a [f64],
        rows: &[Vec<usize>],
        row_norm2: &[f64],
        gates: Option<ArrayView2<f64>>,
        warm: Option<&Iterate>,
        lp_rows: Option<usize>,
        ctl: &Control,
    ) -> Self {
        let (n, d, p, nb) = (prob.n(), prob.d(), prob.p(), prob.n_blocks());
        let dm = d + 1;
        let nl_full = if prob.kind == Kind::Relu { n } else { 0 };
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
                    ctl,
                )
            }),
        };
        let nl = match &lp_idx {
            Some(ix) if p > 0 => ix.len() / p,
            _ => nl_full,
        };
        // the per-block work of an iteration (LP rows and (d+1)² block algebra) decides, not
        // the problem's n·d·P
        let par = prob.par || crate::parallel::should_parallelize(nb * (nl + dm * dm), 50_000);
        LpData {
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
        }
    }

    /// The sign column of block b.
    pub(super) fn signs(&self, b: usize) -> &[f64] {
        let i = b % self.p;
        &self.sg[i * self.nl..(i + 1) * self.nl]
    }

    /// The data rows of block b's LP rows (`None`: rows 0..n).
    pub(super) fn rows_of(&self, b: usize) -> Option<&[usize]> {
        let i = b % self.p;
        self.idx
            .as_ref()
            .map(|ix| &ix[i * self.nl..(i + 1) * self.nl])
    }

    /// Xᵀ w for the len blocks of a chunk starting at block b0 (w: nl × len column-major) →
    /// d × len.
    pub(super) fn xt_times(&self, w: &[f64], b0: usize, len: usize) -> Array2<f64> {
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
            linalg::gathered_axpy(&mut col, self.xr, d, ix, &w[j * nl..(j + 1) * nl]);
            for (a, &c) in col.iter().enumerate() {
                acc[[a, j]] = c;
            }
        }
        acc
    }

    /// X v for the len blocks of a chunk starting at block b0 (v: d × B, its columns b0..)
    /// into `out` (nl × len column-major).
    pub(super) fn x_times(&self, v: ArrayView2<f64>, b0: usize, len: usize, out: &mut [f64]) {
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
            linalg::gathered_dots(&mut out[j * nl..(j + 1) * nl], self.xr, d, ix, &col);
        }
    }

    /// S X z for every block (nl × B, column-major).
    pub(super) fn signed_x(&self, z: &Array2<f64>) -> Result<Array2<f64>> {
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
    /// Checks `ctl` between the product's fixed parts (tens of ms at n = P = 1000).
    pub(super) fn gram(
        &self,
        xx: &Array2<f64>,
        w: &Array2<f64>,
        ctl: &Control,
    ) -> Result<Array2<f64>> {
        let nt = xx.ncols();
        if self.idx.is_none() {
            return linalg::matmul_ctl(w.t(), xx.slice(s![..self.nl, ..]), self.par, ctl);
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
            if b % 64 == 0 && ctl.is_cancelled() {
                return; // the check below reports it
            }
            if let Some(ix) = self.rows_of(b) {
                linalg::gathered_axpy(o, xxs, nt, ix, &wd[b * nl..(b + 1) * nl]);
            }
        };
        if self.par {
            od.par_chunks_mut(nt)
                .enumerate()
                .for_each(|(b, o)| one(b, o));
        } else {
            od.chunks_mut(nt).enumerate().for_each(|(b, o)| one(b, o));
        }
        ctl.check()?;
        Ok(out)
    }

    /// The blocks of z beyond a row outside their LP rows by more than `rel` (relative to
    /// ‖x_k‖‖z_b‖): how many, and the worst relative violation.
    pub(super) fn dropped_violations(
        &self,
        prob: &Problem,
        z: &Array2<f64>,
        rel: f64,
    ) -> (usize, f64) {
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
    pub(super) fn scatter<'b>(
        &self,
        a: &'b Array2<f64>,
        n: usize,
        fill: f64,
    ) -> Cow<'b, Array2<f64>> {
        match self.idx.as_ref() {
            None => Cow::Borrowed(a),
            Some(ix) => Cow::Owned(scatter_rows(a, ix, self.nl, self.p, n, fill)),
        }
    }

    /// Per block: r_p = h − S X z and μ/h (written), and the summary (Σ h μ per block,
    /// max |r_p|, Xᵀ S μ as d × B).
    pub(super) fn residual(
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
    pub(super) fn rhs(
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
    pub(super) fn step(
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
    pub(super) fn centrality(
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
    pub(super) fn max_step(&self, st: LpStep<'_>, cap: f64) -> Result<f64> {
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
    pub(super) fn gap_after(&self, st: LpStep<'_>, alpha: f64) -> Result<f64> {
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
    pub(super) fn update(
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

/// LP rows per pattern the interior-point method keeps: `LP_ROWS_PER_DIM`·d, at least
/// `LP_ROWS_MIN`, and all n when that would keep more than half of them.
pub(super) fn lp_row_count(n: usize, d: usize) -> usize {
    let m = (LP_ROWS_PER_DIM * d).max(LP_ROWS_MIN);
    if 2 * m > n {
        n
    } else {
        m
    }
}

/// Whether a program with n samples in ℝᵈ keeps only a subset of its cone rows per pattern
/// (see [`lp_row_count`]).
pub fn keeps_row_subset(n: usize, d: usize) -> bool {
    lp_row_count(n, d) < n
}

/// LP rows kept per dimension of the data: the facets of the chambers Gaussian witnesses
/// sample at (n, d) = (1000, 20) were all among the 11d rows nearest to the witness (8 chambers
/// checked by LP, 110–140 facets each), and at 12.5d no solve of 12 seeds ended beyond a row it
/// left out (7.5d did).
pub(super) const LP_ROWS_PER_DIM: usize = 15;
/// The fewest LP rows kept per pattern.
pub(super) const LP_ROWS_MIN: usize = 64;
/// Relative violation (by ‖x_k‖‖z_b‖) of a row a block did not keep above which the method
/// solves again with every row.
pub(super) const DROPPED_ROW_TOL: f64 = 1e-9;
