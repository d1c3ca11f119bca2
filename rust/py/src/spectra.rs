//! Bindings for `hiddenconvex_core::spectra`: Hessian-vector products, Lanczos eigenvalues and
//! stochastic Lanczos quadrature. A native objective runs through `detach::run` (GIL released,
//! gradients in parallel); a Python gradient callable runs the same core algorithm on the calling
//! thread, called once per block of points (vectorised) or once per point.

use hiddenconvex_core::spectra::{self as core_s, hvp, lanczos, slq};
use hiddenconvex_core::{Control, Error as CoreError};
use ndarray::{ArrayView2, ArrayViewMut2};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use crate::detach;
use crate::errors::{invalid, to_py, PyCoreError};
use crate::objective::PyNativeObjective;

/// Where gradients come from.
enum Source {
    Native(std::sync::Arc<dyn hiddenconvex_core::objective::Objective>),
    Callable { f: Py<PyAny>, vectorized: bool },
}

fn source(obj: &Bound<'_, PyAny>, vectorized: bool) -> PyResult<Source> {
    if let Ok(native) = obj.cast::<PyNativeObjective>() {
        let inner = native.get().inner.clone();
        if !inner.has_gradient() {
            return Err(invalid(
                "objective",
                format!("{} has no analytic gradient", inner.name()),
            ));
        }
        return Ok(Source::Native(inner));
    }
    if obj.is_callable() {
        return Ok(Source::Callable {
            f: obj.clone().unbind(),
            vectorized,
        });
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "objective: expected a hiddenconvex objective or a gradient callable, got {}",
        obj.get_type().name()?
    )))
}

/// Gradients of a Python callable at the rows of `points`, written into `out`.
pub(crate) fn call_gradient(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    vectorized: bool,
    points: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
) -> PyResult<()> {
    let (b, d) = points.dim();
    let np = py.import("numpy")?;
    fn as_f64<'py>(
        np: &Bound<'py, PyModule>,
        o: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        np.call_method1("asarray", (o, "float64"))?
            .cast_into::<PyArrayDyn<f64>>()
            .map_err(|_| invalid("gradient", "the gradient callable must return numbers"))
    }
    let note = |e: PyErr| {
        let _ = e.value(py).call_method1(
            "add_note",
            (format!(
                "(raised by the gradient while hiddenconvex evaluated a batch of {b} points)"
            ),),
        );
        e
    };
    if vectorized {
        let arr = points.to_owned().into_pyarray(py);
        let g = as_f64(&np, f.call1((arr,)).map_err(note)?)?;
        let ro = g.readonly();
        let v = ro.as_array();
        if v.shape() != [b, d] {
            return Err(invalid(
                "gradient",
                format!(
                    "the vectorised gradient must return shape ({b}, {d}) for an input of shape ({b}, {d}), got {:?}",
                    v.shape()
                ),
            ));
        }
        out.iter_mut().zip(v.iter()).for_each(|(o, x)| *o = *x);
    } else {
        for i in 0..b {
            let row = points.row(i).to_owned().into_pyarray(py);
            let g = as_f64(&np, f.call1((row,)).map_err(note)?)?;
            let ro = g.readonly();
            let v = ro.as_array();
            if v.len() != d || v.ndim() != 1 {
                return Err(invalid(
                    "gradient",
                    format!(
                        "the gradient must return shape ({d},) for a point of shape ({d},), got {:?}",
                        v.shape()
                    ),
                ));
            }
            out.row_mut(i)
                .iter_mut()
                .zip(v.iter())
                .for_each(|(o, x)| *o = *x);
        }
    }
    Ok(())
}

/// Run `body` with a gradient closure: native objectives in the pool with the GIL released,
/// callables on this thread (Python errors and Ctrl-C surface as themselves).
fn with_gradients<'py, T: Send>(
    py: Python<'py>,
    src: &Source,
    progress: Option<&Bound<'py, PyAny>>,
    body: impl FnOnce(&mut core_s::GradFn<'_>, &Control) -> hiddenconvex_core::Result<T> + Send,
) -> PyResult<T> {
    match src {
        Source::Native(o) => {
            let o = o.clone();
            detach::run(py, progress, move |ctl| {
                let mut g = core_s::native_gradients(o.as_ref(), ctl);
                body(&mut g, ctl)
            })
        }
        Source::Callable { f, vectorized } => {
            let f = f.bind(py);
            let ctl = Control::new();
            let mut py_err: Option<PyErr> = None;
            let r = {
                let mut g = |p: ArrayView2<'_, f64>, o: ArrayViewMut2<'_, f64>| {
                    let res =
                        call_gradient(py, f, *vectorized, p, o).and_then(|_| py.check_signals());
                    res.map_err(|e| {
                        py_err = Some(e);
                        CoreError::Interrupted
                    })
                };
                body(&mut g, &ctl)
            };
            if let Some(e) = py_err {
                return Err(e);
            }
            r.map_err(|e| PyCoreError(e).into())
        }
    }
}

fn relative_step(step: Option<f64>, richardson: bool) -> PyResult<f64> {
    let c = step.unwrap_or_else(|| hvp::default_relative_step(richardson));
    if !(c.is_finite() && c > 0.0) {
        return Err(invalid(
            "step",
            format!("must be a finite number > 0, got {c}"),
        ));
    }
    Ok(c)
}

fn theta_vec(theta: &PyReadonlyArray1<'_, f64>) -> PyResult<Vec<f64>> {
    let t = theta.as_array().to_vec();
    if t.is_empty() {
        return Err(invalid("theta", "must not be empty"));
    }
    to_py(hiddenconvex_core::error::ensure_finite("theta", &t))?;
    Ok(t)
}

fn check_dim(src: &Source, d: usize) -> PyResult<()> {
    if let Source::Native(o) = src {
        if o.dim() != d {
            return Err(invalid(
                "theta",
                format!(
                    "expected length {} (the objective's dimension), got {d}",
                    o.dim()
                ),
            ));
        }
    }
    Ok(())
}

/// Hessian-vector products H v_k for the rows v_k of `vectors` (K × D).
#[pyfunction]
#[pyo3(signature = (objective, theta, vectors, step=None, richardson=true, vectorized=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn spectra_hvp<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    theta: PyReadonlyArray1<'py, f64>,
    vectors: PyReadonlyArray2<'py, f64>,
    step: Option<f64>,
    richardson: bool,
    vectorized: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let src = source(objective, vectorized)?;
    let t = theta_vec(&theta)?;
    check_dim(&src, t.len())?;
    let c = relative_step(step, richardson)?;
    let vs = vectors.as_array();
    let b = with_gradients(py, &src, progress.as_ref(), move |g, ctl| {
        hvp::hvp(&t, vs, c, richardson, g, ctl)
    })?;
    let d = PyDict::new(py);
    d.set_item("hv", b.hv.into_pyarray(py))?;
    d.set_item("err", b.err.into_pyarray(py))?;
    d.set_item("h", b.step)?;
    d.set_item("step", c)?;
    d.set_item("n_gradients", b.n_gradients)?;
    Ok(d)
}

/// Extreme eigenpairs of the finite-difference Hessian operator by thick-restart Lanczos.
#[pyfunction]
#[pyo3(signature = (objective, theta, k, which, tol, ncv, max_restarts, seed, step=None, vectorized=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn spectra_lanczos<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    theta: PyReadonlyArray1<'py, f64>,
    k: usize,
    which: &str,
    tol: f64,
    ncv: Option<usize>,
    max_restarts: usize,
    seed: u64,
    step: Option<f64>,
    vectorized: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let which = to_py(lanczos::Which::parse(which))?;
    let src = source(objective, vectorized)?;
    let t = theta_vec(&theta)?;
    check_dim(&src, t.len())?;
    let c = relative_step(step, false)?;
    let dim = t.len();
    let ncv = ncv.unwrap_or_else(|| lanczos::default_ncv(which.n_wanted(k), dim));
    let opts = lanczos::Options {
        k,
        which,
        tol,
        ncv,
        max_restarts,
        seed,
    };
    let (e, h, ng) = with_gradients(py, &src, progress.as_ref(), move |g, ctl| {
        let mut fd = hvp::FdHvp::new(&t, c, false)?;
        let h = fd.step();
        let mut op = |v: ArrayView2<'_, f64>, o: ArrayViewMut2<'_, f64>| fd.apply(v, o, None, g);
        let e = lanczos::lanczos(dim, &opts, &mut op, ctl)?;
        let ng = fd.n_gradients;
        Ok((e, h, ng))
    })?;
    let d = PyDict::new(py);
    d.set_item("values", e.values)?;
    d.set_item("vectors", e.vectors.into_pyarray(py))?;
    d.set_item("residuals", e.residuals)?;
    d.set_item("converged", e.converged)?;
    d.set_item("anorm", e.anorm)?;
    d.set_item("n_matvec", e.n_matvec)?;
    d.set_item("n_restarts", e.n_restarts)?;
    d.set_item("n_gradients", ng)?;
    d.set_item("ncv", ncv.min(dim))?;
    d.set_item("h", h)?;
    d.set_item("step", c)?;
    Ok(d)
}

/// Stochastic Lanczos quadrature nodes and weights of the finite-difference Hessian operator.
#[pyfunction]
#[pyo3(signature = (objective, theta, n_probes, n_steps, seed, step=None, group=None, vectorized=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn spectra_slq<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    theta: PyReadonlyArray1<'py, f64>,
    n_probes: usize,
    n_steps: usize,
    seed: u64,
    step: Option<f64>,
    group: Option<usize>,
    vectorized: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let src = source(objective, vectorized)?;
    let t = theta_vec(&theta)?;
    check_dim(&src, t.len())?;
    let c = relative_step(step, false)?;
    let dim = t.len();
    let group = group.unwrap_or_else(|| slq::group_size(dim, n_steps.min(dim), n_probes, 8));
    let (q, h, ng) = with_gradients(py, &src, progress.as_ref(), move |g, ctl| {
        let mut fd = hvp::FdHvp::new(&t, c, false)?;
        let h = fd.step();
        let mut op = |v: ArrayView2<'_, f64>, o: ArrayViewMut2<'_, f64>| fd.apply(v, o, None, g);
        let q = slq::slq(dim, n_probes, n_steps, seed, group, &mut op, ctl)?;
        let ng = fd.n_gradients;
        Ok((q, h, ng))
    })?;
    let d = PyDict::new(py);
    d.set_item("nodes", q.nodes.into_pyarray(py))?;
    d.set_item("weights", q.weights.into_pyarray(py))?;
    d.set_item("n_steps", q.n_steps)?;
    d.set_item("n_matvec", q.n_matvec)?;
    d.set_item("n_gradients", ng)?;
    d.set_item("h", h)?;
    d.set_item("step", c)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spectra_hvp, m)?)?;
    m.add_function(wrap_pyfunction!(spectra_lanczos, m)?)?;
    m.add_function(wrap_pyfunction!(spectra_slq, m)?)?;
    Ok(())
}
