//! Small dense kernels: column-chunked (deterministic, optionally parallel) products, faer's
//! Cholesky factorisation and triangular solves on row-major ndarray matrices, and the packed
//! Woodbury assembly kernels no crate offers (each with a portable twin).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{ColMut, Mat, MatMut, MatRef, Par};

use crate::control::Control;
use crate::error::{Error, Result};

/// Column chunk width of the products: fixed, so results never depend on the thread count.
pub const CHUNK: usize = 64;

/// `out = a · b`, split into fixed chunks, in parallel when `par`: column chunks of `b`/`out`,
/// or row chunks of `a`/`out` when `out` has one column chunk and several row chunks (a tall
/// product with few columns, like n × P · P × d). The split depends on the shapes only, so
/// results never depend on the thread count.
pub fn matmul_into(a: ArrayView2<f64>, b: ArrayView2<f64>, out: ArrayViewMut2<f64>, par: bool) {
    matmul_parts(a, b, out, par, None);
}

/// The fixed parts of [`matmul_into`]; with `ctl`, a part is skipped once it is cancelled.
fn matmul_parts(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    mut out: ArrayViewMut2<f64>,
    par: bool,
    ctl: Option<&Control>,
) {
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
        if !ctl.is_some_and(|c| c.is_cancelled()) {
            general_mat_mul(1.0, &ac, &bc, 0.0, &mut o)
        }
    };
    if par {
        use rayon::prelude::*;
        parts.into_par_iter().for_each(mul);
    } else {
        parts.into_iter().for_each(mul);
    }
}

/// [`matmul`] checking `ctl` between its fixed parts (the same parts, so the same result); a
/// part is skipped once cancelled and the check at the end reports it.
pub fn matmul_ctl(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    par: bool,
    ctl: &Control,
) -> Result<Array2<f64>> {
    let mut out = Array2::<f64>::zeros((a.nrows(), b.ncols()));
    matmul_parts(a, b, out.view_mut(), par, Some(ctl));
    ctl.check()?;
    Ok(out)
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
    factor(a, None, None, true, None)
}

/// [`cholesky`], serial when `par` is false, checking `ctl` once per panel and per trailing
/// column block (Ctrl-C is seen within one NB × NB block of GEMM work of an n-row panel).
pub fn cholesky_ctl(a: &Array2<f64>, par: bool, ctl: &Control) -> Result<Array2<f64>> {
    factor(a, None, None, par, Some(ctl))
}

/// [`cholesky_ctl`] of `a + shift·I`, the shift added to the diagonal as the lower triangle is
/// copied in: the factor of the shifted matrix bit for bit, without an n × n copy of it (the
/// damped Newton systems of the polish).
pub fn cholesky_shifted_ctl(
    a: &Array2<f64>,
    shift: f64,
    par: bool,
    ctl: &Control,
) -> Result<Array2<f64>> {
    factor(a, Some(shift), None, par, Some(ctl))
}

/// Cholesky factor of an ill-conditioned SPD matrix (an interior-point normal matrix) in which
/// a pivot that rounding has made tiny (≤ 1e-15 of its original diagonal) or negative is
/// replaced by a huge one ("Cholesky-infinity", LIPSOL/PCx): the matching component of a
/// solution becomes ~0 instead of garbage.
pub fn cholesky_inf(a: &Array2<f64>) -> Result<Array2<f64>> {
    // faer's dynamic regularisation compares a pivot with an absolute threshold: on the
    // unit-diagonal A_s = S A S (S = diag(a_jj^{-1/2})) its threshold 1e-15 is the relative rule
    // above, and the replacement pivot 1e128 of D has the square root 1e64; L = S⁻¹ L_s.
    factor(a, None, Some((1e-15, 1e128)), true, None)
}

/// Panel width of the blocked factorisation and of the blocked forward solve (faer's own
/// block size for its right-looking Cholesky recursion).
const NB: usize = 128;

/// Order from which the factorisation's panel solves and trailing updates, and the forward
/// solve's column chunks, are spread over the rayon pool.
const PAR_MIN: usize = 256;

/// Mutable column blocks of `NB` columns (the last one narrower), in order.
fn col_blocks(m: MatMut<'_, f64>, w: usize) -> Vec<MatMut<'_, f64>> {
    let mut out = Vec::with_capacity(m.ncols().div_ceil(w.max(1)));
    let mut rest = m;
    while rest.ncols() > 0 {
        let k = w.min(rest.ncols());
        let (head, tail) = rest.split_at_col_mut(k);
        out.push(head);
        rest = tail;
    }
    out
}

/// Run `f` on every item, on the rayon pool when `par`: the items are fixed blocks, each
/// computed by one thread in a fixed order, so the result does not depend on the thread count.
fn for_each_block<I: Send>(items: Vec<I>, par: bool, f: impl Fn(I) + Sync + Send) {
    if par && items.len() > 1 && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        items.into_par_iter().for_each(f);
    } else {
        items.into_iter().for_each(f);
    }
}

/// Cholesky factorisation of the lower triangle of `a` on faer's kernels: a right-looking
/// blocked loop over panels of [`NB`] columns — the diagonal block by faer's LLᵀ (or, with
/// `reg`, its LDLᵀ with dynamic regularisation on the unit-diagonal scaling, pivots of D ≤ eps
/// or negative replaced by delta), the panel below it by faer's triangular solve, the trailing
/// lower triangle by faer's GEMM in column blocks of NB. Every kernel is serial (`Par::Seq`);
/// the panel rows and the trailing column blocks are the parallel units, so the factor is the
/// same at any thread count. The factor comes back row-major with a zero upper triangle.
fn factor(
    a: &Array2<f64>,
    shift: Option<f64>,
    reg: Option<(f64, f64)>,
    par: bool,
    ctl: Option<&Control>,
) -> Result<Array2<f64>> {
    use faer::linalg::matmul::matmul;
    use faer::Accum;
    let n = a.nrows();
    if a.ncols() != n {
        return Err(Error::Numerical(
            "Cholesky factorisation of a non-square matrix".into(),
        ));
    }
    let check = || ctl.map_or(Ok(()), |c| c.check());
    let cancelled = || ctl.is_some_and(|c| c.is_cancelled());
    // S = diag(a_jj^{-1/2}) for the regularised variant (the unit-diagonal scaling)
    let sc: Option<Vec<f64>> = reg.map(|_| {
        (0..n)
            .map(|j| {
                let v = a[[j, j]];
                if v.is_finite() && v > 0.0 {
                    1.0 / v.sqrt()
                } else {
                    1.0
                }
            })
            .collect()
    });
    // the lower triangle into faer's column-major work matrix, by blocks of NB columns (a
    // check each: the copy of a large matrix takes tens of ms)
    // (grown column block by column block within its capacity: every entry written once)
    let mut m = Mat::<f64>::with_capacity(n, n);
    for j0 in (0..n).step_by(NB) {
        check()?;
        m.resize_with(n, (j0 + NB).min(n), |i, j| {
            if i < j {
                0.0
            } else if let Some(s) = &sc {
                s[i] * a[[i, j]] * s[j]
            } else if let (true, Some(t)) = (i == j, shift) {
                a[[i, j]] + t
            } else {
                a[[i, j]]
            }
        });
    }
    let par = par && n >= PAR_MIN;
    let mut k0 = 0;
    while k0 < n {
        check()?;
        let k1 = (k0 + NB).min(n);
        let w = k1 - k0;
        let (mut left, right) = m.as_mut().split_at_col_mut(k1);
        let (top, bottom) = left.rb_mut().split_at_row_mut(k1);
        let mut a11 = top.submatrix_mut(k0, k0, w, w);
        factor_block(a11.rb_mut(), reg).map_err(|j| {
            Error::Numerical(format!(
                "Cholesky factorisation failed at pivot {}: matrix not positive definite",
                k0 + j
            ))
        })?;
        if k1 < n {
            // L21 = A21 L11⁻ᵀ, i.e. L11 L21ᵀ = A21ᵀ, by blocks of NB rows
            let l11 = a11.rb();
            let a21 = bottom.subcols_mut(k0, w);
            let rows: Vec<MatMut<'_, f64>> = col_blocks(a21.transpose_mut(), NB);
            for_each_block(rows, par, |blk| {
                solve_lower_triangular_in_place(l11, blk, Par::Seq);
            });
            // trailing lower triangle: T[j.., j] −= L21[j..] L21[j]ᵀ by column blocks of NB
            let l21 = bottom_ref(&left, k1, k0, w);
            let t = right.subrows_mut(k1, n - k1);
            let blocks: Vec<(usize, MatMut<'_, f64>)> = col_blocks(t, NB)
                .into_iter()
                .enumerate()
                .map(|(b, v)| (b * NB, v))
                .collect();
            for_each_block(blocks, par, |(j0, col)| {
                if cancelled() {
                    return; // the check of the next panel reports it
                }
                let jw = col.ncols();
                let rows = col.nrows() - j0;
                matmul(
                    col.subrows_mut(j0, rows),
                    Accum::Add,
                    l21.subrows(j0, rows),
                    l21.subrows(j0, jw).transpose(),
                    -1.0,
                    Par::Seq,
                );
            });
        }
        k0 = k1;
    }
    // back to a row-major array (zero upper triangle), by blocks of NB rows, a check each
    let mut data: Vec<f64> = Vec::with_capacity(n * n);
    for i0 in (0..n).step_by(NB) {
        check()?;
        for i in i0..(i0 + NB).min(n) {
            match &sc {
                Some(s) => data.extend((0..=i).map(|j| m[(i, j)] / s[i])),
                None => data.extend((0..=i).map(|j| m[(i, j)])),
            }
            data.extend(std::iter::repeat_n(0.0, n - i - 1));
        }
    }
    check()?;
    let l = Array2::from_shape_vec((n, n), data)
        .map_err(|e| Error::Numerical(format!("Cholesky factor: {e}")))?;
    if l.diag().iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "Cholesky factorisation produced a non-finite pivot".into(),
        ));
    }
    Ok(l)
}

/// The factored panel L[k1.., k0..k0 + w] of `left` (columns ..k1 of the work matrix).
fn bottom_ref<'a>(left: &'a MatMut<'_, f64>, k1: usize, k0: usize, w: usize) -> MatRef<'a, f64> {
    left.rb().submatrix(k1, k0, left.nrows() - k1, w)
}

/// faer's factorisation of one diagonal block in place (lower triangle, serial): LLᵀ, or with
/// `reg = (eps, delta)` its LDLᵀ with dynamic regularisation (all signs +1: a pivot of D that is
/// ≤ eps or negative becomes delta), returned in LLᵀ form (L = L_unit · diag(√D)). Err(j): the
/// block's pivot j failed.
pub(crate) fn factor_block(
    mut b: MatMut<'_, f64>,
    reg: Option<(f64, f64)>,
) -> std::result::Result<(), usize> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::cholesky::ldlt::factor as ldlt;
    use faer::linalg::cholesky::llt::factor as llt;
    let n = b.nrows();
    match reg {
        None => {
            let mut mem = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(
                n,
                Par::Seq,
                Default::default(),
            ));
            llt::cholesky_in_place(
                b.rb_mut(),
                llt::LltRegularization::default(),
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .map(|_| ())
            .map_err(|llt::LltError::NonPositivePivot { index }| index)
        }
        Some((eps, delta)) => {
            // faer's regularised LLᵀ leaves the replaced pivots' diagonal entries unset (0.24):
            // its LDLᵀ regularises the same pivots of D
            let mut mem = MemBuffer::new(ldlt::cholesky_in_place_scratch::<f64>(
                n,
                Par::Seq,
                Default::default(),
            ));
            let signs = vec![1i8; n];
            let r = ldlt::LdltRegularization {
                dynamic_regularization_signs: Some(&signs),
                dynamic_regularization_delta: delta,
                dynamic_regularization_epsilon: eps,
            };
            ldlt::cholesky_in_place(
                b.rb_mut(),
                r,
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .map_err(|ldlt::LdltError::ZeroPivot { index }| index)?;
            for j in 0..n {
                let dj = b[(j, j)];
                if dj.is_nan() || dj <= 0.0 {
                    return Err(j);
                }
                let sd = dj.sqrt();
                b[(j, j)] = sd;
                for i in j + 1..n {
                    b[(i, j)] *= sd;
                }
            }
            Ok(())
        }
    }
}

/// Side of the square register tile of [`add_block_product`]: the packed operands hold their
/// rows in blocks of this many.
pub const PANEL: usize = 8;

/// One pattern's rows of X packed for the Woodbury assembly Σ_i X_i C_i X_iᵀ: the rows are cut
/// at the boundaries of the assembly's tiles, each tile's share is padded with zero rows to whole
/// blocks of [`PANEL`], and each block is stored as its d × PANEL transpose (row-major), so that a
/// register tile reads contiguous memory.
#[derive(Debug, Clone)]
pub struct PackedRows {
    /// Target row of every slot (`usize::MAX`: padding, always at the end of a block).
    pub rows: Vec<usize>,
    /// Real rows per block.
    pub len: Vec<usize>,
    /// First block of every tile (one more entry than tiles).
    pub starts: Vec<usize>,
    /// The blocks, `PANEL · d` values each: `x[block][j][c] = X[rows[block · PANEL + c], j]`.
    pub x: Vec<f64>,
}

impl PackedRows {
    /// Pack the rows `rows` (sorted) of the row-major n × d matrix `x` for tiles of `w` rows.
    pub fn new(x: &[f64], d: usize, rows: &[usize], w: usize, ntile: usize) -> Self {
        // the tiles' ends in `rows`, and the blocks they make (allocated once)
        let ends: Vec<usize> = (1..=ntile)
            .map(|t| rows.partition_point(|&k| k < t * w))
            .collect();
        let nblk: usize = (0..ntile)
            .map(|t| (ends[t] - if t == 0 { 0 } else { ends[t - 1] }).div_ceil(PANEL))
            .sum();
        let mut out = PackedRows {
            rows: Vec::with_capacity(nblk * PANEL),
            len: Vec::with_capacity(nblk),
            starts: Vec::with_capacity(ntile + 1),
            x: Vec::with_capacity(nblk * PANEL * d),
        };
        out.starts.push(0);
        let mut at = 0;
        for &end in &ends {
            for blk in rows[at..end].chunks(PANEL) {
                let base = out.x.len();
                out.x.resize(base + PANEL * d, 0.0);
                for (c, &k) in blk.iter().enumerate() {
                    for j in 0..d {
                        out.x[base + j * PANEL + c] = x[k * d + j];
                    }
                }
                out.rows.extend(blk);
                out.rows
                    .resize(out.rows.len() + PANEL - blk.len(), usize::MAX);
                out.len.push(blk.len());
            }
            out.starts.push(out.len.len());
            at = end;
        }
        out
    }
}

/// t = C · x block by block (C: d × d row-major; x, t: packed blocks of d × [`PANEL`]): the
/// packed C_i X_iᵀ of the Woodbury assembly. Returns false (t unchanged) on inconsistent sizes.
pub fn packed_product(c: &[f64], x: &[f64], t: &mut [f64], d: usize) -> bool {
    if c.len() < d * d || x.len() != t.len() || x.len() % (PANEL * d.max(1)) != 0 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, and the sizes were checked above
            unsafe { packed_product_fma(c, x, t, d) };
            return true;
        }
    }
    packed_product_portable(c, x, t, d);
    true
}

/// [`packed_product`] in AVX2 + FMA: four rows of C at a time (eight independent accumulators).
///
/// # Safety
/// The CPU must support AVX2 and FMA; c.len() ≥ d², x.len() = t.len() a multiple of PANEL · d.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn packed_product_fma(c: &[f64], x: &[f64], t: &mut [f64], d: usize) {
    use std::arch::x86_64::{
        _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    const R: usize = 4;
    for (xb, tb) in x.chunks_exact(PANEL * d).zip(t.chunks_exact_mut(PANEL * d)) {
        let xp = xb.as_ptr();
        let tp = tb.as_mut_ptr();
        let mut j0 = 0;
        while j0 + R <= d {
            let mut acc = [_mm256_setzero_pd(); 2 * R];
            for l in 0..d {
                let x0 = _mm256_loadu_pd(xp.add(l * PANEL));
                let x1 = _mm256_loadu_pd(xp.add(l * PANEL + 4));
                for r in 0..R {
                    let cv = _mm256_broadcast_sd(c.get_unchecked((j0 + r) * d + l));
                    acc[2 * r] = _mm256_fmadd_pd(cv, x0, acc[2 * r]);
                    acc[2 * r + 1] = _mm256_fmadd_pd(cv, x1, acc[2 * r + 1]);
                }
            }
            for r in 0..R {
                _mm256_storeu_pd(tp.add((j0 + r) * PANEL), acc[2 * r]);
                _mm256_storeu_pd(tp.add((j0 + r) * PANEL + 4), acc[2 * r + 1]);
            }
            j0 += R;
        }
        for j in j0..d {
            let (mut a0, mut a1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
            for l in 0..d {
                let cv = _mm256_broadcast_sd(c.get_unchecked(j * d + l));
                a0 = _mm256_fmadd_pd(cv, _mm256_loadu_pd(xp.add(l * PANEL)), a0);
                a1 = _mm256_fmadd_pd(cv, _mm256_loadu_pd(xp.add(l * PANEL + 4)), a1);
            }
            _mm256_storeu_pd(tp.add(j * PANEL), a0);
            _mm256_storeu_pd(tp.add(j * PANEL + 4), a1);
        }
    }
}

fn packed_product_portable(c: &[f64], x: &[f64], t: &mut [f64], d: usize) {
    for (xb, tb) in x.chunks_exact(PANEL * d).zip(t.chunks_exact_mut(PANEL * d)) {
        for (j, trow) in tb.chunks_exact_mut(PANEL).enumerate() {
            let mut acc = [0.0f64; PANEL];
            for (l, xrow) in xb.chunks_exact(PANEL).enumerate() {
                let cjl = c[j * d + l];
                for (a, &xv) in acc.iter_mut().zip(xrow) {
                    *a += cjl * xv;
                }
            }
            trow.copy_from_slice(&acc);
        }
    }
}

/// The operands of [`add_block_product`]: one pattern's share of one tile (I, J) of the
/// symmetric n × n sum Σ_i X_i C_i X_iᵀ.
///
/// - `t`, `x`: C_i X_iᵀ and X_iᵀ of the pattern, packed as in [`PackedRows`] (`rows` its slots'
///   target rows, `len` its blocks' real rows).
/// - `a`, `b`: the pattern's blocks in the tile's row block I and column block J; `diagonal`:
///   I = J (then only block pairs B ≤ A are added, the register tiles on the diagonal whole).
/// - `origin`: the tile's first target row and column.
pub struct BlockProduct<'a> {
    pub t: &'a [f64],
    pub x: &'a [f64],
    pub rows: &'a [usize],
    pub len: &'a [usize],
    pub d: usize,
    pub a: std::ops::Range<usize>,
    pub b: std::ops::Range<usize>,
    pub diagonal: bool,
    pub origin: (usize, usize),
}

/// `buf[(r_a − o₀)·w + r_b − o₁] += Σ_j t[a, j] · x[b, j]` for every real slot a of the blocks
/// `op.a` and b of the blocks `op.b` (on a diagonal tile, of the blocks B ≤ A only: the register
/// tiles on the diagonal are added whole, so entries above the diagonal are written too and the
/// caller reads the lower triangle). Register tiles of [`PANEL`] × [`PANEL`] with AVX2 + FMA
/// where the CPU has them (detected at run time: the rounding then differs from the portable
/// path's, never with the thread count). Inconsistent sizes leave `buf` unchanged.
pub fn add_block_product(op: &BlockProduct<'_>, buf: &mut [f64], w: usize) {
    let (a, b, d) = (&op.a, &op.b, op.d);
    let nblk = op.len.len();
    let real = |r: &std::ops::Range<usize>, o: usize| {
        (r.start..r.end).all(|blk| {
            let l = op.len[blk];
            (1..=PANEL).contains(&l)
                && op.rows[blk * PANEL..blk * PANEL + l]
                    .iter()
                    .all(|&k| k >= o && k - o < w)
        })
    };
    let ok = a.start <= a.end
        && b.start <= b.end
        && a.end <= nblk
        && b.end <= nblk
        && op.rows.len() >= nblk * PANEL
        && op.t.len() >= nblk * PANEL * d
        && op.x.len() >= nblk * PANEL * d
        && buf.len() >= w * w
        && (!op.diagonal || a == b)
        && real(a, op.origin.0)
        && real(b, op.origin.1);
    if !ok || a.is_empty() || b.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, and the sizes were checked above.
            unsafe { add_block_product_fma(op, buf, w) };
            return;
        }
    }
    add_block_product_portable(op, buf, w);
}

/// Add a finished register tile (rows: the slots of block `ablk`, columns: those of `bblk`) to
/// `buf`, real slots only (whole blocks by fixed-length loops).
#[inline(always)]
fn scatter_block(
    op: &BlockProduct<'_>,
    buf: &mut [f64],
    (bases, la): (&[usize; PANEL], usize),
    bblk: usize,
    tile: &[f64; PANEL * PANEL],
) {
    let lb = op.len[bblk];
    let mut cols = [0usize; PANEL];
    for (c, &r) in cols
        .iter_mut()
        .zip(&op.rows[bblk * PANEL..(bblk + 1) * PANEL])
    {
        // padding slots (past `lb`) are never read below
        *c = r.wrapping_sub(op.origin.1);
    }
    // SAFETY (all three loops): `add_block_product` checked r − o₀ < w and r − o₁ < w for every
    // real slot of the blocks in `op.a` and `op.b`, and buf.len() ≥ w²; only real slots are read
    if lb == PANEL {
        for q in 0..la {
            let base = bases[q];
            for c in 0..PANEL {
                unsafe { *buf.get_unchecked_mut(base + cols[c]) += tile[q * PANEL + c] };
            }
        }
    } else {
        for q in 0..la {
            let base = bases[q];
            for c in 0..lb {
                unsafe { *buf.get_unchecked_mut(base + cols[c]) += tile[q * PANEL + c] };
            }
        }
    }
}

/// The offsets in `buf` of the rows of block A (padding slots: never read), and its real rows.
#[inline(always)]
fn row_bases(op: &BlockProduct<'_>, ablk: usize, w: usize) -> ([usize; PANEL], usize) {
    let mut bases = [0usize; PANEL];
    for (b, &r) in bases
        .iter_mut()
        .zip(&op.rows[ablk * PANEL..(ablk + 1) * PANEL])
    {
        *b = r.wrapping_sub(op.origin.0).wrapping_mul(w);
    }
    (bases, op.len[ablk])
}

/// The blocks B of `op.b` that pair with block A.
#[inline(always)]
fn paired(op: &BlockProduct<'_>, ablk: usize) -> std::ops::Range<usize> {
    let end = if op.diagonal {
        (ablk + 1).min(op.b.end)
    } else {
        op.b.end
    };
    op.b.start..end
}

/// [`add_block_product`]'s register tile in AVX2 + FMA: two halves of 4 × 8.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and the sizes must pass [`add_block_product`]'s checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_block_product_fma(op: &BlockProduct<'_>, buf: &mut [f64], w: usize) {
    use std::arch::x86_64::{
        _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let d = op.d;
    let mut tile = [0.0f64; PANEL * PANEL];
    for ablk in op.a.clone() {
        let (bases, la) = row_bases(op, ablk, w);
        for bblk in paired(op, ablk) {
            // both blocks are whole (PANEL · d values) by the checks: in bounds
            let xp = op.x.as_ptr().add(bblk * PANEL * d);
            for half in 0..2 {
                let tp = op.t.as_ptr().add(ablk * PANEL * d + half * 4);
                let mut c = [_mm256_setzero_pd(); 8];
                for j in 0..d {
                    let x0 = _mm256_loadu_pd(xp.add(j * PANEL));
                    let x1 = _mm256_loadu_pd(xp.add(j * PANEL + 4));
                    for q in 0..4 {
                        let tv = _mm256_broadcast_sd(&*tp.add(j * PANEL + q));
                        c[2 * q] = _mm256_fmadd_pd(tv, x0, c[2 * q]);
                        c[2 * q + 1] = _mm256_fmadd_pd(tv, x1, c[2 * q + 1]);
                    }
                }
                for (k, ck) in c.iter().enumerate() {
                    _mm256_storeu_pd(tile.as_mut_ptr().add(32 * half + 4 * k), *ck);
                }
            }
            scatter_block(op, buf, (&bases, la), bblk, &tile);
        }
    }
}

/// [`add_block_product`] without SIMD intrinsics.
fn add_block_product_portable(op: &BlockProduct<'_>, buf: &mut [f64], w: usize) {
    let d = op.d;
    for ablk in op.a.clone() {
        let (bases, la) = row_bases(op, ablk, w);
        for bblk in paired(op, ablk) {
            let mut tile = [0.0f64; PANEL * PANEL];
            let xb = &op.x[bblk * PANEL * d..(bblk + 1) * PANEL * d];
            let tb = &op.t[ablk * PANEL * d..(ablk + 1) * PANEL * d];
            for (xr, tr) in xb.chunks_exact(PANEL).zip(tb.chunks_exact(PANEL)) {
                for (q, &tq) in tr.iter().enumerate() {
                    for (o, &xc) in tile[q * PANEL..(q + 1) * PANEL].iter_mut().zip(xr) {
                        *o += tq * xc;
                    }
                }
            }
            scatter_block(op, buf, (&bases, la), bblk, &tile);
        }
    }
}

avx2_twin! {
    /// `acc += Σ_r w[r] · data[ix[r]]` (rows of `acc.len()` values at stride `stride` in the
    /// row-major `data`): a weighted sum of gathered rows, as in the cone rows' Gram matrices and
    /// Xᵀ S w. Each entry is accumulated in row order, so the result is the same on every path
    /// (AVX2 only widens the loop). Rows out of range are skipped.
    pub fn gathered_axpy / gathered_axpy_avx2 / gathered_axpy_body(
        acc: &mut [f64],
        data: &[f64],
        stride: usize,
        ix: &[usize],
        w: &[f64],
    ) {
        let m = acc.len();
        let mut c0 = 0;
        while c0 + 32 <= m {
            axpy_chunk::<32>(acc, data, (stride, c0), ix, w);
            c0 += 32;
        }
        if c0 + 16 <= m {
            axpy_chunk::<16>(acc, data, (stride, c0), ix, w);
            c0 += 16;
        }
        if c0 + 8 <= m {
            axpy_chunk::<8>(acc, data, (stride, c0), ix, w);
            c0 += 8;
        }
        // the last < 8 columns in one pass over the rows (a pass per column cost small d, where
        // they are all the columns, ~2×)
        if c0 < m {
            let tail = &mut acc[c0..];
            for (&k, &wk) in ix.iter().zip(w) {
                let Some(row) = data.get(k * stride..k * stride + m) else {
                    continue;
                };
                for (c, &xv) in tail.iter_mut().zip(&row[c0..]) {
                    *c += wk * xv;
                }
            }
        }
    }
}

/// Columns `c0..c0 + C` of [`gathered_axpy`] summed in registers over all the rows (one load and
/// store of `acc` per chunk instead of one per row; each entry still adds the rows in order).
#[inline(always)]
fn axpy_chunk<const C: usize>(
    acc: &mut [f64],
    data: &[f64],
    (stride, c0): (usize, usize),
    ix: &[usize],
    w: &[f64],
) {
    let m = acc.len();
    let mut r = [0.0f64; C];
    r.copy_from_slice(&acc[c0..c0 + C]);
    for (&k, &wk) in ix.iter().zip(w) {
        // a row out of range is skipped whole (as by the other chunks and the tail)
        let Some(row) = data.get(k * stride..k * stride + m) else {
            continue;
        };
        let Ok(x) = <&[f64; C]>::try_from(&row[c0..c0 + C]) else {
            continue;
        };
        for e in 0..C {
            r[e] += wk * x[e];
        }
    }
    acc[c0..c0 + C].copy_from_slice(&r);
}

avx2_twin! {
    /// `out[r] = ⟨data[ix[r]], v⟩` (rows of `v.len()` values at stride `stride` in the row-major
    /// `data`), each dot product summed in four interleaved partial sums combined as
    /// (s₀ + s₁) + (s₂ + s₃): the same result on every path, AVX2 only widening the loop. Rows out of
    /// range give 0.
    pub fn gathered_dots / gathered_dots_avx2 / gathered_dots_body(
        out: &mut [f64],
        data: &[f64],
        stride: usize,
        ix: &[usize],
        v: &[f64],
    ) {
        let m = v.len();
        let (vc, vr) = v.split_at(m - m % 4);
        for (o, &k) in out.iter_mut().zip(ix) {
            let Some(row) = data.get(k * stride..k * stride + m) else {
                *o = 0.0;
                continue;
            };
            let (rc, rr) = row.split_at(m - m % 4);
            let mut s = [0.0f64; 4];
            for (x4, v4) in rc.chunks_exact(4).zip(vc.chunks_exact(4)) {
                for l in 0..4 {
                    s[l] += x4[l] * v4[l];
                }
            }
            for (l, (&x, &y)) in rr.iter().zip(vr).enumerate() {
                s[l] += x * y;
            }
            *o = (s[0] + s[1]) + (s[2] + s[3]);
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

/// faer's view of a row-major (C-order) ndarray matrix, or `None` for other layouts.
fn faer_ref(a: &Array2<f64>) -> Option<MatRef<'_, f64>> {
    let (r, c) = a.dim();
    a.as_slice().map(|s| MatRef::from_row_major_slice(s, r, c))
}

/// Solve (L Lᵀ) x = b in place for the row-major lower factor L of [`cholesky`]: faer's
/// triangular solves (serial: a vector right-hand side leaves little to split).
pub fn cholesky_solve(l: &Array2<f64>, b: &mut Array1<f64>) {
    let Some(lv) = faer_ref(l) else {
        let lo = l.as_standard_layout().into_owned();
        return cholesky_solve(&lo, b);
    };
    let Some(bs) = b.as_slice_mut() else {
        let mut bo = b.to_owned();
        cholesky_solve(l, &mut bo);
        b.assign(&bo);
        return;
    };
    let mut bm = ColMut::from_slice_mut(bs).as_mat_mut();
    solve_lower_triangular_in_place(lv, bm.rb_mut(), Par::Seq);
    solve_upper_triangular_in_place(lv.transpose(), bm, Par::Seq);
}

/// Solve L X = B in place for a lower-triangular L (see [`forward_solve_rows_ctl`]).
pub fn forward_solve_rows(l: &Array2<f64>, b: &mut Array2<f64>, par: bool) {
    // without a control nothing can interrupt it
    let _ = forward_solve(l, b, par, None);
}

/// Solve L X = B in place for a lower-triangular L: blocks of [`CHUNK`] columns of B (on the
/// rayon pool from [`PAR_MIN`] rows on when `par`), each by a blocked forward substitution over
/// [`NB`] rows (faer's GEMM for the rows above, faer's triangular solve for the diagonal
/// block; all serial kernels, so the result does not depend on the thread count). Checks `ctl`
/// once per row block.
pub fn forward_solve_rows_ctl(
    l: &Array2<f64>,
    b: &mut Array2<f64>,
    par: bool,
    ctl: &Control,
) -> Result<()> {
    forward_solve(l, b, par, Some(ctl))
}

fn forward_solve(
    l: &Array2<f64>,
    b: &mut Array2<f64>,
    par: bool,
    ctl: Option<&Control>,
) -> Result<()> {
    use faer::linalg::matmul::matmul;
    use faer::Accum;
    let Some(lv) = faer_ref(l) else {
        let lo = l.as_standard_layout().into_owned();
        return forward_solve(&lo, b, par, ctl);
    };
    let (r, c) = b.dim();
    let Some(bs) = b.as_slice_mut() else {
        let mut bo = b.as_standard_layout().into_owned();
        forward_solve(l, &mut bo, par, ctl)?;
        b.assign(&bo);
        return Ok(());
    };
    let cancelled = || ctl.is_some_and(|c| c.is_cancelled());
    let bm = MatMut::from_row_major_slice_mut(bs, r, c);
    for_each_block(col_blocks(bm, CHUNK), par && r >= PAR_MIN, |mut blk| {
        for k0 in (0..r).step_by(NB) {
            if cancelled() {
                return; // reported below
            }
            let k1 = (k0 + NB).min(r);
            let (done, rest) = blk.rb_mut().split_at_row_mut(k0);
            let mut cur = rest.subrows_mut(0, k1 - k0);
            if k0 > 0 {
                matmul(
                    cur.rb_mut(),
                    Accum::Add,
                    lv.submatrix(k0, 0, k1 - k0, k0),
                    done.rb(),
                    -1.0,
                    Par::Seq,
                );
            }
            solve_lower_triangular_in_place(lv.submatrix(k0, k0, k1 - k0, k1 - k0), cur, Par::Seq);
        }
    });
    ctl.map_or(Ok(()), |c| c.check())
}

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
    fn the_checked_kernels_give_the_same_bits_and_stop_when_cancelled() {
        // matmul_ctl: the same fixed parts as matmul (bit-identical, both chunkings); the
        // factorisation's blocked copies in and out: the factor of the plain call, with and
        // without the Cholesky-infinity scaling path (cholesky_inf has no control)
        use rand::Rng;
        let mut rng = crate::rng::stream_rng(3, 0);
        let a = Array2::from_shape_fn((300, 7), |_| rng.random::<f64>() - 0.5);
        let b = Array2::from_shape_fn((7, 200), |_| rng.random::<f64>() - 0.5);
        let c = Array2::from_shape_fn((7, 40), |_| rng.random::<f64>() - 0.5);
        let ctl = Control::new();
        for par in [false, true] {
            assert_eq!(
                matmul_ctl(a.view(), b.view(), par, &ctl).unwrap(),
                matmul(a.view(), b.view(), par)
            );
            assert_eq!(
                matmul_ctl(a.view(), c.view(), par, &ctl).unwrap(),
                matmul(a.view(), c.view(), par)
            );
        }
        // a transposed left factor (the polish's face Hessian Mᵀ·(W M), n × kk with n beyond
        // one k-block of the kernel): the bits of ndarray's own product
        let m = Array2::from_shape_fn((300, 150), |_| rng.random::<f64>() - 0.5);
        let wm = Array2::from_shape_fn((300, 150), |_| rng.random::<f64>() - 0.5);
        for par in [false, true] {
            assert_eq!(
                matmul_ctl(m.t(), wm.view(), par, &ctl).unwrap(),
                m.t().dot(&wm)
            );
        }
        let spd = matmul(a.view(), a.t(), true) + Array2::<f64>::eye(300);
        let l = cholesky(&spd).unwrap();
        assert_eq!(cholesky_ctl(&spd, true, &ctl).unwrap(), l);
        assert_eq!(cholesky_ctl(&spd, false, &ctl).unwrap(), l);
        // the shifted factorisation: the factor of the shifted copy, bit for bit
        let damp = 1e-3;
        let mut shifted = spd.clone();
        for i in 0..300 {
            shifted[[i, i]] += damp;
        }
        assert_eq!(
            cholesky_shifted_ctl(&spd, damp, true, &ctl).unwrap(),
            cholesky(&shifted).unwrap()
        );
        ctl.cancel();
        assert_eq!(
            cholesky_shifted_ctl(&spd, damp, true, &ctl),
            Err(Error::Interrupted)
        );
        assert_eq!(
            matmul_ctl(a.view(), b.view(), true, &ctl),
            Err(Error::Interrupted)
        );
        assert_eq!(cholesky_ctl(&spd, true, &ctl), Err(Error::Interrupted));
        // a cancellation at any check of the factorisation stops it
        let count = Control::new();
        cholesky_ctl(&spd, false, &count).unwrap();
        for k in 1..=count.checks() {
            let c = Control::cancelled_at_check(k);
            assert_eq!(
                cholesky_ctl(&spd, false, &c),
                Err(Error::Interrupted),
                "check {k}"
            );
        }
    }

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
        // n above PAR_MIN (panels and trailing blocks on the rayon pool); A = B Bᵀ + I is SPD
        let n = PAR_MIN + 346;
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
        assert!(li.diag().iter().filter(|&&v| v >= 1e60).count() >= n - 3);
        // faer's factor and solve agree with the hand-written blocked reference
        let lh = handwritten::cholesky(&a, false).unwrap();
        let scale = l.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(l
            .iter()
            .zip(lh.iter())
            .all(|(u, v)| (u - v).abs() <= 1e-12 * scale));
        let mut xh = a.dot(&x0);
        handwritten::cholesky_solve(&lh, &mut xh);
        assert!(x.iter().zip(xh.iter()).all(|(u, v)| (u - v).abs() < 1e-9));
        // the reference puts as many infinite pivots (± the borderline one)
        let lhi = handwritten::cholesky(&s, true).unwrap();
        let big = li.diag().iter().filter(|&&v| v >= 1e60).count();
        let big_h = lhi.diag().iter().filter(|&&v| v == 1e64).count();
        assert!(big.abs_diff(big_h) <= 1, "{big} vs {big_h}");
        // on a well-conditioned matrix the infinite variant is the plain factor (up to rounding)
        let lr = cholesky_inf(&a).unwrap();
        assert!(lr
            .iter()
            .zip(l.iter())
            .all(|(u, v)| (u - v).abs() <= 1e-12 * scale));
    }

    #[test]
    fn faer_results_do_not_depend_on_the_thread_count() {
        let n = PAR_MIN + 300;
        let b = Array2::from_shape_fn((n, n), |(i, j)| ((i * 31 + j * 17) % 23) as f64 - 11.0);
        let a = b.dot(&b.t()) + Array2::<f64>::eye(n);
        let rhs = Array2::from_shape_fn((n, 150), |(i, j)| ((i + 3 * j) as f64).sin());
        let ctl = Control::new();
        let run = || {
            let l = cholesky(&a).unwrap();
            let li = cholesky_inf(&a).unwrap();
            assert_eq!(cholesky_ctl(&a, true, &ctl).unwrap(), l);
            assert_eq!(cholesky_ctl(&a, false, &ctl).unwrap(), l);
            let mut x = rhs.clone();
            forward_solve_rows(&l, &mut x, true);
            let mut xs = rhs.clone();
            forward_solve_rows_ctl(&l, &mut xs, false, &ctl).unwrap();
            assert_eq!(xs, x);
            let mut v = rhs.column(0).to_owned();
            cholesky_solve(&l, &mut v);
            (l, li, x, v)
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(run);
        for t in [2, 3, 4, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            assert_eq!(pool.install(run), one, "{t} threads");
        }
    }

    #[test]
    fn a_cancelled_factorisation_or_solve_stops() {
        let n = PAR_MIN + 10;
        let b = Array2::from_shape_fn((n, n), |(i, j)| ((i * 3 + j * 5) % 7) as f64 - 3.0);
        let a = b.dot(&b.t()) + Array2::<f64>::eye(n);
        let l = cholesky(&a).unwrap();
        let ctl = Control::new();
        ctl.cancel();
        for par in [false, true] {
            assert_eq!(cholesky_ctl(&a, par, &ctl).unwrap_err(), Error::Interrupted);
            let mut x = b.clone();
            assert_eq!(
                forward_solve_rows_ctl(&l, &mut x, par, &ctl).unwrap_err(),
                Error::Interrupted
            );
        }
    }

    /// faer's own (recursive, unblocked at the top) LLᵀ on one thread: the timing peer of the
    /// blocked driver [`factor`].
    fn faer_native(a: &Array2<f64>) -> Mat<f64> {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::cholesky::llt::factor as llt;
        let n = a.nrows();
        let mut m = Mat::<f64>::from_fn(n, n, |i, j| if i >= j { a[[i, j]] } else { 0.0 });
        let mut mem = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(
            n,
            Par::Seq,
            Default::default(),
        ));
        llt::cholesky_in_place(
            m.as_mut(),
            llt::LltRegularization::default(),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        )
        .unwrap();
        m
    }

    /// Same-run timing of the factorisation and the solves on faer's kernels against the
    /// hand-written blocked ones they replaced (and the factorisation against faer's own
    /// unblocked-at-the-top LLᵀ), on 1 thread and on `HC_CHOL_THREADS` threads (default 2):
    /// `cargo test -p hiddenconvex-core --release cholesky_timing -- --ignored --nocapture`
    /// (optionally `HC_CHOL_SIZES=500,1000`).
    #[test]
    #[ignore]
    #[allow(clippy::type_complexity)]
    fn cholesky_timing() {
        use std::time::Instant;
        let sizes: Vec<usize> = std::env::var("HC_CHOL_SIZES")
            .unwrap_or_else(|_| "500,1000,2000,4000".into())
            .split(',')
            .map(|v| v.trim().parse().unwrap())
            .collect();
        let threads: usize = std::env::var("HC_CHOL_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        for n in sizes {
            let b = Array2::from_shape_fn((n, n), |(i, j)| {
                (((i * 7 + j * 13) % 17) as f64 - 8.0) / n as f64
            });
            let a = b.dot(&b.t()) + Array2::<f64>::eye(n);
            let x0 = Array1::from_shape_fn(n, |i| (i as f64).sin());
            let rhs = Array2::from_shape_fn((n, 256), |(i, j)| ((i + j) as f64).cos());
            let l = cholesky(&a).unwrap();
            let reps = (4000 / n).clamp(2, 8);
            // interleaved: each repetition runs every variant once, medians per variant
            let mut runs: Vec<(&str, Box<dyn Fn() + Sync + '_>)> = vec![
                (
                    "factor faer-blocked",
                    Box::new(|| {
                        std::hint::black_box(cholesky(&a).unwrap());
                    }),
                ),
                (
                    "factor hand-written",
                    Box::new(|| {
                        std::hint::black_box(handwritten::cholesky(&a, false).unwrap());
                    }),
                ),
                (
                    "L⁻¹B (256 cols) faer-blocked",
                    Box::new(|| {
                        let mut x = rhs.clone();
                        forward_solve_rows(&l, &mut x, true);
                        std::hint::black_box(x);
                    }),
                ),
                (
                    "L⁻¹B (256 cols) hand-written",
                    Box::new(|| {
                        let mut x = rhs.clone();
                        handwritten::forward_solve_rows(&l, &mut x);
                        std::hint::black_box(x);
                    }),
                ),
                (
                    "solve (vector) faer",
                    Box::new(|| {
                        let mut x = x0.clone();
                        cholesky_solve(&l, &mut x);
                        std::hint::black_box(x);
                    }),
                ),
                (
                    "solve (vector) hand-written",
                    Box::new(|| {
                        let mut x = x0.clone();
                        handwritten::cholesky_solve(&l, &mut x);
                        std::hint::black_box(x);
                    }),
                ),
            ];
            runs.insert(
                2,
                (
                    "factor faer-native (1 thread)",
                    Box::new(|| {
                        std::hint::black_box(faer_native(&a));
                    }),
                ),
            );
            for t in [1, threads] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap();
                let mut times = vec![Vec::new(); runs.len()];
                pool.install(|| {
                    for _ in 0..reps + 1 {
                        for (k, (_, f)) in runs.iter().enumerate() {
                            let s = Instant::now();
                            f();
                            times[k].push(s.elapsed().as_secs_f64());
                        }
                    }
                });
                for (k, (name, _)) in runs.iter().enumerate() {
                    let mut v = times[k][1..].to_vec(); // the first repetition warms up
                    v.sort_by(f64::total_cmp);
                    println!("n={n} threads={t} {name}: median {:.4e} s", v[v.len() / 2]);
                }
            }
        }
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
    fn block_products_add_up_to_the_lower_triangle_on_both_paths() {
        // ni = 13 rows scattered into n = 20, tiles of w = 8 (the last one partial, blocks
        // padded at every tile boundary): the tiles J ≤ I of both the AVX2 and the portable
        // kernel add up to the lower triangle of X_r C X_rᵀ at the scattered positions, and
        // leave everything else below the diagonal alone
        block_products_case(20, 3, 13, 8, true);
        // larger tiles: several whole blocks per tile, register tiles wholly below the diagonal
        block_products_case(200, 5, 120, 64, false);
    }

    fn block_products_case(n: usize, d: usize, ni: usize, w: usize, bad_sizes: bool) {
        let r: Vec<usize> = (0..ni)
            .map(|a| (a * 3 + 1) % n)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(r.len(), ni);
        let x: Vec<f64> = (0..n * d)
            .map(|v| ((v * 3 + 2) % 13) as f64 * 0.2 - 0.9)
            .collect();
        let cm: Vec<f64> = (0..d * d)
            .map(|v| {
                let (j, l) = (v / d, v % d);
                ((j * l + j + l) % 7) as f64 * 0.3 - 0.8
            })
            .collect();
        let ntile = n.div_ceil(w);
        let pk = PackedRows::new(&x, d, &r, w, ntile);
        assert_eq!(pk.starts.len(), ntile + 1);
        assert_eq!(pk.len.iter().sum::<usize>(), ni);
        // t = C Xᵀ block by block, on both paths
        let mut t = vec![0.0; pk.x.len()];
        assert!(packed_product(&cm, &pk.x, &mut t, d));
        let mut t_port = vec![0.0; pk.x.len()];
        packed_product_portable(&cm, &pk.x, &mut t_port, d);
        for (slot, &k) in pk.rows.iter().enumerate() {
            let (blk, c) = (slot / PANEL, slot % PANEL);
            for j in 0..d {
                let want = if k == usize::MAX {
                    0.0
                } else {
                    (0..d).map(|l| cm[j * d + l] * x[k * d + l]).sum::<f64>()
                };
                for tv in [&t, &t_port] {
                    assert!((tv[blk * PANEL * d + j * PANEL + c] - want).abs() < 1e-12);
                }
            }
        }
        assert!(!packed_product(&cm[..d * d - 1], &pk.x, &mut t, d));
        let expect = |acc: &[f64]| {
            for ka in 0..n {
                for kb in 0..=ka {
                    let both = r.contains(&ka) && r.contains(&kb);
                    let want = if both {
                        1.0 + (0..d)
                            .flat_map(|j| (0..d).map(move |l| (j, l)))
                            .map(|(j, l)| x[ka * d + j] * cm[j * d + l] * x[kb * d + l])
                            .sum::<f64>()
                    } else {
                        1.0
                    };
                    assert!((acc[ka * n + kb] - want).abs() < 1e-11, "{ka} {kb}");
                }
            }
        };
        let op_for = |ti: usize, tj: usize| BlockProduct {
            t: &t,
            x: &pk.x,
            rows: &pk.rows,
            len: &pk.len,
            d,
            a: pk.starts[ti]..pk.starts[ti + 1],
            b: pk.starts[tj]..pk.starts[tj + 1],
            diagonal: ti == tj,
            origin: (ti * w, tj * w),
        };
        for portable in [false, true] {
            let mut acc = vec![1.0; n * n];
            for ti in 0..ntile {
                for tj in 0..=ti {
                    let op = op_for(ti, tj);
                    let mut buf = vec![0.0; w * w];
                    if portable {
                        add_block_product_portable(&op, &mut buf, w);
                    } else {
                        add_block_product(&op, &mut buf, w);
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
        // inconsistent sizes (a tile origin its rows fall outside, t shorter than the blocks,
        // block ranges past the end, a diagonal tile with different ranges) change nothing
        let short = vec![1.0; t.len() - 1];
        let unchanged = |op: BlockProduct<'_>| {
            let mut buf = vec![1.0; w * w];
            add_block_product(&op, &mut buf, w);
            buf.iter().all(|&v| v == 1.0)
        };
        assert!(unchanged(BlockProduct {
            origin: (w + 1, 0),
            ..op_for(1, 0)
        }));
        assert!(unchanged(BlockProduct {
            t: &short,
            ..op_for(1, 0)
        }));
        assert!(unchanged(BlockProduct {
            a: 0..pk.len.len() + 1,
            origin: (0, 0),
            ..op_for(1, 0)
        }));
        assert!(unchanged(BlockProduct {
            diagonal: true,
            ..op_for(1, 0)
        }));
        assert!(!unchanged(op_for(1, 0)));
    }

    #[test]
    fn gathered_kernels_match_plain_sums_on_both_paths() {
        let (n, m) = (9, 7);
        let data: Vec<f64> = (0..n * m)
            .map(|v| ((v * 5 + 3) % 17) as f64 * 0.25 - 2.0)
            .collect();
        let ix = [4usize, 0, 8, 4, 2, 50];
        let w = [0.5, -1.5, 2.0, 0.25, 3.0, 1.0];
        let v: Vec<f64> = (0..m).map(|j| j as f64 * 0.3 - 1.0).collect();
        let mut want_acc = vec![1.0; m];
        for (&k, &wk) in ix.iter().zip(&w).take(5) {
            for j in 0..m {
                want_acc[j] += wk * data[k * m + j];
            }
        }
        let mut a1 = vec![1.0; m];
        gathered_axpy(&mut a1, &data, m, &ix, &w);
        let mut a2 = vec![1.0; m];
        gathered_axpy_body(&mut a2, &data, m, &ix, &w);
        assert_eq!(a1, a2);
        for (a, b) in a1.iter().zip(&want_acc) {
            assert!((a - b).abs() < 1e-12);
        }
        let mut o1 = vec![9.0; ix.len()];
        gathered_dots(&mut o1, &data, m, &ix, &v);
        let mut o2 = vec![9.0; ix.len()];
        gathered_dots_body(&mut o2, &data, m, &ix, &v);
        assert_eq!(o1, o2);
        for (r, &k) in ix.iter().enumerate() {
            let want = if k < n {
                (0..m).map(|j| data[k * m + j] * v[j]).sum::<f64>()
            } else {
                0.0
            };
            assert!((o1[r] - want).abs() < 1e-12, "{r}");
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

/// The hand-written blocked Cholesky factorisation and triangular solves that faer replaced:
/// an independent oracle for the tests and the peer of `cholesky_timing`.
#[cfg(test)]
mod handwritten {
    use super::{dot, CHUNK};
    use crate::error::{Error, Result};
    use ndarray::linalg::general_mat_mul;
    use ndarray::{Array1, Array2, ArrayViewMut2, Axis};

    /// Trailing size from which [`cholesky`]'s updates run in parallel.
    const PAR_CHOLESKY_MIN: usize = 256;

    pub fn cholesky(a: &Array2<f64>, inf: bool) -> Result<Array2<f64>> {
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
    /// rows below by one GEMM.
    pub fn forward_solve_rows(l: &Array2<f64>, b: &mut Array2<f64>) {
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
                general_mat_mul(-1.0, &lk, &solved, 1.0, &mut below);
            }
        }
    }

    /// Row block of the triangular solves.
    pub const TRSM_BLOCK: usize = 64;
}
