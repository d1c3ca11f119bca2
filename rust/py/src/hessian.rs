//! Bindings for `hiddenconvex_core::hessian`: batched finite-difference Hessians of a native
//! objective (GIL released, parallel) or of a Python callable (stencil built in Rust, Python called
//! once per chunk of stencil points under the GIL, arithmetic finished in Rust).

use hiddenconvex_core::hessian::{self as core_h, Method, Stencil};
use hiddenconvex_core::Control;
use ndarray::ArrayView2;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::detach;
use crate::errors::{invalid, to_py, PyCoreError};
use crate::objective::ObjectiveRef;

/// Stencil coordinates materialised per Python call (32 MiB of float64).
const CALLABLE_CHUNK_FLOATS: usize = 1 << 22;

fn batch_to_dict<'py>(
    py: Python<'py>,
    b: core_h::Batch,
    step: f64,
    native: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "H"), b.h.into_pyarray(py))?;
    d.set_item(intern!(py, "err"), b.err.into_pyarray(py))?;
    d.set_item(intern!(py, "kink"), b.kink.into_pyarray(py))?;
    d.set_item(
        intern!(py, "finite"),
        numpy::PyArray1::from_vec(py, b.finite),
    )?;
    d.set_item(intern!(py, "ok"), numpy::PyArray1::from_vec(py, b.ok))?;
    d.set_item(intern!(py, "tol"), b.tol.into_pyarray(py))?;
    d.set_item(intern!(py, "f0"), b.f0.into_pyarray(py))?;
    d.set_item(intern!(py, "s0"), b.s0.into_pyarray(py))?;
    d.set_item(intern!(py, "steps"), b.steps.into_pyarray(py))?;
    d.set_item(intern!(py, "n_values"), b.n_values)?;
    d.set_item(intern!(py, "n_gradients"), b.n_gradients)?;
    d.set_item(intern!(py, "step"), step)?;
    d.set_item(intern!(py, "native_scales"), native)?;
    Ok(d)
}

/// Hessians at every row of `points` (see `hiddenconvex.hessian`). Returns a dict of arrays.
///
/// With `verdicts`, the same call also computes the spectra (eigenvalues in the core), the
/// certificates of indefiniteness and the verdicts (see [`add_verdicts`]): one call per
/// `hiddenconvex.hessian` for D up to its core-eigensolver limit.
#[pyfunction]
#[pyo3(signature = (objective, points, method, step=None, richardson=true, dim=None, vectorized=false, progress=None, gradient=None, verdicts=false))]
#[allow(clippy::too_many_arguments)]
fn hessian_batch<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    points: PyReadonlyArray2<'py, f64>,
    method: &str,
    step: Option<f64>,
    richardson: bool,
    dim: Option<usize>,
    vectorized: bool,
    progress: Option<Bound<'py, PyAny>>,
    gradient: Option<Bound<'py, PyAny>>,
    verdicts: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let obj = ObjectiveRef::extract(objective, dim, vectorized)?;
    let pts = points.as_array();
    if let (true, ObjectiveRef::Native(o)) = (verdicts, &obj) {
        // the Hessians, spectra, certificates and verdicts in one run of the core
        let (method, step) = check_args(&obj, pts, method, step, richardson)?;
        let o = o.clone();
        let run = move |ctl: &Control| {
            core_h::analyse_native(o.as_ref(), pts, method, step, richardson, ctl)
        };
        let a = if method == Method::Gradients
            && analysis_is_short(&obj, pts, richardson, progress.as_ref())
        {
            detach::run_inline(py, run)?
        } else {
            detach::run(py, progress.as_ref(), run)?
        };
        let n_values = a.batch.n_values;
        let d = batch_to_dict(py, a.batch, step, true)?;
        add_verdicts(py, &d, a.spectrum, a.certificates, n_values)?;
        return Ok(d);
    }
    let (b, step, native) = batch(
        py, &obj, pts, method, step, richardson, vectorized, progress, gradient,
    )?;
    if verdicts {
        let n_values = b.n_values;
        let (sp, cert) = spectrum_and_verdicts(py, &obj, pts, &b, native)?;
        let d = batch_to_dict(py, b, step, native)?;
        add_verdicts(py, &d, sp, cert, n_values)?;
        Ok(d)
    } else {
        batch_to_dict(py, b, step, native)
    }
}

/// The one-call analysis of a native objective (`hiddenconvex.hessian` for D up to its
/// core-eigensolver limit, without a progress callback): the Hessians, spectra, certificates and
/// verdicts of [`core_h::analyse_native`] as a tuple in the order of `HessianResult`'s fields
/// (H, error, kink, finite, values, steps, eigenvalues, lambda_min, lambda_max, tolerance,
/// min_eigenvector, verdict, certificate_t, certificate_gap, certificate_tolerance, step,
/// n_evaluations, n_gradient_evaluations): what [`hessian_batch`] with `verdicts` returns as a
/// dict, without the keys only its other callers read.
#[pyfunction]
#[pyo3(signature = (objective, points, method, step=None, richardson=true))]
fn hessian_analysis<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    points: PyReadonlyArray2<'py, f64>,
    method: &str,
    step: Option<f64>,
    richardson: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let obj = ObjectiveRef::extract(objective, None, false)?;
    let ObjectiveRef::Native(o) = &obj else {
        return Err(invalid("objective", "expected a native objective"));
    };
    let pts = points.as_array();
    let (method, step) = check_args(&obj, pts, method, step, richardson)?;
    let o = o.clone();
    let run =
        move |ctl: &Control| core_h::analyse_native(o.as_ref(), pts, method, step, richardson, ctl);
    let a = if method == Method::Gradients && analysis_is_short(&obj, pts, richardson, None) {
        detach::run_inline(py, run)?
    } else {
        detach::run(py, None, run)?
    };
    let (b, sp, cert) = (a.batch, a.spectrum, a.certificates);
    let last = sp.eig.ncols().saturating_sub(1);
    let (lam_min, lam_max) = (sp.eig.column(0).to_owned(), sp.eig.column(last).to_owned());
    let n_evaluations = b.n_values + cert.n_evaluations as u64;
    let items: Vec<Bound<'py, PyAny>> = vec![
        b.h.into_pyarray(py).into_any(),
        b.err.into_pyarray(py).into_any(),
        b.kink.into_pyarray(py).into_any(),
        numpy::PyArray1::from_vec(py, sp.ok).into_any(),
        b.f0.into_pyarray(py).into_any(),
        b.steps.into_pyarray(py).into_any(),
        sp.eig.into_pyarray(py).into_any(),
        lam_min.into_pyarray(py).into_any(),
        lam_max.into_pyarray(py).into_any(),
        sp.tol.into_pyarray(py).into_any(),
        sp.vmin.into_pyarray(py).into_any(),
        verdict_names(py, &cert.verdict)?.into_any(),
        cert.t.into_pyarray(py).into_any(),
        cert.gap.into_pyarray(py).into_any(),
        cert.tol.into_pyarray(py).into_any(),
        step.into_pyobject(py)?.into_any(),
        n_evaluations.into_pyobject(py)?.into_any(),
        b.n_gradients.into_pyobject(py)?.into_any(),
    ];
    PyTuple::new(py, items)
}

/// The spectra of a batch (eigenvalues in the core) and its certificates, the candidates
/// evaluated through `obj` (native objectives in the core, callables once from this thread).
fn spectrum_and_verdicts(
    py: Python<'_>,
    obj: &ObjectiveRef,
    pts: ArrayView2<'_, f64>,
    b: &core_h::Batch,
    native: bool,
) -> PyResult<(core_h::Spectrum, core_h::Certificates)> {
    let (hv, ok, tol) = (b.h.view(), b.ok.clone(), b.tol.clone());
    let run = move |ctl: &Control| core_h::spectrum::with_tolerances(hv, ok, tol, true, ctl);
    let (nb, d) = pts.dim();
    let sp =
        if core_h::spectrum::spectrum_work(nb, d, true) <= core_h::spectrum::SHORT_SPECTRUM_WORK {
            detach::run_inline(py, run)?
        } else {
            detach::run(py, None, run)?
        };
    let lam_min = sp.eig.column(0);
    let inp = core_h::VerdictInput {
        points: pts,
        steps: b.steps.view(),
        f0: b.f0.view(),
        s0: b.s0.view(),
        kink: b.kink.view(),
        ok: &sp.ok,
        tol: sp.tol.view(),
        lam_min,
        vmin: sp.vmin.view(),
        native_scales: native,
    };
    let cert = certify_with(py, obj, &inp)?;
    Ok((sp, cert))
}

/// [`core_h::certify`] with the candidates' points evaluated by `obj` (as `eval_batch`).
fn certify_with(
    py: Python<'_>,
    obj: &ObjectiveRef,
    inp: &core_h::VerdictInput<'_>,
) -> PyResult<core_h::Certificates> {
    let mut py_err: Option<PyErr> = None;
    let mut eval =
        |rows: ArrayView2<'_, f64>| -> hiddenconvex_core::Result<(Vec<f64>, Option<Vec<f64>>)> {
            match obj.eval_batch(py, rows) {
                Ok((v, s)) => Ok((v.to_vec(), s.map(|s| s.to_vec()))),
                Err(e) => {
                    py_err = Some(e);
                    Err(hiddenconvex_core::Error::Interrupted)
                }
            }
        };
    let r = core_h::certify(inp, &mut eval);
    if let Some(e) = py_err {
        return Err(e);
    }
    to_py(r)
}

/// Add the spectra (`eig`, `vmin`, `tol`, `ok`, `lambda_min`, `lambda_max`), the certificates
/// (`cert_t`, `cert_gap`, `cert_tol`), the verdicts (a list of str) and `n_evaluations` (the
/// Hessian's values plus the certificates') to a result dict.
fn add_verdicts(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    sp: core_h::Spectrum,
    cert: core_h::Certificates,
    n_values: u64,
) -> PyResult<()> {
    let last = sp.eig.ncols().saturating_sub(1);
    d.set_item(
        intern!(py, "lambda_min"),
        sp.eig.column(0).to_owned().into_pyarray(py),
    )?;
    d.set_item(
        intern!(py, "lambda_max"),
        sp.eig.column(last).to_owned().into_pyarray(py),
    )?;
    d.set_item(intern!(py, "eig"), sp.eig.into_pyarray(py))?;
    d.set_item(intern!(py, "vmin"), sp.vmin.into_pyarray(py))?;
    d.set_item(intern!(py, "tol"), sp.tol.into_pyarray(py))?;
    d.set_item(intern!(py, "ok"), numpy::PyArray1::from_vec(py, sp.ok))?;
    d.set_item(
        intern!(py, "n_evaluations"),
        n_values + cert.n_evaluations as u64,
    )?;
    add_certificates(py, d, cert)
}

/// Add `cert_t`, `cert_gap`, `cert_tol`, `verdict` (a list of str), `n_candidates` and
/// `n_certificate_evaluations`.
fn add_certificates(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    cert: core_h::Certificates,
) -> PyResult<()> {
    d.set_item(intern!(py, "verdict"), verdict_names(py, &cert.verdict)?)?;
    d.set_item(intern!(py, "cert_t"), cert.t.into_pyarray(py))?;
    d.set_item(intern!(py, "cert_gap"), cert.gap.into_pyarray(py))?;
    d.set_item(intern!(py, "cert_tol"), cert.tol.into_pyarray(py))?;
    d.set_item(intern!(py, "n_candidates"), cert.n_candidates)?;
    d.set_item(intern!(py, "n_certificate_evaluations"), cert.n_evaluations)?;
    Ok(())
}

/// The verdicts as a list of str ("psd", "indefinite", "unreliable", "nonfinite").
fn verdict_names<'py>(
    py: Python<'py>,
    verdict: &[core_h::Verdict],
) -> PyResult<Bound<'py, PyList>> {
    let names: Vec<Bound<'_, PyString>> = verdict
        .iter()
        .map(|v| match v {
            core_h::Verdict::Psd => intern!(py, "psd").clone(),
            core_h::Verdict::Indefinite => intern!(py, "indefinite").clone(),
            core_h::Verdict::Unreliable => intern!(py, "unreliable").clone(),
            core_h::Verdict::Nonfinite => intern!(py, "nonfinite").clone(),
        })
        .collect();
    PyList::new(py, names)
}

/// Certificates and verdicts of a batch whose spectra were computed elsewhere (LAPACK, for
/// Hessians larger than the core eigensolver's limit): `cert_t`, `cert_gap`, `cert_tol`,
/// `verdict` (a list of str), `n_candidates` and `n_certificate_evaluations` (see
/// `hiddenconvex_core::hessian::verdict`).
#[pyfunction]
#[pyo3(signature = (objective, points, steps, f0, s0, kink, ok, tol, lam_min, vmin, dim=None, vectorized=false))]
#[allow(clippy::too_many_arguments)]
fn hessian_certify<'py>(
    py: Python<'py>,
    objective: &Bound<'py, PyAny>,
    points: PyReadonlyArray2<'py, f64>,
    steps: PyReadonlyArray2<'py, f64>,
    f0: PyReadonlyArray1<'py, f64>,
    s0: PyReadonlyArray1<'py, f64>,
    kink: PyReadonlyArray3<'py, bool>,
    ok: PyReadonlyArray1<'py, bool>,
    tol: PyReadonlyArray1<'py, f64>,
    lam_min: PyReadonlyArray1<'py, f64>,
    vmin: PyReadonlyArray2<'py, f64>,
    dim: Option<usize>,
    vectorized: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let obj = ObjectiveRef::extract(objective, dim, vectorized)?;
    let native = matches!(obj, ObjectiveRef::Native(_));
    let ok: Vec<bool> = ok.as_array().to_vec();
    let inp = core_h::VerdictInput {
        points: points.as_array(),
        steps: steps.as_array(),
        f0: f0.as_array(),
        s0: s0.as_array(),
        kink: kink.as_array(),
        ok: &ok,
        tol: tol.as_array(),
        lam_min: lam_min.as_array(),
        vmin: vmin.as_array(),
        native_scales: native,
    };
    let cert = certify_with(py, &obj, &inp)?;
    let d = PyDict::new(py);
    add_certificates(py, &d, cert)?;
    Ok(d)
}

/// The Hessians of a batch (see [`hessian_batch`]): the batch, the step used and whether the
/// objective is native.
#[allow(clippy::too_many_arguments)]
fn batch<'py>(
    py: Python<'py>,
    obj: &ObjectiveRef,
    pts: ArrayView2<'_, f64>,
    method: &str,
    step: Option<f64>,
    richardson: bool,
    vectorized: bool,
    progress: Option<Bound<'py, PyAny>>,
    gradient: Option<Bound<'py, PyAny>>,
) -> PyResult<(core_h::Batch, f64, bool)> {
    let (method, step) = check_args(obj, pts, method, step, richardson)?;
    match (obj, method) {
        (ObjectiveRef::Native(o), Method::Values) => {
            let o = o.clone();
            let b = detach::run(py, progress.as_ref(), move |ctl| {
                core_h::hessian_values_native(o.as_ref(), pts, step, richardson, ctl)
            })?;
            Ok((b, step, true))
        }
        (ObjectiveRef::Native(o), Method::Gradients) => {
            let o = o.clone();
            let small = core_h::gradients_run_is_short(o.as_ref(), pts.nrows(), richardson)
                && progress.as_ref().is_none_or(|p| p.is_none());
            let run = move |ctl: &Control| {
                core_h::hessian_gradients(o.as_ref(), pts, step, richardson, ctl)
            };
            // A short run (below the core's parallel threshold and a few ms of work: see
            // `gradients_run_is_short`) runs on this thread with the GIL released, without the
            // pool and the watcher thread of a long run.
            let b = if small {
                detach::run_inline(py, run)?
            } else {
                detach::run(py, progress.as_ref(), run)?
            };
            Ok((b, step, true))
        }
        (ObjectiveRef::Callable { .. }, Method::Gradients) => {
            let Some(grad_f) = gradient.filter(|g| !g.is_none()) else {
                return Err(invalid(
                    "method",
                    "'gradients' needs an analytic gradient: a native objective, or a Python callable with gradient=",
                ));
            };
            let d = pts.ncols();
            let chunk_rows = (CALLABLE_CHUNK_FLOATS / d).max(1);
            let ctl = Control::new();
            let py_err: std::cell::RefCell<Option<PyErr>> = std::cell::RefCell::new(None);
            let fail = |e: PyErr| {
                *py_err.borrow_mut() = Some(e);
                hiddenconvex_core::Error::Interrupted
            };
            let total = (pts.nrows() * d) as u64;
            let mut vals = |p: ndarray::ArrayView2<'_, f64>| {
                let mut out = Vec::with_capacity(p.nrows());
                let mut lo = 0;
                while lo < p.nrows() {
                    let hi = (lo + chunk_rows).min(p.nrows());
                    let (v, _) = obj
                        .eval_batch(py, p.slice(ndarray::s![lo..hi, ..]))
                        .map_err(fail)?;
                    out.extend(v.iter().copied());
                    lo = hi;
                }
                Ok((out, None))
            };
            let mut done = 0u64;
            let mut grad = |p: ndarray::ArrayView2<'_, f64>, o: ndarray::ArrayViewMut2<'_, f64>| {
                crate::spectra::call_gradient(py, &grad_f, vectorized, p, o)
                    .and_then(|_| py.check_signals())
                    .map_err(fail)?;
                done += p.nrows() as u64;
                if let Some(cb) = progress.as_ref().filter(|c| !c.is_none()) {
                    // gradient rows → columns done (2 or 4 rows per column)
                    let per_col = if richardson { 4 } else { 2 };
                    cb.call1(((done / per_col).min(total), total))
                        .map_err(fail)?;
                }
                Ok(())
            };
            let r = core_h::hessian_gradients_with(
                pts, step, richardson, chunk_rows, &mut vals, &mut grad, &ctl,
            );
            if let Some(e) = py_err.into_inner() {
                return Err(e);
            }
            let b = r.map_err(PyCoreError)?;
            Ok((b, step, false))
        }
        (ObjectiveRef::Callable { .. }, Method::Values) => {
            let d = pts.ncols();
            to_py(core_h::check_size(
                pts.nrows(),
                d,
                Method::Values,
                richardson,
            ))?;
            let st = Stencil::new(d, richardson);
            let r_n = st.n_rows();
            let stp = to_py(core_h::steps(pts, step))?;
            let chunk_rows = (CALLABLE_CHUNK_FLOATS / d).max(1);
            let ctl = Control::new();
            let mut py_err: Option<PyErr> = None;
            let total = (pts.nrows() * r_n) as u64;
            let mut done = 0u64;
            let mut eval =
                |b0: usize, b1: usize| -> hiddenconvex_core::Result<(Vec<f64>, Option<Vec<f64>>)> {
                    let n = (b1 - b0) * r_n;
                    let mut vals = Vec::with_capacity(n);
                    let mut lo = 0;
                    while lo < n {
                        let hi = (lo + chunk_rows).min(n);
                        let block = st.points(pts, stp.view(), b0, lo, hi);
                        match obj.eval_batch(py, block.view()) {
                            Ok((v, _)) => vals.extend(v.iter().copied()),
                            Err(e) => {
                                py_err = Some(e);
                                return Err(hiddenconvex_core::Error::Interrupted);
                            }
                        }
                        done += (hi - lo) as u64;
                        if let Some(cb) = progress.as_ref().filter(|p| !p.is_none()) {
                            if let Err(e) = cb.call1((done, total)) {
                                py_err = Some(e);
                                return Err(hiddenconvex_core::Error::Interrupted);
                            }
                        }
                        if let Err(e) = py.check_signals() {
                            py_err = Some(e);
                            return Err(hiddenconvex_core::Error::Interrupted);
                        }
                        lo = hi;
                    }
                    Ok((vals, None))
                };
            let r = core_h::hessian_values_with(pts, step, richardson, &mut eval, &ctl);
            if let Some(e) = py_err {
                return Err(e);
            }
            let b = r.map_err(PyCoreError)?;
            Ok((b, step, false))
        }
    }
}

/// Whether a native gradients-method analysis of `pts` runs on the calling thread
/// ([`detach::run_inline`]): no progress callback, and the core counts both the Hessians
/// (`gradients_run_is_short`) and the spectra (`SHORT_SPECTRUM_WORK`) as short.
fn analysis_is_short(
    obj: &ObjectiveRef,
    pts: ArrayView2<'_, f64>,
    richardson: bool,
    progress: Option<&Bound<'_, PyAny>>,
) -> bool {
    let ObjectiveRef::Native(o) = obj else {
        return false;
    };
    let (nb, d) = pts.dim();
    progress.is_none_or(|p| p.is_none())
        && core_h::gradients_run_is_short(o.as_ref(), nb, richardson)
        && core_h::spectrum::spectrum_work(nb, d, true) <= core_h::spectrum::SHORT_SPECTRUM_WORK
}

/// The checks of `hessian_batch`'s arguments (method, the points' shape and finiteness, the
/// step): the method and the step to use.
fn check_args(
    obj: &ObjectiveRef,
    pts: ArrayView2<'_, f64>,
    method: &str,
    step: Option<f64>,
    richardson: bool,
) -> PyResult<(Method, f64)> {
    let method = to_py(Method::parse(method))?;
    if pts.ncols() != obj.dim() {
        return Err(invalid(
            "points",
            format!(
                "expected {} columns (the objective's dimension), got {}",
                obj.dim(),
                pts.ncols()
            ),
        ));
    }
    if pts.nrows() == 0 {
        return Err(invalid("points", "need at least one point"));
    }
    let step = step.unwrap_or_else(|| core_h::default_step(method, richardson));
    if !(step.is_finite() && step > 0.0) {
        return Err(invalid(
            "step",
            format!("must be a finite number > 0, got {step}"),
        ));
    }
    to_py(hiddenconvex_core::error::ensure_finite_iter(
        "points",
        pts.iter(),
    ))?;
    Ok((method, step))
}

/// τ = ‖E‖_F, the `ok` flags and (with `eigen`) the ascending eigenvalues and λ_min eigenvectors
/// of a batch of Hessians (see `hiddenconvex_core::hessian::spectrum`). Returns a dict of arrays.
#[pyfunction]
fn hessian_spectrum<'py>(
    py: Python<'py>,
    h: PyReadonlyArray3<'py, f64>,
    err: PyReadonlyArray3<'py, f64>,
    finite: PyReadonlyArray1<'py, bool>,
    eigen: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (hv, ev) = (h.as_array(), err.as_array());
    let fin: Vec<bool> = finite.as_array().to_vec();
    let (b, d, _) = hv.dim();
    let run = move |ctl: &Control| core_h::spectrum(hv, ev, &fin, eigen, ctl);
    let sp =
        if core_h::spectrum::spectrum_work(b, d, eigen) <= core_h::spectrum::SHORT_SPECTRUM_WORK {
            detach::run_inline(py, run)?
        } else {
            detach::run(py, None, run)?
        };
    let out = PyDict::new(py);
    out.set_item(intern!(py, "eig"), sp.eig.into_pyarray(py))?;
    out.set_item(intern!(py, "vmin"), sp.vmin.into_pyarray(py))?;
    out.set_item(intern!(py, "tol"), sp.tol.into_pyarray(py))?;
    out.set_item(intern!(py, "ok"), numpy::PyArray1::from_vec(py, sp.ok))?;
    Ok(out)
}

/// The default relative step for a method ("values" | "gradients") with or without Richardson.
#[pyfunction]
fn hessian_default_step(method: &str, richardson: bool) -> PyResult<f64> {
    Ok(core_h::default_step(
        to_py(Method::parse(method))?,
        richardson,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hessian_analysis, m)?)?;
    m.add_function(wrap_pyfunction!(hessian_batch, m)?)?;
    m.add_function(wrap_pyfunction!(hessian_certify, m)?)?;
    m.add_function(wrap_pyfunction!(hessian_default_step, m)?)?;
    m.add_function(wrap_pyfunction!(hessian_spectrum, m)?)?;
    Ok(())
}
