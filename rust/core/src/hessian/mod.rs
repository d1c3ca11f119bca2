//! Batched finite-difference Hessians. (Issue: convexity diagnostics.)
//!
//! Two methods, both on a batch of B points of R^D:
//!
//! - **values** (black boxes): second differences of f on the stencil
//!   {θ} ∪ {θ ± m h_i e_i} ∪ {θ ± m (h_i e_i + h_j e_j), i < j} for m = 1 (and m = 2 with Richardson):
//!   H_ii(m) = (f(θ + m h_i e_i) + f(θ − m h_i e_i) − 2 f(θ)) / (m h_i)²,
//!   H_ij(m) = (f(θ + m(h_i e_i + h_j e_j)) + f(θ − m(h_i e_i + h_j e_j)) − f(θ ± m h_i e_i)
//!   − f(θ ± m h_j e_j) + 2 f(θ)) / (2 m² h_i h_j), both O(h²); 1 + S(D² + D) evaluations per point
//!   (S = 2 with Richardson, else 1).
//! - **gradients** (native objectives): central differences of the analytic gradient,
//!   column i = (∇f(θ + m h_i e_i) − ∇f(θ − m h_i e_i)) / (2 m h_i), then symmetrised;
//!   2SD (+1 with Richardson) gradient evaluations per point.
//!
//! With Richardson the result is (4 H(h) − H(2h)) / 3 (O(h⁴)), and the per-entry error estimate is
//! that of the extrapolated value (see [`richardson_error`]): 2 |H(h) − H(2h)| + (4 r(h) + r(2h))/3
//! with r the rounding bounds of the two steps, plus [`COL_C`] times the row's / column's noise
//! level ([`column_noise`]) and (gradients) the asymmetry of the extrapolated columns.
//!
//! Steps: h_i = 2^round(log2(c · max(1, |θ_i|, ‖θ‖∞/64))) — a power of two, so θ_i ± h_i, θ_i ± 2h_i are
//! exact whenever they stay in θ_i's binade — with c = eps^(1/6) ≈ 2.5e-3 (values + Richardson,
//! balancing the O(h⁴) truncation against the eps/h² rounding), eps^(1/4) (values), eps^(1/5)
//! (gradients + Richardson), eps^(1/3) (gradients), or a caller-given c.
//!
//! Kinks (Richardson only): along each stencil line (axis e_i, and e_i + e_j for the values method;
//! gradient component j along e_i for the gradients method) we have 5 equally spaced samples. Their
//! consecutive differences of the appropriate order (second differences of f; first differences
//! of ∇f_j) agree to O(h) relative for a smooth function; a kink crossed by the line makes one of
//! them jump by O(1) relative. An entry is flagged when the jump exceeds
//! ρ · (the largest difference) + τ · (line step)^k · max|H| + the rounding bound (ρ = 1/4, τ = 1/20).
//!
//! Determinism: each evaluation is computed independently from its (point, row) index and the
//! reductions run in a fixed order, so results do not depend on the thread count.

use ndarray::{Array1, Array2, Array3, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::objective::{check_dim, for_pieces, points_per_check, Objective};

pub mod spectrum;
pub mod verdict;
pub use spectrum::{spectrum, Spectrum};
pub use verdict::{certify, Certificates, Verdict, VerdictInput};

/// Relative threshold of the kink test.
pub const KINK_RHO: f64 = 0.25;
/// Absolute (matrix-scale) threshold of the kink test.
pub const KINK_TAU: f64 = 0.05;
/// Multiplier of eps · scale in the rounding bounds.
pub const ROUND_C: f64 = 8.0;
/// Floats of gradient differences held at once (128 MiB); points are processed in blocks.
const BLOCK_FLOATS: usize = 1 << 24;
/// Largest per-point buffer of gradient differences (1 GiB).
const MAX_POINT_FLOATS: usize = 1 << 27;
/// Largest output (B · D² entries per array, 1 GiB of float64).
pub const MAX_OUTPUT_ENTRIES: usize = 1 << 27;
/// Largest values stencil of one point (rows; values and scales take 16 bytes each).
pub const MAX_STENCIL_ROWS: usize = 1 << 26;

/// Check the output and stencil sizes before any work.
pub fn check_size(b: usize, d: usize, method: Method, richardson: bool) -> Result<()> {
    let out = b.saturating_mul(d).saturating_mul(d);
    if out > MAX_OUTPUT_ENTRIES {
        return Err(Error::too_large(
            "Hessian batch",
            format!("{b} x {d} x {d} = {out} entries per array"),
            format!("{MAX_OUTPUT_ENTRIES} entries"),
            "split the points into smaller batches",
        ));
    }
    if method == Method::Values {
        let s = if richardson { 2 } else { 1 };
        let rows = 1 + s * (d * d + d);
        if rows > MAX_STENCIL_ROWS {
            return Err(Error::too_large(
                "values stencil of one point",
                format!("{rows} evaluations"),
                format!("{MAX_STENCIL_ROWS}"),
                "use method='gradients' (native objectives) or reduce D",
            ));
        }
    }
    Ok(())
}

/// Rows evaluated per parallel chunk.
const CHUNK: usize = 64;

/// Gradient entries (points × 2·D moved gradients × D) of one block of the gradients method
/// below which it runs on the calling thread.
pub const PAR_MIN_FLOATS: usize = 1 << 14;

/// Multiply-adds (by [`Objective::work_per_point`], a gradient counted as 3 evaluations) up to
/// which a gradients-method run counts as short ([`gradients_run_is_short`]): a few milliseconds,
/// the longest Ctrl-C waits for a run that is not polled.
pub const SHORT_RUN_WORK: f64 = 1.0e7;

/// Multiply-adds (as [`SHORT_RUN_WORK`] counts them) from which a gradients-method run goes
/// parallel over points even below [`PAR_MIN_FLOATS`] gradient entries: objectives over many
/// samples at small D (n·D multiply-adds per evaluation), where each entry costs hundreds of
/// operations (about a millisecond of work).
pub const PAR_MIN_WORK: f64 = 2.0e6;

/// Multiply-adds of the gradients method on `b` points of `obj` (a gradient counted as 3
/// evaluations of [`Objective::work_per_point`]).
fn gradients_work(obj: &dyn Objective, b: usize, richardson: bool) -> f64 {
    let scales = if richardson { 2 } else { 1 };
    let gradients = b.saturating_mul(2 * scales * obj.dim() + 2);
    gradients as f64 * 3.0 * obj.work_per_point()
}

/// Whether the gradients method on `b` points of `obj` is worth the thread pool: at least
/// [`PAR_MIN_FLOATS`] gradient entries or [`PAR_MIN_WORK`] multiply-adds.
fn gradients_run_is_parallel(obj: &dyn Objective, b: usize, richardson: bool) -> bool {
    let d = obj.dim();
    b.saturating_mul(2 * d).saturating_mul(d) >= PAR_MIN_FLOATS
        || gradients_work(obj, b, richardson) >= PAR_MIN_WORK
}

/// Whether the gradients method on `b` points of `obj` is short enough to run on the calling
/// thread without cancellation polling: not parallel ([`PAR_MIN_FLOATS`], [`PAR_MIN_WORK`]) and
/// at most [`SHORT_RUN_WORK`] multiply-adds (so Ctrl-C waits at most a few milliseconds).
pub fn gradients_run_is_short(obj: &dyn Objective, b: usize, richardson: bool) -> bool {
    !gradients_run_is_parallel(obj, b, richardson)
        && gradients_work(obj, b, richardson) <= SHORT_RUN_WORK
}

/// Whether `b` points of the gradients method go over the pool (see
/// [`gradients_run_is_parallel`]; never inside `parallel::serial` or with one thread).
fn gradients_par(obj: &dyn Objective, b: usize, richardson: bool) -> bool {
    gradients_run_is_parallel(obj, b, richardson) && crate::parallel::should_parallelize(1, 1)
}

/// Finite-difference method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Second differences of values.
    Values,
    /// Central differences of analytic gradients.
    Gradients,
}

impl Method {
    /// Parse "values" | "gradients".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "values" => Ok(Method::Values),
            "gradients" => Ok(Method::Gradients),
            _ => Err(Error::invalid(
                "method",
                format!("expected 'values' or 'gradients', got {s:?}"),
            )),
        }
    }
}

/// The default relative step c for a method.
pub fn default_step(method: Method, richardson: bool) -> f64 {
    let eps = f64::EPSILON;
    match (method, richardson) {
        (Method::Values, true) => eps.powf(1.0 / 6.0),
        (Method::Values, false) => eps.powf(0.25),
        (Method::Gradients, true) => eps.powf(0.2),
        (Method::Gradients, false) => eps.powf(1.0 / 3.0),
    }
}

/// Relative floor of the step scale: |θ_i| is replaced by max(1, |θ_i|, SPREAD · max_k |θ_k|).
pub const SPREAD: f64 = 1.0 / 64.0;

/// Steps h_i = 2^round(log2(c · max(1, |θ_i|, SPREAD · max_k |θ_k|))) for every row of `points`.
pub fn steps(points: ArrayView2<'_, f64>, c: f64) -> Result<Array2<f64>> {
    if !(c.is_finite() && c > 0.0) {
        return Err(Error::invalid(
            "step",
            format!("must be a finite number > 0, got {c}"),
        ));
    }
    crate::error::ensure_finite_iter("points", points.iter())?;
    let mut out = Array2::zeros(points.raw_dim());
    for (row, mut h) in points.outer_iter().zip(out.outer_iter_mut()) {
        // f's rounding level grows with the whole point, not only with θ_i: a coordinate much
        // smaller than the point's largest one gets a step of at least SPREAD · max_k |θ_k|.
        let floor = row.iter().fold(1.0f64, |m, t| m.max(SPREAD * t.abs()));
        for (hi, t) in h.iter_mut().zip(row.iter()) {
            let raw = c * t.abs().max(floor);
            *hi = 2f64.powi(raw.log2().round() as i32);
        }
    }
    Ok(out)
}

/// One stencil row: θ + mult · (h_i e_i + h_j e_j) (j = NONE: axis row; i = NONE: the centre).
#[derive(Clone, Copy, Debug)]
struct Row {
    i: u32,
    j: u32,
    mult: f64,
}

const NONE: u32 = u32::MAX;

/// The values stencil of a D-dimensional point.
#[derive(Clone, Debug)]
pub struct Stencil {
    d: usize,
    scales: usize,
    rows: Vec<Row>,
}

impl Stencil {
    /// The stencil for dimension `d`; two step scales (h, 2h) with Richardson, else one.
    pub fn new(d: usize, richardson: bool) -> Self {
        let scales = if richardson { 2 } else { 1 };
        let mut rows = vec![Row {
            i: NONE,
            j: NONE,
            mult: 0.0,
        }];
        for s in 0..scales {
            let m = (1u32 << s) as f64;
            for i in 0..d as u32 {
                rows.push(Row {
                    i,
                    j: NONE,
                    mult: m,
                });
                rows.push(Row {
                    i,
                    j: NONE,
                    mult: -m,
                });
            }
            for i in 0..d as u32 {
                for j in (i + 1)..d as u32 {
                    rows.push(Row { i, j, mult: m });
                    rows.push(Row { i, j, mult: -m });
                }
            }
        }
        Stencil { d, scales, rows }
    }

    /// Rows per point: 1 + S (D² + D).
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    fn block(&self, s: usize) -> usize {
        1 + s * (self.d * self.d + self.d)
    }
    fn axis(&self, s: usize, i: usize, minus: bool) -> usize {
        self.block(s) + 2 * i + minus as usize
    }
    fn pair(&self, s: usize, i: usize, j: usize, minus: bool) -> usize {
        let d = self.d;
        let p = i * d - i * (i + 1) / 2 + (j - i - 1);
        self.block(s) + 2 * d + 2 * p + minus as usize
    }

    /// Write stencil row `r` of the point `theta` with steps `h` into `out` (which must already
    /// hold `theta`; only the changed coordinates are written).
    #[inline]
    fn apply(&self, theta: &[f64], h: &[f64], r: usize, out: &mut [f64]) {
        let row = self.rows[r];
        if row.i != NONE {
            let i = row.i as usize;
            out[i] = theta[i] + row.mult * h[i];
            if row.j != NONE {
                let j = row.j as usize;
                out[j] = theta[j] + row.mult * h[j];
            }
        }
    }

    /// Stencil rows `lo..hi` of the block of points starting at `b0` (row k of the block is
    /// point b0 + k / R, stencil row k % R), as a ((hi − lo), D) matrix.
    pub fn points(
        &self,
        points: ArrayView2<'_, f64>,
        steps: ArrayView2<'_, f64>,
        b0: usize,
        lo: usize,
        hi: usize,
    ) -> Array2<f64> {
        let r_n = self.n_rows();
        let d = self.d;
        let mut out = vec![0.0; (hi - lo) * d];
        let mut cur = usize::MAX;
        let mut theta: Vec<f64> = Vec::new();
        let mut h: Vec<f64> = Vec::new();
        for (k, buf) in (lo..hi).zip(out.chunks_mut(d.max(1))) {
            let b = b0 + k / r_n;
            if b != cur {
                theta = points.row(b).to_vec();
                h = steps.row(b).to_vec();
                cur = b;
            }
            buf.copy_from_slice(&theta);
            self.apply(&theta, &h, k % r_n, buf);
        }
        Array2::from_shape_vec((hi - lo, d), out).unwrap_or_else(|_| Array2::zeros((0, d)))
    }
}

/// Hessians of a batch with their diagnostics.
#[derive(Clone, Debug)]
pub struct Batch {
    /// (B, D, D) symmetric estimates (Richardson-extrapolated when enabled).
    pub h: Array3<f64>,
    /// (B, D, D) per-entry error estimates.
    pub err: Array3<f64>,
    /// (B, D, D) kink flags.
    pub kink: Array3<bool>,
    /// (B,) whether every evaluation of the point was finite.
    pub finite: Vec<bool>,
    /// (B,) `finite` and every entry of H finite (see [`spectrum::point_tolerance`]).
    pub ok: Vec<bool>,
    /// (B,) the verdict tolerance τ = ‖E‖_F of each point ([`spectrum::frobenius`]).
    pub tol: Array1<f64>,
    /// (B,) f(θ).
    pub f0: Array1<f64>,
    /// (B,) the rounding scale of f(θ) (|f(θ)| for callables).
    pub s0: Array1<f64>,
    /// (B, D) steps h_i.
    pub steps: Array2<f64>,
    /// Objective value evaluations.
    pub n_values: u64,
    /// Gradient evaluations.
    pub n_gradients: u64,
}

struct PointOut {
    h: Vec<f64>,
    err: Vec<f64>,
    kink: Vec<bool>,
    finite: bool,
    f0: f64,
    s0: f64,
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(
        0.0f64,
        |m, x| if x.is_finite() { m.max(x.abs()) } else { m },
    )
}

/// Error estimate of the Richardson value (4 H1 − H2)/3 from H1 = H(h), H2 = H(2h) and the
/// rounding bounds r1, r2 of H1 and H2. With truncation errors T (T2 ≈ 4 T1) and rounding
/// errors E: (4 H1 − H2)/3 − H = (4 T1 − T2)/3 + (4 E1 − E2)/3, where 4 T1 − T2 = O(h⁴) and
/// 4 E1 − E2 = 4 (E1 − E2) + 3 E2. Since H1 − H2 = (E1 − E2) − 3 T1 + O(h⁴), the estimate
/// RICH_C · |H1 − H2| + (4 r1 + r2) / 3 covers the rounding of both steps (which a bound of
/// H(h) alone does not: 4 E1 / 3 exceeds E1) and, with a margin, the truncation.
#[inline]
fn richardson_error(h1: f64, h2: f64, r1: f64, r2: f64) -> f64 {
    RICH_C * (h1 - h2).abs() + (4.0 * r1 + r2) / 3.0
}

/// Multiplier of |H(h) − H(2h)| in the Richardson error estimate (see [`richardson_error`]).
pub const RICH_C: f64 = 2.0;

/// Multiplier of the per-column noise level in the error estimates (see [`column_noise`]).
pub const COL_C: f64 = 4.0;

/// Per column i: the RMS over j of |H(h) − H(2h)|_ij and of the asymmetry (scale-aware: scaled
/// by the column's largest value first, so it neither underflows nor overflows). For a column
/// of rounding-dominated entries, rounding errors E(h) − E(2h) of its D entries are samples of
/// the same noise; the extrapolated value's rounding (4/3)(E(h) − E(2h)) + E(2h) then stays
/// below about 4 RMS for every entry, where a per-entry |H(h) − H(2h)| can be small by chance.
fn column_noise(h1: &[f64], h2: &[f64], asym: &[f64], d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| {
            let vals = (0..d).flat_map(|j| {
                let k = i * d + j;
                [(h1[k] - h2[k]).abs(), asym[k]]
            });
            let m = vals
                .clone()
                .fold(0.0f64, |m, v| if v.is_finite() { m.max(v) } else { m });
            if m == 0.0 {
                return 0.0;
            }
            let ss: f64 = vals
                .filter(|v| v.is_finite())
                .map(|v| (v / m) * (v / m))
                .sum();
            m * (ss / (2 * d) as f64).sqrt()
        })
        .collect()
}

/// Kink test on 5 equally spaced samples `y` (order k of differences: 2 for values, 1 for
/// gradients), `floor` = τ · step^k · max|H| + rounding.
fn line_kink(y: [f64; 5], order: usize, floor: f64) -> bool {
    if y.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let d: Vec<f64> = if order == 2 {
        (0..3).map(|k| y[k + 2] - 2.0 * y[k + 1] + y[k]).collect()
    } else {
        (0..4).map(|k| y[k + 1] - y[k]).collect()
    };
    let spike = d.windows(2).fold(0.0f64, |m, w| m.max((w[1] - w[0]).abs()));
    let big = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    spike > KINK_RHO * big + floor && !geometric(&d)
}

/// Whether the differences `d` are those of a smooth function whose curvature changes on the
/// scale of the step (exp(a t) sampled with a h = O(1), e.g. logistic losses far out on
/// separable data): all of one sign and nonzero, with consecutive ratios that agree within a
/// factor 1 + ρ. A kink makes one difference jump against its neighbours (ratios 1, q, 1 or a
/// zero difference), which this never accepts.
fn geometric(d: &[f64]) -> bool {
    let positive = d.iter().all(|v| *v > 0.0);
    let negative = d.iter().all(|v| *v < 0.0);
    if !(positive || negative) {
        return false; // also rejects zero and NaN differences
    }
    let (lo, hi) = d
        .windows(2)
        .map(|w| w[1] / w[0])
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), q| {
            (lo.min(q), hi.max(q))
        });
    // a constant ratio of 1 (linear / quadratic trend) is no kink either, but is not this test's
    // business: require real growth or decay so that only under-resolved smooth lines pass
    hi <= lo * (1.0 + KINK_RHO) && (lo > 1.0 + KINK_RHO || hi < 1.0 / (1.0 + KINK_RHO))
}

/// Assemble one point's Hessian from its R stencil values (and scales).
fn assemble_point(st: &Stencil, v: &[f64], s: &[f64], h: &[f64], richardson: bool) -> PointOut {
    let d = st.d;
    let eps = f64::EPSILON;
    let f0 = v[0];
    let s0 = s[0];
    let finite = v.iter().all(|x| x.is_finite());
    let mut hs: Vec<Vec<f64>> = Vec::with_capacity(st.scales);
    let mut rs: Vec<Vec<f64>> = Vec::with_capacity(st.scales);
    for sc in 0..st.scales {
        let m = (1u32 << sc) as f64;
        let mut hm = vec![0.0; d * d];
        let mut rm = vec![0.0; d * d];
        for i in 0..d {
            let (pi, mi) = (st.axis(sc, i, false), st.axis(sc, i, true));
            let hi = m * h[i];
            hm[i * d + i] = (v[pi] + v[mi] - 2.0 * f0) / (hi * hi);
            rm[i * d + i] = ROUND_C * eps * (s[pi] + s[mi] + 2.0 * s0) / (hi * hi);
            for j in (i + 1)..d {
                let (pj, mj) = (st.axis(sc, j, false), st.axis(sc, j, true));
                let (pp, mm) = (st.pair(sc, i, j, false), st.pair(sc, i, j, true));
                let den = 2.0 * hi * m * h[j];
                let val = (v[pp] + v[mm] - v[pi] - v[mi] - v[pj] - v[mj] + 2.0 * f0) / den;
                let r = ROUND_C * eps * (s[pp] + s[mm] + s[pi] + s[mi] + s[pj] + s[mj] + 2.0 * s0)
                    / den;
                hm[i * d + j] = val;
                hm[j * d + i] = val;
                rm[i * d + j] = r;
                rm[j * d + i] = r;
            }
        }
        hs.push(hm);
        rs.push(rm);
    }
    let (hout, err, kink) = if richardson {
        let hr: Vec<f64> = hs[0]
            .iter()
            .zip(&hs[1])
            .map(|(a, b)| (4.0 * a - b) / 3.0)
            .collect();
        // a kink crossed by an axis line but not flagged perturbs every entry of its row; the
        // row's noise level (see `column_noise`) covers entries whose |H(h) − H(2h)| is small
        let noise = column_noise(&hs[0], &hs[1], &vec![0.0; d * d], d);
        let err: Vec<f64> = (0..d * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                richardson_error(hs[0][k], hs[1][k], rs[0][k], rs[1][k])
                    + COL_C * noise[i].max(noise[j])
            })
            .collect();
        let hmax = max_abs(&hr);
        let mut axis_k = vec![false; d];
        for (i, ak) in axis_k.iter_mut().enumerate() {
            let y = [
                v[st.axis(1, i, true)],
                v[st.axis(0, i, true)],
                f0,
                v[st.axis(0, i, false)],
                v[st.axis(1, i, false)],
            ];
            let noise = ROUND_C
                * eps
                * 4.0
                * (s[st.axis(1, i, true)]
                    + s[st.axis(0, i, true)]
                    + s0
                    + s[st.axis(0, i, false)]
                    + s[st.axis(1, i, false)]);
            *ak = line_kink(y, 2, KINK_TAU * h[i] * h[i] * hmax + noise);
        }
        let mut kink = vec![false; d * d];
        for i in 0..d {
            kink[i * d + i] = axis_k[i];
            for j in (i + 1)..d {
                let y = [
                    v[st.pair(1, i, j, true)],
                    v[st.pair(0, i, j, true)],
                    f0,
                    v[st.pair(0, i, j, false)],
                    v[st.pair(1, i, j, false)],
                ];
                let noise = ROUND_C
                    * eps
                    * 4.0
                    * (s[st.pair(1, i, j, true)]
                        + s[st.pair(0, i, j, true)]
                        + s0
                        + s[st.pair(0, i, j, false)]
                        + s[st.pair(1, i, j, false)]);
                let step = h[i] + h[j];
                let k = axis_k[i]
                    || axis_k[j]
                    || line_kink(y, 2, KINK_TAU * step * step * hmax + noise);
                kink[i * d + j] = k;
                kink[j * d + i] = k;
            }
        }
        (hr, err, kink)
    } else {
        let h0 = hs.swap_remove(0);
        let r0 = rs.swap_remove(0);
        (h0, r0, vec![false; d * d])
    };
    PointOut {
        h: hout,
        err,
        kink,
        finite,
        f0,
        s0,
    }
}

fn collect(outs: Vec<PointOut>, d: usize, steps: Array2<f64>, nv: u64, ng: u64) -> Result<Batch> {
    let b = outs.len();
    let mut h = Vec::with_capacity(b * d * d);
    let mut err = Vec::with_capacity(b * d * d);
    let mut kink = Vec::with_capacity(b * d * d);
    let mut finite = Vec::with_capacity(b);
    let mut ok = Vec::with_capacity(b);
    let mut tol = Vec::with_capacity(b);
    let mut f0 = Vec::with_capacity(b);
    let mut s0 = Vec::with_capacity(b);
    for o in outs {
        let (pok, ptol) = spectrum::point_tolerance(&o.h, &o.err, o.finite);
        ok.push(pok);
        tol.push(ptol);
        h.extend(o.h);
        err.extend(o.err);
        kink.extend(o.kink);
        finite.push(o.finite);
        f0.push(o.f0);
        s0.push(o.s0);
    }
    let shape = (b, d, d);
    let bad = |e: ndarray::ShapeError| Error::Numerical(format!("hessian assembly: {e}"));
    Ok(Batch {
        h: Array3::from_shape_vec(shape, h).map_err(bad)?,
        err: Array3::from_shape_vec(shape, err).map_err(bad)?,
        kink: Array3::from_shape_vec(shape, kink).map_err(bad)?,
        finite,
        ok,
        tol: Array1::from(tol),
        f0: Array1::from(f0),
        s0: Array1::from(s0),
        steps,
        n_values: nv,
        n_gradients: ng,
    })
}

/// Values (and optional rounding scales) of a block of stencil rows, as an evaluator returns them.
pub type BlockValues = (Vec<f64>, Option<Vec<f64>>);

/// Upper bound on stencil rows whose values are held at once (16 MiB of values and scales).
pub(crate) const BLOCK_ROWS: usize = 1 << 20;

/// The values method with a caller-supplied evaluator.
///
/// Points are processed in blocks of at most `BLOCK_ROWS` stencil rows; for each block
/// `eval(b0, b1)` returns the values (and optionally rounding scales) of the rows of points
/// `b0..b1` in the order of [`Stencil::points`]. Without scales, |f| over each point's stencil
/// (its maximum) is used as the rounding scale.
pub fn hessian_values_with(
    points: ArrayView2<'_, f64>,
    step: f64,
    richardson: bool,
    eval: &mut dyn FnMut(usize, usize) -> Result<BlockValues>,
    ctl: &Control,
) -> Result<Batch> {
    let (b, d) = points.dim();
    if d == 0 {
        return Err(Error::invalid("points", "need at least one column"));
    }
    check_size(b, d, Method::Values, richardson)?;
    let steps = steps(points, step)?;
    let st = Stencil::new(d, richardson);
    let r_n = st.n_rows();
    let per_block = (BLOCK_ROWS / r_n).max(1);
    ctl.set_total((b * r_n) as u64);
    let mut outs: Vec<PointOut> = Vec::with_capacity(b);
    let mut b0 = 0;
    while b0 < b {
        let b1 = (b0 + per_block).min(b);
        let (vals, scales) = eval(b0, b1)?;
        if vals.len() != (b1 - b0) * r_n {
            return Err(Error::Numerical(format!(
                "evaluator returned {} values for {} stencil rows",
                vals.len(),
                (b1 - b0) * r_n
            )));
        }
        ctl.check()?;
        let block: Vec<PointOut> = (b0..b1)
            .into_par_iter()
            .map(|p| {
                let k = (p - b0) * r_n;
                let v = &vals[k..k + r_n];
                let s: Vec<f64> = match &scales {
                    Some(sc) => sc[k..k + r_n].iter().map(|x| x.abs()).collect(),
                    None => vec![max_abs(v); r_n],
                };
                let h: Vec<f64> = steps.row(p).to_vec();
                assemble_point(&st, v, &s, &h, richardson)
            })
            .collect();
        outs.extend(block);
        b0 = b1;
    }
    collect(outs, d, steps, (b * r_n) as u64, 0)
}

/// Evaluate the stencil rows of points `b0..b1` of a native objective, in parallel over rows.
pub(crate) fn eval_stencil_native(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    steps: ArrayView2<'_, f64>,
    st: &Stencil,
    b0: usize,
    b1: usize,
    ctl: &Control,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let r_n = st.n_rows();
    let n = (b1 - b0) * r_n;
    let mut out = vec![(0.0f64, 0.0f64); n];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .try_for_each(|(c, chunk)| -> Result<()> {
            ctl.check()?;
            // The chunk's stencil rows as one block of points, evaluated by one batched call.
            let lo = c * CHUNK;
            let rows = st.points(points, steps, b0, lo, lo + chunk.len());
            let mut v = vec![0.0; chunk.len()];
            let mut sc = vec![0.0; chunk.len()];
            // in pieces sized by the objective's cost, a cancellation check before each
            for_pieces(obj, chunk.len(), ctl, |a, z| {
                let piece = rows.slice(ndarray::s![a..z, ..]);
                obj.values_scales_block(piece, &mut v[a..z], &mut sc[a..z])
            })?;
            for (slot, (fv, sv)) in chunk.iter_mut().zip(v.into_iter().zip(sc)) {
                *slot = (fv, sv);
            }
            ctl.advance(chunk.len() as u64);
            Ok(())
        })?;
    Ok(out.into_iter().unzip())
}

/// The values method for a native objective (parallel over points × stencil rows).
pub fn hessian_values_native(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    step: f64,
    richardson: bool,
    ctl: &Control,
) -> Result<Batch> {
    check_dim(obj, "points", points.ncols())?;
    check_size(points.nrows(), points.ncols(), Method::Values, richardson)?;
    let st = Stencil::new(points.ncols(), richardson);
    let stp = steps(points, step)?;
    let mut eval = |b0: usize, b1: usize| {
        let (v, s) = eval_stencil_native(obj, points, stp.view(), &st, b0, b1, ctl)?;
        Ok((v, Some(s)))
    };
    hessian_values_with(points, step, richardson, &mut eval, ctl)
}

/// One point of the gradients method from its gradient differences.
///
/// `cols` holds, for each column i, the gradients at θ + m h_i e_i and θ − m h_i e_i for
/// m = 1 (and 2 with Richardson), laid out as `[i][m][±][component]`; `g0` is the gradient at θ
/// (used only with Richardson), `f0`/`s0` the value and its rounding scale.
fn gradient_point(
    cols: &[f64],
    h: &[f64],
    g0: &[f64],
    f0: f64,
    s0: f64,
    d: usize,
    richardson: bool,
) -> PointOut {
    if !richardson {
        return gradient_point_plain(cols, h, f0, s0, d);
    }
    let eps = f64::EPSILON;
    let scales = if richardson { 2 } else { 1 };
    let per_task = 2 * scales * d;
    let g_at =
        |i: usize, sc: usize, minus: usize, j: usize| cols[i * per_task + (sc * 2 + minus) * d + j];
    // Column estimates G(m)[j, i] = ∂_i g_j.
    let mut gm: Vec<Vec<f64>> = Vec::new();
    let mut rm: Vec<Vec<f64>> = Vec::new();
    for sc in 0..scales {
        let m = (1u32 << sc) as f64;
        let mut gmat = vec![0.0; d * d];
        let mut rmat = vec![0.0; d * d];
        for i in 0..d {
            let den = 2.0 * m * h[i];
            for j in 0..d {
                let (a, c) = (g_at(i, sc, 0, j), g_at(i, sc, 1, j));
                gmat[j * d + i] = (a - c) / den;
                rmat[j * d + i] = ROUND_C * eps * (a.abs() + c.abs()) / den;
            }
        }
        gm.push(gmat);
        rm.push(rmat);
    }
    let sym = |m: &[f64]| -> Vec<f64> {
        let mut o = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                o[i * d + j] = 0.5 * (m[i * d + j] + m[j * d + i]);
            }
        }
        o
    };
    let h1 = sym(&gm[0]);
    let r1 = sym(&rm[0]);
    let asym: Vec<f64> = (0..d * d)
        .map(|k| {
            let (i, j) = (k / d, k % d);
            0.5 * (gm[0][i * d + j] - gm[0][j * d + i]).abs()
        })
        .collect();

    let mut finite = f0.is_finite() && cols[..d * per_task].iter().all(|x| x.is_finite());
    if richardson {
        finite &= g0.iter().all(|x| x.is_finite());
        let h2 = sym(&gm[1]);
        let hr: Vec<f64> = h1
            .iter()
            .zip(&h2)
            .map(|(a, c)| (4.0 * a - c) / 3.0)
            .collect();
        let r2 = sym(&rm[1]);
        // asymmetry of the extrapolated column estimates (what symmetrising removes)
        let asym_r: Vec<f64> = (0..d * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                let gr = |a: usize, b: usize| (4.0 * gm[0][a * d + b] - gm[1][a * d + b]) / 3.0;
                0.5 * (gr(i, j) - gr(j, i)).abs()
            })
            .collect();
        // Rounding of analytic gradients can exceed the model r (cancellation in
        // the gradient's sums): each column's RMS of |H(h) − H(2h)| and of the
        // asymmetry measures the rounding noise of its gradient differences, which
        // bounds the extrapolated value's rounding error per entry only
        // statistically; COL_C of it is added (see `column_noise`).
        let noise = column_noise(&h1, &h2, &asym_r, d);
        let err: Vec<f64> = (0..d * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                richardson_error(h1[k], h2[k], r1[k], r2[k])
                    + asym_r[k]
                    + COL_C * noise[i].max(noise[j])
            })
            .collect();
        let hmax = max_abs(&hr);
        let mut kink = vec![false; d * d];
        for i in 0..d {
            for j in 0..d {
                let y = [
                    g_at(i, 1, 1, j),
                    g_at(i, 0, 1, j),
                    g0[j],
                    g_at(i, 0, 0, j),
                    g_at(i, 1, 0, j),
                ];
                let noise = ROUND_C * eps * 4.0 * y.iter().map(|v| v.abs()).sum::<f64>();
                if line_kink(y, 1, KINK_TAU * h[i] * hmax + noise) {
                    kink[i * d + j] = true;
                    kink[j * d + i] = true;
                }
            }
        }
        PointOut {
            h: hr,
            err,
            kink,
            finite,
            f0,
            s0,
        }
    } else {
        let err: Vec<f64> = (0..d * d).map(|k| r1[k] + asym[k]).collect();
        PointOut {
            h: h1,
            err,
            kink: vec![false; d * d],
            finite,
            f0,
            s0,
        }
    }
}

/// [`gradient_point`] without Richardson, in one pass over the entries after the column
/// estimates: the same operations per entry (H = the symmetrised G, error = the symmetrised
/// rounding bound plus half the asymmetry), without the intermediate matrices.
fn gradient_point_plain(cols: &[f64], h: &[f64], f0: f64, s0: f64, d: usize) -> PointOut {
    let eps = f64::EPSILON;
    let per_task = 2 * d;
    // G[j, i] = ∂_i g_j and its rounding bound R
    let mut gmat = vec![0.0; d * d];
    let mut rmat = vec![0.0; d * d];
    for (i, (g_i, &hi)) in cols.chunks_exact(per_task).zip(h).enumerate().take(d) {
        let den = 2.0 * hi;
        let (plus, minus) = g_i.split_at(d);
        for (j, (&a, &c)) in plus.iter().zip(minus).enumerate() {
            gmat[j * d + i] = (a - c) / den;
            rmat[j * d + i] = ROUND_C * eps * (a.abs() + c.abs()) / den;
        }
    }
    let finite = f0.is_finite() && all_finite(&cols[..d * per_task]);
    let mut hout = vec![0.0; d * d];
    let mut err = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let (k, t) = (i * d + j, j * d + i);
            hout[k] = 0.5 * (gmat[k] + gmat[t]);
            err[k] = 0.5 * (rmat[k] + rmat[t]) + 0.5 * (gmat[k] - gmat[t]).abs();
        }
    }
    PointOut {
        h: hout,
        err,
        kink: vec![false; d * d],
        finite,
        f0,
        s0,
    }
}

/// The reciprocal of `den` when dividing by `den` and multiplying by it round alike (a power of
/// two whose reciprocal is normal: both products are the same exact value, rounded once).
fn exact_reciprocal(den: f64) -> Option<f64> {
    let r = 1.0 / den;
    let power_of_two = den.to_bits() & ((1u64 << 52) - 1) == 0;
    (power_of_two && den.is_normal() && r.is_normal()).then_some(r)
}

/// Whether every entry of `v` is finite (one pass without early exit, which vectorises).
fn all_finite(v: &[f64]) -> bool {
    v.iter().fold(true, |a, x| a & x.is_finite())
}

/// One point of the gradients method without Richardson from the objective's gradient
/// differences ([`Objective::gradient_differences`]: row j the difference along axis j), written
/// into `hout` and `err` (D × D); returns whether the point is finite. Column j of the estimate
/// G (G[k, j] = ∂_j g_k) is row j of `diff` divided by 2h_j, its bound scaled alike (both in
/// place); the estimate is symmetrised as in [`gradient_point`], its error the symmetrised bound
/// plus half the asymmetry plus the rounding of the symmetrisation (both symmetric: computed on
/// one triangle and mirrored).
fn difference_point(
    diff: &mut [f64],
    bound: &mut [f64],
    h: &[f64],
    f0: f64,
    hout: &mut [f64],
    err: &mut [f64],
) -> bool {
    let d = h.len();
    let eps = f64::EPSILON;
    let finite = f0.is_finite() && all_finite(diff);
    // row j of the transposed G and of its bound
    for ((drow, brow), &hj) in diff
        .chunks_exact_mut(d)
        .zip(bound.chunks_exact_mut(d))
        .zip(h)
    {
        let den = 2.0 * hj;
        if let Some(inv) = exact_reciprocal(den) {
            for (g, b) in drow.iter_mut().zip(brow.iter_mut()) {
                *g *= inv;
                *b = *b * inv + eps * g.abs();
            }
        } else {
            for (g, b) in drow.iter_mut().zip(brow.iter_mut()) {
                *g /= den;
                *b = *b / den + eps * g.abs();
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            // (Gᵀ)_ij and (Gᵀ)_ji
            let (a, b) = (diff[i * d + j], diff[j * d + i]);
            let v = 0.5 * (a + b);
            let e =
                0.5 * (bound[i * d + j] + bound[j * d + i]) + 0.5 * (a - b).abs() + eps * v.abs();
            hout[i * d + j] = v;
            hout[j * d + i] = v;
            err[i * d + j] = e;
            err[j * d + i] = e;
        }
    }
    finite
}

/// One block of points of [`hessian_differences`]: its H and error estimates (K × D × D) and,
/// per point, whether it is finite, `ok` and τ.
type DiffTask<'a> = ((&'a mut [f64], &'a mut [f64]), &'a mut [(bool, bool, f64)]);

/// The gradients method without Richardson through [`Objective::gradient_differences`], or
/// `None` when the objective has no such kernel: blocks of
/// [`crate::objective::diff_block_points`] points (a number that depends on D only), in parallel
/// over blocks, each point assembled into the output as soon as its block is done.
fn hessian_differences(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    stp: &Array2<f64>,
    centre: (&Array1<f64>, &Array1<f64>),
    ctl: &Control,
) -> Result<Option<Batch>> {
    let (b, d) = points.dim();
    // a block of no points: whether the objective has the kernel
    let empty = ndarray::s![0..0, ..];
    if !obj.gradient_differences(points.slice(empty), stp.slice(empty), &mut [], &mut [])? {
        return Ok(None);
    }
    let dd = d * d;
    let kp = crate::objective::diff_block_points(d).min(b);
    let steps_flat = stp.as_standard_layout();
    let hs = steps_flat.as_slice().unwrap_or(&[]);
    let (f0, s0) = centre;
    let mut h = vec![0.0; b * dd];
    let mut err = vec![0.0; b * dd];
    // per point: finite, ok, τ
    let mut flags = vec![(false, false, 0.0); b];
    let work =
        |scratch: &mut (Vec<f64>, Vec<f64>), (c, task): (usize, DiffTask<'_>)| -> Result<()> {
            let ((ho, eo), fo) = task;
            ctl.check()?;
            let (p0, k) = (c * kp, fo.len());
            let (diff, bound) = scratch;
            diff.resize(k * dd, 0.0);
            bound.resize(k * dd, 0.0);
            let rows = ndarray::s![p0..p0 + k, ..];
            if !obj.gradient_differences(points.slice(rows), stp.slice(rows), diff, bound)? {
                return Err(Error::Numerical(
                    "gradient differences available for some points only".into(),
                ));
            }
            for (q, fq) in fo.iter_mut().enumerate() {
                let p = p0 + q;
                let o = q * dd..(q + 1) * dd;
                let (hp, ep) = (&mut ho[o.clone()], &mut eo[o.clone()]);
                let fin = difference_point(
                    &mut diff[o.clone()],
                    &mut bound[o],
                    &hs[p * d..(p + 1) * d],
                    f0[p],
                    hp,
                    ep,
                );
                let (ok, tol) = spectrum::point_tolerance(hp, ep, fin);
                *fq = (fin, ok, tol);
            }
            ctl.advance((k * d) as u64);
            Ok(())
        };
    let tasks = h
        .chunks_mut(kp * dd)
        .zip(err.chunks_mut(kp * dd))
        .zip(flags.chunks_mut(kp));
    if gradients_par(obj, b, false) && b > kp {
        tasks
            .collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .try_for_each_init(|| (Vec::new(), Vec::new()), work)?;
    } else {
        let mut scratch = (Vec::new(), Vec::new());
        tasks.enumerate().try_for_each(|t| work(&mut scratch, t))?;
    }
    let shape = (b, d, d);
    let bad = |e: ndarray::ShapeError| Error::Numerical(format!("hessian assembly: {e}"));
    Ok(Some(Batch {
        h: Array3::from_shape_vec(shape, h).map_err(bad)?,
        err: Array3::from_shape_vec(shape, err).map_err(bad)?,
        kink: Array3::from_elem(shape, false),
        finite: flags.iter().map(|f| f.0).collect(),
        ok: flags.iter().map(|f| f.1).collect(),
        tol: flags.iter().map(|f| f.2).collect(),
        f0: f0.clone(),
        s0: s0.clone(),
        steps: stp.clone(),
        n_values: b as u64,
        n_gradients: (b * 2 * d) as u64,
    }))
}

/// The gradients method for a native objective (parallel over points × columns).
pub fn hessian_gradients(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    step: f64,
    richardson: bool,
    ctl: &Control,
) -> Result<Batch> {
    check_dim(obj, "points", points.ncols())?;
    if !obj.has_gradient() {
        return Err(Error::invalid(
            "method",
            format!(
                "'gradients' needs an analytic gradient; {} has none (use method='values')",
                obj.name()
            ),
        ));
    }
    let (b, d) = points.dim();
    if d == 0 {
        return Err(Error::invalid("points", "need at least one column"));
    }
    check_size(b, d, Method::Gradients, richardson)?;
    let stp = steps(points, step)?;
    let scales = if richardson { 2 } else { 1 };
    ctl.set_total((b * d) as u64);
    // Centre: value, scale and (with Richardson) gradient.
    let (cf, cs) = crate::objective::batch_values_and_scales(obj, points, CHUNK, ctl)?;
    let cg = if richardson {
        crate::objective::batch_gradients(obj, points, CHUNK, ctl)?.1
    } else {
        Array2::zeros((b, d))
    };
    if !richardson {
        if let Some(batch) = hessian_differences(obj, points, &stp, (&cf, &cs), ctl)? {
            return Ok(batch);
        }
    }
    let centre: Vec<(f64, f64, Vec<f64>)> =
        (0..b).map(|p| (cf[p], cs[p], cg.row(p).to_vec())).collect();
    // Per (point, column i): gradients at θ ± m h_i e_i, stored as [m][±][component]; columns
    // are processed in chunks of COLS per task through `gradients_along_axes`.
    const COLS: usize = 32;
    const SUB: usize = COLS;
    let per_task = 2 * scales * d;
    let per_point = d * per_task;
    check_point_floats(per_point)?;
    let block_pts = (BLOCK_FLOATS / per_point).max(1);
    let chunks_per_point = d.div_ceil(COLS);
    let mut outs: Vec<PointOut> = Vec::with_capacity(b);
    let mut b0 = 0;
    while b0 < b {
        let b1 = (b0 + block_pts).min(b);
        let nb = b1 - b0;
        let mut cols = vec![0.0; nb * per_point];
        let mut tasks: Vec<&mut [f64]> = Vec::with_capacity(nb * chunks_per_point);
        {
            let mut rest: &mut [f64] = &mut cols;
            for _p in 0..nb {
                for c in 0..chunks_per_point {
                    let ncols = COLS.min(d - c * COLS);
                    let (head, tail) = rest.split_at_mut(ncols * per_task);
                    tasks.push(head);
                    rest = tail;
                }
            }
        }
        // Small blocks (a single Hessian at small D) stay on the calling thread: waking the
        // pool costs more than the work.
        let par = gradients_par(obj, nb, richardson);
        let work = |buf: &mut Vec<f64>, (task, out): (usize, &mut [f64])| -> Result<()> {
            let p = b0 + task / chunks_per_point;
            let c0 = (task % chunks_per_point) * COLS;
            let ncols = out.len() / per_task;
            buf.clear();
            buf.extend(points.row(p).iter().copied());
            // At most SUB columns (2·scales·SUB gradients) per call, fewer for a costly
            // objective (a large network: tens of ms per gradient), a cancellation check before
            // each call. A row's gradient does not depend on the other moves of its call.
            let mut moves = Vec::with_capacity(ncols * 2 * scales);
            for i in c0..c0 + ncols {
                let hi = stp[[p, i]];
                for sc in 0..scales {
                    let m = (1u32 << sc) as f64;
                    moves.push((i, m * hi));
                    moves.push((i, -m * hi));
                }
            }
            let per_call = points_per_check(obj, SUB * 2 * scales);
            for (mv, out_g) in moves.chunks(per_call).zip(out.chunks_mut(per_call * d)) {
                ctl.check()?;
                obj.gradients_along_axes(buf, mv, out_g)?;
            }
            ctl.advance(ncols as u64);
            Ok(())
        };
        if par {
            tasks
                .into_par_iter()
                .enumerate()
                .try_for_each_init(Vec::new, work)?;
        } else {
            let mut buf = Vec::new();
            tasks
                .into_iter()
                .enumerate()
                .try_for_each(|t| work(&mut buf, t))?;
        }
        let assemble = |p: usize| {
            let base = (p - b0) * per_point;
            let (f0, s0, g0) = &centre[p];
            let h: Vec<f64> = stp.row(p).to_vec();
            gradient_point(
                &cols[base..base + per_point],
                &h,
                g0,
                *f0,
                *s0,
                d,
                richardson,
            )
        };
        if par {
            outs.par_extend((b0..b1).into_par_iter().map(assemble));
        } else {
            outs.extend((b0..b1).map(assemble));
        }
        b0 = b1;
    }
    let ng = (b * (2 * scales * d + richardson as usize)) as u64;
    collect(outs, d, stp, b as u64, ng)
}

/// The Hessians of a native objective with their spectra, certificates and verdicts: what
/// `hiddenconvex.hessian` reports for a native objective, computed in one run of the core.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The Hessians, error estimates, kink flags, values and steps.
    pub batch: Batch,
    /// τ = ‖E‖_F, the eigenvalues and the λ_min eigenvectors.
    pub spectrum: Spectrum,
    /// The certificates of indefiniteness and the verdicts.
    pub certificates: Certificates,
}

/// [`hessian_gradients`] or [`hessian_values_native`] (by `method`), then [`fn@spectrum`] with the
/// eigen-decompositions and [`certify`] with the candidates' points evaluated by `obj`
/// ([`crate::objective::batch_values_and_scales`]), all in the caller's run: one hand-off into
/// the pool for a large batch (the spectra and the certificates' points go parallel over points
/// there too), none for a short one run inside [`crate::parallel::serial`]. Every value, spectrum
/// and certificate is computed per point, so results do not depend on the thread count.
pub fn analyse_native(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    method: Method,
    step: f64,
    richardson: bool,
    ctl: &Control,
) -> Result<Analysis> {
    if points.ncols() == 0 {
        return Err(Error::invalid("points", "need at least one column"));
    }
    let batch = match method {
        Method::Gradients => hessian_gradients(obj, points, step, richardson, ctl)?,
        Method::Values => hessian_values_native(obj, points, step, richardson, ctl)?,
    };
    // τ and the flags were computed with H (see `Batch::tol`)
    let sp = spectrum::with_tolerances(
        batch.h.view(),
        batch.ok.clone(),
        batch.tol.clone(),
        true,
        ctl,
    )?;
    let inp = VerdictInput {
        points,
        steps: batch.steps.view(),
        f0: batch.f0.view(),
        s0: batch.s0.view(),
        kink: batch.kink.view(),
        ok: &sp.ok,
        tol: sp.tol.view(),
        lam_min: sp.eig.column(0),
        vmin: sp.vmin.view(),
        native_scales: true,
    };
    let mut eval = |rows: ArrayView2<'_, f64>| -> Result<BlockValues> {
        let (v, s) = crate::objective::batch_values_and_scales(obj, rows, CHUNK, ctl)?;
        Ok((v.to_vec(), Some(s.to_vec())))
    };
    let certificates = certify(&inp, &mut eval)?;
    Ok(Analysis {
        batch,
        spectrum: sp,
        certificates,
    })
}

/// Refuse a point whose gradient differences (D · 2 · scales · D floats) exceed
/// `MAX_POINT_FLOATS`.
fn check_point_floats(per_point: usize) -> Result<()> {
    if per_point > MAX_POINT_FLOATS {
        return Err(Error::too_large(
            "gradient differences of one point",
            format!("{} MB", per_point * 8 / (1 << 20)),
            format!("{} MB", MAX_POINT_FLOATS * 8 / (1 << 20)),
            "D is too large for a dense finite-difference Hessian",
        ));
    }
    Ok(())
}

/// The gradients method with caller-supplied values and gradients, evaluated from the calling
/// thread (a Python objective with its framework's autodiff gradient).
///
/// `values(rows)` returns f (and optionally rounding scales; |f| is used without) at the rows of
/// `points`; `grad` writes the gradients at a block of at most `chunk_rows` rows. The shifted
/// points θ ± m h_i e_i of a block of points are built here, in the order the assembly reads them;
/// the assembly is that of [`hessian_gradients`] (same estimates, error bounds and kink flags).
pub fn hessian_gradients_with(
    points: ArrayView2<'_, f64>,
    step: f64,
    richardson: bool,
    chunk_rows: usize,
    values: &mut dyn FnMut(ArrayView2<'_, f64>) -> Result<BlockValues>,
    grad: &mut crate::spectra::GradFn<'_>,
    ctl: &Control,
) -> Result<Batch> {
    let (b, d) = points.dim();
    if d == 0 {
        return Err(Error::invalid("points", "need at least one column"));
    }
    check_size(b, d, Method::Gradients, richardson)?;
    let stp = steps(points, step)?;
    let scales = if richardson { 2 } else { 1 };
    let per_task = 2 * scales * d;
    let per_point = d * per_task;
    check_point_floats(per_point)?;
    let chunk_rows = chunk_rows.max(1);
    ctl.set_total((b * d) as u64);
    let (cf, cs) = values(points)?;
    if cf.len() != b {
        return Err(Error::Numerical(format!(
            "evaluator returned {} values for {b} points",
            cf.len()
        )));
    }
    let cs: Vec<f64> = match cs {
        Some(s) => s.iter().map(|x| x.abs()).collect(),
        None => cf.iter().map(|x| x.abs()).collect(),
    };
    let mut cg = Array2::zeros((b, d));
    if richardson {
        let mut lo = 0;
        while lo < b {
            let hi = (lo + chunk_rows).min(b);
            grad(
                points.slice(ndarray::s![lo..hi, ..]),
                cg.slice_mut(ndarray::s![lo..hi, ..]),
            )?;
            ctl.check()?;
            lo = hi;
        }
    }
    let rows_per_point = d * 2 * scales;
    let block_pts = (BLOCK_FLOATS / per_point).max(1);
    let mut outs: Vec<PointOut> = Vec::with_capacity(b);
    let mut b0 = 0;
    while b0 < b {
        let b1 = (b0 + block_pts).min(b);
        let n_rows = (b1 - b0) * rows_per_point;
        let mut cols = Array2::<f64>::zeros((n_rows, d));
        let mut lo = 0;
        while lo < n_rows {
            let hi = (lo + chunk_rows).min(n_rows);
            // Row r of the block: point b0 + r / rows_per_point, column i, scale m, sign ±.
            let shifted = Array2::from_shape_fn((hi - lo, d), |(k, j)| {
                let r = lo + k;
                let p = b0 + r / rows_per_point;
                let rem = r % rows_per_point;
                let (i, sc, minus) = (rem / (2 * scales), (rem % (2 * scales)) / 2, rem % 2);
                let x = points[[p, j]];
                if j == i {
                    let m = (1u32 << sc) as f64 * stp[[p, i]];
                    if minus == 0 {
                        x + m
                    } else {
                        x - m
                    }
                } else {
                    x
                }
            });
            grad(shifted.view(), cols.slice_mut(ndarray::s![lo..hi, ..]))?;
            ctl.check()?;
            ctl.advance(((hi - lo) / (2 * scales)) as u64);
            lo = hi;
        }
        let flat = cols.as_slice().expect("a fresh array is contiguous");
        let block: Vec<PointOut> = (b0..b1)
            .into_par_iter()
            .map(|p| {
                let base = (p - b0) * per_point;
                let h: Vec<f64> = stp.row(p).to_vec();
                let g0: Vec<f64> = cg.row(p).to_vec();
                gradient_point(
                    &flat[base..base + per_point],
                    &h,
                    &g0,
                    cf[p],
                    cs[p],
                    d,
                    richardson,
                )
            })
            .collect();
        outs.extend(block);
        b0 = b1;
    }
    let ng = (b * (2 * scales * d + richardson as usize)) as u64;
    collect(outs, d, stp, b as u64, ng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::DiagQuadratic;

    #[test]
    fn a_costly_objective_is_cancelled_within_one_gradient() {
        // Ctrl-C at the first gradient of the stencil (after the centre's value and gradient):
        // the run stops there, not after the 2·2·SUB gradients of a call
        use crate::objective::testing::CancelsAt;
        let pts = Array2::from_shape_fn((1, 6), |(_, i)| i as f64 * 0.3);
        let ctl = Control::new();
        let obj = CancelsAt::new(6, &ctl, 3);
        let step = default_step(Method::Gradients, true);
        let r = hessian_gradients(&obj, pts.view(), step, true, &ctl);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert_eq!(obj.evals(), 3);
        // the values method: at the stencil's first value
        let ctl = Control::new();
        let obj = CancelsAt::new(6, &ctl, 2);
        let step = default_step(Method::Values, true);
        let r = hessian_values_native(&obj, pts.view(), step, true, &ctl);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert!(obj.evals() <= 2 + crate::parallel::num_threads());
    }

    #[test]
    fn pieces_leave_the_hessian_unchanged() {
        use crate::objective::testing::CancelsAt;
        let pts = Array2::from_shape_fn((2, 5), |(b, i)| b as f64 - i as f64 * 0.4);
        let ctl = Control::new();
        let costly = CancelsAt::new(5, &ctl, usize::MAX);
        for rich in [true, false] {
            let step = default_step(Method::Gradients, rich);
            let a = hessian_gradients(&costly, pts.view(), step, rich, &ctl).unwrap();
            let b = hessian_gradients(&costly.q, pts.view(), step, rich, &ctl).unwrap();
            assert_eq!(a.h, b.h);
            assert_eq!(a.err, b.err);
        }
    }

    #[test]
    fn gradients_with_matches_native() {
        let q = quad();
        let pts = Array2::from_shape_fn((3, 4), |(b, i)| (b as f64 - 1.0) * 0.7 + i as f64 * 0.3);
        let ctl = Control::new();
        for rich in [true, false] {
            let step = default_step(Method::Gradients, rich);
            let a = hessian_gradients(&q, pts.view(), step, rich, &ctl).unwrap();
            let mut vals = |p: ArrayView2<'_, f64>| -> Result<BlockValues> {
                let v: Vec<(f64, f64)> = p
                    .rows()
                    .into_iter()
                    .map(|r| q.value_and_scale(r.as_slice().unwrap()))
                    .collect();
                Ok((
                    v.iter().map(|x| x.0).collect(),
                    Some(v.iter().map(|x| x.1).collect()),
                ))
            };
            let mut grad =
                |p: ArrayView2<'_, f64>, mut o: ndarray::ArrayViewMut2<'_, f64>| -> Result<()> {
                    for (r, mut orow) in p.rows().into_iter().zip(o.rows_mut()) {
                        let r = r.to_vec();
                        let mut g = vec![0.0; r.len()];
                        q.gradient(&r, &mut g)?;
                        orow.iter_mut().zip(g).for_each(|(x, y)| *x = y);
                    }
                    Ok(())
                };
            // odd chunk sizes: rows of one point split across calls
            for chunk in [1, 7, 1000] {
                let c = hessian_gradients_with(
                    pts.view(),
                    step,
                    rich,
                    chunk,
                    &mut vals,
                    &mut grad,
                    &ctl,
                )
                .unwrap();
                assert_eq!(a.h, c.h);
                assert_eq!(a.err, c.err);
                assert_eq!(a.kink, c.kink);
                assert_eq!(a.n_gradients, c.n_gradients);
            }
        }
    }

    /// f(θ) = ½ θᵀ A θ for a dense symmetric A.
    struct Quad {
        a: Vec<f64>,
        d: usize,
    }
    impl Objective for Quad {
        fn dim(&self) -> usize {
            self.d
        }
        fn value_and_scale(&self, t: &[f64]) -> (f64, f64) {
            let mut f = 0.0;
            let mut s = 0.0;
            for i in 0..self.d {
                for j in 0..self.d {
                    let v = 0.5 * self.a[i * self.d + j] * t[i] * t[j];
                    f += v;
                    s += v.abs();
                }
            }
            (f, s)
        }
        fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
            for (i, gi) in g.iter_mut().enumerate().take(self.d) {
                *gi = (0..self.d).map(|j| self.a[i * self.d + j] * t[j]).sum();
            }
            Ok(self.value(t))
        }
        fn name(&self) -> String {
            "quad".into()
        }
    }

    /// f = −|θ_0| + θ_1².
    struct Kinky;
    impl Objective for Kinky {
        fn dim(&self) -> usize {
            2
        }
        fn value_and_scale(&self, t: &[f64]) -> (f64, f64) {
            let f = -t[0].abs() + t[1] * t[1];
            (f, t[0].abs() + t[1] * t[1])
        }
        fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
            g[0] = if t[0] > 0.0 { -1.0 } else { 1.0 };
            g[1] = 2.0 * t[1];
            Ok(self.value(t))
        }
        fn name(&self) -> String {
            "kinky".into()
        }
    }

    fn quad() -> Quad {
        let d = 4;
        let a = vec![
            2.0, 0.5, 0.0, -1.0, //
            0.5, -3.0, 0.2, 0.0, //
            0.0, 0.2, 1.0, 0.7, //
            -1.0, 0.0, 0.7, 0.5,
        ];
        Quad { a, d }
    }

    #[test]
    fn stencil_indexing_is_consistent() {
        let st = Stencil::new(5, true);
        assert_eq!(st.n_rows(), 1 + 2 * (25 + 5));
        for s in 0..2 {
            for i in 0..5 {
                let r = st.rows[st.axis(s, i, true)];
                assert_eq!((r.i as usize, r.j, r.mult), (i, NONE, -((1 << s) as f64)));
                for j in (i + 1)..5 {
                    let r = st.rows[st.pair(s, i, j, false)];
                    assert_eq!(
                        (r.i as usize, r.j as usize, r.mult),
                        (i, j, (1 << s) as f64)
                    );
                }
            }
        }
    }

    #[test]
    fn quadratic_exact_both_methods() {
        let q = quad();
        let pts = Array2::from_shape_fn((3, 4), |(b, i)| (b as f64 - 1.0) * 0.7 + i as f64 * 0.3);
        let ctl = Control::new();
        for rich in [true, false] {
            let v = hessian_values_native(
                &q,
                pts.view(),
                default_step(Method::Values, rich),
                rich,
                &ctl,
            )
            .unwrap();
            let g = hessian_gradients(
                &q,
                pts.view(),
                default_step(Method::Gradients, rich),
                rich,
                &ctl,
            )
            .unwrap();
            for b in 0..3 {
                for k in 0..16 {
                    let want = q.a[k];
                    let (i, j) = (k / 4, k % 4);
                    assert!(
                        (v.h[[b, i, j]] - want).abs() < 1e-6,
                        "values {rich} {b} {i} {j}"
                    );
                    assert!((g.h[[b, i, j]] - want).abs() < 1e-9, "grads {rich}");
                    assert!(!v.kink[[b, i, j]] && !g.kink[[b, i, j]]);
                    assert_eq!(v.h[[b, i, j]], v.h[[b, j, i]]);
                }
                assert!(v.finite[b] && g.finite[b]);
            }
            assert_eq!(v.n_values, 3 * (1 + (if rich { 2 } else { 1 }) * 20));
        }
    }

    #[test]
    fn kinks_flagged_only_when_crossed() {
        let ctl = Control::new();
        let pts = ndarray::arr2(&[[1e-4, 0.3], [0.5, 0.3]]);
        for m in [Method::Values, Method::Gradients] {
            let r = match m {
                Method::Values => {
                    hessian_values_native(&Kinky, pts.view(), default_step(m, true), true, &ctl)
                }
                Method::Gradients => {
                    hessian_gradients(&Kinky, pts.view(), default_step(m, true), true, &ctl)
                }
            }
            .unwrap();
            assert!(r.kink[[0, 0, 0]], "{m:?}");
            assert!(!r.kink[[0, 1, 1]], "{m:?}");
            assert!(!r.kink[[1, 0, 0]] && !r.kink[[1, 1, 1]], "{m:?}");
            assert!((r.h[[1, 1, 1]] - 2.0).abs() < 1e-8);
        }
    }

    #[test]
    fn size_limits_are_clear_errors() {
        assert!(matches!(
            check_size(1 << 10, 1 << 10, Method::Gradients, true),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            check_size(1, 6000, Method::Values, true),
            Err(Error::TooLarge { .. })
        ));
        assert!(check_size(256, 100, Method::Values, true).is_ok());
        // Blocks of points give the same result as one block.
        let q = quad();
        let pts = Array2::from_shape_fn((5, 4), |(b, i)| (b + i) as f64 * 0.1);
        let ctl = Control::new();
        let all = hessian_gradients(&q, pts.view(), 1e-3, true, &ctl).unwrap();
        for p in 0..5 {
            let one = hessian_gradients(&q, pts.slice(ndarray::s![p..p + 1, ..]), 1e-3, true, &ctl)
                .unwrap();
            assert_eq!(
                one.h.index_axis(ndarray::Axis(0), 0),
                all.h.index_axis(ndarray::Axis(0), p)
            );
        }
    }

    #[test]
    fn steps_are_powers_of_two_and_validated() {
        let pts = ndarray::arr2(&[[0.0, 3.0, -1000.0]]);
        let s = steps(pts.view(), 1e-3).unwrap();
        for &h in s.iter() {
            assert_eq!(h, 2f64.powi(h.log2() as i32));
        }
        // Scale-aware: h_i follows max(1, |θ_i|, ‖θ‖∞ · SPREAD).
        let want = |t: f64| 2f64.powi((1e-3 * t).log2().round() as i32);
        assert_eq!(s[[0, 0]], want(1000.0 * SPREAD));
        assert_eq!(s[[0, 1]], want(1000.0 * SPREAD));
        assert_eq!(s[[0, 2]], want(1000.0));
        assert!(s[[0, 2]] > 32.0 * s[[0, 0]]);
        let small = ndarray::arr2(&[[0.0, 3.0, -10.0]]);
        let s2 = steps(small.view(), 1e-3).unwrap();
        assert_eq!(s2[[0, 0]], want(1.0));
        assert_eq!(s2[[0, 1]], want(3.0));
        assert!(steps(pts.view(), 0.0).is_err());
        assert!(steps(pts.view(), f64::NAN).is_err());
        let bad = ndarray::arr2(&[[f64::NAN, 0.0, 0.0]]);
        assert!(steps(bad.view(), 1e-3).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Random separable quadratics at random points: both methods recover diag(a), the
        /// error estimate bounds the error, nothing is flagged as a kink.
        #[test]
        fn random_quadratics(
            a in proptest::collection::vec(-50.0f64..50.0, 1..6),
            scale in 0.0f64..300.0,
            seed in 0u64..1000,
        ) {
            let d = a.len();
            let c: Vec<f64> = (0..d).map(|i| ((i as u64 + seed) as f64).sin()).collect();
            let q = DiagQuadratic { a: a.clone(), c };
            let pts = Array2::from_shape_fn((2, d), |(b, i)| {
                scale * (((b * 7 + i) as u64 + seed) as f64 * 0.37).cos()
            });
            let ctl = Control::new();
            let amax = a.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for (m, tol) in [(Method::Values, 1e-6), (Method::Gradients, 1e-9)] {
                let r = match m {
                    Method::Values => hessian_values_native(&q, pts.view(), default_step(m, true), true, &ctl),
                    Method::Gradients => hessian_gradients(&q, pts.view(), default_step(m, true), true, &ctl),
                }
                .unwrap();
                for b in 0..2 {
                    for (i, &ai) in a.iter().enumerate().take(d) {
                        for j in 0..d {
                            let want = if i == j { ai } else { 0.0 };
                            let e = (r.h[[b, i, j]] - want).abs();
                            // Accuracy relative to the function's size at the point (rounding).
                            let rel = tol * amax;
                            proptest::prop_assert!(e <= rel, "{m:?} {b} {i} {j} {e}");
                            proptest::prop_assert!(e <= r.err[[b, i, j]] + 1e-12 * amax);
                            proptest::prop_assert!(!r.kink[[b, i, j]]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let q = DiagQuadratic {
            a: vec![1.0, -2.0, 3.0],
            c: vec![0.1, 0.2, 0.3],
        };
        let pts = Array2::from_shape_fn((40, 3), |(b, i)| (b * 3 + i) as f64 * 0.01);
        let ctl = Control::new();
        let mut first: Option<(Array3<f64>, Array3<f64>)> = None;
        for n in [1, 2, 3] {
            crate::parallel::set_num_threads(n).unwrap();
            let r = crate::parallel::install(|| {
                (
                    hessian_values_native(&q, pts.view(), 1e-3, true, &ctl)
                        .unwrap()
                        .h,
                    hessian_gradients(&q, pts.view(), 1e-3, true, &ctl)
                        .unwrap()
                        .h,
                )
            })
            .unwrap();
            match &first {
                None => first = Some(r),
                Some(f) => assert!(f.0 == r.0 && f.1 == r.1),
            }
        }
    }
}
