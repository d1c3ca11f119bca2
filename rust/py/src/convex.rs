//! Bindings for `hiddenconvex_core::convex`.

use hiddenconvex_core::convex::{self as cx, Kind, Loss, Problem, Settings, WarmStart};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::detach;
use crate::errors::{invalid, to_py};

/// Solve the ReLU (cone-constrained) or gated convex program. Returns a dict of results.
#[pyfunction]
#[pyo3(signature = (x, y, patterns, beta, *, kind="relu", loss="squared", huber_delta=1.0,
    solver="auto", tol=1e-6, max_iter=10000, check_every=10, warm_z=None, warm_a=None,
    warm_b=None, warm_c=None, warm_rho=None, par_threshold=200000,
    progress=None, gates=None, memory_limit=None, verbose=false))]
#[allow(clippy::too_many_arguments)]
fn convex_solve<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    patterns: PyReadonlyArray2<'py, bool>,
    beta: f64,
    kind: &str,
    loss: &str,
    huber_delta: f64,
    solver: &str,
    tol: f64,
    max_iter: usize,
    check_every: usize,
    warm_z: Option<PyReadonlyArray2<'py, f64>>,
    warm_a: Option<PyReadonlyArray1<'py, f64>>,
    warm_b: Option<PyReadonlyArray2<'py, f64>>,
    warm_c: Option<PyReadonlyArray2<'py, f64>>,
    warm_rho: Option<f64>,
    par_threshold: usize,
    progress: Option<Bound<'py, PyAny>>,
    gates: Option<PyReadonlyArray2<'py, f64>>,
    memory_limit: Option<usize>,
    verbose: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let kind = match kind {
        "relu" => Kind::Relu,
        "gated" => Kind::Gated,
        other => {
            return Err(invalid(
                "kind",
                format!("expected 'relu' or 'gated', got {other:?}"),
            ))
        }
    };
    let loss = to_py(Loss::parse_convex(loss, huber_delta))?;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(invalid(
            "tol",
            format!("must be a finite number > 0, got {tol}"),
        ));
    }
    if max_iter == 0 {
        return Err(invalid("max_iter", "must be >= 1"));
    }
    let (n, d) = x.as_array().dim();
    let n_patterns = patterns.as_array().nrows();
    let settings = Settings {
        tol,
        max_iter,
        check_every: check_every.max(1),
        trace: verbose.then(cx::Trace::default),
        budget: cx::Budget::after_fit(memory_limit, solver, kind, n, d, n_patterns),
    };
    let warm = WarmStart {
        z: warm_z.map(|a| a.as_array().to_owned()),
        a: warm_a.map(|a| a.as_array().to_owned()),
        b: warm_b.map(|a| a.as_array().to_owned()),
        c: warm_c.map(|a| a.as_array().to_owned()),
        rho: warm_rho,
    };
    let xv = x.as_array();
    let yv = y.as_array();
    let pv = patterns.as_array();
    let gv = gates.as_ref().map(|g| g.as_array());
    let solver = solver.to_string();
    let (fit, secs) = detach::run(py, progress.as_ref(), move |ctl| {
        if let Some(limit) = memory_limit {
            let (n, d) = xv.dim();
            cx::check_memory(&solver, kind, n, d, pv.nrows(), limit)?;
        }
        ctl.check()?;
        let prob = Problem::new_ctl(xv, yv, pv, loss, beta, kind, par_threshold, ctl)?;
        ctl.check()?;
        let start = std::time::Instant::now();
        let fit = cx::fit(&prob, &solver, &settings, &warm, gv, ctl)?;
        Ok((fit, start.elapsed().as_secs_f64()))
    })?;
    let sol = fit.sol;
    let out = PyDict::new(py);
    out.set_item("z", sol.z.into_pyarray(py))?;
    out.set_item("objective", sol.objective)?;
    out.set_item("network_objective", sol.network_objective)?;
    out.set_item("dual", sol.dual)?;
    out.set_item("dual_point", sol.dual_point.into_pyarray(py))?;
    out.set_item("cone_multipliers", sol.cone_multipliers.into_pyarray(py))?;
    out.set_item("violation", sol.violation)?;
    out.set_item("n_iter", sol.n_iter)?;
    out.set_item("converged", sol.converged)?;
    out.set_item("rho", sol.rho)?;
    out.set_item("solve_seconds", secs)?;
    out.set_item("solver", fit.solver)?;
    out.set_item("beta_max", fit.beta_max)?;
    out.set_item("reason", fit.reason)?;
    out.set_item("log", fit.log)?;
    let tm = PyDict::new(py);
    for (k, v) in fit.timings {
        tm.set_item(k, v)?;
    }
    out.set_item("timings", tm)?;
    let w = sol.warm;
    out.set_item("warm_z", w.z.map(|a| a.into_pyarray(py)))?;
    out.set_item("warm_a", w.a.map(|a| a.into_pyarray(py)))?;
    out.set_item("warm_b", w.b.map(|a| a.into_pyarray(py)))?;
    out.set_item("warm_c", w.c.map(|a| a.into_pyarray(py)))?;
    out.set_item("warm_rho", w.rho)?;
    Ok(out)
}

/// Rigorous certificate at given blocks z (d × B): the dual bound of the sharp certificate
/// (λ = ℓ'(prediction), μ by NNLS; ReLU) or of `Problem::certify` (gated). Returns a dict.
#[pyfunction]
#[pyo3(signature = (x, y, patterns, beta, z, *, kind="relu", loss="squared", huber_delta=1.0))]
#[allow(clippy::too_many_arguments)]
fn convex_certify<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    patterns: PyReadonlyArray2<'py, bool>,
    beta: f64,
    z: PyReadonlyArray2<'py, f64>,
    kind: &str,
    loss: &str,
    huber_delta: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let kind = match kind {
        "relu" => Kind::Relu,
        "gated" => Kind::Gated,
        other => {
            return Err(invalid(
                "kind",
                format!("expected 'relu' or 'gated', got {other:?}"),
            ))
        }
    };
    let loss = to_py(Loss::parse_convex(loss, huber_delta))?;
    let xv = x.as_array();
    let yv = y.as_array();
    let pv = patterns.as_array();
    let zv = z.as_array().to_owned();
    let cert = detach::run(py, None, move |ctl| {
        let prob = Problem::new_ctl(xv, yv, pv, loss, beta, kind, usize::MAX, ctl)?;
        if zv.dim() != (prob.d(), prob.n_blocks()) {
            return Err(hiddenconvex_core::error::Error::invalid(
                "z",
                format!(
                    "expected shape ({}, {}), got {:?}",
                    prob.d(),
                    prob.n_blocks(),
                    zv.dim()
                ),
            ));
        }
        match kind {
            Kind::Relu => Ok(cx::sharp_certificate(&prob, &zv, ctl)?.0),
            Kind::Gated => Ok(prob.certify(&zv, None, None)),
        }
    })?;
    let out = PyDict::new(py);
    out.set_item("objective", cert.objective)?;
    out.set_item("network_objective", cert.network_objective)?;
    out.set_item("dual", cert.dual)?;
    out.set_item("dual_point", cert.dual_point.into_pyarray(py))?;
    out.set_item("violation", cert.violation)?;
    Ok(out)
}

/// Row sums of the loss of predictions `f` against targets `y` (same shape) and, with `grad`,
/// the pointwise derivatives: the core's loss module, for the Python layer's network objectives.
#[pyfunction]
#[pyo3(signature = (loss, f, y, *, huber_delta=1.0, grad=false))]
#[allow(clippy::type_complexity)]
fn loss_rows<'py>(
    py: Python<'py>,
    loss: &str,
    f: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    huber_delta: f64,
    grad: bool,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyArray2<f64>>>)> {
    let loss = to_py(Loss::parse_convex(loss, huber_delta))?;
    let (sums, g) = to_py(hiddenconvex_core::convex::loss::row_sums(
        loss,
        f.as_array(),
        y.as_array(),
        grad,
    ))?;
    Ok((sums.into_pyarray(py), g.map(|g| g.into_pyarray(py))))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(loss_rows, m)?)?;
    m.add_function(wrap_pyfunction!(convex_solve, m)?)?;
    m.add_function(wrap_pyfunction!(convex_certify, m)?)?;
    Ok(())
}
