//! Bindings for `hiddenconvex_core::convex`.

use hiddenconvex_core::convex::{self as cx, Kind, Loss, Problem, Settings, WarmStart};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::detach;
use crate::errors::{invalid, to_py};

/// Solve the ReLU (cone-constrained) or gated convex program. Returns a dict of results.
#[pyfunction]
#[pyo3(signature = (x, y, patterns, beta, *, kind="relu", loss="squared", huber_delta=1.0,
    solver="admm", tol=1e-6, max_iter=10000, check_every=10, warm_z=None, warm_a=None,
    warm_b=None, warm_c=None, warm_rho=None, par_threshold=200000,
    progress=None, gates=None))]
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
    let loss = to_py(Loss::parse(loss, huber_delta))?;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(invalid(
            "tol",
            format!("must be a finite number > 0, got {tol}"),
        ));
    }
    if max_iter == 0 {
        return Err(invalid("max_iter", "must be >= 1"));
    }
    let which = match solver {
        "admm" | "fista" | "bcd" | "al" | "ipm" | "newton" => solver.to_string(),
        other => {
            return Err(invalid(
                "solver",
                format!("expected 'admm', 'fista', 'bcd', 'al', 'ipm' or 'newton', got {other:?}"),
            ))
        }
    };
    let settings = Settings {
        tol,
        max_iter,
        check_every: check_every.max(1),
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
    let (sol, secs, used) = detach::run(py, progress.as_ref(), move |ctl| {
        let prob = Problem::new(xv, yv, pv, loss, beta, kind, par_threshold)?;
        let start = std::time::Instant::now();
        let mut used = which.clone();
        let sol = match which.as_str() {
            "ipm" => match cx::ipm::solve_working_set(&prob, &settings, gv, ctl)? {
                Some(s) if s.converged => s,
                Some(s) if s.n_iter >= settings.max_iter => s,
                Some(s) => {
                    // not certified: finish with FISTA from the interior-point iterate, on its
                    // support first, then on the whole program; max_iter bounds the total
                    used = "ipm+fista".to_string();
                    let remaining = settings.max_iter - s.n_iter;
                    let rest = Settings {
                        max_iter: remaining,
                        ..settings.clone()
                    };
                    let mut f = cx::ipm::finish_on_support(&prob, &rest, &s.z, gv, ctl)?;
                    if !f.converged && f.n_iter < remaining {
                        let w = WarmStart {
                            z: Some(f.z.clone()),
                            ..warm.clone()
                        };
                        let rest2 = Settings {
                            max_iter: remaining - f.n_iter,
                            ..settings.clone()
                        };
                        let mut f2 = cx::fista::solve(&prob, &rest2, &w, ctl)?;
                        f2.n_iter += f.n_iter;
                        if f.dual > f2.dual {
                            f2.dual = f.dual;
                            f2.dual_point = f.dual_point;
                        }
                        f = f2;
                    }
                    f.n_iter += s.n_iter;
                    if s.dual > f.dual {
                        f.dual = s.dual;
                        f.dual_point = s.dual_point;
                    }
                    f.converged = f.converged
                        || cx::gap_ok(f.objective.max(f.network_objective), f.dual, settings.tol);
                    f
                }
                None => {
                    used = "fista".to_string();
                    cx::fista::solve(&prob, &settings, &warm, ctl)?
                }
            },
            "fista" => cx::fista::solve(&prob, &settings, &warm, ctl)?,
            "bcd" => cx::bcd::solve(&prob, &settings, &warm, ctl)?,
            "newton" => cx::newton::solve(&prob, &settings, &warm, ctl)?,
            "al" => cx::al::solve(&prob, &settings, &warm, ctl)?,
            _ => cx::admm::solve(&prob, &settings, &warm, ctl)?,
        };
        Ok((sol, start.elapsed().as_secs_f64(), used))
    })?;
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
    out.set_item("solver", used)?;
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
    let loss = to_py(Loss::parse(loss, huber_delta))?;
    let xv = x.as_array();
    let yv = y.as_array();
    let pv = patterns.as_array();
    let zv = z.as_array().to_owned();
    let cert = detach::run(py, None, move |ctl| {
        let prob = Problem::new(xv, yv, pv, loss, beta, kind, usize::MAX)?;
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
            Kind::Relu => Ok(cx::polish::sharp_certificate(&prob, &zv, ctl)?.0),
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(convex_solve, m)?)?;
    m.add_function(wrap_pyfunction!(convex_certify, m)?)?;
    Ok(())
}
