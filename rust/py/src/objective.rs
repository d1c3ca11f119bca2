//! Bindings for `hiddenconvex_core::objective`: the `NativeObjective` handle and the one way every
//! capability evaluates "an objective" — native (Rust, parallel, GIL released) or a Python
//! callable (called once per batch, under the GIL, never from a worker thread).

use std::sync::Arc;

use hiddenconvex_core::objective::icnn::{IcnnArch, IcnnInput, IcnnLoss, NonNeg};
use hiddenconvex_core::objective::loss::{Activation, Loss};
use hiddenconvex_core::objective::mlp::Mlp;
use hiddenconvex_core::objective::quadratic::Quadratic;
use hiddenconvex_core::objective::{self as core_obj, Objective};
use ndarray::{Array1, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::detach;
use crate::errors::{invalid, package_error, to_py};

/// Two arrays returned to Python.
type Arrays2<'py, A, B> = PyResult<(Bound<'py, A>, Bound<'py, B>)>;
/// Values and, when the objective gives them, rounding scales.
type ValuesScales<'py> = PyResult<(Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyArray1<f64>>>)>;

/// Rows per batch above which native evaluation goes parallel.
pub const PAR_THRESHOLD: usize = 32;

/// Points × dimension up to which a native batch evaluation runs on the calling thread.
const SHORT_BATCH_FLOATS: usize = 2048;

/// A Rust-native objective. Built by the constructors of `hiddenconvex.objectives`.
#[pyclass(name = "NativeObjective", module = "hiddenconvex._core", frozen)]
pub struct PyNativeObjective {
    pub inner: Arc<dyn Objective>,
}

#[pymethods]
impl PyNativeObjective {
    /// Length of the flat parameter vector.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Human-readable name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    /// Whether the objective has an analytic gradient.
    #[getter]
    fn has_gradient(&self) -> bool {
        self.inner.has_gradient()
    }

    /// f(θ) and its rounding-error scale Σ|summands|.
    fn value_and_scale(
        &self,
        py: Python<'_>,
        theta: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<(f64, f64)> {
        let t = theta.as_array().to_vec();
        to_py(core_obj::check_dim(self.inner.as_ref(), "theta", t.len()))?;
        let inner = self.inner.clone();
        detach::run_inline(py, move |_| Ok(inner.value_and_scale(&t)))
    }

    /// (values, scales) at every row of `points` (B × D).
    fn values_and_scales<'py>(
        &self,
        py: Python<'py>,
        points: PyReadonlyArray2<'py, f64>,
    ) -> Arrays2<'py, PyArray1<f64>, PyArray1<f64>> {
        let pts = points.as_array();
        let inner = self.inner.clone();
        let (v, s) = detach::run(py, None, move |ctl| {
            core_obj::batch_values_and_scales(inner.as_ref(), pts, PAR_THRESHOLD, ctl)
        })?;
        Ok((v.into_pyarray(py), s.into_pyarray(py)))
    }

    /// (f(θ), ∇f(θ)).
    fn value_and_gradient<'py>(
        &self,
        py: Python<'py>,
        theta: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
        let t = theta.as_array().to_vec();
        to_py(core_obj::check_dim(self.inner.as_ref(), "theta", t.len()))?;
        let inner = self.inner.clone();
        let (f, g) = detach::run_inline(py, move |_| {
            let mut g = vec![0.0; t.len()];
            let f = inner.gradient(&t, &mut g)?;
            Ok((f, g))
        })?;
        Ok((f, Array1::from(g).into_pyarray(py)))
    }

    /// (values (B,), gradients (B, D)) at every row of `points`, in parallel.
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        points: PyReadonlyArray2<'py, f64>,
    ) -> Arrays2<'py, PyArray1<f64>, PyArray2<f64>> {
        let pts = points.as_array();
        let inner = self.inner.clone();
        let (v, g) = detach::run(py, None, move |ctl| {
            core_obj::batch_gradients(inner.as_ref(), pts, PAR_THRESHOLD, ctl)
        })?;
        Ok((v.into_pyarray(py), g.into_pyarray(py)))
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeObjective({}, dim={})",
            self.inner.name(),
            self.inner.dim()
        )
    }
}

/// An objective as the capabilities see it.
pub enum ObjectiveRef {
    /// Rust-native: evaluated in parallel with the GIL released.
    Native(Arc<dyn Objective>),
    /// A Python callable `f(theta) -> float`, or vectorised `f(Theta (B, D)) -> (B,)`.
    Callable {
        f: Py<PyAny>,
        dim: usize,
        vectorized: bool,
    },
}

impl ObjectiveRef {
    /// D.
    pub fn dim(&self) -> usize {
        match self {
            ObjectiveRef::Native(o) => o.dim(),
            ObjectiveRef::Callable { dim, .. } => *dim,
        }
    }

    /// From a `NativeObjective`, or a callable with its `dim` and `vectorized` flag.
    pub fn extract(
        obj: &Bound<'_, PyAny>,
        dim: Option<usize>,
        vectorized: bool,
    ) -> PyResult<ObjectiveRef> {
        if let Ok(native) = obj.cast::<PyNativeObjective>() {
            return Ok(ObjectiveRef::Native(native.get().inner.clone()));
        }
        if obj.is_callable() {
            let dim = dim.ok_or_else(|| {
                invalid("dim", "a Python callable objective needs its dimension D")
            })?;
            if dim == 0 {
                return Err(invalid("dim", "must be at least 1"));
            }
            return Ok(ObjectiveRef::Callable {
                f: obj.clone().unbind(),
                dim,
                vectorized,
            });
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "objective: expected a hiddenconvex objective or a callable, got {}",
            obj.get_type().name()?
        )))
    }

    /// Values (and, for native objectives, rounding scales) at every row of `points`.
    /// Non-finite values are returned as they are: callers report them per point.
    pub fn eval_batch(
        &self,
        py: Python<'_>,
        points: ArrayView2<'_, f64>,
    ) -> PyResult<(Array1<f64>, Option<Array1<f64>>)> {
        if points.ncols() != self.dim() {
            return Err(invalid(
                "points",
                format!(
                    "expected {} columns (the objective's dimension), got {}",
                    self.dim(),
                    points.ncols()
                ),
            ));
        }
        match self {
            ObjectiveRef::Native(o) => {
                let work = points.nrows() as f64 * o.work_per_point();
                let o = o.clone();
                let run = move |ctl: &hiddenconvex_core::Control| {
                    core_obj::batch_values_and_scales(o.as_ref(), points, PAR_THRESHOLD, ctl)
                };
                // A few points of a small objective (the Hessian's certification batch: at most
                // SHORT_BATCH_FLOATS coordinates and the core's SHORT_RUN_WORK multiply-adds)
                // run on this thread with the GIL released, without the pool and the watcher
                // thread of a long run; larger batches are polled for Ctrl-C (a batch of a large
                // network is seconds of work: slices).
                let (v, s) = if points.nrows().saturating_mul(points.ncols()) <= SHORT_BATCH_FLOATS
                    && work <= hiddenconvex_core::hessian::SHORT_RUN_WORK
                {
                    detach::run_inline(py, run)?
                } else {
                    detach::run(py, None, run)?
                };
                Ok((v, Some(s)))
            }
            ObjectiveRef::Callable { f, vectorized, .. } => {
                let b = points.nrows();
                let f = f.bind(py);
                let values = if *vectorized {
                    let arr = points.to_owned().into_pyarray(py);
                    let out = f.call1((arr,)).map_err(|e| with_context(py, e, b))?;
                    // real numbers only: strings, complex, None or objects are refused (a cast
                    // to float64 would raise a bare ValueError or drop imaginary parts)
                    let out = py.import("numpy")?.call_method1("asarray", (out,))?;
                    let dtype = out.getattr("dtype")?;
                    let kind: String = dtype.getattr("kind")?.extract()?;
                    if !matches!(kind.as_str(), "b" | "i" | "u" | "f") {
                        return Err(package_error(
                            "InvalidTypeError",
                            format!(
                                "objective: the vectorised callable must return real numbers, \
                                 got an array of dtype {}",
                                dtype.str()?
                            ),
                        ));
                    }
                    let out = out.call_method1("astype", ("float64",))?;
                    let out = out.cast_into::<numpy::PyArrayDyn<f64>>().map_err(|_| {
                        invalid("objective", "the vectorised callable must return numbers")
                    })?;
                    let ro = out.readonly();
                    let view = ro.as_array();
                    if view.len() != b
                        || (view.ndim() != 1 && !(view.ndim() == 2 && view.shape()[1] == 1))
                    {
                        return Err(invalid(
                            "objective",
                            format!(
                                "the vectorised callable must return shape ({b},) for an input of shape ({b}, {}), got {:?}",
                                points.ncols(),
                                view.shape()
                            ),
                        ));
                    }
                    Array1::from_iter(view.iter().copied())
                } else {
                    let mut vals = Vec::with_capacity(b);
                    for i in 0..b {
                        let row = points.row(i).to_owned().into_pyarray(py);
                        let v = f.call1((row,)).map_err(|e| with_context(py, e, b))?;
                        let v: f64 = v.extract().map_err(|_| {
                            invalid("objective", "the callable must return a real number")
                        })?;
                        vals.push(v);
                    }
                    Array1::from(vals)
                };
                Ok((values, None))
            }
        }
    }
}

fn with_context(py: Python<'_>, e: PyErr, b: usize) -> PyErr {
    let _ = e.value(py).call_method1(
        "add_note",
        (format!(
            "(raised by the objective while hiddenconvex evaluated a batch of {b} points)"
        ),),
    );
    e
}

/// Evaluate `objective` (native or callable) at every row of `points`: (values, scales or None).
#[pyfunction]
#[pyo3(signature = (objective, points, dim=None, vectorized=false))]
fn eval_batch<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    points: PyReadonlyArray2<'py, f64>,
    dim: Option<usize>,
    vectorized: bool,
) -> ValuesScales<'py> {
    let obj = ObjectiveRef::extract(objective, dim, vectorized)?;
    let (v, s) = obj.eval_batch(py, points.as_array())?;
    Ok((v.into_pyarray(py), s.map(|s| s.into_pyarray(py))))
}

fn native(o: impl Objective + 'static) -> PyNativeObjective {
    PyNativeObjective { inner: Arc::new(o) }
}

/// Data of at least this many values is taken by a constructor with the GIL released and
/// Ctrl-C honoured ([`detach::run`]); smaller data is copied at once.
const CONSTRUCT_DETACHED: usize = 1 << 20;

/// Build an objective from its data (`n_values` values of X): for large data with the GIL
/// released, copying X in cancellable blocks ([`core_obj::copy_rows`]).
fn construct<T: Send>(
    py: Python<'_>,
    n_values: usize,
    f: impl FnOnce(&hiddenconvex_core::Control) -> hiddenconvex_core::Result<T> + Send,
) -> PyResult<T> {
    if n_values >= CONSTRUCT_DETACHED {
        detach::run(py, None, f)
    } else {
        to_py(f(&hiddenconvex_core::Control::new()))
    }
}

/// A fully connected network objective (linear models and two-layer ReLU are special cases).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn mlp_objective(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    widths: Vec<usize>,
    activations: Vec<String>,
    bias: Vec<bool>,
    loss: &str,
    weight_decay: f64,
    name: String,
) -> PyResult<PyNativeObjective> {
    let loss = to_py(Loss::parse_objective(loss))?;
    let acts = activations
        .iter()
        .map(|a| Activation::parse(a))
        .collect::<Result<Vec<_>, _>>();
    let acts = to_py(acts)?;
    let (xv, yv) = (x.as_array(), y.as_array());
    let obj = construct(py, xv.len(), move |ctl| {
        let x = core_obj::copy_rows(xv, ctl)?;
        let y = core_obj::copy_rows(yv, ctl)?;
        ctl.check()?;
        Mlp::new_cancellable(x, y, &widths, &acts, &bias, loss, weight_decay, name, ctl)
    })?;
    Ok(native(obj))
}

/// An ICNN training-loss objective (a function of the weights).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn icnn_objective(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray1<'_, f64>,
    hidden: Vec<usize>,
    activation: &str,
    nonneg: &str,
    loss: &str,
    weight_decay: f64,
) -> PyResult<PyNativeObjective> {
    let act = to_py(Activation::parse(activation))?;
    let nonneg = to_py(NonNeg::parse(nonneg))?;
    let loss = to_py(Loss::parse_objective(loss))?;
    let (xv, yv) = (x.as_array(), y.as_array());
    let obj = construct(py, xv.len(), move |ctl| {
        let x = core_obj::copy_rows(xv, ctl)?;
        ctl.check()?;
        IcnnLoss::new(x, yv.to_vec(), &hidden, act, nonneg, loss, weight_decay)
    })?;
    Ok(native(obj))
}

/// An ICNN as a function of its input x for fixed weights θ.
#[pyfunction]
fn icnn_input_objective(
    d: usize,
    hidden: Vec<usize>,
    activation: &str,
    nonneg: &str,
    theta: PyReadonlyArray1<'_, f64>,
) -> PyResult<PyNativeObjective> {
    let arch = to_py(IcnnArch::new(
        d,
        &hidden,
        to_py(Activation::parse(activation))?,
        to_py(NonNeg::parse(nonneg))?,
    ))?;
    let obj = to_py(IcnnInput::new(arch, theta.as_array().to_vec()))?;
    Ok(native(obj))
}

/// f(θ) = ½ θᵀAθ + bᵀθ + c.
#[pyfunction]
fn quadratic_objective(
    a: PyReadonlyArray2<'_, f64>,
    b: PyReadonlyArray1<'_, f64>,
    c: f64,
) -> PyResult<PyNativeObjective> {
    let obj = to_py(Quadratic::new(
        a.as_array().to_owned(),
        b.as_array().to_owned(),
        c,
    ))?;
    Ok(native(obj))
}

/// Number of parameters of an ICNN architecture.
#[pyfunction]
fn icnn_dim(d: usize, hidden: Vec<usize>) -> PyResult<usize> {
    let arch = to_py(IcnnArch::new(
        d,
        &hidden,
        Activation::Relu,
        NonNeg::Softplus,
    ))?;
    Ok(arch.dim())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNativeObjective>()?;
    m.add_function(wrap_pyfunction!(mlp_objective, m)?)?;
    m.add_function(wrap_pyfunction!(icnn_objective, m)?)?;
    m.add_function(wrap_pyfunction!(icnn_input_objective, m)?)?;
    m.add_function(wrap_pyfunction!(icnn_dim, m)?)?;
    m.add_function(wrap_pyfunction!(quadratic_objective, m)?)?;
    m.add_function(wrap_pyfunction!(eval_batch, m)?)?;
    Ok(())
}
