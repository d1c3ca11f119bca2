//! Midpoint-convexity sampling. (Issue: convexity diagnostics.)
//!
//! For pairs (a, b) and weights t ∈ (0, 1), the Jensen gap is
//! `g = t·f(a) + (1−t)·f(b) − f(t·a + (1−t)·b)`; a convex f has g ≥ 0 for every pair. A pair
//! *violates* convexity when `g < −tol`, where `tol` bounds the floating-point error of the
//! computed gap (see [`Tolerance`]), never a fixed epsilon.
//!
//! Pairs are either given, or sampled as `a = c + s·d(z₁)`, `b = c + s·d(z₂)` with z₁, z₂ iid
//! N(0, I_D), s one of the scales, and d the identity or a filter normalisation (Li et al. 2018:
//! each group of coordinates of z is rescaled to the norm of the same group of c; coordinates in
//! no group are set to zero). Pair k (global index, scale index ⌊k / n_pairs⌋) draws z₁ then z₂
//! from `rng::stream_rng(seed, k)`, so the pairs and every per-pair result are the same at any
//! thread count.

use ndarray::{Array1, Array2, ArrayView2};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{ensure_finite, Error, Result};
use crate::objective::{check_dim, points_per_check, Objective, EVAL_BLOCK};
use crate::rng::{stream_key, stream_rng, WideStream};

mod quantiles;
pub use quantiles::quantiles;

/// Unit roundoff of f64 (eps / 2).
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// Pairs per parallel work item of the native run (also the cancellation/progress granularity).
pub(crate) const BLOCK: usize = 160;

/// Upper bound on stored per-pair results (pairs × weights), to keep memory bounded: a run holds
/// about 80 bytes per record (values, scales, gap, tolerance), so 2.5·10⁷ records ≈ 2 GB.
pub(crate) const MAX_RECORDS: usize = 25_000_000;

/// Random pairs around a center.
#[derive(Debug, Clone)]
pub struct Sampler {
    center: Vec<f64>,
    scales: Vec<f64>,
    n_pairs: usize,
    seed: u64,
    /// Filter normalisation, if any.
    groups: Option<FilterGroups>,
    /// The ChaCha8 key of the pairs' streams, where the wide generator runs (the same streams
    /// as `stream_rng(seed, k)`, sixteen blocks per refill).
    wide_key: Option<[u32; 8]>,
}

/// Filter groups: (indices of the group, ‖c_group‖), and which coordinates some group covers.
#[derive(Debug, Clone)]
struct FilterGroups {
    groups: Vec<(Vec<usize>, f64)>,
    covered: Vec<bool>,
}

impl Sampler {
    /// `n_pairs` pairs per scale around `center`; `groups` enables filter normalisation.
    pub fn new(
        center: Vec<f64>,
        scales: Vec<f64>,
        n_pairs: usize,
        seed: u64,
        groups: Option<Vec<Vec<usize>>>,
    ) -> Result<Self> {
        if center.is_empty() {
            return Err(Error::invalid("center", "must not be empty"));
        }
        ensure_finite("center", &center)?;
        if n_pairs == 0 {
            return Err(Error::invalid("n_pairs", "must be at least 1"));
        }
        if scales.is_empty() {
            return Err(Error::invalid("scales", "must not be empty"));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(
                "scales",
                format!("every scale must be finite and > 0, got {s}"),
            ));
        }
        let d = center.len();
        let groups = match groups {
            None => None,
            Some(gs) => {
                let mut covered = vec![false; d];
                let mut out = Vec::with_capacity(gs.len());
                for (gi, g) in gs.into_iter().enumerate() {
                    if g.is_empty() {
                        return Err(Error::invalid("groups", format!("group {gi} is empty")));
                    }
                    for &i in &g {
                        if i >= d {
                            return Err(Error::invalid(
                                "groups",
                                format!("group {gi} holds index {i}, out of range for D = {d}"),
                            ));
                        }
                        if covered[i] {
                            return Err(Error::invalid(
                                "groups",
                                format!("index {i} appears in more than one group"),
                            ));
                        }
                        covered[i] = true;
                    }
                    let norm = g.iter().map(|&i| center[i] * center[i]).sum::<f64>().sqrt();
                    out.push((g, norm));
                }
                Some(FilterGroups {
                    groups: out,
                    covered,
                })
            }
        };
        Ok(Sampler {
            center,
            scales,
            n_pairs,
            seed,
            groups,
            wide_key: WideStream::available().then(|| stream_key(seed)),
        })
    }

    /// D.
    pub fn dim(&self) -> usize {
        self.center.len()
    }

    /// Total number of pairs (n_pairs × number of scales).
    pub fn total(&self) -> usize {
        self.n_pairs * self.scales.len()
    }

    /// Scale index of pair k.
    pub fn scale_index(&self, k: usize) -> usize {
        k / self.n_pairs
    }

    fn direction<R: rand::Rng>(&self, rng: &mut R, z: &mut [f64]) {
        for v in z.iter_mut() {
            *v = StandardNormal.sample(rng);
        }
        if let Some(FilterGroups { groups, covered }) = &self.groups {
            for (g, cnorm) in groups {
                let zn = g.iter().map(|&i| z[i] * z[i]).sum::<f64>().sqrt();
                let f = if zn > 0.0 { cnorm / zn } else { 0.0 };
                for &i in g {
                    z[i] *= f;
                }
            }
            for (v, &c) in z.iter_mut().zip(covered) {
                if !c {
                    *v = 0.0;
                }
            }
        }
    }

    /// Write pair k into `a` and `b` (length D).
    pub fn pair(&self, k: usize, a: &mut [f64], b: &mut [f64]) {
        let s = self.scales[self.scale_index(k)];
        if let Some(key) = &self.wide_key {
            let mut rng = WideStream::new(key, k as u64);
            self.direction(&mut rng, a);
            self.direction(&mut rng, b);
        } else {
            let mut rng = stream_rng(self.seed, k as u64);
            self.direction(&mut rng, a);
            self.direction(&mut rng, b);
        }
        for i in 0..a.len() {
            a[i] = self.center[i] + s * a[i];
            b[i] = self.center[i] + s * b[i];
        }
    }
}

/// Points per evaluation piece of the native run: long rows for the kernels that evaluate a
/// block sample by sample, a few hundred microseconds of work for a cheap objective (a costly
/// one gets fewer, see [`points_per_check`]).
const PIECE_POINTS: usize = 4 * EVAL_BLOCK;

/// Pairs per evaluation piece of the native run with T weights: about `PIECE_POINTS` points
/// ((2 + T) per pair), a multiple of 8 pairs when that many fit (whole vectors in the kernels).
fn pair_piece(nt: usize) -> usize {
    let p = (PIECE_POINTS / (2 + nt)).max(1);
    if p >= 8 {
        p / 8 * 8
    } else {
        p
    }
}

/// Where the pairs come from.
pub enum PairSource<'a> {
    /// Sampled around a center.
    Random(Sampler),
    /// Given as rows of two P × D arrays.
    Given {
        a: ArrayView2<'a, f64>,
        b: ArrayView2<'a, f64>,
    },
}

impl PairSource<'_> {
    /// D.
    pub fn dim(&self) -> usize {
        match self {
            PairSource::Random(s) => s.dim(),
            PairSource::Given { a, .. } => a.ncols(),
        }
    }

    /// Number of pairs.
    pub fn total(&self) -> usize {
        match self {
            PairSource::Random(s) => s.total(),
            PairSource::Given { a, .. } => a.nrows(),
        }
    }

    /// Group index of pair k (scale index; 0 for given pairs).
    pub fn scale_index(&self, k: usize) -> usize {
        match self {
            PairSource::Random(s) => s.scale_index(k),
            PairSource::Given { .. } => 0,
        }
    }

    /// Write pair k into `a`, `b`.
    pub fn pair(&self, k: usize, a: &mut [f64], b: &mut [f64]) {
        match self {
            PairSource::Random(s) => s.pair(k, a, b),
            PairSource::Given { a: pa, b: pb } => {
                for (dst, src) in a.iter_mut().zip(pa.row(k)) {
                    *dst = *src;
                }
                for (dst, src) in b.iter_mut().zip(pb.row(k)) {
                    *dst = *src;
                }
            }
        }
    }

    /// Check given pairs (same shape, finite).
    pub fn validate(&self) -> Result<()> {
        if let PairSource::Given { a, b } = self {
            if a.dim() != b.dim() {
                return Err(Error::invalid(
                    "pairs",
                    format!(
                        "a and b must have the same shape, got {:?} and {:?}",
                        a.dim(),
                        b.dim()
                    ),
                ));
            }
            if a.nrows() == 0 || a.ncols() == 0 {
                return Err(Error::invalid("pairs", "no pairs given"));
            }
            crate::error::ensure_finite_iter("pairs (a)", a.iter())?;
            crate::error::ensure_finite_iter("pairs (b)", b.iter())?;
        }
        Ok(())
    }
}

/// Check the midpoint weights: each t in (0, 1).
pub fn check_weights(ts: &[f64]) -> Result<()> {
    if ts.is_empty() {
        return Err(Error::invalid("t", "give at least one weight"));
    }
    if let Some(t) = ts
        .iter()
        .find(|t| !(t.is_finite() && **t > 0.0 && **t < 1.0))
    {
        return Err(Error::invalid(
            "t",
            format!("every weight must lie strictly between 0 and 1, got {t}"),
        ));
    }
    Ok(())
}

/// `m = t·a + (1−t)·b` and, in `delta`, a bound on |fl(m) − m| per coordinate:
/// `u·(2|t·a| + 2|(1−t)·b| + |m|)` covers the roundings of t·a, of 1−t and (1−t)·b, and of the sum.
pub(crate) fn form_midpoint(
    t: f64,
    a: &[f64],
    b: &[f64],
    m: &mut [f64],
    delta: Option<&mut [f64]>,
) {
    let s = 1.0 - t;
    for i in 0..a.len() {
        m[i] = t * a[i] + s * b[i];
    }
    if let Some(d) = delta {
        for i in 0..a.len() {
            d[i] = 1.01
                * UNIT_ROUNDOFF
                * (2.0 * (t * a[i]).abs() + 2.0 * (s * b[i]).abs() + m[i].abs());
        }
    }
}

/// How the tolerance of each gap is set.
#[derive(Debug, Clone)]
pub enum Tolerance {
    /// Native objectives: `tol = factor·eps·(t·s(a) + (1−t)·s(b) + s(m))` with s = Σ|summands|,
    /// plus, for candidate violations of objectives with a gradient, `Σ_i |∂_i f(m)|·δ_i` where δ
    /// bounds the rounding of forming m (for convex f this is a rigorous bound of f(fl(m)) − f(m)
    /// by the subgradient inequality).
    Scaled { factor: f64 },
    /// Black boxes: `tol = factor·σ_k·√(t² + (1−t)² + 1)` with σ_k the estimated noise level of f
    /// at scale group k, floored by `factor·eps·(|t·f(a)| + |(1−t)·f(b)| + |f(m)|)`.
    Noise { factor: f64, sigma: Vec<f64> },
}

/// Values of one batch of pairs, laid out pair-major.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// f(a), f(b): length n.
    pub fa: Vec<f64>,
    pub fb: Vec<f64>,
    /// f(m_t): n × T (row-major).
    pub fm: Vec<f64>,
    /// Scales s = Σ|summands| (native objectives only): a, b length n; m n × T.
    pub sa: Option<Vec<f64>>,
    pub sb: Option<Vec<f64>>,
    pub sm: Option<Vec<f64>>,
    /// ‖b − a‖²: length n.
    pub dist2: Vec<f64>,
}

/// The per-pair outcome of a midpoint test.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub n: usize,
    pub t: Vec<f64>,
    pub fa: Array1<f64>,
    pub fb: Array1<f64>,
    pub fm: Array2<f64>,
    /// Jensen gaps (n × T); NaN where a value was not finite.
    pub gap: Array2<f64>,
    /// Tolerances (n × T); NaN where a value was not finite.
    pub tol: Array2<f64>,
    /// ‖b − a‖².
    pub dist2: Array1<f64>,
    /// Scale index per pair.
    pub scale_index: Array1<usize>,
    /// Pairs whose tolerance includes the gradient term of forming m.
    pub refined: usize,
}

fn base_tolerance(
    tol: &Tolerance,
    t: f64,
    k_scale: usize,
    fa: f64,
    fb: f64,
    fm: f64,
    s: Option<(f64, f64, f64)>,
) -> f64 {
    match tol {
        Tolerance::Scaled { factor } => {
            let (sa, sb, sm) = s.unwrap_or((fa.abs(), fb.abs(), fm.abs()));
            factor * f64::EPSILON * (t * sa + (1.0 - t) * sb + sm)
        }
        Tolerance::Noise { factor, sigma } => {
            let sig = sigma.get(k_scale).copied().unwrap_or(0.0);
            let noise = factor * sig * (t * t + (1.0 - t) * (1.0 - t) + 1.0).sqrt();
            let floor =
                factor * f64::EPSILON * ((t * fa).abs() + ((1.0 - t) * fb).abs() + fm.abs());
            noise.max(floor)
        }
    }
}

/// Jensen gap `t·fa + (1−t)·fb − fm` (NaN if any value is not finite).
#[inline]
pub fn jensen_gap(t: f64, fa: f64, fb: f64, fm: f64) -> f64 {
    if !(fa.is_finite() && fb.is_finite() && fm.is_finite()) {
        return f64::NAN;
    }
    t * fa + (1.0 - t) * fb - fm
}

/// Jensen gap summed with error-free transformations (TwoProduct via fma, Neumaier summation):
/// the result is the correctly rounded value of `t·fa + (1−t)·fb − fm` up to one rounding of
/// `1 − t` (exact for t ∈ [0.5, 1) and for dyadic t).
pub fn jensen_gap_compensated(t: f64, fa: f64, fb: f64, fm: f64) -> f64 {
    if !(fa.is_finite() && fb.is_finite() && fm.is_finite()) {
        return f64::NAN;
    }
    let s = 1.0 - t;
    let p1 = t * fa;
    let e1 = t.mul_add(fa, -p1);
    let p2 = s * fb;
    let e2 = s.mul_add(fb, -p2);
    neumaier(&[p1, p2, -fm, e1, e2])
}

/// Neumaier (improved Kahan–Babuška) summation.
pub(crate) fn neumaier(xs: &[f64]) -> f64 {
    let mut sum = 0.0f64;
    let mut c = 0.0f64;
    for &x in xs {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            c += (sum - t) + x;
        } else {
            c += (x - t) + sum;
        }
        sum = t;
    }
    sum + c
}

/// The Jensen gap of one pair and weight and its base tolerance: (NaN, NaN) when a value is not
/// finite.
#[inline]
fn gap_and_base_tolerance(
    tol: &Tolerance,
    t: f64,
    k_scale: usize,
    fa: f64,
    fb: f64,
    fm: f64,
    s: Option<(f64, f64, f64)>,
) -> (f64, f64) {
    let g = jensen_gap(t, fa, fb, fm);
    if g.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    (g, base_tolerance(tol, t, k_scale, fa, fb, fm, s))
}

/// Add `refine(k, j)` (the gradient term of forming m) to the tolerance of every candidate
/// violation (k, j) of the row-major n × `nt` tolerances `tolv`; in parallel when there are many.
fn refine_candidates(
    candidates: &[(usize, usize)],
    refine: &(dyn Fn(usize, usize) -> Result<f64> + Sync),
    nt: usize,
    tolv: &mut [f64],
    ctl: &Control,
) -> Result<()> {
    let extra: Vec<f64> = if crate::parallel::should_parallelize(candidates.len(), 8) {
        candidates
            .par_iter()
            .map(|&(k, j)| {
                ctl.check()?;
                refine(k, j)
            })
            .collect::<Result<_>>()?
    } else {
        candidates
            .iter()
            .map(|&(k, j)| {
                ctl.check()?;
                refine(k, j)
            })
            .collect::<Result<_>>()?
    };
    for (&(k, j), e) in candidates.iter().zip(extra) {
        tolv[k * nt + j] += e;
    }
    Ok(())
}

/// Turn values into gaps and tolerances. `refine(k, j)` may return an extra tolerance term
/// (the gradient term of forming m) for a pair whose gap is below −base tolerance.
pub fn assess(
    values: Values,
    ts: &[f64],
    scale_index: &[usize],
    tol: &Tolerance,
    refine: Option<&(dyn Fn(usize, usize) -> Result<f64> + Sync)>,
    ctl: &Control,
) -> Result<Outcome> {
    let n = values.fa.len();
    let nt = ts.len();
    let mut gap = Array2::<f64>::zeros((n, nt));
    let mut tolv = Array2::<f64>::zeros((n, nt));
    let mut candidates = Vec::new();
    for k in 0..n {
        for (j, &t) in ts.iter().enumerate() {
            let fa = values.fa[k];
            let fb = values.fb[k];
            let fm = values.fm[k * nt + j];
            let s = match (&values.sa, &values.sb, &values.sm) {
                (Some(sa), Some(sb), Some(sm)) => Some((sa[k], sb[k], sm[k * nt + j])),
                _ => None,
            };
            let (g, tb) = gap_and_base_tolerance(tol, t, scale_index[k], fa, fb, fm, s);
            gap[[k, j]] = g;
            tolv[[k, j]] = tb;
            if g < -tb {
                candidates.push((k, j));
            }
        }
    }
    let mut refined = 0;
    if let Some(r) = refine {
        let tv = tolv
            .as_slice_mut()
            .ok_or_else(|| Error::Numerical("non-contiguous buffer".into()))?;
        refine_candidates(&candidates, r, nt, tv, ctl)?;
        refined = candidates.len();
    }
    Ok(Outcome {
        n,
        t: ts.to_vec(),
        fa: Array1::from(values.fa),
        fb: Array1::from(values.fb),
        fm: Array2::from_shape_vec((n, nt), values.fm)
            .map_err(|e| Error::Numerical(e.to_string()))?,
        gap,
        tol: tolv,
        dist2: Array1::from(values.dist2),
        scale_index: Array1::from(scale_index.to_vec()),
        refined,
    })
}

/// `Σ_i |∂_i f(m)|·δ_i` for the midpoint of pair k at weight t (0 if no gradient; +inf if the
/// gradient is not finite, so the pair is never counted as a violation on a doubtful bound).
pub fn midpoint_rounding_term(
    obj: &dyn Objective,
    source: &PairSource<'_>,
    k: usize,
    t: f64,
) -> Result<f64> {
    if !obj.has_gradient() {
        return Ok(0.0);
    }
    let d = source.dim();
    let mut a = vec![0.0; d];
    let mut b = vec![0.0; d];
    let mut m = vec![0.0; d];
    let mut delta = vec![0.0; d];
    let mut g = vec![0.0; d];
    source.pair(k, &mut a, &mut b);
    form_midpoint(t, &a, &b, &mut m, Some(&mut delta));
    obj.gradient(&m, &mut g)?;
    let term: f64 = g.iter().zip(&delta).map(|(gi, di)| gi.abs() * di).sum();
    Ok(if term.is_finite() {
        1.01 * term
    } else {
        f64::INFINITY
    })
}

/// Check that `start..start+count` is a non-empty range of pairs of `source`.
pub fn check_range(source: &PairSource<'_>, start: usize, count: usize) -> Result<()> {
    if count == 0 || start.checked_add(count).is_none_or(|e| e > source.total()) {
        return Err(Error::invalid(
            "start/count",
            format!(
                "pair range {start}..{} out of bounds ({} pairs)",
                start.saturating_add(count),
                source.total()
            ),
        ));
    }
    Ok(())
}

/// Refuse runs whose per-pair records would exceed `MAX_RECORDS`.
pub fn check_records(n: usize, nt: usize) -> Result<()> {
    let rec = n.saturating_mul(nt);
    if rec > MAX_RECORDS {
        return Err(Error::too_large(
            "midpoint test",
            format!("{rec} pair×weight records"),
            MAX_RECORDS,
            "use fewer pairs, scales or weights, or run the test in several calls with different seeds",
        ));
    }
    Ok(())
}

/// The whole test for a native objective, evaluated in parallel over blocks of pairs.
pub fn run_native(
    obj: &dyn Objective,
    source: &PairSource<'_>,
    ts: &[f64],
    tol: &Tolerance,
    ctl: &Control,
) -> Result<Outcome> {
    run_native_range(obj, source, 0, source.total(), ts, tol, ctl)
}

/// [`run_native`] on the pairs `start..start+count` only (chunked runs; outcome row i is pair
/// `start + i`). The results of a pair do not depend on the range it is run in.
///
/// Each parallel work item (a block of [`BLOCK`] pairs) draws its pairs, evaluates them and
/// writes its rows of every output array (values, gaps, base tolerances, ‖b − a‖², scale
/// indices) in place: the gaps and tolerances are the same per-pair functions as [`assess`]
/// applies, so the outcome is that of `assess` on the values, with no serial pass over the pairs
/// after the parallel one. Only the candidate violations are refined afterwards.
pub fn run_native_range(
    obj: &dyn Objective,
    source: &PairSource<'_>,
    start: usize,
    count: usize,
    ts: &[f64],
    tol: &Tolerance,
    ctl: &Control,
) -> Result<Outcome> {
    source.validate()?;
    check_weights(ts)?;
    check_dim(obj, "center/pairs", source.dim())?;
    check_range(source, start, count)?;
    let n = count;
    let nt = ts.len();
    check_records(n, nt)?;
    let d = source.dim();
    ctl.set_total(n as u64);
    let nblocks = n.div_ceil(BLOCK);
    let rows = 2 + nt;
    // in pieces of whole pairs, about PIECE_POINTS points each (fewer for a costly objective: at
    // least one pair), with a cancellation check before each: a block holds BLOCK · (2 + T)
    // points, seconds of work for a large network
    let piece_pairs = pair_piece(nt).min((points_per_check(obj, PIECE_POINTS) / rows).max(1));
    let piece_rows = piece_pairs * rows;
    let mut fa = vec![0.0; n];
    let mut fb = vec![0.0; n];
    let mut dist2 = vec![0.0; n];
    let mut sidx = vec![0usize; n];
    let mut fm = vec![0.0; n * nt];
    let mut gap = vec![0.0; n * nt];
    let mut tolv = vec![0.0; n * nt];
    let eval_block = |bi: usize, out: BlockOut<'_>| -> Result<Vec<(usize, usize)>> {
        ctl.check()?;
        let lo = start + bi * BLOCK;
        let len = out.fa.len();
        // a, b and the t-points of every pair of the block as one block of points (pair-major:
        // rows (2+T)·i, (2+T)·i + 1, (2+T)·i + 2 + j), evaluated piece by piece.
        let mut pts = Array2::<f64>::zeros((len * rows, d));
        {
            let data = pts
                .as_slice_mut()
                .ok_or_else(|| Error::Numerical("non-contiguous buffer".into()))?;
            for (i, chunk) in data.chunks_exact_mut(rows * d).enumerate() {
                if i % 64 == 63 {
                    ctl.check()?; // drawing a pair of a large network is a D-vector of draws
                }
                let (a, rest) = chunk.split_at_mut(d);
                let (b, ms) = rest.split_at_mut(d);
                source.pair(lo + i, a, b);
                for (j, &t) in ts.iter().enumerate() {
                    form_midpoint(t, a, b, &mut ms[j * d..(j + 1) * d], None);
                }
                out.dist2[i] = a.iter().zip(b.iter()).map(|(x, y)| (y - x) * (y - x)).sum();
                out.sidx[i] = source.scale_index(lo + i);
            }
        }
        let mut vals = vec![0.0; len * rows];
        let mut scs = vec![0.0; len * rows];
        for (k, (vp, sp)) in vals
            .chunks_mut(piece_rows)
            .zip(scs.chunks_mut(piece_rows))
            .enumerate()
        {
            ctl.check()?;
            let plo = k * piece_rows;
            let piece = pts.slice(ndarray::s![plo..plo + vp.len(), ..]);
            obj.pair_values_block(piece, ts, vp, sp)?;
        }
        let mut candidates = Vec::new();
        for i in 0..len {
            let (va, vb) = (vals[i * rows], vals[i * rows + 1]);
            let (sa, sb) = (scs[i * rows], scs[i * rows + 1]);
            out.fa[i] = va;
            out.fb[i] = vb;
            for (j, &t) in ts.iter().enumerate() {
                let r = i * rows + 2 + j;
                let (vm, sm) = (vals[r], scs[r]);
                out.fm[i * nt + j] = vm;
                let (g, tb) =
                    gap_and_base_tolerance(tol, t, out.sidx[i], va, vb, vm, Some((sa, sb, sm)));
                out.gap[i * nt + j] = g;
                out.tol[i * nt + j] = tb;
                if g < -tb {
                    candidates.push((lo - start + i, j));
                }
            }
        }
        ctl.advance(len as u64);
        Ok(candidates)
    };
    let outs: Vec<BlockOut<'_>> = fa
        .chunks_mut(BLOCK)
        .zip(fb.chunks_mut(BLOCK))
        .zip(dist2.chunks_mut(BLOCK))
        .zip(sidx.chunks_mut(BLOCK))
        .zip(fm.chunks_mut(BLOCK * nt))
        .zip(gap.chunks_mut(BLOCK * nt))
        .zip(tolv.chunks_mut(BLOCK * nt))
        .map(|((((((fa, fb), dist2), sidx), fm), gap), tol)| BlockOut {
            fa,
            fb,
            dist2,
            sidx,
            fm,
            gap,
            tol,
        })
        .collect();
    let per_block: Vec<Vec<(usize, usize)>> = if crate::parallel::should_parallelize(nblocks, 2) {
        outs.into_par_iter()
            .enumerate()
            .map(|(bi, out)| eval_block(bi, out))
            .collect::<Result<_>>()?
    } else {
        outs.into_iter()
            .enumerate()
            .map(|(bi, out)| eval_block(bi, out))
            .collect::<Result<_>>()?
    };
    let candidates: Vec<(usize, usize)> = per_block.into_iter().flatten().collect();
    let mut refined = 0;
    if obj.has_gradient() && matches!(tol, Tolerance::Scaled { .. }) {
        let refine = |k: usize, j: usize| midpoint_rounding_term(obj, source, start + k, ts[j]);
        refine_candidates(&candidates, &refine, nt, &mut tolv, ctl)?;
        refined = candidates.len();
    }
    let shape = |v: Vec<f64>| {
        Array2::from_shape_vec((n, nt), v).map_err(|e| Error::Numerical(e.to_string()))
    };
    Ok(Outcome {
        n,
        t: ts.to_vec(),
        fa: Array1::from(fa),
        fb: Array1::from(fb),
        fm: shape(fm)?,
        gap: shape(gap)?,
        tol: shape(tolv)?,
        dist2: Array1::from(dist2),
        scale_index: Array1::from(sidx),
        refined,
    })
}

/// One block's rows of the output arrays of [`run_native_range`].
struct BlockOut<'a> {
    fa: &'a mut [f64],
    fb: &'a mut [f64],
    dist2: &'a mut [f64],
    sidx: &'a mut [usize],
    fm: &'a mut [f64],
    gap: &'a mut [f64],
    tol: &'a mut [f64],
}

/// The points of pairs `start..start+count` for evaluation by a black box, pair-major:
/// rows `(2+T)·i`, `(2+T)·i+1`, `(2+T)·i+2+j` are a, b and m_{t_j} of pair `start+i`.
/// Also returns ‖b − a‖² per pair. Parallel over pairs; identical at any thread count.
pub fn fill_points(
    source: &PairSource<'_>,
    start: usize,
    count: usize,
    ts: &[f64],
    ctl: &Control,
) -> Result<(Array2<f64>, Vec<f64>)> {
    check_weights(ts)?;
    if start + count > source.total() {
        return Err(Error::invalid("start", "pair range out of bounds"));
    }
    let d = source.dim();
    let rows = 2 + ts.len();
    let mut pts = Array2::<f64>::zeros((count * rows, d));
    let mut dist2 = vec![0.0; count];
    let data = pts
        .as_slice_mut()
        .ok_or_else(|| Error::Numerical("non-contiguous buffer".into()))?;
    let work = |(i, (chunk, d2)): (usize, (&mut [f64], &mut f64))| -> Result<()> {
        if i % 64 == 0 {
            ctl.check()?;
        }
        let (a, rest) = chunk.split_at_mut(d);
        let (b, ms) = rest.split_at_mut(d);
        source.pair(start + i, a, b);
        for (j, &t) in ts.iter().enumerate() {
            form_midpoint(t, a, b, &mut ms[j * d..(j + 1) * d], None);
        }
        *d2 = a.iter().zip(b.iter()).map(|(x, y)| (y - x) * (y - x)).sum();
        Ok(())
    };
    if crate::parallel::should_parallelize(count, 64) {
        data.par_chunks_mut(rows * d)
            .zip(dist2.par_iter_mut())
            .enumerate()
            .try_for_each(work)?;
    } else {
        data.chunks_mut(rows * d)
            .zip(dist2.iter_mut())
            .enumerate()
            .try_for_each(work)?;
    }
    Ok((pts, dist2))
}

/// Split values of `fill_points` rows (pair-major) into a [`Values`].
pub fn split_values(
    vals: &[f64],
    scales: Option<&[f64]>,
    nt: usize,
    dist2: Vec<f64>,
) -> Result<Values> {
    let rows = 2 + nt;
    if vals.len() % rows != 0 || vals.len() / rows != dist2.len() {
        return Err(Error::invalid(
            "values",
            "length does not match the batch of pairs",
        ));
    }
    let n = dist2.len();
    let mut v = Values {
        fa: Vec::with_capacity(n),
        fb: Vec::with_capacity(n),
        fm: Vec::with_capacity(n * nt),
        sa: scales.map(|_| Vec::with_capacity(n)),
        sb: scales.map(|_| Vec::with_capacity(n)),
        sm: scales.map(|_| Vec::with_capacity(n * nt)),
        dist2,
    };
    for i in 0..n {
        v.fa.push(vals[i * rows]);
        v.fb.push(vals[i * rows + 1]);
        v.fm.extend_from_slice(&vals[i * rows + 2..(i + 1) * rows]);
        if let (Some(s), Some(sa), Some(sb), Some(sm)) =
            (scales, v.sa.as_mut(), v.sb.as_mut(), v.sm.as_mut())
        {
            sa.push(s[i * rows]);
            sb.push(s[i * rows + 1]);
            sm.extend_from_slice(&s[i * rows + 2..(i + 1) * rows]);
        }
    }
    Ok(v)
}

/// Append `other` to `acc` (chunked black-box runs).
pub fn extend_values(acc: &mut Values, other: Values) {
    acc.fa.extend(other.fa);
    acc.fb.extend(other.fb);
    acc.fm.extend(other.fm);
    acc.dist2.extend(other.dist2);
    match (acc.sa.as_mut(), other.sa) {
        (Some(x), Some(y)) => x.extend(y),
        _ => acc.sa = None,
    }
    match (acc.sb.as_mut(), other.sb) {
        (Some(x), Some(y)) => x.extend(y),
        _ => acc.sb = None,
    }
    match (acc.sm.as_mut(), other.sm) {
        (Some(x), Some(y)) => x.extend(y),
        _ => acc.sm = None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::DiagQuadratic;

    fn quad(d: usize, neg: bool) -> DiagQuadratic {
        DiagQuadratic {
            a: (0..d)
                .map(|i| {
                    if neg && i == 0 {
                        -1.0
                    } else {
                        1.0 + i as f64 * 0.1
                    }
                })
                .collect(),
            c: (0..d).map(|i| (i as f64) * 0.3 - 1.0).collect(),
        }
    }

    fn sampler(d: usize, n: usize, seed: u64) -> Sampler {
        Sampler::new(vec![1.0; d], vec![1e-3, 1.0, 30.0], n, seed, None).unwrap()
    }

    #[test]
    fn a_costly_objective_is_cancelled_within_one_pair() {
        // Ctrl-C at the 4th of the block's 3 × 10 evaluations stops the test at the end of the
        // pair being evaluated (pieces hold whole pairs: a, b and the t-points, 3 evaluations)
        use crate::objective::testing::CancelsAt;
        let ctl = Control::new();
        let obj = CancelsAt::new(4, &ctl, 4);
        let src = PairSource::Random(sampler(4, 10, 1));
        let r = run_native(
            &obj,
            &src,
            &[0.5],
            &Tolerance::Scaled { factor: 16.0 },
            &ctl,
        );
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert_eq!(obj.evals(), 6);
    }

    #[test]
    fn convex_quadratic_has_no_violation() {
        let q = quad(20, false);
        let src = PairSource::Random(sampler(20, 2000, 1));
        let out = run_native(
            &q,
            &src,
            &[0.5, 0.25],
            &Tolerance::Scaled { factor: 16.0 },
            &Control::new(),
        )
        .unwrap();
        assert_eq!(out.n, 6000);
        for (g, t) in out.gap.iter().zip(out.tol.iter()) {
            assert!(*g >= -*t, "gap {g} tol {t}");
        }
        // Gaps of a quadratic are exact: t(1−t)/2 (b−a)ᵀA(b−a).
    }

    #[test]
    fn gaps_match_closed_form_and_indefinite_is_caught() {
        let q = quad(5, true);
        let src = PairSource::Random(sampler(5, 500, 3));
        let out = run_native(
            &q,
            &src,
            &[0.5],
            &Tolerance::Scaled { factor: 16.0 },
            &Control::new(),
        )
        .unwrap();
        let (mut a, mut b) = (vec![0.0; 5], vec![0.0; 5]);
        let mut viol = 0;
        for k in 0..out.n {
            src.pair(k, &mut a, &mut b);
            let exact: f64 = (0..5).map(|i| 0.125 * q.a[i] * (b[i] - a[i]).powi(2)).sum();
            let g = out.gap[[k, 0]];
            assert!((g - exact).abs() <= 1e-9 * (1.0 + exact.abs()) + 4.0 * out.tol[[k, 0]]);
            if g < -out.tol[[k, 0]] {
                viol += 1;
            }
        }
        assert!(viol > 0);
    }

    #[test]
    fn pairs_do_not_depend_on_threads_or_chunking() {
        let q = quad(7, true);
        let src = PairSource::Random(sampler(7, 300, 9));
        crate::parallel::set_num_threads(1).unwrap();
        let one = run_native(
            &q,
            &src,
            &[0.5],
            &Tolerance::Scaled { factor: 16.0 },
            &Control::new(),
        )
        .unwrap();
        crate::parallel::set_num_threads(3).unwrap();
        let three = crate::parallel::install(|| {
            run_native(
                &q,
                &src,
                &[0.5],
                &Tolerance::Scaled { factor: 16.0 },
                &Control::new(),
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(one.gap, three.gap);
        // The black-box layout gives the same points.
        let (pts, _) = fill_points(&src, 100, 50, &[0.5], &Control::new()).unwrap();
        let (mut a, mut b) = (vec![0.0; 7], vec![0.0; 7]);
        src.pair(120, &mut a, &mut b);
        assert_eq!(pts.row(60).to_vec(), a);
        assert_eq!(pts.row(61).to_vec(), b);
    }

    #[test]
    fn ranges_give_the_rows_of_the_whole_run() {
        let q = quad(4, true);
        let src = PairSource::Random(sampler(4, 100, 2));
        let tol = Tolerance::Scaled { factor: 16.0 };
        let all = run_native(&q, &src, &[0.5, 0.3], &tol, &Control::new()).unwrap();
        let part = run_native_range(&q, &src, 130, 70, &[0.5, 0.3], &tol, &Control::new()).unwrap();
        assert_eq!(part.n, 70);
        assert_eq!(part.gap, all.gap.slice(ndarray::s![130..200, ..]));
        assert_eq!(part.tol, all.tol.slice(ndarray::s![130..200, ..]));
        assert_eq!(part.scale_index[0], 1);
        assert!(run_native_range(&q, &src, 290, 20, &[0.5], &tol, &Control::new()).is_err());
        assert!(run_native_range(&q, &src, 0, 0, &[0.5], &tol, &Control::new()).is_err());
    }

    #[test]
    fn filter_normalisation_matches_group_norms() {
        let c = vec![3.0, 4.0, 0.0, 1.0, 2.0];
        let s = Sampler::new(c.clone(), vec![1.0], 4, 5, Some(vec![vec![0, 1], vec![3]])).unwrap();
        let (mut a, mut b) = (vec![0.0; 5], vec![0.0; 5]);
        s.pair(2, &mut a, &mut b);
        let d: Vec<f64> = a.iter().zip(&c).map(|(x, y)| x - y).collect();
        assert!(((d[0] * d[0] + d[1] * d[1]).sqrt() - 5.0).abs() < 1e-12);
        assert!((d[3].abs() - 1.0).abs() < 1e-12);
        assert_eq!(d[2], 0.0);
        assert_eq!(d[4], 0.0);
        assert!(Sampler::new(c.clone(), vec![1.0], 4, 5, Some(vec![vec![0, 9]])).is_err());
        assert!(Sampler::new(c.clone(), vec![1.0], 4, 5, Some(vec![vec![0], vec![0]])).is_err());
        assert!(Sampler::new(c.clone(), vec![0.0], 4, 5, None).is_err());
        assert!(Sampler::new(c, vec![1.0], 0, 5, None).is_err());
    }

    #[test]
    fn compensated_gap_is_exact_on_cancellation() {
        let g = jensen_gap_compensated(0.5, 1e16 + 2.0, 1e16, 1e16);
        assert_eq!(g, 1.0);
        assert_eq!(neumaier(&[1e100, 1.0, -1e100]), 1.0);
        assert!(jensen_gap_compensated(0.5, f64::NAN, 1.0, 1.0).is_nan());
    }

    #[test]
    fn bad_weights_and_shapes() {
        assert!(check_weights(&[]).is_err());
        assert!(check_weights(&[0.0]).is_err());
        assert!(check_weights(&[1.0]).is_err());
        assert!(check_weights(&[f64::NAN]).is_err());
        let a = Array2::<f64>::zeros((3, 4));
        let b = Array2::<f64>::zeros((3, 5));
        let src = PairSource::Given {
            a: a.view(),
            b: b.view(),
        };
        assert!(src.validate().is_err());
    }

    fn linear_models() -> Vec<crate::objective::mlp::Mlp> {
        use crate::objective::loss::Loss;
        use crate::objective::mlp::Mlp;
        // features over many magnitudes: large margins, cancellation in the products
        let (n, d) = (60, 7);
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            ((i * 13 + j * 7) as f64 * 0.77).sin() * 10f64.powi((i % 7) as i32 - 3)
        });
        let lab = Array2::from_shape_fn((n, 1), |(i, _)| if i % 3 == 0 { 1.0 } else { -1.0 });
        let tgt = Array2::from_shape_fn((n, 1), |(i, _)| (i as f64 * 0.3).cos() * 1e2);
        vec![
            Mlp::linear(x.clone(), lab.clone(), true, Loss::Logistic, 0.0).unwrap(),
            Mlp::linear(x.clone(), lab, false, Loss::Logistic, 1e-3).unwrap(),
            Mlp::linear(x, tgt, true, Loss::Squared, 0.0).unwrap(),
        ]
    }

    #[test]
    fn convex_linear_models_never_violate_at_adversarial_scales() {
        // the t-points' margins are combined from those of a and b (no product for them): the
        // rounding scale must still bound the error of every computed gap, from scales where the
        // gap is pure rounding (1e-9 around a large center) to scales where the losses are huge
        for obj in linear_models() {
            let d = obj.dim();
            for (center, scales) in [
                (vec![0.0; d], vec![1e-12, 1e-6, 1.0, 1e3]),
                (vec![1e3; d], vec![1e-9, 1e-3, 10.0]),
                (
                    (0..d).map(|i| (i as f64 - 3.0) * 37.0).collect(),
                    vec![1e-10, 1e-2, 1e4],
                ),
            ] {
                let s = Sampler::new(center, scales, 400, 7, None).unwrap();
                let out = run_native(
                    &obj,
                    &PairSource::Random(s),
                    &[0.5, 0.3, 0.9],
                    &Tolerance::Scaled { factor: 32.0 },
                    &Control::new(),
                )
                .unwrap();
                for (g, t) in out.gap.iter().zip(out.tol.iter()) {
                    assert!(
                        g.is_finite() && *g >= -*t,
                        "{}: gap {g} tol {t}",
                        obj.name()
                    );
                }
            }
        }
    }

    #[test]
    fn linear_model_results_do_not_depend_on_threads() {
        for obj in linear_models() {
            let d = obj.dim();
            let s = Sampler::new(vec![0.5; d], vec![1e-3, 1.0], 700, 3, None).unwrap();
            let src = PairSource::Random(s);
            let tol = Tolerance::Scaled { factor: 32.0 };
            crate::parallel::set_num_threads(1).unwrap();
            let one = run_native(&obj, &src, &[0.5, 0.25], &tol, &Control::new()).unwrap();
            crate::parallel::set_num_threads(2).unwrap();
            let two = crate::parallel::install(|| {
                run_native(&obj, &src, &[0.5, 0.25], &tol, &Control::new())
            })
            .unwrap()
            .unwrap();
            assert_eq!(one.fm, two.fm);
            assert_eq!(one.gap, two.gap);
            assert_eq!(one.tol, two.tol);
        }
    }

    #[test]
    fn the_in_place_run_equals_assess_on_the_evaluated_points() {
        // oracle: the black-box layout (fill_points), one batched evaluation of all its points,
        // split_values and assess; the native run assesses each block in place
        let tol = Tolerance::Scaled { factor: 32.0 };
        let ts = [0.5, 0.3];
        let quad = quad(6, true);
        let mut objs: Vec<Box<dyn Objective>> = vec![Box::new(quad)];
        for o in linear_models() {
            objs.push(Box::new(o));
        }
        for obj in &objs {
            let d = obj.dim();
            let s = Sampler::new(vec![0.5; d], vec![1e-6, 1.0, 40.0], 150, 4, None).unwrap();
            let src = PairSource::Random(s);
            let n = src.total();
            let ctl = Control::new();
            let run = run_native(obj.as_ref(), &src, &ts, &tol, &ctl).unwrap();
            let (pts, dist2) = fill_points(&src, 0, n, &ts, &ctl).unwrap();
            let (mut vals, mut scs) = (vec![0.0; pts.nrows()], vec![0.0; pts.nrows()]);
            obj.pair_values_block(pts.view(), &ts, &mut vals, &mut scs)
                .unwrap();
            let values = split_values(&vals, Some(&scs), ts.len(), dist2).unwrap();
            let sidx: Vec<usize> = (0..n).map(|k| src.scale_index(k)).collect();
            let refine = |k: usize, j: usize| midpoint_rounding_term(obj.as_ref(), &src, k, ts[j]);
            let r: Option<&(dyn Fn(usize, usize) -> Result<f64> + Sync)> = if obj.has_gradient() {
                Some(&refine)
            } else {
                None
            };
            let want = assess(values, &ts, &sidx, &tol, r, &ctl).unwrap();
            assert_eq!(run.fa, want.fa, "{}", obj.name());
            assert_eq!(run.fb, want.fb);
            assert_eq!(run.fm, want.fm);
            assert_eq!(run.dist2, want.dist2);
            assert_eq!(run.scale_index, want.scale_index);
            assert_eq!(run.refined, want.refined);
            for (x, y) in run.gap.iter().zip(want.gap.iter()) {
                assert!(x == y || (x.is_nan() && y.is_nan()));
            }
            for (x, y) in run.tol.iter().zip(want.tol.iter()) {
                assert!(x == y || (x.is_nan() && y.is_nan()));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn convex_quadratics_never_violate(seed in 0u64..1000, d in 1usize..12, scale in 1e-4f64..1e3) {
            let q = DiagQuadratic {
                a: (0..d).map(|i| 0.5 + (i as f64 * 0.37 + seed as f64).sin().abs()).collect(),
                c: (0..d).map(|i| (i as f64 - 3.0) * 10.0).collect(),
            };
            let s = Sampler::new(vec![100.0; d], vec![scale], 50, seed, None).unwrap();
            let out = run_native(&q, &PairSource::Random(s), &[0.5, 0.3], &Tolerance::Scaled { factor: 16.0 }, &Control::new()).unwrap();
            for (g, t) in out.gap.iter().zip(out.tol.iter()) {
                proptest::prop_assert!(*g >= -*t);
            }
        }
    }
}
