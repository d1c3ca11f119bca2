//! Bindings for `hiddenconvex_core::midpoint`: convert, detach, call, return.

use hiddenconvex_core::midpoint::{self as core_mp, PairSource, Sampler, Tolerance, Values};
use hiddenconvex_core::Control;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::detach;
use crate::errors::{invalid, to_py};
use crate::objective::ObjectiveRef;

/// Doubles of points per black-box batch (bounds memory: 2^21 doubles = 16 MiB).
const CHUNK_VALUES: usize = 1 << 21;

fn sampler(
    center: PyReadonlyArray1<'_, f64>,
    scales: Vec<f64>,
    n_pairs: usize,
    seed: u64,
    groups: Option<Vec<Vec<usize>>>,
) -> PyResult<Sampler> {
    to_py(Sampler::new(
        center.as_array().to_vec(),
        scales,
        n_pairs,
        seed,
        groups,
    ))
}

/// Two P × D arrays (the a's and the b's).
type PairArrays<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>);

/// Rows `indices` of the sampled pairs: (A, B), each len(indices) × D.
#[pyfunction]
#[pyo3(signature = (center, scales, n_pairs, seed, groups, indices))]
fn midpoint_pairs<'py>(
    py: Python<'py>,
    center: PyReadonlyArray1<'py, f64>,
    scales: Vec<f64>,
    n_pairs: usize,
    seed: u64,
    groups: Option<Vec<Vec<usize>>>,
    indices: Vec<usize>,
) -> PyResult<PairArrays<'py>> {
    let s = sampler(center, scales, n_pairs, seed, groups)?;
    let d = s.dim();
    if let Some(k) = indices.iter().find(|&&k| k >= s.total()) {
        return Err(invalid(
            "indices",
            format!("pair {k} out of range ({} pairs)", s.total()),
        ));
    }
    let (a, b) = detach::run_short(py, move |_| {
        let mut a = ndarray::Array2::<f64>::zeros((indices.len(), d));
        let mut b = ndarray::Array2::<f64>::zeros((indices.len(), d));
        let (mut ra, mut rb) = (vec![0.0; d], vec![0.0; d]);
        for (i, &k) in indices.iter().enumerate() {
            s.pair(k, &mut ra, &mut rb);
            a.row_mut(i).assign(&ndarray::ArrayView1::from(&ra));
            b.row_mut(i).assign(&ndarray::ArrayView1::from(&rb));
        }
        Ok((a, b))
    })?;
    Ok((a.into_pyarray(py), b.into_pyarray(py)))
}

/// Run the midpoint test; returns a dict of per-pair arrays (fa, fb, fm, gap, tol, dist2,
/// scale_index) and the count of tolerances refined by the gradient term.
#[pyfunction]
#[pyo3(signature = (
    objective, dim, vectorized, t, tol_factor, sigma=None,
    center=None, scales=None, n_pairs=0, seed=0, groups=None,
    pairs_a=None, pairs_b=None, progress=None, start=0, count=None
))]
#[allow(clippy::too_many_arguments)]
fn midpoint_run<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    dim: Option<usize>,
    vectorized: bool,
    t: Vec<f64>,
    tol_factor: f64,
    sigma: Option<Vec<f64>>,
    center: Option<PyReadonlyArray1<'py, f64>>,
    scales: Option<Vec<f64>>,
    n_pairs: usize,
    seed: u64,
    groups: Option<Vec<Vec<usize>>>,
    pairs_a: Option<PyReadonlyArray2<'py, f64>>,
    pairs_b: Option<PyReadonlyArray2<'py, f64>>,
    progress: Option<Bound<'py, PyAny>>,
    start: usize,
    count: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    if !(tol_factor.is_finite() && tol_factor > 0.0) {
        return Err(invalid("tol_factor", "must be finite and > 0"));
    }
    to_py(core_mp::check_weights(&t))?;
    let obj = ObjectiveRef::extract(objective, dim, vectorized)?;
    let source = match (center, pairs_a.as_ref(), pairs_b.as_ref()) {
        (_, Some(a), Some(b)) => PairSource::Given {
            a: a.as_array(),
            b: b.as_array(),
        },
        (Some(c), None, None) => PairSource::Random(sampler(
            c,
            scales.unwrap_or_default(),
            n_pairs,
            seed,
            groups,
        )?),
        _ => return Err(invalid("pairs", "give either a center or both a and b")),
    };
    to_py(source.validate())?;
    if source.dim() != obj.dim() {
        return Err(invalid(
            "pairs",
            format!(
                "points have dimension {}, the objective has dimension {}",
                source.dim(),
                obj.dim()
            ),
        ));
    }
    let count = count.unwrap_or_else(|| source.total().saturating_sub(start));
    to_py(core_mp::check_range(&source, start, count))?;
    let tol = match sigma {
        None => Tolerance::Scaled { factor: tol_factor },
        Some(sigma) => Tolerance::Noise {
            factor: tol_factor,
            sigma,
        },
    };
    let outcome = match &obj {
        ObjectiveRef::Native(o) => {
            let o = o.clone();
            let source = &source;
            let ts = &t;
            let tol = &tol;
            detach::run(py, progress.as_ref(), move |ctl| {
                core_mp::run_native_range(o.as_ref(), source, start, count, ts, tol, ctl)
            })?
        }
        ObjectiveRef::Callable { .. } => {
            let n = count;
            to_py(core_mp::check_records(n, t.len()))?;
            let rows = 2 + t.len();
            let chunk = (CHUNK_VALUES / (rows * source.dim()).max(1)).clamp(1, n.max(1));
            let progress = progress.filter(|p| !p.is_none());
            let mut acc = Values::default();
            let mut have_scales = true;
            let mut done = 0;
            while done < n {
                let len = chunk.min(n - done);
                let src = &source;
                let ts = &t;
                let first = start + done;
                let (pts, dist2) = detach::run_short(py, move |ctl: &Control| {
                    core_mp::fill_points(src, first, len, ts, ctl)
                })?;
                let (vals, scl) = obj.eval_batch(py, pts.view())?;
                let vals = vals.to_vec();
                let scl = scl.map(|s| s.to_vec());
                have_scales &= scl.is_some();
                let v = to_py(core_mp::split_values(&vals, scl.as_deref(), t.len(), dist2))?;
                if done == 0 {
                    acc = v;
                } else {
                    core_mp::extend_values(&mut acc, v);
                }
                done += len;
                py.check_signals()?;
                if let Some(cb) = progress.as_ref() {
                    cb.call1((done as u64, n as u64))?;
                }
            }
            if !have_scales {
                acc.sa = None;
                acc.sb = None;
                acc.sm = None;
            }
            let scale_index: Vec<usize> =
                (start..start + n).map(|k| source.scale_index(k)).collect();
            let ts = &t;
            let tol = &tol;
            detach::run_short(py, move |ctl| {
                core_mp::assess(acc, ts, &scale_index, tol, None, ctl)
            })?
        }
    };
    let d = PyDict::new(py);
    d.set_item("fa", outcome.fa.into_pyarray(py))?;
    d.set_item("fb", outcome.fb.into_pyarray(py))?;
    d.set_item("fm", outcome.fm.into_pyarray(py))?;
    d.set_item("gap", outcome.gap.into_pyarray(py))?;
    d.set_item("tol", outcome.tol.into_pyarray(py))?;
    d.set_item("dist2", outcome.dist2.into_pyarray(py))?;
    d.set_item(
        "scale_index",
        outcome.scale_index.mapv(|v| v as i64).into_pyarray(py),
    )?;
    d.set_item("refined", outcome.refined)?;
    Ok(d)
}

/// Σ_i |∂_i f(m)|·δ_i for m = t·a + (1−t)·b formed in floating point (δ bounds its rounding);
/// 0 without an analytic gradient. Used to re-verify a witness.
#[pyfunction]
fn midpoint_rounding_term(
    py: Python<'_>,
    objective: &Bound<'_, PyAny>,
    a: PyReadonlyArray1<'_, f64>,
    b: PyReadonlyArray1<'_, f64>,
    t: f64,
) -> PyResult<f64> {
    let obj = ObjectiveRef::extract(objective, None, false)?;
    let a2 = a.as_array().to_owned().insert_axis(ndarray::Axis(0));
    let b2 = b.as_array().to_owned().insert_axis(ndarray::Axis(0));
    to_py(core_mp::check_weights(&[t]))?;
    match obj {
        ObjectiveRef::Native(o) => detach::run_short(py, move |_| {
            let src = PairSource::Given {
                a: a2.view(),
                b: b2.view(),
            };
            src.validate()?;
            hiddenconvex_core::objective::check_dim(o.as_ref(), "a", src.dim())?;
            core_mp::midpoint_rounding_term(o.as_ref(), &src, 0, t)
        }),
        ObjectiveRef::Callable { .. } => Ok(0.0),
    }
}

/// Jensen gap t·fa + (1−t)·fb − fm with error-free transformations (TwoProduct + Neumaier).
#[pyfunction]
fn jensen_gap_compensated(t: f64, fa: f64, fb: f64, fm: f64) -> f64 {
    core_mp::jensen_gap_compensated(t, fa, fb, fm)
}

/// Quantiles `qs` of the finite values of `x`, as `np.quantile(x[np.isfinite(x)], qs)` (default
/// method), by selection of the order statistics; empty without a finite value.
#[pyfunction]
fn midpoint_quantiles(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f64>,
    qs: Vec<f64>,
) -> PyResult<Vec<f64>> {
    let view = x.as_array();
    let owned;
    let xs: &[f64] = match view.as_slice() {
        Some(s) => s,
        None => {
            owned = view.to_vec();
            &owned
        }
    };
    detach::run_short(py, move |_| core_mp::quantiles(xs, &qs))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(midpoint_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(midpoint_run, m)?)?;
    m.add_function(wrap_pyfunction!(midpoint_rounding_term, m)?)?;
    m.add_function(wrap_pyfunction!(jensen_gap_compensated, m)?)?;
    m.add_function(wrap_pyfunction!(midpoint_quantiles, m)?)?;
    Ok(())
}
