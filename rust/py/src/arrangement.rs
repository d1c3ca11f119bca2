//! Bindings for `hiddenconvex_core::arrangement`: exact / sampled chambers, counts, faces.

use hiddenconvex_core::arrangement::{self as arr, ChamberSet, Limits};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;
use std::sync::Mutex;

use crate::detach;
use crate::errors::invalid;

/// (patterns (P, n) bool, packed (P, ceil(n/8)) uint8 in `np.packbits` layout, witnesses (P, d),
/// rank).
type Out<'py> = (
    Bound<'py, PyArray2<bool>>,
    Bound<'py, PyArray2<u8>>,
    Bound<'py, PyArray2<f64>>,
    usize,
);

fn shape_err(arg: &str, e: ndarray::ShapeError) -> PyErr {
    invalid(arg, format!("internal shape error: {e}"))
}

/// A chamber set with its boolean and packed patterns, built inside the pool (see [`expand`]).
type Expanded = (ChamberSet, Vec<bool>, Vec<u8>);

/// Build the boolean and packed patterns (parallel: call inside `detach::run`, i.e. the pool).
fn expand(set: ChamberSet) -> hiddenconvex_core::Result<Expanded> {
    let b = set.bools();
    let p = set.packed();
    Ok((set, b, p))
}

fn to_arrays<'py>(py: Python<'py>, ex: Expanded) -> PyResult<Out<'py>> {
    let (set, bools, packed) = ex;
    let p = set.count();
    let (n, d, rank) = (set.n, set.d, set.rank);
    let pats = Array2::from_shape_vec((p, n), bools).map_err(|e| shape_err("patterns", e))?;
    let packed =
        Array2::from_shape_vec((p, n.div_ceil(8)), packed).map_err(|e| shape_err("packed", e))?;
    let wit =
        Array2::from_shape_vec((p, d), set.witnesses).map_err(|e| shape_err("witnesses", e))?;
    Ok((
        pats.into_pyarray(py),
        packed.into_pyarray(py),
        wit.into_pyarray(py),
        rank,
    ))
}

/// Exact chambers: (patterns (P, n) bool, witnesses (P, d), rank).
#[pyfunction]
#[pyo3(signature = (x, max_chambers=None, memory_limit=None, progress=None))]
fn chambers_exact<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    max_chambers: Option<u64>,
    memory_limit: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Out<'py>> {
    let xv = x.as_array();
    let limits = Limits {
        max_chambers,
        memory_bytes: memory_limit,
    };
    let set = detach::run(py, progress.as_ref(), move |ctl| {
        expand(arr::enumerate(xv.view(), &limits, ctl)?)
    })?;
    to_arrays(py, set)
}

/// Exact chamber witnesses only (P, d), in the order of `chambers_exact`.
#[pyfunction]
#[pyo3(signature = (x, max_chambers=None, memory_limit=None, progress=None))]
fn chamber_witnesses<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    max_chambers: Option<u64>,
    memory_limit: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    let limits = Limits {
        max_chambers,
        memory_bytes: memory_limit,
    };
    let set = detach::run(py, progress.as_ref(), move |ctl| {
        arr::enumerate(xv.view(), &limits, ctl)
    })?;
    let p = set.count();
    let wit = Array2::from_shape_vec((p, set.d), set.witnesses)
        .map_err(|e| invalid("witnesses", format!("internal shape error: {e}")))?;
    Ok(wit.into_pyarray(py))
}

/// Sampled chambers from `n_samples` Gaussian gates: (patterns, witnesses, rank).
#[pyfunction]
/// `memory_limit` (bytes) is checked before allocating.
#[pyo3(signature = (x, n_samples, seed, progress=None, memory_limit=None))]
fn chambers_sample<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_samples: u64,
    seed: u64,
    progress: Option<Bound<'py, PyAny>>,
    memory_limit: Option<u64>,
) -> PyResult<Out<'py>> {
    let xv = x.as_array();
    let set = detach::run(py, progress.as_ref(), move |ctl| {
        expand(arr::sample(xv.view(), n_samples, seed, memory_limit, ctl)?)
    })?;
    to_arrays(py, set)
}

/// Face-only patterns 1[X u >= 0] (not patterns of open chambers): (patterns, points, rank).
/// `max_chambers` and `memory_limit` bound the open chambers and the faces (checked first).
#[pyfunction]
#[pyo3(signature = (x, progress=None, max_chambers=None, memory_limit=None))]
fn chamber_faces<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    progress: Option<Bound<'py, PyAny>>,
    max_chambers: Option<u64>,
    memory_limit: Option<u64>,
) -> PyResult<Out<'py>> {
    let xv = x.as_array();
    let limits = Limits {
        max_chambers,
        memory_bytes: memory_limit,
    };
    let set = detach::run(py, progress.as_ref(), move |ctl| {
        // bound the faces before enumerating anything
        arr::check_faces(&arr::prepare_checked(xv.view(), None, ctl)?, &limits)?;
        let open = arr::enumerate(xv.view(), &limits, ctl)?;
        expand(arr::faces_limited(xv.view(), &open, &limits, ctl)?)
    })?;
    to_arrays(py, set)
}

/// Exact number of chambers (no patterns materialised); more than `max_chambers` raises
/// (at once when a lower bound exceeds it, else as soon as the count passes it).
#[pyfunction]
#[pyo3(signature = (x, progress=None, max_chambers=None))]
fn chamber_count<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    progress: Option<Bound<'py, PyAny>>,
    max_chambers: Option<u64>,
) -> PyResult<u128> {
    let xv = x.as_array();
    detach::run(py, progress.as_ref(), move |ctl| {
        arr::count_limited(xv.view(), max_chambers, ctl)
    })
}

/// Plan an exact run: (estimate, estimate_is_exact, bytes_per_chamber, rank, distinct_lines).
/// The estimate is Cover's bound for the distinct lines in the row space, replaced by the exact
/// count when the bound exceeds a budget and counting is affordable.
#[pyfunction]
#[pyo3(signature = (x, max_chambers=None, memory_limit=None))]
fn chambers_plan<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    max_chambers: Option<u64>,
    memory_limit: Option<u64>,
) -> PyResult<(u128, bool, u64, usize, usize)> {
    let xv = x.as_array();
    let limits = Limits {
        max_chambers,
        memory_bytes: memory_limit,
    };
    detach::run(py, None, move |ctl| {
        // an O(n·d) lower bound over the budget: plan "does not fit" (estimate u128::MAX)
        let prep = match arr::prepare_checked(xv.view(), Some(&limits), ctl) {
            Ok(p) => p,
            Err(hiddenconvex_core::Error::TooLarge { .. }) => {
                let (n, d) = xv.dim();
                return Ok((
                    u128::MAX,
                    false,
                    arr::bytes_per_chamber(n, d, d.min(n)),
                    0,
                    0,
                ));
            }
            Err(e) => return Err(e),
        };
        let (est, exact) = arr::plan(&prep, &limits, ctl)?;
        Ok((
            est,
            exact,
            arr::bytes_per_chamber(prep.n, prep.d, prep.rank),
            prep.rank,
            prep.num_lines(),
        ))
    })
}

/// Exact chambers streamed in blocks (see `hiddenconvex_core::arrangement::stream`).
#[pyclass(name = "ChamberStream", module = "hiddenconvex._core", frozen)]
pub struct PyChamberStream {
    inner: Mutex<arr::ChamberStream>,
}

#[pymethods]
impl PyChamberStream {
    /// Total number of chambers.
    #[getter]
    fn total(&self) -> PyResult<u128> {
        Ok(self.lock()?.total)
    }

    /// Whether blocks are generated on demand with memory bounded independently of the number
    /// of chambers (by the block, or by the part budget on degenerate data).
    #[getter]
    fn bounded(&self) -> PyResult<bool> {
        Ok(self.lock()?.is_bounded())
    }

    /// (largest part in chambers, most candidates held for one part, parts so far) of the
    /// prefix-cone partition used on degenerate data; None for the other paths.
    #[getter]
    fn part_stats(&self) -> PyResult<Option<(usize, usize, usize)>> {
        Ok(self.lock()?.part_stats())
    }

    /// The next block (patterns, packed, witnesses, rank), or None at the end.
    #[pyo3(signature = (progress=None))]
    fn next_block<'py>(
        &self,
        py: Python<'py>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Out<'py>>> {
        let mut guard = self.lock()?;
        let st: &mut arr::ChamberStream = &mut guard;
        let block = detach::run(py, progress.as_ref(), move |ctl| {
            st.next_block(ctl)?.map(expand).transpose()
        })?;
        block.map(|b| to_arrays(py, b)).transpose()
    }
}

impl PyChamberStream {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, arr::ChamberStream>> {
        self.inner
            .try_lock()
            .map_err(|_| invalid("stream", "is in use by another thread (or poisoned)"))
    }
}

/// Open a stream of the exact chambers in blocks of at most `block` rows.
#[pyfunction]
/// `part_budget` (chambers per part on degenerate data) defaults to
/// max(block, memory_limit / (4 × bytes per chamber)), or 2^18 without a memory limit.
#[pyo3(signature = (x, block, max_chambers=None, memory_limit=None, progress=None, part_budget=None))]
fn chambers_stream<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    block: usize,
    max_chambers: Option<u64>,
    memory_limit: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
    part_budget: Option<usize>,
) -> PyResult<PyChamberStream> {
    let xv = x.as_array();
    let limits = Limits {
        max_chambers,
        memory_bytes: memory_limit,
    };
    let st = detach::run(py, progress.as_ref(), move |ctl| {
        arr::stream_with_budget(xv.view(), block, part_budget, &limits, ctl)
    })?;
    Ok(PyChamberStream {
        inner: Mutex::new(st),
    })
}

/// A part of the prefix-cone partition: (signs on the first distinct lines, a point of the cone
/// in row-space coordinates, exact number of chambers).
type PartTuple = (Vec<bool>, Vec<f64>, u128);

/// The prefix-cone partition into parts of at most `budget` chambers: (parts, total).
#[pyfunction]
#[pyo3(signature = (x, budget, max_chambers=None, progress=None))]
fn chamber_parts_plan<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    budget: usize,
    max_chambers: Option<u64>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<(Vec<PartTuple>, u128)> {
    let xv = x.as_array();
    detach::run(py, progress.as_ref(), move |ctl| {
        let (parts, total) = arr::plan_parts(xv.view(), budget, max_chambers, ctl)?;
        Ok((
            parts
                .into_iter()
                .map(|p| (p.sig, p.point, p.count))
                .collect(),
            total,
        ))
    })
}

/// The chambers of one part of `chamber_parts_plan` (same `x`): (patterns, packed, witnesses,
/// rank), checked against the part's count.
#[pyfunction]
#[pyo3(signature = (x, sig, point, count, progress=None))]
fn chambers_part<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    sig: Vec<bool>,
    point: Vec<f64>,
    count: u128,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Out<'py>> {
    let xv = x.as_array();
    let part = arr::ConePart { sig, point, count };
    let ex = detach::run(py, progress.as_ref(), move |ctl| {
        expand(arr::enumerate_part(xv.view(), &part, ctl)?)
    })?;
    to_arrays(py, ex)
}

/// The children of one part of `chamber_parts_plan` (same `x`) split on its next line, with
/// their exact counts (empty when the part cannot be split).
#[pyfunction]
#[pyo3(signature = (x, sig, point, count, progress=None))]
fn chamber_part_split<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    sig: Vec<bool>,
    point: Vec<f64>,
    count: u128,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Vec<PartTuple>> {
    let xv = x.as_array();
    let part = arr::ConePart { sig, point, count };
    detach::run(py, progress.as_ref(), move |ctl| {
        Ok(arr::split_part_of(xv.view(), &part, ctl)?
            .into_iter()
            .map(|p| (p.sig, p.point, p.count))
            .collect())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chamber_parts_plan, m)?)?;
    m.add_function(wrap_pyfunction!(chambers_part, m)?)?;
    m.add_function(wrap_pyfunction!(chamber_part_split, m)?)?;
    m.add_function(wrap_pyfunction!(chambers_exact, m)?)?;
    m.add_function(wrap_pyfunction!(chambers_sample, m)?)?;
    m.add_function(wrap_pyfunction!(chamber_witnesses, m)?)?;
    m.add_function(wrap_pyfunction!(chamber_faces, m)?)?;
    m.add_function(wrap_pyfunction!(chamber_count, m)?)?;
    m.add_function(wrap_pyfunction!(chambers_plan, m)?)?;
    m.add_function(wrap_pyfunction!(chambers_stream, m)?)?;
    m.add_class::<PyChamberStream>()?;
    Ok(())
}
