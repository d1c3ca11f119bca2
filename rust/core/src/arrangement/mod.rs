//! Activation chambers of the central hyperplane arrangement {u : x_i · u = 0} of the rows of X.
//!
//! A gate u ∈ R^d gives the activation pattern `1[X u > 0]`; the distinct patterns of gates off
//! every hyperplane are the chambers (open cones) of the arrangement. This module
//! - enumerates them exactly, LP-free ([`enumerate()`]): the vertex method ([`vertex`]) when the
//!   distinct hyperplanes are in general position, else deletion–restriction (module
//!   [`mod@enumerate`]), exact on degenerate data (rank r < d: work in r
//!   coordinates; duplicate / scaled / antiparallel rows are one hyperplane; zero rows are never
//!   active). Integer data is handled in exact arithmetic; floating-point data is whitened first
//!   (X P = Q R, lines = rows of Q), which chambers are invariant under,
//! - counts them without materialising patterns ([`count`]),
//! - samples Gaussian gates and deduplicates their patterns ([`sample`]),
//! - lists the extra patterns `1[X u ≥ 0]` of lower-dimensional faces ([`faces`]).
//!
//! Output order: patterns sorted lexicographically (row 0 most significant, 0 < 1), which is
//! also the byte order of NumPy's `packbits` rows; it never depends on the thread count.

pub(crate) mod cone;
pub(crate) mod enumerate;
pub(crate) mod lines;
pub(crate) mod vertex;

use ndarray::ArrayView2;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::Control;
pub use enumerate::{get_bit, set_bit, words_for, RecOptions, TIE_TOL};

/// Relative tolerance of the rank decision (pivoted Gram–Schmidt).
pub const RANK_TOL: f64 = 1e-10;

/// Relative tolerance under which x·u counts as 0 when listing faces.
pub const FACE_TOL: f64 = 1e-9;

/// Cover's count 2 Σ_{k<r} C(n−1, k): the number of chambers of n hyperplanes in general position
/// in R^r (saturating at u128::MAX). `n = 0` gives 1.
pub fn cover_count(n: u64, r: u64) -> u128 {
    if n == 0 {
        return 1;
    }
    let mut total: u128 = 0;
    let mut c: u128 = 1; // C(n-1, k)
    for k in 0..r.min(n) {
        total = total.saturating_add(c);
        let num = (n - 1 - k) as u128;
        c = c.saturating_mul(num) / (k as u128 + 1);
        if num == 0 {
            break;
        }
    }
    total.saturating_mul(2)
}

/// Cover's count as a float, computed in log space (never saturates; `inf` only beyond 10^308).
pub fn cover_count_f64(n: u64, r: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // log of the terms C(n-1, k), summed with a running maximum (log-sum-exp)
    let mut lc = 0.0f64; // ln C(n-1, 0)
    let mut lmax = 0.0f64;
    let mut acc = 1.0f64; // Σ exp(ln C - lmax)
    for k in 1..r.min(n) {
        lc += ((n - k) as f64).ln() - (k as f64).ln();
        if lc > lmax {
            acc = acc * (lmax - lc).exp() + 1.0;
            lmax = lc;
        } else {
            acc += (lc - lmax).exp();
        }
    }
    (std::f64::consts::LN_2 + lmax + acc.ln()).exp()
}

/// Cover's bound in words, exact when it fits in u128 (`"1.2e+187"` style otherwise).
pub(crate) fn cover_text(n: u64, r: u64) -> String {
    let c = cover_count(n, r);
    if c < u128::MAX {
        format!("{c}")
    } else {
        format!("{:.3e}", cover_count_f64(n, r))
    }
}

/// Fewest chambers of a central arrangement of `lines` distinct hyperplanes of rank `rank`:
/// 2^(r−1) (L − r + 2) for r ≥ 1 (Zaslavsky; attained by L − r + 1 hyperplanes through a
/// common codimension-2 subspace plus r − 1 generic ones), 1 for r = 0. Saturates at u128::MAX.
pub fn min_chambers(lines: u64, rank: u64) -> u128 {
    if rank == 0 || lines == 0 {
        return 1;
    }
    let lines = lines.max(rank);
    let pow = if rank > 127 {
        u128::MAX
    } else {
        1u128 << (rank - 1)
    };
    pow.saturating_mul((lines - rank + 2) as u128)
}

/// Scale every row of `x` (n × d, row-major) by a power of two so that its largest magnitude
/// lies in [1, 2) (zero rows stay zero). Exact (no sign or ratio changes, except entries more
/// than 2^1074 times smaller than the row's largest, which flush to zero): the chambers, the
/// patterns and the witnesses of the rows do not change, and the enumeration's arithmetic
/// (norms, Gram–Schmidt) neither overflows nor underflows at any global scale. Checks for
/// cancellation every 4096 rows.
pub(crate) fn normalize_rows_ctl(x: &mut [f64], d: usize, ctl: &Control) -> Result<()> {
    if d == 0 {
        return Ok(());
    }
    for (i, row) in x.chunks_exact_mut(d).enumerate() {
        if i % 4096 == 0 {
            ctl.check()?;
        }
        let amax = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if amax == 0.0 || (1.0..2.0).contains(&amax) {
            continue;
        }
        let e = amax.log2().floor() as i32; // -1074 ..= 1023
                                            // 2^-e in two exact factors, each within the normal range
        let (e1, e2) = (-e / 2, -e - (-e / 2));
        let (f1, f2) = (2f64.powi(e1), 2f64.powi(e2));
        for v in row.iter_mut() {
            *v = *v * f1 * f2;
        }
    }
    Ok(())
}

/// Whether some nonzero row's largest magnitude lies outside [2^-250, 2^250]: only then are the
/// rows rescaled (ordinary data keeps its exact arithmetic path and witnesses bit for bit).
fn needs_row_scaling(x: &[f64], d: usize) -> bool {
    let (lo, hi) = (2f64.powi(-250), 2f64.powi(250));
    x.chunks_exact(d.max(1)).any(|row| {
        let amax = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        amax != 0.0 && !(lo..=hi).contains(&amax)
    })
}

/// Rows of the two-sided CountSketch of `rank_lower_bound`.
const SKETCH: usize = 160;

fn mix(mut z: u64) -> u64 {
    // splitmix64
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A lower bound on rank(X) (X n × d row-major, rows normalised) in O(n·d) + O(160³): the rank of
/// the 160 × 160 sketch S X T (S, T CountSketch matrices with fixed hashes), decided with a
/// strict relative tolerance (1e-8), since rank(S X T) ≤ rank(X). Equal to min(rank, ~150)
/// for generic data; used only to refuse impossible exact runs before the O(n·d²) preparation.
pub(crate) fn rank_lower_bound(x: &[f64], n: usize, d: usize, ctl: &Control) -> Result<usize> {
    let (k1, k2) = (n.min(SKETCH), d.min(SKETCH));
    if k1 == 0 || k2 == 0 {
        return Ok(0);
    }
    let col: Vec<(usize, f64)> = (0..d)
        .map(|j| {
            let h = mix(j as u64 ^ 0x5151_5151);
            let b = if d <= SKETCH {
                j
            } else {
                (h % k2 as u64) as usize
            };
            (b, if h >> 63 == 0 { 1.0 } else { -1.0 })
        })
        .collect();
    let mut sk = vec![0.0f64; k1 * k2];
    for (i, row) in x.chunks_exact(d).enumerate() {
        if i % 4096 == 0 {
            ctl.check()?;
        }
        let h = mix(i as u64);
        let b = if n <= SKETCH {
            i
        } else {
            (h % k1 as u64) as usize
        };
        let sg = if h >> 63 == 0 { 1.0 } else { -1.0 };
        let dst = &mut sk[b * k2..(b + 1) * k2];
        for (v, (c, cs)) in row.iter().zip(&col) {
            dst[*c] += sg * cs * v;
        }
    }
    let (r, _, _, _) = whiten(&sk, k1, k2, 1e-8, ctl)?;
    Ok(r)
}

/// Refuse an exact run that cannot fit, in O(n·d) before any O(n·d²) work: the chambers are at
/// least 2^r for r ≤ rank(X) (see `rank_lower_bound`). `x` holds the normalised rows.
fn quick_refuse(x: &[f64], n: usize, d: usize, limits: &Limits, ctl: &Control) -> Result<()> {
    if limits.max_chambers.is_none() && limits.memory_bytes.is_none() {
        return Ok(());
    }
    let r = rank_lower_bound(x, n, d, ctl)?;
    let lower = min_chambers(r as u64, r as u64);
    refuse_if_over(lower, n, d, r, limits, true)
}

/// Raise [`Error::TooLarge`] when `lower` (a proven lower bound on the chambers when
/// `is_lower`) exceeds a budget. Messages give the bound and Cover's count.
fn refuse_if_over(
    lower: u128,
    n: usize,
    d: usize,
    r: usize,
    limits: &Limits,
    sketch: bool,
) -> Result<()> {
    let why = if sketch {
        format!(
            "at least {lower} chambers (rank(X) >= {r} gives at least 2^{r}; Cover's bound for \
             n = {n} rows of rank <= {}: {})",
            d.min(n),
            cover_text(n as u64, d.min(n) as u64)
        )
    } else {
        format!("at least {lower} chambers")
    };
    refuse_beyond_limits(lower, bytes_per_chamber(n, d, r), limits, &why, |need| {
        format!("{why}, at least {:.3e} bytes", need as f64)
    })
}

/// Refuse `count` chambers of `bytes_each` bytes beyond `limits.max_chambers` or
/// `limits.memory_bytes`: `what` describes the count, `memory_text(bytes)` the memory it needs.
fn refuse_beyond_limits(
    count: u128,
    bytes_each: u64,
    limits: &Limits,
    what: &str,
    memory_text: impl Fn(u128) -> String,
) -> Result<()> {
    if let Some(m) = limits.max_chambers {
        if count > m as u128 {
            return Err(Error::too_large(
                "chambers",
                what,
                format!("max_chambers={m}"),
                "Use method=\"sample\", iter_chambers(...) to stream, or raise max_chambers.",
            ));
        }
    }
    if let Some(mb) = limits.memory_bytes {
        let need = count.saturating_mul(bytes_each as u128);
        if need > mb as u128 {
            return Err(Error::too_large(
                "chambers",
                memory_text(need),
                format!("memory_limit={:.3} GB", mb as f64 / 1e9),
                "Use method=\"sample\", iter_chambers(...) to stream, or raise memory_limit.",
            ));
        }
    }
    Ok(())
}

/// Data prepared for enumeration: row-space coordinates and distinct lines.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub n: usize,
    pub d: usize,
    /// Rank of X.
    pub rank: usize,
    /// Row-major copy of X (n × d); when a row is extreme (beyond 2^±250), each row of
    /// non-integer data scaled by a power of two (see `normalize_rows_ctl`): same patterns, no
    /// overflow or underflow in `x_i · u`.
    pub x: Vec<f64>,
    /// How row-space coordinates w map back to gates u ∈ R^d.
    pub coords: Coords,
    /// Distinct lines in row-space coordinates (L × rank).
    pub lines: Vec<f64>,
    /// For every row: (line, flipped), or None for a zero row.
    pub map: Vec<Option<(u32, bool)>>,
}

impl Prepared {
    pub fn num_lines(&self) -> usize {
        self.lines.len().checked_div(self.rank).unwrap_or(0)
    }

    /// Cover's count for the distinct lines in the row space: an upper bound on the chambers.
    pub fn bound(&self) -> u128 {
        cover_count(self.num_lines() as u64, self.rank as u64)
    }

    /// Map row-space coordinates w (rank) to R^d.
    fn lift(&self, w: &[f64], out: &mut [f64]) {
        match &self.coords {
            Coords::Identity => out.copy_from_slice(w),
            Coords::Basis(b) => {
                out.iter_mut().for_each(|v| *v = 0.0);
                for (c, wc) in w.iter().enumerate() {
                    for (o, bv) in out.iter_mut().zip(&b[c * self.d..(c + 1) * self.d]) {
                        *o += wc * bv;
                    }
                }
            }
            Coords::Whitened { r, perm } => {
                // u = P [R1^{-1} w; 0] (back substitution, R1 = leading rank × rank block)
                let (k, d) = (self.rank, self.d);
                let mut zbuf = [0.0f64; 16];
                let mut zvec = Vec::new();
                let z: &mut [f64] = if k <= 16 {
                    &mut zbuf[..k]
                } else {
                    zvec.resize(k, 0.0);
                    &mut zvec
                };
                for t in (0..k).rev() {
                    let mut acc = w[t];
                    for j in t + 1..k {
                        acc -= r[t * d + j] * z[j];
                    }
                    z[t] = acc / r[t * d + t];
                }
                out.iter_mut().for_each(|v| *v = 0.0);
                for (j, zj) in z.iter().enumerate() {
                    out[perm[j]] = *zj;
                }
            }
        }
    }
}

/// How the coordinates of the enumeration map back to gates u ∈ R^d.
#[derive(Clone, Debug)]
pub enum Coords {
    /// The data itself (integer data of full rank: exact arithmetic).
    Identity,
    /// u = Bᵀ w with B (rank × d) an orthonormal basis of the row space (rank-deficient integer
    /// data).
    Basis(Vec<f64>),
    /// Whitened coordinates of floating-point data: X P = Q R (pivoted Gram–Schmidt on the
    /// columns), the rows of Q are the lines and w = R Pᵀ u. Chambers are invariant under this
    /// change of variables, which removes bad column scaling. `r` is rank × d (pivoted column
    /// order), `perm[j]` the original column of pivot j.
    Whitened { r: Vec<f64>, perm: Vec<usize> },
}

/// (rank, Q (n × rank, row-major), R (rank × d), perm) of [`whiten`].
type Whitened = (usize, Vec<f64>, Vec<f64>, Vec<usize>);

/// Rows of a column gathered or written out by [`whiten`] between two cancellation checks.
const WHITEN_ROWS: usize = 1 << 16;

/// Pivoted modified Gram–Schmidt on the columns of `x` (n × d, row-major): (rank, Q (n × rank,
/// row-major), R (rank × d), perm). A column is dependent when its residual is below `tol` times
/// its own norm (scale-invariant per column).
fn whiten(x: &[f64], n: usize, d: usize, tol: f64, ctl: &Control) -> Result<Whitened> {
    // a check per 65,536 rows of a column gathered or written out and per column normed or
    // updated: at n = 10⁶ a column is ~10⁶ strided reads, a norm 2·10⁶ flops, an update 4·10⁶
    // (a few ms each; the checks never change the arithmetic)
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(d);
    for j in 0..d {
        let mut c = Vec::with_capacity(n);
        for i0 in (0..n).step_by(WHITEN_ROWS) {
            ctl.check()?;
            c.extend((i0..(i0 + WHITEN_ROWS).min(n)).map(|i| x[i * d + j]));
        }
        cols.push(c);
    }
    let mut norm0: Vec<f64> = Vec::with_capacity(d);
    for c in &cols {
        ctl.check()?;
        norm0.push(lines::norm(c));
    }
    let mut perm: Vec<usize> = (0..d).collect();
    let mut r = vec![0.0; d * d];
    let mut q: Vec<Vec<f64>> = Vec::new();
    let mut rank = 0;
    while rank < d.min(n) {
        // pivot: the largest residual relative to the column's own norm (the first on ties)
        let (mut best, mut ratio) = (rank, -1.0);
        for j in rank..d {
            ctl.check()?;
            let nj = norm0[perm[j]];
            let res = lines::norm(&cols[j]);
            let rj = if nj > 0.0 { res / nj } else { 0.0 };
            if rj > ratio {
                (best, ratio) = (j, rj);
            }
        }
        if ratio <= tol {
            break;
        }
        cols.swap(rank, best);
        perm.swap(rank, best);
        for row in 0..rank {
            r.swap(row * d + rank, row * d + best);
        }
        // re-orthogonalise once more against the previous q's (CGS2-style)
        for (t, qt) in q.iter().enumerate() {
            ctl.check()?;
            let c = lines::dot(qt, &cols[rank]);
            r[t * d + rank] += c;
            for (v, qv) in cols[rank].iter_mut().zip(qt) {
                *v -= c * qv;
            }
        }
        ctl.check()?;
        let nr = lines::norm(&cols[rank]);
        r[rank * d + rank] = nr;
        let qs: Vec<f64> = cols[rank].iter().map(|v| v / nr).collect();
        for j in rank + 1..d {
            ctl.check()?;
            let c = lines::dot(&qs, &cols[j]);
            r[rank * d + j] = c;
            for (v, qv) in cols[j].iter_mut().zip(&qs) {
                *v -= c * qv;
            }
        }
        q.push(qs);
        rank += 1;
    }
    let mut qm = vec![0.0; n * rank];
    for (t, qt) in q.iter().enumerate() {
        for i0 in (0..n).step_by(WHITEN_ROWS) {
            ctl.check()?;
            for i in i0..(i0 + WHITEN_ROWS).min(n) {
                qm[i * rank + t] = qt[i];
            }
        }
    }
    r.truncate(rank * d);
    Ok((rank, qm, r, perm))
}

/// Rows copied between two cancellation checks by [`copy_rows_checked`] (10⁶ × 50 values: a
/// check every ~2 ms).
const COPY_ROWS: usize = 1 << 12;

/// X in logical (row-major) order, any strides, checked finite, whether every entry is an
/// integer below 10¹², and whether a row needs scaling ([`needs_row_scaling`]): in blocks of
/// [`COPY_ROWS`] rows with a cancellation check between blocks (the input may be 10⁶ × 50 and
/// more; each block is tested while it is in cache).
fn copy_rows_checked(x: ArrayView2<f64>, ctl: &Control) -> Result<(Vec<f64>, bool, bool)> {
    let (n, d) = x.dim();
    let mut xv: Vec<f64> = Vec::with_capacity(n * d);
    let mut integer = true;
    let mut scale = false;
    for (b, block) in x.axis_chunks_iter(ndarray::Axis(0), COPY_ROWS).enumerate() {
        ctl.check()?;
        let start = xv.len();
        xv.extend(block.iter().copied());
        if let Some(j) = xv[start..].iter().position(|v| !v.is_finite()) {
            let i = b * COPY_ROWS * d + j;
            return Err(Error::invalid(
                "X",
                format!(
                    "contains a non-finite value ({}) at flat index {i}",
                    xv[start + j]
                ),
            ));
        }
        integer = integer
            && xv[start..]
                .iter()
                .all(|v| v.fract() == 0.0 && v.abs() < 1e12);
        scale = scale || needs_row_scaling(&xv[start..], d);
    }
    Ok((xv, integer, scale))
}

/// Check X (non-empty, finite) and bring it into row-space coordinates.
pub fn prepare(x: ArrayView2<f64>) -> Result<Prepared> {
    prepare_checked(x, None, &Control::new())
}

/// [`prepare`], cancellable, refusing first (in O(n·d), see `rank_lower_bound`) exact runs
/// whose chambers cannot fit `limits`.
pub fn prepare_checked(
    x: ArrayView2<f64>,
    limits: Option<&Limits>,
    ctl: &Control,
) -> Result<Prepared> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(Error::invalid(
            "X",
            format!("must have at least one row and one column, got shape ({n}, {d})"),
        ));
    }
    // Integer data keeps exact arithmetic; other data is scaled row by row by powers of two
    // (exact, chambers are invariant) and whitened (chambers are invariant under invertible
    // linear changes of the gate), which makes the numerics scale-invariant.
    let (mut xv, integer, scale) = copy_rows_checked(x, ctl)?;
    if !integer && scale {
        normalize_rows_ctl(&mut xv, d, ctl)?;
    }
    ctl.check()?;
    if let Some(l) = limits {
        quick_refuse(&xv, n, d, l, ctl)?;
    }
    let (rank, y, coords) = if integer {
        let (rank, basis) = lines::row_space_ctl(&xv, n, d, RANK_TOL, ctl)?;
        if rank == d || rank == 0 {
            (rank, xv.clone(), Coords::Identity)
        } else {
            let mut y = vec![0.0; n * rank];
            for i in 0..n {
                if i % CHECK_ROWS == 0 {
                    ctl.check()?;
                }
                let row = &xv[i * d..(i + 1) * d];
                if row.iter().all(|v| *v == 0.0) {
                    continue; // zero rows stay exactly zero
                }
                for c in 0..rank {
                    y[i * rank + c] = lines::dot(row, &basis[c * d..(c + 1) * d]);
                }
            }
            (rank, y, Coords::Basis(basis))
        }
    } else {
        let (rank, qm, r, perm) = whiten(&xv, n, d, RANK_TOL, ctl)?;
        (rank, qm, Coords::Whitened { r, perm })
    };
    ctl.check()?;
    let (lines, map) = if rank == 0 {
        (Vec::new(), vec![None; n])
    } else {
        lines::dedupe_ctl(&y, rank, ctl)?
    };
    ctl.check()?;
    Ok(Prepared {
        n,
        d,
        rank,
        x: xv,
        coords,
        lines,
        map,
    })
}

/// Chambers (or sampled patterns) with witnesses, patterns bit-packed (MSB-first u64 words).
#[derive(Clone, Debug, Default)]
pub struct ChamberSet {
    pub n: usize,
    pub d: usize,
    pub rank: usize,
    /// P × words_for(n) words; bit i of row p = 1[x_i · witness_p > 0].
    pub patterns: Vec<u64>,
    /// P × d gates, unit norm.
    pub witnesses: Vec<f64>,
}

impl ChamberSet {
    pub fn count(&self) -> usize {
        self.witnesses.len().checked_div(self.d).unwrap_or(0)
    }

    pub fn words(&self) -> usize {
        words_for(self.n)
    }

    /// P × n bytes, 1 where active.
    pub fn bool_patterns(&self) -> Vec<u8> {
        self.bools().into_iter().map(u8::from).collect()
    }

    /// P × n booleans (row-major), true where active.
    pub fn bools(&self) -> Vec<bool> {
        // 8 booleans per pattern byte from a table (MSB first)
        let mut lut = [[false; 8]; 256];
        for (b, e) in lut.iter_mut().enumerate() {
            for (j, v) in e.iter_mut().enumerate() {
                *v = (b >> (7 - j)) & 1 == 1;
            }
        }
        let nw = self.words();
        let n = self.n;
        let mut out = vec![false; self.count() * n];
        out.par_chunks_mut(n.max(1))
            .zip(self.patterns.par_chunks(nw))
            .with_min_len(chambers_per_task(n))
            .for_each(|(row, p)| {
                let byte = |c: usize| (p[c / 8] >> (56 - 8 * (c % 8))) as u8 as usize;
                let mut full = row.chunks_exact_mut(8);
                let mut c = 0;
                for chunk in &mut full {
                    // fixed-size copy: one 8-byte move
                    let dst: &mut [bool; 8] = chunk.try_into().expect("chunk of 8");
                    *dst = lut[byte(c)];
                    c += 1;
                }
                let rest = full.into_remainder();
                if !rest.is_empty() {
                    let len = rest.len();
                    rest.copy_from_slice(&lut[byte(c)][..len]);
                }
            });
        out
    }

    /// P × ceil(n/8) bytes in NumPy `packbits(axis=1)` layout (big-endian bits in each byte).
    pub fn packed(&self) -> Vec<u8> {
        let nw = self.words();
        let nb = self.n.div_ceil(8);
        let mut out = vec![0u8; self.count() * nb];
        out.par_chunks_mut(nb.max(1))
            .zip(self.patterns.par_chunks(nw))
            .with_min_len(1024)
            .for_each(|(row, p)| {
                // MSB-first words are big-endian byte strings
                for (dst, w) in row.chunks_mut(8).zip(p) {
                    dst.copy_from_slice(&w.to_be_bytes()[..dst.len()]);
                }
            });
        out
    }
}

/// Budgets checked before any large allocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Refuse more chambers than this.
    pub max_chambers: Option<u64>,
    /// Refuse runs whose estimated peak memory exceeds this many bytes.
    pub memory_bytes: Option<u64>,
}

/// Estimated peak bytes per chamber of an exact run (output + candidate buffers).
pub fn bytes_per_chamber(n: usize, d: usize, rank: usize) -> u64 {
    let nw = words_for(n) as u64;
    let out = n as u64 + n.div_ceil(8) as u64 + 8 * d as u64 + 8 * nw;
    let cand = 2 * (8 * words_for(n) as u64 + 8 * rank as u64 + 8 + 4);
    out + cand
}

/// Largest cost (m² r log m operations) of `restricted_bound` that [`plan`] spends.
const RESTRICTED_BOUND_WORK: f64 = 4e8;

/// Upper limit of the bound under which the exact count is computed to check a budget.
const COUNT_TO_CHECK: u128 = 50_000_000;

/// The number of chambers to plan for: exact when the Cover bound exceeds a budget and counting
/// is affordable, else the bound. Returns (estimate, exact?).
pub fn plan(prep: &Prepared, limits: &Limits, ctl: &Control) -> Result<(u128, bool)> {
    let bound = prep.bound();
    let over = |p: u128| {
        limits.max_chambers.is_some_and(|m| p > m as u128)
            || limits.memory_bytes.is_some_and(|mb| {
                p.saturating_mul(bytes_per_chamber(prep.n, prep.d, prep.rank) as u128) > mb as u128
            })
    };
    if !over(bound) {
        return Ok((bound, prep.rank <= 1 || prep.num_lines() <= prep.rank));
    }
    // The fewest chambers L distinct lines of rank r can have: over budget means impossible.
    let lower = min_chambers(prep.num_lines() as u64, prep.rank as u64);
    if over(lower) {
        return Ok((lower, false));
    }
    // One step of deletion–restriction with Cover's bound for each restriction: m restrictions,
    // much cheaper than counting, and often far below Cover's bound on degenerate data; skipped
    // when its O(m² r log m) cost is itself large.
    let m = prep.num_lines() as f64;
    if m * m * prep.rank as f64 * (1.0 + m.log2()) <= RESTRICTED_BOUND_WORK {
        let refined = restricted_bound(prep, ctl)?;
        if !over(refined) {
            return Ok((refined, false));
        }
    }
    if bound <= COUNT_TO_CHECK {
        let c = count_prepared(prep, ctl)?;
        return Ok((c, true));
    }
    Ok((bound, false))
}

/// An upper bound on the chambers: r(A) = 1 + Σ_t r(A_t^{y_t}) ≤ 1 + Σ_t Cover(L_t, r − 1) with
/// L_t the distinct lines of the restriction of lines 0..t to y_t^⊥ (r ≥ 3; else Cover's bound).
pub(crate) fn restricted_bound(prep: &Prepared, ctl: &Control) -> Result<u128> {
    let (k, m) = (prep.rank, prep.num_lines());
    if k < 3 {
        return Ok(prep.bound());
    }
    let lines = &prep.lines;
    let per_t = |t: usize| -> Result<u128> {
        ctl.check()?;
        let z = lines::restrict(&lines[..t * k], k, &lines[t * k..(t + 1) * k]);
        let (zl, _) = lines::dedupe(&z, k - 1);
        Ok(cover_count((zl.len() / (k - 1)) as u64, (k - 1) as u64))
    };
    let parts: Vec<u128> = (0..m).into_par_iter().map(per_t).collect::<Result<_>>()?;
    Ok(parts.iter().fold(1u128, |a, b| a.saturating_add(*b)))
}

/// Raise [`Error::TooLarge`] when the planned size exceeds a budget.
pub fn check_limits(prep: &Prepared, limits: &Limits, ctl: &Control) -> Result<u128> {
    let lower = min_chambers(prep.num_lines() as u64, prep.rank as u64);
    refuse_if_over(lower, prep.n, prep.d, prep.rank, limits, false).map_err(|e| match e {
        Error::TooLarge {
            what,
            estimate,
            limit,
            hint,
        } => Error::TooLarge {
            what,
            estimate: format!(
                "{estimate} ({} distinct lines of rank {}; Cover's bound {})",
                prep.num_lines(),
                prep.rank,
                cover_text(prep.num_lines() as u64, prep.rank as u64)
            ),
            limit,
            hint,
        },
        other => other,
    })?;
    let (est, exact) = plan(prep, limits, ctl)?;
    let what = if exact {
        format!("{est} chambers")
    } else {
        let shown = if est == u128::MAX {
            cover_text(prep.num_lines() as u64, prep.rank as u64)
        } else {
            est.to_string()
        };
        format!("up to {shown} chambers (Cover's bound)")
    };
    let bytes_each = bytes_per_chamber(prep.n, prep.d, prep.rank);
    refuse_beyond_limits(est, bytes_each, limits, &what, |need| {
        format!("{what}, about {:.3} GB", need as f64 / 1e9)
    })?;
    Ok(est)
}

fn count_prepared(prep: &Prepared, ctl: &Control) -> Result<u128> {
    if prep.rank == 0 {
        return Ok(1);
    }
    enumerate::count_chambers(&prep.lines, prep.rank, &RecOptions::default(), ctl)
}

/// Exact number of chambers of the arrangement of the rows of `x` (no patterns materialised).
pub fn count(x: ArrayView2<f64>, ctl: &Control) -> Result<u128> {
    count_limited(x, None, ctl)
}

/// [`count`] refusing more than `max_chambers` chambers: at once (O(n·d)) when a lower bound
/// exceeds it, else by stopping the count as soon as it passes `max_chambers`, so the work
/// stays proportional to `max_chambers`.
pub fn count_limited(x: ArrayView2<f64>, max_chambers: Option<u64>, ctl: &Control) -> Result<u128> {
    let limits = Limits {
        max_chambers,
        memory_bytes: None,
    };
    let prep = prepare_checked(x, Some(&limits), ctl)?;
    let lower = min_chambers(prep.num_lines() as u64, prep.rank as u64);
    refuse_if_over(lower, prep.n, prep.d, prep.rank, &limits, false)?;
    if let Some(m) = max_chambers {
        if prep.bound() > m as u128 {
            ctl.set_budget(m);
        }
    }
    let out = count_prepared(&prep, ctl);
    ctl.set_budget(0);
    let c = out?;
    if let Some(m) = max_chambers {
        if c > m as u128 {
            return Err(Error::too_large(
                "chamber_count",
                format!("{c} chambers"),
                format!("max_chambers={m}"),
                "Raise max_chambers.",
            ));
        }
    }
    Ok(c)
}

/// Rows of a chamber between two cancellation checks when its pattern is lifted or its witness
/// verified (10⁶ × 50: ~1 ms of work).
const CHECK_ROWS: usize = 1 << 14;

/// A cancellation check every this many chambers (about [`CHECK_ROWS`] rows), besides one
/// every [`CHECK_ROWS`] rows within a chamber.
fn chambers_per_check(n: usize) -> usize {
    (CHECK_ROWS / n.max(1)).max(1)
}

/// Chambers per rayon task when lifting or verifying the patterns of `n` rows: about 2¹⁸ rows of
/// work per task (a chamber per task from n ≈ 2.6·10⁵ on, 262 at n = 10³). Results do not depend on it.
fn chambers_per_task(n: usize) -> usize {
    ((1usize << 18) / n.max(1)).max(1)
}

/// Row patterns from line patterns `lp` (P × words_for(L), sorted) and witnesses `w` (P × rank,
/// row-space coordinates) lifted to R^d. Lines are oriented like their first row and ordered by
/// first occurrence, so the row patterns are in the same (lexicographic) order.
fn finish(prep: &Prepared, lp: &[u64], w: &[f64], ctl: &Control) -> Result<ChamberSet> {
    let (n, d, r) = (prep.n, prep.d, prep.rank);
    let p = w.len().checked_div(r).unwrap_or(1);
    let nw = words_for(n);
    let nl = prep.num_lines();
    let lw = words_for(nl);
    let mut u = vec![0.0; p * d];
    if r == 0 {
        u[0] = 1.0;
    } else {
        // the lift is linear: u = L w with L (d × r, stored by columns) the lifts of e_c
        let identity_coords = matches!(prep.coords, Coords::Identity);
        let mut lmat = vec![0.0; r * d];
        let mut e = vec![0.0; r];
        for c in 0..r {
            e.iter_mut().for_each(|v| *v = 0.0);
            e[c] = 1.0;
            prep.lift(&e, &mut lmat[c * d..(c + 1) * d]);
        }
        u.par_chunks_mut(d)
            .zip(w.par_chunks(r))
            .with_min_len(1024)
            .for_each(|(o, wi)| {
                if identity_coords {
                    o.copy_from_slice(wi);
                    return;
                }
                o.iter_mut().for_each(|v| *v = 0.0);
                for (c, wc) in wi.iter().enumerate() {
                    for (ov, lv) in o.iter_mut().zip(&lmat[c * d..(c + 1) * d]) {
                        *ov += wc * lv;
                    }
                }
                let nu = lines::norm(o);
                o.iter_mut().for_each(|v| *v /= nu);
            });
    }
    ctl.check()?;
    let identity = prep.map.len() == nl
        && prep
            .map
            .iter()
            .enumerate()
            .all(|(i, m)| *m == Some((i as u32, false)));
    let patterns = if r == 0 {
        vec![0u64; nw]
    } else if identity {
        lp.to_vec()
    } else {
        let every = chambers_per_check(n);
        let mut pats = vec![0u64; p * nw];
        pats.par_chunks_mut(nw)
            .zip(lp.par_chunks(lw))
            .enumerate()
            .with_min_len(chambers_per_task(n))
            .try_for_each(|(q, (row, l))| -> Result<()> {
                for (c, ms) in prep.map.chunks(CHECK_ROWS).enumerate() {
                    if c > 0 || q % every == 0 {
                        ctl.check()?;
                    }
                    for (i, m) in ms.iter().enumerate() {
                        if let Some((li, flip)) = m {
                            if get_bit(l, *li as usize) != *flip {
                                set_bit(row, c * CHECK_ROWS + i);
                            }
                        }
                    }
                }
                Ok(())
            })?;
        pats
    };
    ctl.check()?;
    verify_witnesses(prep, &patterns, &u, ctl)?;
    Ok(ChamberSet {
        n,
        d,
        rank: r,
        patterns,
        witnesses: u,
    })
}

/// Check that every witness realises its pattern: bit i of row p is set exactly when
/// x_i · w_p > 0, computed on the power-of-two-scaled rows (`prep.x`, same signs as X, no
/// overflow or underflow). A failure is a [`Error::Numerical`], never a silent result.
pub(crate) fn verify_witnesses(
    prep: &Prepared,
    patterns: &[u64],
    w: &[f64],
    ctl: &Control,
) -> Result<()> {
    let (n, d) = (prep.n, prep.d);
    let nw = words_for(n);
    let every = chambers_per_check(n);
    let bad = patterns
        .par_chunks(nw)
        .zip(w.par_chunks(d))
        .enumerate()
        .with_min_len(chambers_per_task(n))
        .map(|(p, (pat, u))| -> Result<Option<(usize, usize, f64)>> {
            if p % every == 0 {
                ctl.check()?;
            }
            if u.iter().any(|v| !v.is_finite()) {
                return Ok(Some((p, 0, f64::NAN)));
            }
            for i in 0..n {
                if i % CHECK_ROWS == 0 && i > 0 {
                    ctl.check()?;
                }
                let s = lines::dot(&prep.x[i * d..(i + 1) * d], u);
                if (s > 0.0) != get_bit(pat, i) {
                    return Ok(Some((p, i, s)));
                }
            }
            Ok(None)
        })
        .find_map_first(|r| match r {
            Ok(None) => None,
            other => Some(other),
        });
    match bad {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(None)) => Ok(()),
        Some(Ok(Some((p, i, s)))) => Err(Error::Numerical(format!(
            "the witness of chamber {p} does not realise its pattern (row {i}: x_i . w = {s:e}): \
             the data is too close to degenerate for the enumeration's tolerances"
        ))),
    }
}

/// Every chamber of the arrangement of the rows of `x`, exactly, with strictly interior witnesses.
pub fn enumerate(x: ArrayView2<f64>, limits: &Limits, ctl: &Control) -> Result<ChamberSet> {
    let prep = prepare_checked(x, Some(limits), ctl)?;
    check_limits(&prep, limits, ctl)?;
    enumerate_prepared(&prep, ctl)
}

/// Which exact algorithm to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// The vertex method when the arrangement is simple (general position), else
    /// deletion–restriction.
    #[default]
    Auto,
    /// Always deletion–restriction (exact on any data).
    DeletionRestriction,
}

/// [`enumerate()`] on prepared data (no budget check).
pub fn enumerate_prepared(prep: &Prepared, ctl: &Control) -> Result<ChamberSet> {
    enumerate_prepared_with(prep, Algorithm::Auto, ctl)
}

/// [`enumerate_prepared`] with a choice of algorithm.
pub fn enumerate_prepared_with(
    prep: &Prepared,
    algorithm: Algorithm,
    ctl: &Control,
) -> Result<ChamberSet> {
    let (r, nl) = (prep.rank, prep.num_lines());
    let simple = if algorithm == Algorithm::Auto && r >= 2 && nl > r {
        vertex::chambers_simple(&prep.lines, r, ctl)?
    } else {
        None
    };
    let (lp, w) = match simple {
        Some(pw) => pw,
        None if r == 0 => (Vec::new(), Vec::new()),
        None => {
            ctl.set_total(nl as u64);
            ctl.set_done(0);
            // Checked against the deletion–restriction count level by level (a candidate gate
            // can only be lost when a chamber is thinner than the tie tolerance).
            enumerate::witnesses_of_lines_top(&prep.lines, r, &RecOptions::default(), ctl)?
        }
    };
    finish(prep, &lp, &w, ctl)
}

/// Where the chambers of a [`ChamberStream`] come from.
enum StreamSource {
    /// Simple arrangement: the vertex method, block by block (memory bounded by the block).
    Simple(vertex::SimpleStream),
    /// Rank ≤ 2 (at most 2 × lines chambers): one materialised enumeration, handed out block by
    /// block.
    Materialised { set: ChamberSet, pos: usize },
    /// Any other data: prefix-cone partition (memory bounded by the part budget).
    Partitioned(PartStream),
}

/// Part budget (chambers) of the prefix-cone partition when no memory budget is given. With a
/// memory budget M the part budget is M / (4 × [`bytes_per_chamber`]) (a part, its candidates
/// and the sub-enumerations of the worker threads then take well under M). Every part, and
/// every split (one constrained count), traverses the restriction tree of the lines meeting its
/// cone, pruned mainly at the planar level, at roughly the cost of one full count: few large
/// parts are much faster than many small ones (resonance arrangement of R^6, 1,066,044
/// chambers: 6 parts of ≤ 2^18 take ≈ 3× the time of one [`enumerate()`], 28 parts of ≤ 2^16
/// ≈ 6×; R^7, 3.5·10^8 chambers, in parts of 2^18 would take hours).
pub const PART_BUDGET: usize = 1 << 18;

/// A prefix cone C(σ) of the lines (see [`cone`]) with a point of it and its chamber count.
struct PartNode {
    sig: Vec<bool>,
    point: Vec<f64>,
    count: u128,
}

/// Bounded-memory traversal of the chambers of any arrangement: a depth-first walk of the
/// prefix cones C(σ) (σ = signs on the first lines, 0 before 1), splitting a cone on its next
/// line while it holds more than `budget` chambers, then enumerating it with
/// [`cone::chambers_in_cone`] and handing it out. The parts are disjoint and visited in
/// lexicographic order, so the stream is the sorted order of [`enumerate()`].
///
/// Live memory: the current part (≤ `budget` chambers, ≤ 2 × `budget` candidates at its top
/// level plus, per worker thread, one sub-enumeration of at most `budget` chambers) and the
/// depth-first stack (≤ 2 × lines nodes of one sign prefix and one point each): O(threads ×
/// budget × (lines/8 + rank) + lines² ) bytes, independent of the number of chambers.
pub struct PartStream {
    lines: Vec<f64>,
    r: usize,
    budget: usize,
    stack: Vec<PartNode>,
    /// The current part: line patterns, unit witnesses (row-space coordinates), next row.
    part: Option<(Vec<u64>, Vec<f64>, usize)>,
    /// Largest number of candidates held for one part.
    pub peak_candidates: usize,
    /// Largest number of chambers held for one part.
    pub peak_part: usize,
    /// Number of parts enumerated so far.
    pub parts: usize,
}

impl PartStream {
    fn new(lines: &[f64], r: usize, total: u128, budget: usize) -> Self {
        let mut point = vec![0.0; r];
        point[0] = 1.0;
        Self {
            lines: lines.to_vec(),
            r,
            budget: budget.max(1),
            stack: vec![PartNode {
                sig: Vec::new(),
                point,
                count: total,
            }],
            part: None,
            peak_candidates: 0,
            peak_part: 0,
            parts: 0,
        }
    }

    /// Up to `block` chambers (line patterns, witnesses), None at the end.
    fn next_block(&mut self, block: usize, ctl: &Control) -> Result<Option<(Vec<u64>, Vec<f64>)>> {
        let (k, m) = (self.r, self.lines.len() / self.r);
        let lw = words_for(m);
        let opts = RecOptions::default();
        loop {
            ctl.check()?;
            if let Some((pats, wit, pos)) = &mut self.part {
                let p = wit.len() / k;
                if *pos < p {
                    let end = (*pos + block).min(p);
                    let out = (
                        pats[*pos * lw..end * lw].to_vec(),
                        wit[*pos * k..end * k].to_vec(),
                    );
                    *pos = end;
                    return Ok(Some(out));
                }
                self.part = None;
            }
            let Some(node) = self.stack.pop() else {
                return Ok(None);
            };
            let j = node.sig.len();
            if node.count <= self.budget as u128 || j == m {
                let (pats, wit, held) =
                    cone::chambers_in_cone(&self.lines, k, &node.sig, &node.point, &opts, ctl)?;
                let found = wit.len() / k;
                if found as u128 != node.count {
                    return Err(Error::Numerical(format!(
                        "the enumeration of a part found {found} chambers but its \
                         deletion-restriction count is {}: the data is too close to degenerate \
                         for the tie tolerance",
                        node.count
                    )));
                }
                self.peak_candidates = self.peak_candidates.max(held);
                self.peak_part = self.peak_part.max(found);
                self.parts += 1;
                self.part = Some((pats, wit, 0));
                continue;
            }
            // split on line j: children σ0 (pushed last, visited first) and σ1
            let mut kids = split_part(&self.lines, k, &node, &opts, ctl)?;
            while let Some(kid) = kids.pop() {
                self.stack.push(kid);
            }
        }
    }
}

/// Split the cone C(σ) of `node` on its next line: the nonempty children σ0, σ1 (in this
/// order) with a point of each and their exact chamber counts.
fn split_part(
    lines: &[f64],
    k: usize,
    node: &PartNode,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Vec<PartNode>> {
    let mut kids: Vec<PartNode> = Vec::with_capacity(2);
    for b in [false, true] {
        if let Some(point) = cone::extend_point(lines, k, &node.sig, &node.point, b, ctl)? {
            let mut sig = node.sig.clone();
            sig.push(b);
            kids.push(PartNode {
                sig,
                point,
                count: node.count,
            });
        }
    }
    if kids.len() == 2 {
        let c0 = cone::count_in_cone(lines, k, &kids[0].sig, opts, ctl)?;
        if c0 == 0 || c0 >= node.count {
            return Err(Error::Numerical(format!(
                "a cone split into parts of {c0} and {} chambers: the data is too \
                 close to degenerate for the tie tolerance",
                node.count as i128 - c0 as i128
            )));
        }
        kids[0].count = c0;
        kids[1].count = node.count - c0;
    }
    if kids.is_empty() {
        return Err(Error::Numerical(
            "a nonempty cone has no point on either side of a line: the data is too \
             close to degenerate for the tie tolerance"
                .into(),
        ));
    }
    Ok(kids)
}

/// One part of the prefix-cone partition of the chambers (see [`plan_parts`]): the chambers
/// whose pattern over the distinct lines starts with the signs `sig`, a point of that cone in
/// row-space coordinates, and their exact number.
#[derive(Clone, Debug, PartialEq)]
pub struct ConePart {
    pub sig: Vec<bool>,
    pub point: Vec<f64>,
    pub count: u128,
}

/// Partition the chambers of the rows of `x` into prefix-cone parts of at most `budget`
/// chambers each, without enumerating any: the cone of the empty prefix is split on its next
/// line (σ0 before σ1, each child counted exactly by the constrained deletion–restriction
/// recurrence) while it holds more than `budget` chambers. Works on any data (general position
/// or degenerate). The parts are disjoint, their counts add up to the exact number of chambers
/// (returned second), and [`enumerate_part`] of each part, in the returned order, concatenates
/// to the sorted rows of [`enumerate()`]. Rank ≤ 2 (at most 2 × lines chambers): one part.
/// `max_chambers` is checked against the exact count.
pub fn plan_parts(
    x: ArrayView2<f64>,
    budget: usize,
    max_chambers: Option<u64>,
    ctl: &Control,
) -> Result<(Vec<ConePart>, u128)> {
    let prep = prepare(x)?;
    let only_count = Limits {
        max_chambers,
        memory_bytes: None,
    };
    check_limits(&prep, &only_count, ctl)?;
    let r = prep.rank;
    let total = count_prepared(&prep, ctl)?;
    let mut point = vec![0.0; r];
    if r > 0 {
        point[0] = 1.0;
    }
    let root = PartNode {
        sig: Vec::new(),
        point,
        count: total,
    };
    if r < 3 {
        return Ok((
            vec![ConePart {
                sig: root.sig,
                point: root.point,
                count: total,
            }],
            total,
        ));
    }
    let m = prep.num_lines();
    let opts = RecOptions::default();
    let budget = budget.max(1) as u128;
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(node) = stack.pop() {
        ctl.check()?;
        if node.count <= budget || node.sig.len() == m {
            out.push(ConePart {
                sig: node.sig,
                point: node.point,
                count: node.count,
            });
            continue;
        }
        let mut kids = split_part(&prep.lines, r, &node, &opts, ctl)?;
        while let Some(kid) = kids.pop() {
            stack.push(kid);
        }
    }
    Ok((out, total))
}

/// `(rank, number of lines)` of the prepared data, after checking that `part` can belong to it
/// (no more signs than lines, a point of the data's rank).
fn check_part(prep: &Prepared, part: &ConePart) -> Result<(usize, usize)> {
    let r = prep.rank;
    let m = prep.num_lines();
    if part.sig.len() > m || (r >= 1 && part.point.len() != r) {
        return Err(Error::invalid(
            "part",
            format!(
                "the part does not belong to this data ({} signs and a point of dimension {} \
                 for {m} lines of rank {r})",
                part.sig.len(),
                part.point.len()
            ),
        ));
    }
    Ok((r, m))
}

/// The chambers of one part of [`plan_parts`] (same `x`), sorted, with strictly interior unit
/// witnesses; checked against the part's exact count.
pub fn enumerate_part(x: ArrayView2<f64>, part: &ConePart, ctl: &Control) -> Result<ChamberSet> {
    let prep = prepare(x)?;
    let (r, _) = check_part(&prep, part)?;
    let set = if r < 3 {
        if !part.sig.is_empty() {
            return Err(Error::invalid(
                "part",
                "data of rank <= 2 has one part, with no signs",
            ));
        }
        enumerate_prepared_with(&prep, Algorithm::Auto, ctl)?
    } else {
        let (pats, wit, _held) = cone::chambers_in_cone(
            &prep.lines,
            r,
            &part.sig,
            &part.point,
            &RecOptions::default(),
            ctl,
        )?;
        finish(&prep, &pats, &wit, ctl)?
    };
    if set.count() as u128 != part.count {
        return Err(Error::Numerical(format!(
            "the enumeration of a part found {} chambers but its exact count is {}: the data \
             is too close to degenerate for the tie tolerance (or the part belongs to other data)",
            set.count(),
            part.count
        )));
    }
    Ok(set)
}

/// Split one part of [`plan_parts`] (same `x`) on its next distinct line, as the plan does: the
/// nonempty children σ0, σ1 (in this order) with a point of each and their exact counts (one
/// constrained deletion–restriction count). A part already on every line, or of data of rank
/// ≤ 2, has no children (empty vector). Lets a caller walk the plan's tree one node at a time,
/// e.g. to sample real parts of an arrangement whose whole plan is too long to make.
pub fn split_part_of(x: ArrayView2<f64>, part: &ConePart, ctl: &Control) -> Result<Vec<ConePart>> {
    let prep = prepare(x)?;
    let (r, m) = check_part(&prep, part)?;
    if r < 3 || part.sig.len() == m {
        return Ok(Vec::new());
    }
    let node = PartNode {
        sig: part.sig.clone(),
        point: part.point.clone(),
        count: part.count,
    };
    let kids = split_part(&prep.lines, r, &node, &RecOptions::default(), ctl)?;
    Ok(kids
        .into_iter()
        .map(|k| ConePart {
            sig: k.sig,
            point: k.point,
            count: k.count,
        })
        .collect())
}

/// Exact chambers in blocks of at most `block` rows, in a fixed order that does not depend on
/// the thread count (see [`stream`]).
pub struct ChamberStream {
    prep: Prepared,
    source: StreamSource,
    block: usize,
    /// Chambers handed out so far.
    pub emitted: u64,
    /// Total number of chambers.
    pub total: u128,
}

impl ChamberStream {
    /// Whether the blocks are produced on demand with memory bounded independently of the
    /// number of chambers (by the block: general position; by the part budget: degenerate data
    /// of rank ≥ 3), rather than sliced from one enumeration (rank ≤ 2, at most 2 × lines
    /// chambers).
    pub fn is_bounded(&self) -> bool {
        !matches!(self.source, StreamSource::Materialised { .. })
    }

    /// (largest part in chambers, largest number of candidates held for one part, parts so far)
    /// of the prefix-cone partition (degenerate data), None for the other sources.
    pub fn part_stats(&self) -> Option<(usize, usize, usize)> {
        match &self.source {
            StreamSource::Partitioned(ps) => Some((ps.peak_part, ps.peak_candidates, ps.parts)),
            _ => None,
        }
    }

    /// The next block (`Ok(None)` at the end).
    pub fn next_block(&mut self, ctl: &Control) -> Result<Option<ChamberSet>> {
        ctl.set_total(u64::try_from(self.total).unwrap_or(u64::MAX));
        ctl.set_done(self.emitted);
        let out = match &mut self.source {
            StreamSource::Simple(s) => match s.next_block((self.block / 2).max(1), ctl) {
                Ok(None) => None,
                Ok(Some((lp, w))) => Some(finish(&self.prep, &lp, &w, ctl)?),
                Err(vertex::Fail::Err(e)) => return Err(e),
                Err(vertex::Fail::Degenerate) => {
                    return Err(Error::Numerical(
                        "the vertex method found the arrangement degenerate in a later block \
                             (it passed the check before streaming): the data is too close to \
                             degenerate for the tolerance"
                            .into(),
                    ))
                }
            },
            StreamSource::Partitioned(ps) => match ps.next_block(self.block, ctl)? {
                None => None,
                Some((lp, w)) => Some(finish(&self.prep, &lp, &w, ctl)?),
            },
            StreamSource::Materialised { set, pos } => {
                let p = set.count();
                if *pos >= p {
                    None
                } else {
                    let end = (*pos + self.block).min(p);
                    let (nw, d) = (set.words(), set.d);
                    let part = ChamberSet {
                        n: set.n,
                        d,
                        rank: set.rank,
                        patterns: set.patterns[*pos * nw..end * nw].to_vec(),
                        witnesses: set.witnesses[*pos * d..end * d].to_vec(),
                    };
                    *pos = end;
                    Some(part)
                }
            }
        };
        if let Some(b) = &out {
            self.emitted += b.count() as u64;
            ctl.set_done(self.emitted);
        }
        Ok(out)
    }
}

/// Stream the exact chambers of the rows of `x` in blocks of at most `block` (≥ 2) rows, with
/// memory bounded independently of the number of chambers.
///
/// - When the distinct lines are in general position (simple arrangement) the vertex method
///   runs block by block: a first pass over all blocks (nothing kept) checks general position,
///   then every block is generated on demand; memory O(block). Order: within each block the
///   chambers with y_0·u > 0 (y_0 the first nonzero row) in vertex-method order — by level of
///   the chart recursion, then (q−1)-subsets of lines in lexicographic order — followed by their
///   antipodes in reverse order.
/// - Otherwise (degenerate data of rank ≥ 3) a depth-first walk of the prefix cones
///   ([`PartStream`], [`cone`]): a cone of the signs on the first lines is split on its next
///   line while it holds more than the part budget B = max(`block`, `memory_bytes` / (4 ×
///   [`bytes_per_chamber`])) (or [`PART_BUDGET`]) chambers (counted by the constrained
///   deletion–restriction recurrence), then enumerated and handed out. Order: the sorted order
///   of [`enumerate()`]. Memory O((2 + 2·threads) × B) candidates plus O(lines²), whatever the
///   number of chambers.
/// - Rank ≤ 2 (at most 2 × lines chambers): one enumeration, sliced.
///
/// `limits.max_chambers` is checked against the exact count; `limits.memory_bytes` against the
/// memory of one block, and it sets the part budget of the degenerate path (rank ≤ 2: the whole
/// enumeration, at most 2 × lines chambers).
pub fn stream(
    x: ArrayView2<f64>,
    block: usize,
    limits: &Limits,
    ctl: &Control,
) -> Result<ChamberStream> {
    stream_with_budget(x, block, None, limits, ctl)
}

/// [`stream`] with an explicit part budget (chambers per part of the degenerate path; default
/// as in [`stream`]).
pub fn stream_with_budget(
    x: ArrayView2<f64>,
    block: usize,
    part_budget: Option<usize>,
    limits: &Limits,
    ctl: &Control,
) -> Result<ChamberStream> {
    let prep = prepare_checked(
        x,
        Some(&Limits {
            max_chambers: limits.max_chambers,
            memory_bytes: None,
        }),
        ctl,
    )?;
    let block = block.max(2);
    let only_count = Limits {
        max_chambers: limits.max_chambers,
        memory_bytes: None,
    };
    check_limits(&prep, &only_count, ctl)?;
    let (r, nl) = (prep.rank, prep.num_lines());
    let per = bytes_per_chamber(prep.n, prep.d, prep.rank);
    // Part budget of the degenerate path: a quarter of what memory_bytes holds (PART_BUDGET
    // without a memory budget), never below one block.
    let budget = match (part_budget, limits.memory_bytes) {
        (Some(b), _) => b.max(1),
        (None, Some(mb)) => usize::try_from(mb / (4 * per))
            .unwrap_or(usize::MAX)
            .max(block),
        (None, None) => PART_BUDGET.max(block),
    };
    if let Some(mb) = limits.memory_bytes {
        let need = (block as u128) * per as u128;
        if need > mb as u128 {
            return Err(Error::too_large(
                "iter_chambers",
                format!(
                    "one chunk of {block} chambers, about {:.3} GB",
                    need as f64 / 1e9
                ),
                format!("memory_limit={:.3} GB", mb as f64 / 1e9),
                "Use a smaller chunk or raise memory_limit.",
            ));
        }
    }
    if r >= 2 && nl > r {
        let mut s = vertex::SimpleStream::new(&prep.lines, r);
        let half = s.half_total();
        ctl.set_total(1000);
        ctl.set_done(0);
        s.progress_units = Some(1000);
        let mut simple = true;
        loop {
            match s.next_half((block / 2).max(1), ctl) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(vertex::Fail::Degenerate) => {
                    simple = false;
                    break;
                }
                Err(vertex::Fail::Err(e)) => return Err(e),
            }
        }
        if simple {
            s.reset();
            s.progress_units = None;
            return Ok(ChamberStream {
                prep,
                source: StreamSource::Simple(s),
                block,
                emitted: 0,
                total: 2 * half,
            });
        }
    }
    if r >= 3 {
        let total = count_prepared(&prep, ctl)?;
        let ps = PartStream::new(&prep.lines, r, total, budget);
        return Ok(ChamberStream {
            prep,
            source: StreamSource::Partitioned(ps),
            block,
            emitted: 0,
            total,
        });
    }
    check_limits(&prep, limits, ctl)?;
    let set = enumerate_prepared_with(&prep, Algorithm::Auto, ctl)?;
    let total = set.count() as u128;
    Ok(ChamberStream {
        prep,
        source: StreamSource::Materialised { set, pos: 0 },
        block,
        emitted: 0,
        total,
    })
}

/// Samples per work item of [`sample`]: chunk `c` draws samples `c*SAMPLE_CHUNK ..` from
/// `stream_rng(seed, c)`, so results do not depend on the thread count.
pub(crate) const SAMPLE_CHUNK: usize = 4096;

/// Draw `n_samples` standard Gaussian gates (chunk c from `rng::stream_rng(seed, c)`), keep the
/// distinct patterns `1[X u > 0]`; each pattern's witness is the first gate drawn that realises it.
///
/// `memory_bytes` (optional) is checked before allocating: at most min(n_samples, Cover's bound)
/// distinct patterns are kept, plus the candidates of the per-chunk deduplication.
pub fn sample(
    x: ArrayView2<f64>,
    n_samples: u64,
    seed: u64,
    memory_bytes: Option<u64>,
    ctl: &Control,
) -> Result<ChamberSet> {
    if n_samples == 0 {
        return Err(Error::invalid("n_samples", "must be >= 1"));
    }
    if let Some(mb) = memory_bytes {
        // O(n·d) refusal before the O(n·d²) preparation: at least min(n_samples, 2^r) patterns
        // are planned for (Cover's bound ≥ 2^r, r ≤ rank)
        let (n, d) = x.dim();
        let (mut xv, _, _) = copy_rows_checked(x, ctl)?;
        normalize_rows_ctl(&mut xv, d, ctl)?;
        let r = rank_lower_bound(&xv, n, d, ctl)?;
        let kept = (n_samples as u128).min(min_chambers(r as u64, r as u64));
        let need = kept.saturating_mul(bytes_per_chamber(n, d, r) as u128);
        if need > mb as u128 {
            return Err(Error::too_large(
                "chambers",
                format!(
                    "sampling {n_samples} gates keeps up to {kept} patterns or more, at least \
                     {:.3} GB",
                    need as f64 / 1e9
                ),
                format!("memory_limit={:.3} GB", mb as f64 / 1e9),
                "Use fewer n_samples, iter_chambers(...) to stream, or raise memory_limit.",
            ));
        }
    }
    let prep = prepare_checked(x, None, ctl)?;
    if let Some(mb) = memory_bytes {
        let kept = (n_samples as u128).min(prep.bound().max(1));
        let need = kept.saturating_mul(bytes_per_chamber(prep.n, prep.d, prep.rank) as u128);
        if need > mb as u128 {
            return Err(Error::too_large(
                "chambers",
                format!(
                    "sampling {n_samples} gates keeps up to {kept} patterns, about {:.3} GB",
                    need as f64 / 1e9
                ),
                format!("memory_limit={:.3} GB", mb as f64 / 1e9),
                "Use fewer n_samples, iter_chambers(...) to stream, or raise memory_limit.",
            ));
        }
    }
    let (n, d) = (prep.n, prep.d);
    let nw = words_for(n);
    let chunks = n_samples.div_ceil(SAMPLE_CHUNK as u64);
    ctl.set_total(chunks);
    let parts: Vec<enumerate::Cands> = (0..chunks)
        .into_par_iter()
        .map(|c| -> Result<enumerate::Cands> {
            ctl.check()?;
            let start = c * SAMPLE_CHUNK as u64;
            let len = (n_samples - start).min(SAMPLE_CHUNK as u64) as usize;
            let mut rng = crate::rng::stream_rng(seed, c);
            let mut cands = enumerate::Cands::new(nw, d);
            cands.pats.resize(len * nw, 0);
            cands.points.resize(len * d, 0.0);
            cands.margins.resize(len, 0.0);
            for s in 0..len {
                // a gate costs n·d flops (5·10⁷ at 10⁶ × 50): check before each one
                ctl.check()?;
                let u = &mut cands.points[s * d..(s + 1) * d];
                for v in u.iter_mut() {
                    *v = StandardNormal.sample(&mut rng);
                }
                let pat = &mut cands.pats[s * nw..(s + 1) * nw];
                for i in 0..n {
                    if lines::dot(&prep.x[i * d..(i + 1) * d], u) > 0.0 {
                        set_bit(pat, i);
                    }
                }
                // "margin" = -(global index): the earliest gate wins in the deduplication.
                cands.margins[s] = -((start + s as u64) as f64);
            }
            let (p, w, margins) = cands.best_per_pattern(ctl)?;
            let mut out = enumerate::Cands::new(nw, d);
            out.pats = p;
            out.points = w;
            out.margins = margins;
            ctl.advance(1);
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut all = enumerate::Cands::new(nw, d);
    for p in parts {
        all.append(p);
    }
    let (pats, w, _) = all.best_per_pattern(ctl)?;
    Ok(ChamberSet {
        n,
        d,
        rank: prep.rank,
        patterns: pats,
        witnesses: w,
    })
}

/// Ternary sign key of a point against lines (pos bits, zero bits), with a relative tolerance.
fn sign_key(lines: &[f64], k: usize, u: &[f64], tol: f64) -> Vec<u64> {
    let m = lines.len() / k.max(1);
    let nw = words_for(m);
    let mut key = vec![0u64; 2 * nw];
    let un = lines::norm(u);
    for i in 0..m {
        let y = &lines[i * k..(i + 1) * k];
        let s = lines::dot(y, u);
        if s.abs() <= tol * lines::norm(y) * un {
            set_bit(&mut key[nw..], i);
        } else if s > 0.0 {
            set_bit(&mut key[..nw], i);
        }
    }
    key
}

/// One point in the relative interior of every face (chambers, walls, …, the lineality space).
fn face_points(lines: &[f64], k: usize, ctl: &Control) -> Result<Vec<Vec<f64>>> {
    ctl.check()?;
    if k == 0 {
        return Ok(vec![Vec::new()]);
    }
    let m = lines.len() / k;
    let mut pts: Vec<Vec<f64>> =
        enumerate::witnesses_of_lines(lines, k, &RecOptions::default(), ctl)?
            .chunks_exact(k)
            .map(|c| c.to_vec())
            .collect();
    for t in 0..m {
        let y = &lines[t * k..(t + 1) * k];
        let mut others = Vec::with_capacity((m - 1) * k);
        for i in 0..m {
            if i != t {
                others.extend_from_slice(&lines[i * k..(i + 1) * k]);
            }
        }
        let z = lines::restrict(&others, k, y);
        let (zl, _) = lines::dedupe(&z, k - 1);
        for w in face_points(&zl, k - 1, ctl)? {
            let mut u = vec![0.0; k];
            lines::lift(&w, y, &mut u);
            pts.push(u);
        }
    }
    // one point per ternary sign vector
    let mut keyed: Vec<(Vec<u64>, usize)> = pts
        .iter()
        .enumerate()
        .map(|(i, u)| (sign_key(lines, k, u, FACE_TOL), i))
        .collect();
    keyed.sort();
    keyed.dedup_by(|a, b| a.0 == b.0);
    Ok(keyed.into_iter().map(|(_, i)| pts[i].clone()).collect())
}

/// The patterns 1[X u ≥ 0] (ties active) of faces that are not already patterns of open chambers,
/// sorted, each with a point u of the face. `open` are the open-chamber patterns.
pub fn faces(x: ArrayView2<f64>, open: &ChamberSet, ctl: &Control) -> Result<ChamberSet> {
    faces_limited(x, open, &Limits::default(), ctl)
}

/// An upper bound on the faces of L lines of rank r: Σ_j C(L, j) · Cover(L, r − j) (a face of
/// codimension j spans a flat cut out by j of the lines, and is a chamber of the restriction).
pub(crate) fn face_bound(lines: u64, rank: u64) -> f64 {
    let mut total = 0.0f64;
    let mut c = 1.0f64; // C(L, j)
    for j in 0..=rank.min(lines) {
        total += c * cover_count_f64(lines, rank - j);
        c = c * (lines - j) as f64 / (j + 1) as f64;
    }
    total
}

/// [`faces`] refusing, before the work, face lists whose bound (`face_bound`) exceeds
/// `limits` (`max_chambers` counts faces; memory about 2 × [`bytes_per_chamber`] per face).
pub fn faces_limited(
    x: ArrayView2<f64>,
    open: &ChamberSet,
    limits: &Limits,
    ctl: &Control,
) -> Result<ChamberSet> {
    let prep = prepare_checked(x, None, ctl)?;
    check_faces(&prep, limits)?;
    faces_prepared(&prep, open, ctl)
}

/// Refuse face lists whose bound exceeds `limits` (see [`faces_limited`]).
pub fn check_faces(prep: &Prepared, limits: &Limits) -> Result<()> {
    let (n, d, r) = (prep.n, prep.d, prep.rank);
    let est = face_bound(prep.num_lines() as u64, r as u64);
    if let Some(m) = limits.max_chambers {
        if est > m as f64 {
            return Err(Error::too_large(
                "chamber faces (include_faces=True)",
                format!("up to {est:.3e} faces"),
                format!("max_chambers={m}"),
                "Use include_faces=False, or raise max_chambers.",
            ));
        }
    }
    if let Some(mb) = limits.memory_bytes {
        let need = est * 2.0 * bytes_per_chamber(n, d, r) as f64;
        if need > mb as f64 {
            return Err(Error::too_large(
                "chamber faces (include_faces=True)",
                format!("up to {est:.3e} faces, about {:.3} GB", need / 1e9),
                format!("memory_limit={:.3} GB", mb as f64 / 1e9),
                "Use include_faces=False, or raise memory_limit.",
            ));
        }
    }
    Ok(())
}

fn faces_prepared(prep: &Prepared, open: &ChamberSet, ctl: &Control) -> Result<ChamberSet> {
    let (n, d, r) = (prep.n, prep.d, prep.rank);
    let nw = words_for(n);
    let pts = if r == 0 {
        vec![Vec::new()]
    } else {
        face_points(&prep.lines, r, ctl)?
    };
    let mut rows: Vec<(Vec<u64>, Vec<f64>)> = Vec::new();
    for w in pts {
        let mut u = vec![0.0; d];
        if r > 0 {
            prep.lift(&w, &mut u);
        }
        let un = lines::norm(&u);
        let mut pat = vec![0u64; nw];
        for i in 0..n {
            let row = &prep.x[i * d..(i + 1) * d];
            let s = lines::dot(row, &u);
            if s >= -FACE_TOL * lines::norm(row) * un {
                set_bit(&mut pat, i);
            }
        }
        rows.push((pat, u));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    let mut out = ChamberSet {
        n,
        d,
        rank: r,
        patterns: Vec::new(),
        witnesses: Vec::new(),
    };
    let open_rows: Vec<&[u64]> = open.patterns.chunks(nw).collect();
    for (pat, u) in rows {
        let found = open_rows.binary_search(&pat.as_slice()).is_ok();
        if !found {
            out.patterns.extend_from_slice(&pat);
            out.witnesses.extend_from_slice(&u);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// 70,000 rows on 3 independent lines of R^4 (random nonzero multiples of either sign, so
    /// the whitening, the deduplication's merges, the lifted patterns and the witness check run
    /// over several blocks of rows): exactly the 2³ = 8 chambers, whose patterns are the sign
    /// vectors σ ∈ {±1}³ of the lines, row i active when sign(c_i)·σ_line(i) > 0.
    fn rows_on_three_lines() -> (Array2<f64>, Vec<Vec<bool>>) {
        use rand::Rng;
        let mut rng = crate::rng::stream_rng(11, 0);
        let b = [
            [1.0, 0.3, -0.2, 0.5],
            [-0.4, 1.1, 0.7, 0.1],
            [0.2, -0.6, 0.9, -1.3],
        ];
        let n = 70_000;
        let line: Vec<usize> = (0..n).map(|_| rng.random_range(0..3)).collect();
        let sign: Vec<bool> = (0..n).map(|_| rng.random::<bool>()).collect();
        let c: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..2.0)).collect();
        let x = Array2::from_shape_fn((n, 4), |(i, j)| {
            let ci = if sign[i] { c[i] } else { -c[i] };
            ci * b[line[i]][j]
        });
        let mut want: Vec<Vec<bool>> = (0..8u32)
            .map(|s| {
                (0..n)
                    .map(|i| ((s >> line[i]) & 1 == 1) == sign[i])
                    .collect()
            })
            .collect();
        want.sort();
        (x, want)
    }

    #[test]
    fn many_rows_on_few_lines_are_exact_and_stop_at_every_check() {
        let (x, want) = rows_on_three_lines();
        let n = x.nrows();
        let run = |ctl: &Control| enumerate(x.view(), &Limits::default(), ctl);
        let count = Control::new();
        let set = run(&count).unwrap();
        let b = set.bools();
        let mut got: Vec<Vec<bool>> = b.chunks(n).map(|r| r.to_vec()).collect();
        got.sort();
        assert_eq!(got, want);
        // a Ctrl-C at any check (150 spread over the run) stops it with Interrupted
        let total = count.checks();
        assert!(total > 20, "{total} checks");
        for k in (1..=total).step_by((total as usize / 150).max(1)) {
            let ctl = Control::cancelled_at_check(k);
            assert_eq!(
                run(&ctl).unwrap_err(),
                Error::Interrupted,
                "check {k} of {total}"
            );
        }
        // and the checks change nothing
        let again = run(&Control::new()).unwrap();
        assert_eq!(again.patterns, set.patterns);
        assert_eq!(again.witnesses, set.witnesses);
    }

    #[test]
    fn cover_count_values() {
        assert_eq!(cover_count(5, 10), 32);
        assert_eq!(cover_count(100, 4), 323_600);
        assert_eq!(cover_count(7, 3), 44);
        assert_eq!(cover_count(3, 2), 6);
    }

    #[test]
    fn faces_of_x1_minus_x1_x2_x3() {
        let x =
            Array2::from_shape_vec((4, 2), vec![1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
        let ctl = Control::new();
        let open = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        assert_eq!(open.count(), 6);
        let f = faces(x.view(), &open, &ctl).unwrap();
        let got: Vec<Vec<u8>> = f.bool_patterns().chunks(4).map(|c| c.to_vec()).collect();
        assert_eq!(got, vec![vec![1, 1, 0, 0], vec![1, 1, 1, 1]]);
    }
}
