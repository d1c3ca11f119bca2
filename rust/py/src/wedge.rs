//! Bindings for `hiddenconvex_core::wedge`: the wedge dictionary and its Lasso.

use hiddenconvex_core::wedge::{self as wg, lasso, Features, Norm, Spec};
use ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::detach;
use crate::errors::invalid;

/// Build the wedge dictionary of the rows of `x` and return it as a dict.
#[pyfunction]
#[pyo3(signature = (x, *, norm="l2", norm_dims=None, axes=false, features="exact",
    n_features=0, seed=0, max_bytes=1u64 << 34, progress=None))]
#[allow(clippy::too_many_arguments)]
fn wedge_dictionary<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    norm: &str,
    norm_dims: Option<usize>,
    axes: bool,
    features: &str,
    n_features: usize,
    seed: u64,
    max_bytes: u64,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let norm = crate::errors::to_py(Norm::parse(norm))?;
    let features = match features {
        "exact" => Features::Exact,
        "sample" => Features::Sample { n_features, seed },
        other => {
            return Err(invalid(
                "features",
                format!("expected 'exact' or 'sample', got {other:?}"),
            ))
        }
    };
    let xv = x.as_array();
    let spec = Spec {
        norm,
        norm_dims: norm_dims.unwrap_or(xv.ncols()),
        axes,
        features,
        max_bytes,
    };
    let d = detach::run(py, progress.as_ref(), move |ctl| {
        wg::dictionary(xv.view(), &spec, ctl)
    })?;
    let m = d.len();
    let out = PyDict::new(py);
    let to2 = |v: Vec<f64>, r: usize, c: usize| Array2::from_shape_vec((r, c), v);
    let neurons = to2(d.neurons, m, d.dim).map_err(|e| invalid("x", e))?;
    let values = to2(d.values, m, d.n).map_err(|e| invalid("x", e))?;
    let subsets: Vec<i64> = d.subsets.iter().map(|&v| v as i64).collect();
    let subsets = Array2::from_shape_vec((m, d.k), subsets).map_err(|e| invalid("x", e))?;
    out.set_item("neurons", neurons.into_pyarray(py))?;
    out.set_item("values", values.into_pyarray(py))?;
    out.set_item("subsets", subsets.into_pyarray(py))?;
    out.set_item("n_subsets", d.n_subsets)?;
    out.set_item("n_degenerate", d.n_degenerate)?;
    out.set_item("n_bias_only", d.n_bias_only)?;
    out.set_item("n_exact_signs", d.n_exact_signs)?;
    out.set_item("n_exact_normals", d.n_exact_normals)?;
    Ok(out)
}

/// Bytes a dictionary of the given size would take (the refusal estimate).
#[pyfunction]
fn wedge_bytes_estimate(n_subsets: u64, n: usize, dim: usize) -> u128 {
    wg::bytes_estimate(n_subsets as u128, n, dim)
}

/// Solve the Lasso over a dictionary's signed values (m × n) with a duality-gap certificate.
#[pyfunction]
#[pyo3(signature = (values, y, beta, *, intercept=false, tol=1e-8, max_iter=1000, progress=None))]
#[allow(clippy::too_many_arguments)]
fn wedge_lasso<'py>(
    py: Python<'py>,
    values: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    beta: f64,
    intercept: bool,
    tol: f64,
    max_iter: usize,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    if max_iter == 0 {
        return Err(invalid("max_iter", "must be >= 1"));
    }
    let v = values.as_array();
    let n = v.ncols();
    let flat: Vec<f64> = v.iter().copied().collect();
    let yv: Vec<f64> = y.as_array().iter().copied().collect();
    let s = lasso::Settings {
        beta,
        intercept,
        tol,
        max_iter,
    };
    let sol = detach::run(py, progress.as_ref(), move |ctl| {
        lasso::solve(&flat, n, &yv, &s, ctl)
    })?;
    let out = PyDict::new(py);
    out.set_item("z", sol.z.into_pyarray(py))?;
    out.set_item("intercept", sol.intercept)?;
    out.set_item("primal", sol.primal)?;
    out.set_item("dual", sol.dual)?;
    out.set_item("theta", sol.theta.into_pyarray(py))?;
    out.set_item("n_iter", sol.n_iter)?;
    out.set_item("n_sweeps", sol.n_sweeps)?;
    out.set_item("converged", sol.converged)?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(wedge_dictionary, m)?)?;
    m.add_function(wrap_pyfunction!(wedge_bytes_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(wedge_lasso, m)?)?;
    Ok(())
}
