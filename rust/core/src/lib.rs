//! Pure-Rust algorithms behind `hiddenconvex`.
//!
//! No Python here: every public function takes plain Rust data (`ndarray` views, slices),
//! returns [`Result`], and reports progress / honours cancellation through [`Control`].
//! The bindings crate (`rust/py`) only converts, detaches from the GIL, calls, and repackages.
//!
//! Capabilities (one module each, mirrored in `rust/py/src/` and `python/hiddenconvex/`):
//! - [`arrangement`]: activation chambers of the hyperplane arrangement of the data.
//! - [`objective`]: native objectives (value, gradient) on a flat parameter vector.
//! - [`hessian`]: batched finite-difference Hessians.
//! - [`midpoint`]: midpoint-convexity sampling.
//! - [`convex`]: the convex reformulation of two-layer ReLU training and its solvers.
//! - [`spectra`]: Hessian-vector products, Lanczos eigenvalues and spectral densities at large D.
//! - [`wedge`]: wedge-product (generalised cross product) dictionaries and their Lasso.
//!
//! Shared by them: [`loss`], the one pointwise loss type (objectives, and through them Hessians
//! and midpoint tests; convex solvers).

pub mod control;
pub mod error;
pub mod loss;
pub mod parallel;
pub mod rng;

pub mod arrangement;
pub mod convex;
pub mod hessian;
pub mod midpoint;
pub mod objective;
pub mod spectra;
pub mod wedge;

pub use control::Control;
pub use error::{Error, Result};
