//! The one error type of the core. The bindings map each variant to one Python exception.

use std::fmt;

/// Every failure the core can report. Never panic on user input: return one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An argument is out of its domain (shape, value, size). `arg` names the argument.
    #[error("{arg}: {msg}")]
    InvalidArgument { arg: String, msg: String },
    /// The requested work would exceed a size or memory budget; `estimate` says how much it needs.
    #[error("{what}: estimated {estimate} exceeds the limit {limit}. {hint}")]
    TooLarge {
        what: String,
        estimate: String,
        limit: String,
        hint: String,
    },
    /// A numerical failure (non-finite value where one is required, singular system, ...).
    #[error("numerical error: {0}")]
    Numerical(String),
    /// The run was cancelled through [`crate::Control::cancel`] (Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(arg: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            arg: arg.into(),
            msg: msg.to_string(),
        }
    }

    /// Shorthand for [`Error::TooLarge`].
    pub fn too_large(
        what: impl Into<String>,
        estimate: impl fmt::Display,
        limit: impl fmt::Display,
        hint: impl Into<String>,
    ) -> Self {
        Error::TooLarge {
            what: what.into(),
            estimate: estimate.to_string(),
            limit: limit.to_string(),
            hint: hint.into(),
        }
    }
}

/// Check that every value of a slice is finite; name the argument in the error.
pub fn ensure_finite(arg: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            arg,
            format!(
                "contains a non-finite value ({}) at flat index {i}",
                values[i]
            ),
        )),
    }
}

/// Check that every value of an array view is finite (any layout).
pub fn ensure_finite_iter<'a>(arg: &str, values: impl IntoIterator<Item = &'a f64>) -> Result<()> {
    for (i, v) in values.into_iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::invalid(
                arg,
                format!("contains a non-finite value ({v}) at flat index {i}"),
            ));
        }
    }
    Ok(())
}
