//! The one place where core errors become Python exceptions.
//!
//! The exception classes live in `hiddenconvex.exceptions` (pure Python, so they can subclass both
//! `HiddenConvexError` and `ValueError`); we look them up by name when raising.

use hiddenconvex_core::Error as CoreError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// Newtype around the core error (orphan rule), converted to `PyErr` in one place.
#[derive(Debug)]
pub struct PyCoreError(pub CoreError);

impl From<CoreError> for PyCoreError {
    fn from(e: CoreError) -> Self {
        PyCoreError(e)
    }
}

/// Build an instance of `hiddenconvex.exceptions.<name>` with `msg`.
pub fn package_error(name: &str, msg: String) -> PyErr {
    Python::attach(|py| {
        let cls = py
            .import("hiddenconvex.exceptions")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match cls {
            Ok(cls) => PyErr::from_type(cls, msg),
            Err(_) => PyRuntimeError::new_err(msg),
        }
    })
}

/// `InvalidInputError` (a `ValueError`) naming the argument.
pub fn invalid(arg: &str, msg: impl std::fmt::Display) -> PyErr {
    package_error("InvalidInputError", format!("{arg}: {msg}"))
}

impl From<PyCoreError> for PyErr {
    fn from(e: PyCoreError) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            CoreError::InvalidArgument { .. } => package_error("InvalidInputError", msg),
            CoreError::TooLarge { .. } => package_error("ResourceLimitError", msg),
            CoreError::Numerical(_) => package_error("NumericalError", msg),
            CoreError::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// Convert a core result.
pub fn to_py<T>(r: hiddenconvex_core::Result<T>) -> PyResult<T> {
    r.map_err(|e| PyCoreError(e).into())
}
