//! Wedge-product (geometric-algebra) dictionaries and the Lasso over them.
//!
//! Pilanci (arXiv 2309.16512; TMLR, ICLR 2025 journal track) characterises optimal hidden
//! neurons of ReLU networks as *generalised cross products* (Hodge duals of wedge products) of `dim − 1` training
//! vectors: the normal `w_S = ⋆(x_{s_1} ∧ … ∧ x_{s_{dim−1}})` of the hyperplane through them,
//! with `x·w_S = det[x; x_{s_1}; …; x_{s_{dim−1}}]` the signed volume of the parallelotope they
//! span with x. Training then reduces to a Lasso over the features `(±X w_S)₊`; Wang et al.
//! (arXiv 2406.02806) sample the subsets S at random when all C(n, dim−1) are too many.
//!
//! This module builds the dictionary (one neuron per subset, both orientations implied) and
//! solves the Lasso with a duality-gap certificate ([`lasso`]). Which theorem makes the Lasso
//! equal to network training (norm, bias, factors allowed) is stated in `docs/wedge.md` and in
//! the Python estimator; the core only computes.
//!
//! Exactness. The sign of `x_i·w_S` decides whether sample i is active for neuron S. It is
//! taken from the float value when the sample is clearly off the hyperplane
//! (`|x_i·ŵ| > SIGN_FILTER·‖x_i‖₂`, ŵ the unit normal) and the subset is well conditioned
//! (pivot ratio of its elimination ≥ PIVOT_FILTER); otherwise it is decided exactly in
//! big-integer arithmetic ([`exact`]). A factor sample lies on its own hyperplane: its value is
//! exactly 0. A subset whose vectors are linearly dependent (collinear samples, a repeated
//! sample, …) has a zero wedge; it is detected exactly and dropped (counted in
//! `n_degenerate`). The filter thresholds are conservative floating-point error estimates, not
//! a proof for adversarial growth factors; within them every decision is exact.
//!
//! Work is cut in fixed chunks of subsets (sampled chunks seeded by `stream_rng(seed, chunk)`),
//! run in parallel and concatenated in chunk order: results never depend on the thread count.

mod active;
pub(crate) mod exact;
pub mod lasso;

use ndarray::ArrayView2;
use rand::Rng;
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{ensure_finite_iter, Error, Result};
use crate::rng::stream_rng;

/// Subsets per work chunk (fixed: the chunking, not the thread count, defines the order).
pub(crate) const CHUNK: usize = 256;
/// A sample within this relative distance of a neuron's hyperplane has its sign decided exactly.
pub const SIGN_FILTER: f64 = 1e-8;
/// A subset whose elimination has (smallest pivot)/(largest pivot) below this gets its normal
/// computed exactly (cofactors in big integers) and its rank decided exactly.
pub const PIVOT_FILTER: f64 = 1e-6;

/// The neuron norm the features are normalised by (`‖u‖ = 1` on the first `norm_dims` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// ℓ1 norm.
    L1,
    /// ℓ2 norm (weight decay).
    L2,
}

impl Norm {
    /// Parse `"l1"` / `"l2"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "l1" => Ok(Norm::L1),
            "l2" => Ok(Norm::L2),
            other => Err(Error::invalid(
                "norm",
                format!("expected 'l1' or 'l2', got {other:?}"),
            )),
        }
    }

    fn of(self, v: &[f64]) -> f64 {
        match self {
            Norm::L1 => v.iter().map(|a| a.abs()).sum(),
            Norm::L2 => v.iter().map(|a| a * a).sum::<f64>().sqrt(),
        }
    }
}

/// How the subsets are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// All C(F, dim − 1) subsets of the F factor vectors, in lexicographic order.
    Exact,
    /// `n_features` subsets drawn uniformly (each of dim − 1 distinct factors, sorted), chunk c
    /// from `stream_rng(seed, c)`; repeats are possible and kept.
    Sample { n_features: usize, seed: u64 },
}

/// What to build: norm, normalised coordinates, factor set.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Neuron norm.
    pub norm: Norm,
    /// The norm covers the first `norm_dims` coordinates (the rest — a free bias — is not
    /// normalised); `1 ≤ norm_dims ≤ dim`.
    pub norm_dims: usize,
    /// Also allow the coordinate axes `e_k` (k < norm_dims) as wedge factors (exact dictionary
    /// of the ℓ1 theorem; see docs/wedge.md).
    pub axes: bool,
    /// Subset choice.
    pub features: Features,
    /// Byte budget of the dictionary; larger requests fail before allocating.
    pub max_bytes: u64,
}

/// The wedge dictionary: one row per kept subset.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    /// Samples.
    pub n: usize,
    /// Ambient dimension (columns of X, bias column included).
    pub dim: usize,
    /// Factors per subset (`dim − 1`).
    pub k: usize,
    /// `m × dim` neurons `u_S`, normalised to norm 1 on the first `norm_dims` coordinates.
    pub neurons: Vec<f64>,
    /// `m × n` signed features `x_iᵀu_S` (their positive / negative parts are the two features).
    pub values: Vec<f64>,
    /// `m × k` factor indices (`< n`: samples; `n + j`: axis e_j).
    pub subsets: Vec<u32>,
    /// Subsets considered.
    pub n_subsets: u64,
    /// Subsets dropped because their vectors are linearly dependent (zero wedge, exact).
    pub n_degenerate: u64,
    /// Subsets dropped because their normal is a pure bias direction (the free intercept).
    pub n_bias_only: u64,
    /// Signs decided in exact arithmetic.
    pub n_exact_signs: u64,
    /// Normals computed in exact arithmetic (ill-conditioned subsets).
    pub n_exact_normals: u64,
}

impl Dictionary {
    /// Number of neurons kept.
    pub fn len(&self) -> usize {
        self.neurons.len() / self.dim.max(1)
    }

    /// Whether no neuron was kept.
    pub fn is_empty(&self) -> bool {
        self.neurons.is_empty()
    }
}

/// C(a, b) as u128, saturating at u128::MAX.
pub(crate) fn binomial(a: u64, b: u64) -> u128 {
    if b > a {
        return 0;
    }
    let b = b.min(a - b);
    let mut r: u128 = 1;
    for i in 0..b {
        r = match r.checked_mul((a - i) as u128) {
            Some(v) => v / (i as u128 + 1),
            None => return u128::MAX,
        };
    }
    r
}

/// Bytes of a dictionary of `m` neurons on n samples in dimension dim (neurons, values,
/// subsets) plus the Lasso's per-column work arrays (coefficients, norms, gradients).
pub fn bytes_estimate(m: u128, n: usize, dim: usize) -> u128 {
    let k = dim.saturating_sub(1) as u128;
    m.saturating_mul(8 * (n as u128 + dim as u128) + 4 * k + 8 * 6)
}

/// Number of factor vectors: the samples, plus `norm_dims` axes when `spec.axes`.
pub(crate) fn factor_count(n: usize, spec: &Spec) -> usize {
    n + if spec.axes { spec.norm_dims } else { 0 }
}

/// The subsets a build would consider (before degenerate ones are dropped).
pub fn subset_count(n: usize, dim: usize, spec: &Spec) -> u128 {
    match spec.features {
        Features::Exact => binomial(factor_count(n, spec) as u64, dim.saturating_sub(1) as u64),
        Features::Sample { n_features, .. } => n_features as u128,
    }
}

fn validate(x: &ArrayView2<f64>, spec: &Spec) -> Result<()> {
    let (n, dim) = x.dim();
    if n == 0 || dim == 0 {
        return Err(Error::invalid(
            "X",
            format!("needs at least one sample and one column, got shape ({n}, {dim})"),
        ));
    }
    if n > u32::MAX as usize / 2 {
        return Err(Error::invalid("X", format!("too many samples ({n})")));
    }
    ensure_finite_iter("X", x.iter())?;
    if spec.norm_dims == 0 || spec.norm_dims > dim {
        return Err(Error::invalid(
            "norm_dims",
            format!("must be in 1..={dim}, got {}", spec.norm_dims),
        ));
    }
    let k = dim - 1;
    let f = factor_count(n, spec);
    if f < k {
        return Err(Error::invalid(
            "X",
            format!(
                "a wedge product in dimension {dim} needs {k} factors but only {f} factor \
                 vectors exist (samples{}); add samples",
                if spec.axes { " and axes" } else { "" }
            ),
        ));
    }
    if let Features::Sample { n_features, .. } = spec.features {
        if n_features == 0 {
            return Err(Error::invalid("n_features", "must be >= 1"));
        }
    }
    let m = subset_count(n, dim, spec);
    let bytes = bytes_estimate(m, n, dim);
    if bytes > spec.max_bytes as u128 || m > (u32::MAX as u128) {
        return Err(Error::too_large(
            "wedge dictionary",
            format!("{bytes} bytes ({m} subsets of {k} factors, {n} samples)"),
            format!("{} bytes", spec.max_bytes),
            "sample the subsets (features=\"sample\", n_features=...) or raise max_bytes",
        ));
    }
    Ok(())
}

/// Build the wedge dictionary of the rows of `x` (n × dim; a bias column, if any, included).
pub fn dictionary(x: ArrayView2<f64>, spec: &Spec, ctl: &Control) -> Result<Dictionary> {
    validate(&x, spec)?;
    let (n, dim) = x.dim();
    let k = dim - 1;
    let f = factor_count(n, spec);
    // factor rows: samples then axes, row-major
    let mut factors = Vec::with_capacity(f * dim);
    for row in x.rows() {
        factors.extend(row.iter().copied());
    }
    if spec.axes {
        for a in 0..spec.norm_dims {
            factors.extend((0..dim).map(|j| if j == a { 1.0 } else { 0.0 }));
        }
    }
    let xs = &factors[..n * dim];
    let xnorm: Vec<f64> = xs
        .chunks(dim)
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let total = subset_count(n, dim, spec) as usize;
    let n_chunks = total.div_ceil(CHUNK);
    ctl.set_total(total as u64);
    let ctx = Ctx {
        factors: &factors,
        xnorm: &xnorm,
        n,
        dim,
        k,
        f,
        spec,
    };
    let parts: Vec<Result<Part>> = (0..n_chunks)
        .into_par_iter()
        .map(|c| {
            ctl.check()?;
            let lo = c * CHUNK;
            let hi = (lo + CHUNK).min(total);
            let subsets = match spec.features {
                Features::Exact => combos_from(lo as u128, hi - lo, f, k),
                Features::Sample { seed, .. } => sampled(seed, c as u64, hi - lo, f, k),
            };
            let part = ctx.chunk(&subsets, hi - lo, ctl)?;
            ctl.advance((hi - lo) as u64);
            Ok(part)
        })
        .collect();
    let mut out = Dictionary {
        n,
        dim,
        k,
        n_subsets: total as u64,
        ..Default::default()
    };
    // the merged arrays at their final sizes (no reallocation copying tens of MB)
    let size =
        |f: fn(&Part) -> usize| -> usize { parts.iter().map(|p| p.as_ref().map_or(0, f)).sum() };
    out.neurons.reserve_exact(size(|p| p.neurons.len()));
    out.values.reserve_exact(size(|p| p.values.len()));
    out.subsets.reserve_exact(size(|p| p.subsets.len()));
    for p in parts {
        // one check per part: the merged dictionary is tens of MB
        ctl.check()?;
        let p = p?;
        out.neurons.extend_from_slice(&p.neurons);
        out.values.extend_from_slice(&p.values);
        out.subsets.extend_from_slice(&p.subsets);
        out.n_degenerate += p.n_degenerate;
        out.n_bias_only += p.n_bias_only;
        out.n_exact_signs += p.n_exact_signs;
        out.n_exact_normals += p.n_exact_normals;
    }
    Ok(out)
}

/// `count` lexicographic k-combinations of 0..f starting at rank `start`, flattened.
fn combos_from(start: u128, count: usize, f: usize, k: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(count * k);
    if k == 0 {
        return out; // one empty subset (count is 1)
    }
    // unrank `start`
    let mut c = Vec::with_capacity(k);
    let mut r = start;
    let mut x = 0usize;
    for i in 0..k {
        loop {
            let below = binomial((f - x - 1) as u64, (k - i - 1) as u64);
            if r < below {
                break;
            }
            r -= below;
            x += 1;
        }
        c.push(x);
        x += 1;
    }
    for t in 0..count {
        if t > 0 {
            // next combination
            let mut i = k;
            while i > 0 {
                i -= 1;
                if c[i] < f - k + i {
                    c[i] += 1;
                    for j in i + 1..k {
                        c[j] = c[j - 1] + 1;
                    }
                    break;
                }
            }
        }
        out.extend(c.iter().map(|&v| v as u32));
    }
    out
}

/// `count` random k-subsets of 0..f (sorted), from the chunk's stream.
fn sampled(seed: u64, chunk: u64, count: usize, f: usize, k: usize) -> Vec<u32> {
    let mut rng = stream_rng(seed, chunk);
    let mut out = Vec::with_capacity(count * k);
    let mut s: Vec<u32> = Vec::with_capacity(k);
    for _ in 0..count {
        // Floyd's algorithm: k distinct values of 0..f
        s.clear();
        for j in (f - k)..f {
            let t = rng.random_range(0..=j) as u32;
            if s.contains(&t) {
                s.push(j as u32);
            } else {
                s.push(t);
            }
        }
        s.sort_unstable();
        out.extend_from_slice(&s);
    }
    out
}

#[derive(Default)]
struct Part {
    neurons: Vec<f64>,
    values: Vec<f64>,
    subsets: Vec<u32>,
    n_degenerate: u64,
    n_bias_only: u64,
    n_exact_signs: u64,
    n_exact_normals: u64,
}

struct Ctx<'a> {
    factors: &'a [f64],
    xnorm: &'a [f64],
    n: usize,
    dim: usize,
    k: usize,
    f: usize,
    spec: &'a Spec,
}

impl Ctx<'_> {
    fn chunk(&self, subsets: &[u32], count: usize, ctl: &Control) -> Result<Part> {
        let (n, dim, k) = (self.n, self.dim, self.k);
        let mut part = Part::default();
        part.neurons.reserve(count * dim);
        part.values.reserve(count * n);
        let mut rows = vec![0.0; k * dim];
        let mut full = vec![0.0; dim * dim];
        for t in 0..count {
            if t % 32 == 0 {
                ctl.check()?;
            }
            let sub = &subsets[t * k..(t + 1) * k];
            debug_assert!(sub.iter().all(|&i| (i as usize) < self.f));
            for (r, &i) in sub.iter().enumerate() {
                let i = i as usize;
                rows[r * dim..(r + 1) * dim].copy_from_slice(&self.factors[i * dim..(i + 1) * dim]);
            }
            let (mut w, well) = float_normal(&rows, k, dim);
            let exact_normal = !well;
            if exact_normal {
                part.n_exact_normals += 1;
                w = exact::cofactor_direction(&rows, dim);
            }
            let wn = w.iter().map(|v| v * v).sum::<f64>().sqrt();
            if wn == 0.0 || !wn.is_finite() {
                part.n_degenerate += 1;
                continue;
            }
            for v in w.iter_mut() {
                *v /= wn;
            }
            // a pure bias direction (zero on the normalised coordinates) is the free intercept
            let head = self.spec.norm.of(&w[..self.spec.norm_dims]);
            if head <= 1e-12
                && exact::cofactor_direction(&rows, dim)[..self.spec.norm_dims]
                    .iter()
                    .all(|&v| v == 0.0)
            {
                part.n_bias_only += 1;
                continue;
            }
            // orientation of ŵ relative to the cofactor vector (decided once, lazily)
            let mut orient: Option<i8> = None;
            let vstart = part.values.len();
            for i in 0..n {
                if sub.iter().any(|&s| s as usize == i) {
                    part.values.push(0.0);
                    continue;
                }
                let xi = &self.factors[i * dim..(i + 1) * dim];
                let v: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
                let v = if exact_normal || v.abs() <= SIGN_FILTER * self.xnorm[i] {
                    part.n_exact_signs += 1;
                    let o = *orient.get_or_insert_with(|| {
                        full[..dim].copy_from_slice(&w);
                        full[dim..].copy_from_slice(&rows);
                        exact::det_sign(&full, dim)
                    });
                    full[..dim].copy_from_slice(xi);
                    full[dim..].copy_from_slice(&rows);
                    let s = exact::det_sign(&full, dim) * o;
                    match s {
                        0 => 0.0,
                        1 => v.abs().max(f64::MIN_POSITIVE),
                        _ => -v.abs().max(f64::MIN_POSITIVE),
                    }
                } else {
                    v
                };
                part.values.push(v);
            }
            let scale = 1.0 / head;
            for v in &mut part.values[vstart..] {
                *v *= scale;
            }
            part.neurons.extend(w.iter().map(|v| v * scale));
            part.subsets.extend_from_slice(sub);
        }
        Ok(part)
    }
}

/// Normal of the `k × dim` rows (k = dim − 1) by Gaussian elimination with full pivoting.
/// Returns (normal, well_conditioned); well_conditioned is false when a pivot ratio falls below
/// [`PIVOT_FILTER`] (the caller then decides exactly).
fn float_normal(rows: &[f64], k: usize, dim: usize) -> (Vec<f64>, bool) {
    let mut a = rows.to_vec();
    let mut cols: Vec<usize> = (0..dim).collect();
    let mut pmax = 0.0f64;
    let mut pmin = f64::INFINITY;
    for p in 0..k {
        // full pivot
        let (mut bi, mut bj, mut bv) = (p, p, -1.0);
        for i in p..k {
            for j in p..dim {
                let v = a[i * dim + cols[j]].abs();
                if v > bv {
                    (bi, bj, bv) = (i, j, v);
                }
            }
        }
        if bv <= 0.0 {
            return (vec![0.0; dim], false);
        }
        pmax = pmax.max(bv);
        pmin = pmin.min(bv);
        if bi != p {
            for j in 0..dim {
                a.swap(p * dim + j, bi * dim + j);
            }
        }
        cols.swap(p, bj);
        let piv = a[p * dim + cols[p]];
        for i in p + 1..k {
            let fct = a[i * dim + cols[p]] / piv;
            if fct != 0.0 {
                for &c in &cols[p..dim] {
                    a[i * dim + c] -= fct * a[p * dim + c];
                }
            }
        }
    }
    // free variable: the last column in pivot order
    let mut w = vec![0.0; dim];
    let free = cols[dim - 1];
    w[free] = 1.0;
    for p in (0..k).rev() {
        let mut s = a[p * dim + free];
        for j in p + 1..k {
            s += a[p * dim + cols[j]] * w[cols[j]];
        }
        w[cols[p]] = -s / a[p * dim + cols[p]];
    }
    let well = k == 0 || pmin >= PIVOT_FILTER * pmax;
    (w, well)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn spec(features: Features) -> Spec {
        Spec {
            norm: Norm::L2,
            norm_dims: 3,
            axes: false,
            features,
            max_bytes: 1 << 30,
        }
    }

    #[test]
    fn combinations_enumerate_in_order() {
        let all = combos_from(0, 10, 5, 2);
        assert_eq!(&all[..6], &[0, 1, 0, 2, 0, 3]);
        assert_eq!(&all[18..], &[3, 4]);
        // any start rank agrees with the full enumeration
        for s in 0..10 {
            assert_eq!(
                combos_from(s, 1, 5, 2),
                all[2 * s as usize..2 * s as usize + 2]
            );
        }
    }

    #[test]
    fn cross_products_in_3d_and_exact_zeros() {
        let x = Array2::from_shape_vec(
            (4, 3),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        )
        .unwrap();
        let d = dictionary(x.view(), &spec(Features::Exact), &Control::new()).unwrap();
        // (0, 2) are parallel: dropped exactly
        assert_eq!(d.n_subsets, 6);
        assert_eq!(d.n_degenerate, 1);
        assert_eq!(d.len(), 5);
        // first subset (0, 1): normal ±e3, values x·e3 = [0, 0, 0, ±1]
        let v = &d.values[..4];
        assert_eq!(&v[..3], &[0.0, 0.0, 0.0]);
        assert!((v[3].abs() - 1.0).abs() < 1e-15);
        // sample 2 lies exactly on the plane of (0, 1): zero, decided exactly
        assert!(d.n_exact_signs >= 1);
    }

    #[test]
    fn sampled_subsets_do_not_depend_on_threads() {
        let x = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let mut s = spec(Features::Sample {
            n_features: 700,
            seed: 3,
        });
        s.norm_dims = 4;
        crate::parallel::set_num_threads(1).unwrap();
        let a = crate::parallel::install(|| dictionary(x.view(), &s, &Control::new()))
            .unwrap()
            .unwrap();
        crate::parallel::set_num_threads(2).unwrap();
        let b = crate::parallel::install(|| dictionary(x.view(), &s, &Control::new()))
            .unwrap()
            .unwrap();
        assert_eq!(a.values, b.values);
        assert_eq!(a.subsets, b.subsets);
    }

    #[test]
    fn sizes_are_refused_before_allocating() {
        let x = Array2::from_shape_fn((2000, 6), |(i, j)| (i + j) as f64);
        let mut s = spec(Features::Exact);
        s.norm_dims = 6;
        s.max_bytes = 1 << 20;
        match dictionary(x.view(), &s, &Control::new()) {
            Err(Error::TooLarge { .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cancellation_is_honoured() {
        let x = Array2::from_shape_fn((100, 3), |(i, j)| ((i * 13 + j * 5) % 17) as f64);
        let c = Control::new();
        c.cancel();
        assert_eq!(
            dictionary(x.view(), &spec(Features::Exact), &c).unwrap_err(),
            Error::Interrupted
        );
    }
}
