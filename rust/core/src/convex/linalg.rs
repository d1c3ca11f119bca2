//! Small dense kernels: column-chunked (deterministic, optionally parallel) products and a dense
//! Cholesky factorisation with triangular solves.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};

/// Column chunk width of the products: fixed, so results never depend on the thread count.
pub const CHUNK: usize = 64;

/// `out = a · b`, split into fixed chunks, in parallel when `par`: column chunks of `b`/`out`,
/// or row chunks of `a`/`out` when `out` has one column chunk and several row chunks (a tall
/// product with few columns, like n × P · P × d). The split depends on the shapes only, so
/// results never depend on the thread count.
pub fn matmul_into(a: ArrayView2<f64>, b: ArrayView2<f64>, mut out: ArrayViewMut2<f64>, par: bool) {
    let by_rows = out.ncols() <= CHUNK && out.nrows() > CHUNK;
    let parts: Vec<(ArrayViewMut2<f64>, ArrayView2<f64>, ArrayView2<f64>)> = if by_rows {
        out.axis_chunks_iter_mut(Axis(0), CHUNK)
            .zip(a.axis_chunks_iter(Axis(0), CHUNK))
            .map(|(o, ac)| (o, ac, b.view()))
            .collect()
    } else {
        out.axis_chunks_iter_mut(Axis(1), CHUNK)
            .zip(b.axis_chunks_iter(Axis(1), CHUNK))
            .map(|(o, bc)| (o, a.view(), bc))
            .collect()
    };
    let mul = |(mut o, ac, bc): (ArrayViewMut2<f64>, ArrayView2<f64>, ArrayView2<f64>)| {
        general_mat_mul(1.0, &ac, &bc, 0.0, &mut o)
    };
    if par {
        use rayon::prelude::*;
        parts.into_par_iter().for_each(mul);
    } else {
        parts.into_iter().for_each(mul);
    }
}

/// `a · b` as a new array (see [`matmul_into`]).
pub fn matmul(a: ArrayView2<f64>, b: ArrayView2<f64>, par: bool) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((a.nrows(), b.ncols()));
    matmul_into(a, b, out.view_mut(), par);
    out
}

/// Lower Cholesky factor L (A = L Lᵀ) of a symmetric positive-definite matrix, of which only
/// the lower triangle is read (callers may leave the upper one unset).
pub fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    cholesky_impl(a, false)
}

/// Cholesky factor of an ill-conditioned SPD matrix (an interior-point normal matrix) in which
/// a pivot that rounding has made tiny (≤ 1e-15 of its original diagonal) or negative is
/// replaced by a huge one ("Cholesky-infinity", LIPSOL/PCx): the matching component of a
/// solution becomes ~0 instead of garbage.
pub fn cholesky_inf(a: &Array2<f64>) -> Result<Array2<f64>> {
    cholesky_impl(a, true)
}

/// Trailing size from which [`cholesky`]'s updates run in parallel.
const PAR_CHOLESKY_MIN: usize = 256;

fn cholesky_impl(a: &Array2<f64>, inf: bool) -> Result<Array2<f64>> {
    // Right-looking blocked factorisation: each panel of NB columns is factorised in place
    // (dot products over the panel's columns), then the trailing matrix is updated by one GEMM.
    const NB: usize = 64;
    let n = a.nrows();
    let mut w = a.as_standard_layout().into_owned();
    for kb in (0..n).step_by(NB) {
        let ke = (kb + NB).min(n);
        {
            let Some(ws) = w.as_slice_mut() else {
                return Err(Error::Numerical(
                    "Cholesky work matrix is not contiguous".into(),
                ));
            };
            // the panel's diagonal block, column by column
            for j in kb..ke {
                let (head, tail) = ws[..ke * n].split_at_mut(j * n + n);
                let rj = &mut head[j * n..];
                let s = rj[j] - dot(&rj[kb..j], &rj[kb..j]);
                let ajj = a[[j, j]];
                let d = if inf && s.is_finite() && ajj.is_finite() && s <= 1e-15 * ajj.abs() {
                    1e64
                } else if s.is_nan() || s <= 0.0 {
                    return Err(Error::Numerical(format!(
                        "Cholesky factorisation failed at pivot {j} (value {s:e}): matrix not positive definite"
                    )));
                } else {
                    s.sqrt()
                };
                rj[j] = d;
                let lj = &rj[kb..j];
                for ri in tail.chunks_exact_mut(n) {
                    ri[j] = (ri[j] - dot(&ri[kb..j], lj)) / d;
                }
            }
            // the panel's rows below it: each row on its own (the same dot products as column
            // by column), by fixed row chunks, in parallel for large matrices
            let (head, tail) = ws.split_at_mut(ke * n);
            let diag = &head[kb * n..];
            let solve_rows = |rows: &mut [f64]| {
                for ri in rows.chunks_exact_mut(n) {
                    for j in kb..ke {
                        let rj = &diag[(j - kb) * n..(j - kb + 1) * n];
                        ri[j] = (ri[j] - dot(&ri[kb..j], &rj[kb..j])) / rj[j];
                    }
                }
            };
            if n - ke >= PAR_CHOLESKY_MIN {
                use rayon::prelude::*;
                tail.par_chunks_mut(NB * n).for_each(solve_rows);
            } else {
                tail.chunks_mut(NB * n).for_each(solve_rows);
            }
        }
        if ke < n {
            // the trailing update of the lower triangle only, by column chunks (rows from the
            // chunk's diagonal down), in parallel for large matrices: same result either way
            let l21 = w.slice(ndarray::s![ke.., kb..ke]).to_owned();
            let mut w22 = w.slice_mut(ndarray::s![ke.., ke..]);
            let chunks: Vec<(usize, ArrayViewMut2<f64>)> = w22
                .axis_chunks_iter_mut(Axis(1), NB)
                .enumerate()
                .map(|(c, v)| (c * NB, v))
                .collect();
            let upd = |(c0, mut v): (usize, ArrayViewMut2<f64>)| {
                let c1 = c0 + v.ncols();
                let mut low = v.slice_mut(ndarray::s![c0.., ..]);
                let lr = l21.slice(ndarray::s![c0.., ..]);
                let lc = l21.slice(ndarray::s![c0..c1, ..]);
                general_mat_mul(-1.0, &lr, &lc.t(), 1.0, &mut low);
            };
            if n - ke >= PAR_CHOLESKY_MIN {
                use rayon::prelude::*;
                chunks.into_par_iter().for_each(upd);
            } else {
                chunks.into_iter().for_each(upd);
            }
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            w[[i, j]] = 0.0;
        }
    }
    Ok(w)
}

/// Column tile of [`add_tile_product`]: the columns of its register tile.
pub const LOWER_TILE: usize = 8;

/// Rows of the register tile of [`add_tile_product`] (and the padding of its T operand).
pub const LOWER_ROWS: usize = 6;

/// The operands of [`add_tile_product`]: one pattern's share of one tile of a symmetric
/// n × n sum Σ_i X_i C_i X_iᵀ scattered into the rows `rows` of pattern i.
///
/// - `xt`: X_iᵀ, d × `ld` row-major (column b ↔ target row `rows[b]`), with
///   `ld ≥ b.end + LOWER_TILE − 1` and `ld ≥ a.end + LOWER_ROWS − 1` (zero padding past
///   `rows.len()`).
/// - `t`: C_i X_iᵀ in the same layout (computed once per pattern, read by every tile).
/// - `a`, `b`: the ranges of `rows` inside the tile's row block and column block; `origin` the
///   tile's first target row and column.
pub struct TileProduct<'a> {
    pub t: &'a [f64],
    pub xt: &'a [f64],
    pub ld: usize,
    pub d: usize,
    pub rows: &'a [usize],
    pub a: std::ops::Range<usize>,
    pub b: std::ops::Range<usize>,
    pub origin: (usize, usize),
}

/// `buf[(r_a − o₀)·w + r_b − o₁] += Σ_j t[j, a − a.start] · xt[j, b]` for every a in `op.a`,
/// b in `op.b` with b ≤ a (r = `op.rows`, sorted; o = `op.origin`): the lower triangle of one
/// pattern's rank-d product, scattered into a w × w tile `buf` (row-major) that stays in cache
/// while every pattern adds its share. Tiles of 6 × 8 entries are accumulated in registers,
/// with AVX2 + FMA where the CPU has them (detected at run time: the rounding then differs from
/// the portable path's, never with the thread count). Inconsistent sizes leave `buf` unchanged.
pub fn add_tile_product(op: &TileProduct<'_>, buf: &mut [f64], w: usize) {
    let (d, r) = (op.d, op.rows);
    let (a, b) = (&op.a, &op.b);
    let ok = a.start <= a.end
        && b.start <= b.end
        && a.end <= r.len()
        && b.end <= r.len()
        && (a.is_empty() || op.ld + 1 >= a.end + LOWER_ROWS)
        && (b.is_empty() || op.ld + 1 >= b.end + LOWER_TILE)
        && op.t.len() >= d * op.ld
        && op.xt.len() >= d * op.ld
        && buf.len() >= w * w
        && r[a.clone()]
            .iter()
            .all(|&k| k >= op.origin.0 && k - op.origin.0 < w)
        && r[b.clone()]
            .iter()
            .all(|&k| k >= op.origin.1 && k - op.origin.1 < w);
    if !ok || a.is_empty() || b.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, and the sizes were checked above.
            unsafe { add_tile_product_fma(op, buf, w) };
            return;
        }
    }
    add_tile_product_portable(op, buf, w);
}

/// Add the rows `ra` of a finished register tile (rows a0.., columns b0..) to `buf`, lower
/// triangle and the column range only; a tile wholly on or below the diagonal adds full rows
/// at target columns looked up once.
#[inline(always)]
fn scatter_tile(
    op: &TileProduct<'_>,
    buf: &mut [f64],
    w: usize,
    (a0, b0, ra): (usize, usize, usize),
    tile: &[f64; LOWER_ROWS * LOWER_TILE],
) {
    let r = op.rows;
    let (o0, o1) = op.origin;
    if b0 + LOWER_TILE <= op.b.end && a0 + 1 >= b0 + LOWER_TILE {
        let mut cols = [0usize; LOWER_TILE];
        for (c, &rb) in cols.iter_mut().zip(&r[b0..b0 + LOWER_TILE]) {
            *c = rb - o1;
        }
        for (q, &ka) in r[a0..a0 + ra].iter().enumerate() {
            let base = (ka - o0) * w;
            for c in 0..LOWER_TILE {
                // SAFETY: as below (every column of the register tile is in `op.b`)
                unsafe { *buf.get_unchecked_mut(base + cols[c]) += tile[q * LOWER_TILE + c] };
            }
        }
        return;
    }
    for q in 0..ra {
        let a = a0 + q;
        let bend = (b0 + LOWER_TILE).min(a + 1).min(op.b.end);
        if bend <= b0 {
            continue;
        }
        let base = (r[a] - o0) * w;
        let tq = &tile[q * LOWER_TILE..(q + 1) * LOWER_TILE];
        for (&rb, &v) in r[b0..bend].iter().zip(tq) {
            // SAFETY: `add_tile_product` checked r[a] − o₀ < w and r[b] − o₁ < w for every a in
            // `op.a` and b in `op.b` (a0 + q < a.end, b.start ≤ b0 < bend ≤ b.end), and
            // buf.len() ≥ w²
            unsafe { *buf.get_unchecked_mut(base + rb - o1) += v };
        }
    }
}

/// The 6 × 8 register tile of [`add_tile_product`] in AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and the sizes must pass [`add_tile_product`]'s checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_tile_product_fma(op: &TileProduct<'_>, buf: &mut [f64], w: usize) {
    use std::arch::x86_64::{
        _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let (t, xt, ld, d) = (op.t, op.xt, op.ld, op.d);
    let (sa, ea, sb) = (op.a.start, op.a.end, op.b.start);
    let mut tile = [0.0f64; LOWER_ROWS * LOWER_TILE];
    for a0 in (sa..ea).step_by(LOWER_ROWS) {
        let ra = LOWER_ROWS.min(ea - a0);
        let bstop = (a0 + ra).min(op.b.end);
        for b0 in (sb..bstop).step_by(LOWER_TILE) {
            let mut c = [_mm256_setzero_pd(); 2 * LOWER_ROWS];
            for j in 0..d {
                // b0 + 8 ≤ b.end + 7 ≤ ld and a0 + 6 ≤ a.end + 5 ≤ ld: in bounds
                let xp = xt.as_ptr().add(j * ld + b0);
                let x0 = _mm256_loadu_pd(xp);
                let x1 = _mm256_loadu_pd(xp.add(4));
                let tp = t.as_ptr().add(j * ld + a0);
                for q in 0..LOWER_ROWS {
                    let tv = _mm256_broadcast_sd(&*tp.add(q));
                    c[2 * q] = _mm256_fmadd_pd(tv, x0, c[2 * q]);
                    c[2 * q + 1] = _mm256_fmadd_pd(tv, x1, c[2 * q + 1]);
                }
            }
            for (k, ck) in c.iter().enumerate() {
                _mm256_storeu_pd(tile.as_mut_ptr().add(4 * k), *ck);
            }
            scatter_tile(op, buf, w, (a0, b0, ra), &tile);
        }
    }
}

/// [`add_tile_product`] without SIMD intrinsics.
fn add_tile_product_portable(op: &TileProduct<'_>, buf: &mut [f64], w: usize) {
    let (t, xt, ld, d) = (op.t, op.xt, op.ld, op.d);
    let (sa, ea, sb) = (op.a.start, op.a.end, op.b.start);
    for a0 in (sa..ea).step_by(LOWER_ROWS) {
        let ra = LOWER_ROWS.min(ea - a0);
        let bstop = (a0 + ra).min(op.b.end);
        for b0 in (sb..bstop).step_by(LOWER_TILE) {
            let mut tile = [0.0f64; LOWER_ROWS * LOWER_TILE];
            for j in 0..d {
                let xv = &xt[j * ld + b0..j * ld + b0 + LOWER_TILE];
                let tv = &t[j * ld + a0..j * ld + a0 + LOWER_ROWS];
                for (q, &tq) in tv.iter().enumerate() {
                    for (o, &xc) in tile[q * LOWER_TILE..(q + 1) * LOWER_TILE]
                        .iter_mut()
                        .zip(xv)
                    {
                        *o += tq * xc;
                    }
                }
            }
            scatter_tile(op, buf, w, (a0, b0, ra), &tile);
        }
    }
}

/// Dot product with eight independent accumulators (vectorises).
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s + acc.iter().sum::<f64>()
}

/// Order from which [`cholesky_solve`] updates the rows outside a block in parallel.
const PAR_SOLVE_MIN: usize = 512;

/// Solve (L Lᵀ) x = b in place: both triangular solves by blocks of [`TRSM_BLOCK`] rows, the
/// rest of the vector updated after each block (by fixed chunks, in parallel from
/// [`PAR_SOLVE_MIN`] on: the same result either way).
pub fn cholesky_solve(l: &Array2<f64>, b: &mut Array1<f64>) {
    let n = l.nrows();
    let (Some(ls), Some(bs)) = (l.as_slice(), b.as_slice_mut()) else {
        let lo = l.as_standard_layout().into_owned();
        let mut bo = b.to_owned();
        cholesky_solve(&lo, &mut bo);
        b.assign(&bo);
        return;
    };
    let par = n >= PAR_SOLVE_MIN;
    // L y = b: a block's rows, then y_below −= L[below, block] y_block
    for kb in (0..n).step_by(TRSM_BLOCK) {
        let ke = (kb + TRSM_BLOCK).min(n);
        for i in kb..ke {
            let s = dot(&ls[i * n + kb..i * n + i], &bs[kb..i]);
            bs[i] = (bs[i] - s) / ls[i * n + i];
        }
        let (done, below) = bs.split_at_mut(ke);
        let yb = &done[kb..ke];
        let upd = |(c, chunk): (usize, &mut [f64])| {
            for (r, v) in chunk.iter_mut().enumerate() {
                let i = ke + c * CHUNK + r;
                *v -= dot(&ls[i * n + kb..i * n + ke], yb);
            }
        };
        if par {
            use rayon::prelude::*;
            below.par_chunks_mut(CHUNK).enumerate().for_each(upd);
        } else {
            below.chunks_mut(CHUNK).enumerate().for_each(upd);
        }
    }
    // Lᵀ x = y: a block's rows from the last, then x_above −= L[block, above]ᵀ x_block (rows of
    // L, contiguous)
    for kb in (0..n).step_by(TRSM_BLOCK).rev() {
        let ke = (kb + TRSM_BLOCK).min(n);
        for i in (kb..ke).rev() {
            let xi = bs[i] / ls[i * n + i];
            bs[i] = xi;
            for k in kb..i {
                bs[k] -= ls[i * n + k] * xi;
            }
        }
        let (above, rest) = bs.split_at_mut(kb);
        let xb = &rest[..ke - kb];
        let upd = |(c, chunk): (usize, &mut [f64])| {
            let k0 = c * CHUNK;
            for (q, &xi) in xb.iter().enumerate() {
                let row = &ls[(kb + q) * n + k0..(kb + q) * n + k0 + chunk.len()];
                for (v, &lv) in chunk.iter_mut().zip(row) {
                    *v -= lv * xi;
                }
            }
        };
        if par {
            use rayon::prelude::*;
            above.par_chunks_mut(CHUNK).enumerate().for_each(upd);
        } else {
            above.chunks_mut(CHUNK).enumerate().for_each(upd);
        }
    }
}

/// Solve L X = B in place for a lower-triangular L: blocks of [`TRSM_BLOCK`] rows, each
/// solved row by row (vector operations over the columns of B) and then subtracted from the
/// rows below by one GEMM (in parallel over fixed column chunks when `par`).
pub fn forward_solve_rows(l: &Array2<f64>, b: &mut Array2<f64>, par: bool) {
    let n = l.nrows();
    for kb in (0..n).step_by(TRSM_BLOCK) {
        let ke = (kb + TRSM_BLOCK).min(n);
        for i in kb..ke {
            let (done, mut rest) = b.view_mut().split_at(Axis(0), i);
            let mut bi = rest.row_mut(0);
            let li = l.row(i);
            for (k, bk) in done.rows().into_iter().enumerate().skip(kb) {
                let c = li[k];
                if c != 0.0 {
                    bi.scaled_add(-c, &bk);
                }
            }
            bi /= li[i];
        }
        if ke < n {
            let (top, mut below) = b.view_mut().split_at(Axis(0), ke);
            let solved = top.slice(ndarray::s![kb..ke, ..]);
            let lk = l.slice(ndarray::s![ke.., kb..ke]);
            let upd = |mut o: ArrayViewMut2<f64>, sc: ArrayView2<f64>| {
                general_mat_mul(-1.0, &lk, &sc, 1.0, &mut o)
            };
            if par {
                use rayon::prelude::*;
                let pairs: Vec<_> = below
                    .axis_chunks_iter_mut(Axis(1), CHUNK)
                    .zip(solved.axis_chunks_iter(Axis(1), CHUNK))
                    .collect();
                pairs.into_par_iter().for_each(|(o, sc)| upd(o, sc));
            } else {
                upd(below.view_mut(), solved);
            }
        }
    }
}

/// Row block of [`forward_solve_rows`].
pub const TRSM_BLOCK: usize = 64;

/// Inverse of a small SPD matrix through its Cholesky factor.
pub fn spd_inverse(a: &Array2<f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let l = cholesky(a)?;
    let mut inv = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut e = Array1::<f64>::zeros(n);
        e[j] = 1.0;
        cholesky_solve(&l, &mut e);
        inv.column_mut(j).assign(&e);
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cholesky_solves() {
        let a = array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let l = cholesky(&a).unwrap();
        let mut b = array![1.0, 2.0, 3.0];
        let b0 = b.clone();
        cholesky_solve(&l, &mut b);
        let r = a.dot(&b) - &b0;
        assert!(r.iter().all(|v| v.abs() < 1e-12));
        let inv = spd_inverse(&a).unwrap();
        let id = a.dot(&inv);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id[[i, j]] - e).abs() < 1e-12);
            }
        }
        assert!(cholesky(&array![[1.0, 2.0], [2.0, 1.0]]).is_err());
    }

    #[test]
    fn blocked_cholesky_factors_large_matrices() {
        // n spans several 64-column panels (panel rows and trailing updates in parallel above
        // PAR_CHOLESKY_MIN, the solves' updates above PAR_SOLVE_MIN); A = B Bᵀ + I is SPD
        let n = PAR_CHOLESKY_MIN.max(PAR_SOLVE_MIN) + 90;
        let b = Array2::from_shape_fn((n, n), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64 - 8.0) * 0.1
        });
        let a = b.dot(&b.t()) + Array2::<f64>::eye(n);
        let l = cholesky(&a).unwrap();
        for i in 0..n {
            for j in i + 1..n {
                assert_eq!(l[[i, j]], 0.0);
            }
        }
        let r = l.dot(&l.t()) - &a;
        assert!(r.iter().all(|v| v.abs() < 1e-10 * a[[0, 0]].abs().max(1.0)));
        // only the lower triangle is read
        let mut lower = a.clone();
        for i in 0..n {
            for j in i + 1..n {
                lower[[i, j]] = f64::NAN;
            }
        }
        assert_eq!(cholesky(&lower).unwrap(), l);
        let x0 = Array1::from_shape_fn(n, |i| (i as f64).sin());
        let mut x = a.dot(&x0);
        cholesky_solve(&l, &mut x);
        assert!(x.iter().zip(x0.iter()).all(|(u, v)| (u - v).abs() < 1e-9));
        // a rank-deficient PSD matrix fails plainly and factorises with infinite pivots
        let c = Array2::from_shape_fn((n, 3), |(i, j)| ((i + j) as f64).cos());
        let s = c.dot(&c.t());
        assert!(cholesky(&s).is_err());
        let li = cholesky_inf(&s).unwrap();
        assert!(li.iter().all(|v| v.is_finite()));
        assert!(li.diag().iter().filter(|&&v| v == 1e64).count() >= n - 3);
    }

    #[test]
    fn blocked_forward_solve_matches_the_system() {
        // n spans several row blocks, B several column chunks; serial and parallel agree
        let (n, m) = (150usize, 3 * CHUNK + 5);
        let l = Array2::from_shape_fn((n, n), |(i, j)| match i.cmp(&j) {
            std::cmp::Ordering::Less => 0.0,
            std::cmp::Ordering::Equal => 2.0 + (i % 3) as f64,
            std::cmp::Ordering::Greater => (((i * 7 + j * 3) % 11) as f64 - 5.0) * 0.02,
        });
        let b0 = Array2::from_shape_fn((n, m), |(i, j)| ((i * 5 + j * 13) % 17) as f64 - 8.0);
        for par in [false, true] {
            let mut x = b0.clone();
            forward_solve_rows(&l, &mut x, par);
            let r = l.dot(&x) - &b0;
            assert!(r.iter().all(|v| v.abs() < 1e-9), "par = {par}");
        }
    }

    #[test]
    fn tile_products_add_up_to_the_lower_triangle_on_both_paths() {
        // ni = 13 rows scattered into n = 20, tiles of w = 8 (the last one partial): the tiles
        // J ≤ I of both the AVX2 and the portable kernel add up to the lower triangle of Tᵀ X
        // at the scattered positions, and leave everything else alone
        tile_products_case(20, 3, 13, 8, true);
        // larger tiles hold register tiles wholly below the diagonal (the full-row scatter)
        tile_products_case(200, 5, 120, 64, false);
    }

    fn tile_products_case(n: usize, d: usize, ni: usize, w: usize, bad_sizes: bool) {
        let ld = ni.div_ceil(LOWER_TILE) * LOWER_TILE + LOWER_TILE;
        let r: Vec<usize> = (0..ni)
            .map(|a| (a * 3 + 1) % n)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(r.len(), ni);
        let mut t = vec![0.0; d * ld];
        let mut x = vec![0.0; d * ld];
        for j in 0..d {
            for a in 0..ni {
                t[j * ld + a] = ((a * 7 + j * 5) % 11) as f64 * 0.3 - 1.2;
                x[j * ld + a] = ((a * 3 + j * 2) % 13) as f64 * 0.2 - 0.9;
            }
        }
        let expect = |acc: &[f64]| {
            for ka in 0..n {
                for kb in 0..n {
                    let (pa, pb) = (
                        r.iter().position(|&v| v == ka),
                        r.iter().position(|&v| v == kb),
                    );
                    let want = match (pa, pb) {
                        (Some(a), Some(b)) if b <= a => {
                            1.0 + (0..d).map(|j| t[j * ld + a] * x[j * ld + b]).sum::<f64>()
                        }
                        _ => 1.0,
                    };
                    assert!((acc[ka * n + kb] - want).abs() < 1e-12, "{ka} {kb}");
                }
            }
        };
        let ntile = n.div_ceil(w);
        let seg = |i: usize| r.partition_point(|&k| k < i * w);
        for portable in [false, true] {
            let mut acc = vec![1.0; n * n];
            for ti in 0..ntile {
                for tj in 0..=ti {
                    let (a, b) = (seg(ti)..seg(ti + 1), seg(tj)..seg(tj + 1));
                    let op = TileProduct {
                        t: &t,
                        xt: &x,
                        ld,
                        d,
                        rows: &r,
                        a,
                        b,
                        origin: (ti * w, tj * w),
                    };
                    let mut buf = vec![0.0; w * w];
                    if portable {
                        add_tile_product_portable(&op, &mut buf, w);
                    } else {
                        add_tile_product(&op, &mut buf, w);
                    }
                    for k in 0..w.min(n - ti * w) {
                        for l in 0..w.min(n - tj * w) {
                            acc[(ti * w + k) * n + tj * w + l] += buf[k * w + l];
                        }
                    }
                }
            }
            expect(&acc);
        }
        if !bad_sizes {
            return;
        }
        // inconsistent sizes (ld too short for the column ranges, rows outside the tile, T
        // shorter than its layout) change nothing
        let (a, b) = (seg(1)..seg(2), seg(0)..seg(1));
        let short = vec![1.0; d * ld - 1];
        let mk = |t: &[f64], ld: usize, origin: (usize, usize)| {
            let op = TileProduct {
                t,
                xt: &x,
                ld,
                d,
                rows: &r,
                a: a.clone(),
                b: b.clone(),
                origin,
            };
            let mut buf = vec![1.0; w * w];
            add_tile_product(&op, &mut buf, w);
            buf.iter().all(|&v| v == 1.0)
        };
        for unchanged in [
            mk(&t, 4, (w, 0)),
            mk(&t, ld, (w + 1, 0)),
            mk(&short, ld, (w, 0)),
            mk(&t, a.end + LOWER_ROWS - 2, (w, 0)),
        ] {
            assert!(unchanged);
        }
    }

    #[test]
    fn chunked_matmul_matches_plain_and_parallel() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 3 + j) as f64 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((5, 150), |(i, j)| ((i + 2 * j) % 7) as f64 - 3.0);
        let c1 = matmul(a.view(), b.view(), false);
        let c2 = matmul(a.view(), b.view(), true);
        let c3 = a.dot(&b);
        assert_eq!(c1, c2);
        for (x, y) in c1.iter().zip(c3.iter()) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn row_chunked_matmul_matches_plain_and_parallel() {
        // tall and narrow (several row chunks, a ragged last one), as in the n × P · P × d product
        let a = Array2::from_shape_fn((150, 9), |(i, j)| ((i * 5 + 3 * j) % 11) as f64 * 0.3 - 1.5);
        let b = Array2::from_shape_fn((9, 4), |(i, j)| (i as f64 - 2.0 * j as f64) * 0.25);
        let c1 = matmul(a.view(), b.view(), false);
        let c2 = matmul(a.view(), b.view(), true);
        assert_eq!(c1, c2);
        for (x, y) in c1.iter().zip(a.dot(&b).iter()) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
