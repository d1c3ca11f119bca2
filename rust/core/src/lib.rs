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

// The docs link internal items (kernels, constants, private helpers): this crate is the core of
// the Python package, not a published Rust API, and is read with `cargo doc
// --document-private-items` (which resolves every link).
#![allow(rustdoc::private_intra_doc_links)]

/// Define `$name`, which runs `$avx2` (the `#[inline(always)]` body `$portable`, given as the
/// block after the signature, compiled with
/// AVX2 enabled) when the CPU has AVX2 and `$portable` otherwise: the same operations in the same
/// order (no fused multiply-add), so bit-identical results. Used by the kernels whose AVX2 build
/// is their portable body recompiled (the networks' first-layer rows, the convex solvers'
/// gathered cone rows); the loss kernels with explicit AVX2 + FMA lanes use `simd_dispatch!`.
macro_rules! avx2_twin {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $avx2:ident / $portable:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports the feature the function was compiled for.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx2($($arg: $ty),*) {
            $portable($($arg),*)
        }

        /// The portable body (inlined into both entry points).
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn $portable($($arg: $ty),*) $body
    };
}

/// [`avx2_twin!`] with a third build: `$avx512`, the same body compiled with AVX-512F enabled
/// (eight lanes per vector), run where the CPU has AVX-512F and the crate was built by Rust ≥ 1.89
/// (whose AVX-512 target features are stable; see [`avx512_available`]). The same operations in
/// the same order in all three builds (no fused multiply-add: the compiler contracts none), so
/// bit-identical results. Used by the networks' fused first-layer and output-unit rows and by
/// fixed-order partial sums of their column paths.
macro_rules! avx512_twin {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $avx512:ident / $avx2:ident / $portable:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        avx512_twin! {
            $(#[$m])* $vis fn $name / $avx512 / $avx2 / $portable [_L = 0, 0, 0] ($($arg: $ty),*) $body
        }
    };
    // With `[L = a, b, c]`: the body is generic over `const L: usize` (a register-block width),
    // instantiated with a in the AVX-512 build, b in the AVX2 build and c in the portable one
    // (wider blocks where there are more and wider registers; a point's operations do not
    // depend on the block it is in).
    ($(#[$m:meta])* $vis:vis fn $name:ident / $avx512:ident / $avx2:ident / $portable:ident [$l:ident = $l512:expr, $l2:expr, $lp:expr] ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if $crate::avx512_available() {
                    // SAFETY: the CPU supports the feature the function was compiled for.
                    return unsafe { $avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports the feature the function was compiled for.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $portable::<{ $lp }>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[rustversion::since(1.89)]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx512($($arg: $ty),*) {
            $portable::<{ $l512 }>($($arg),*)
        }

        /// Never called before Rust 1.89 ([`avx512_available`] is false there).
        #[cfg(target_arch = "x86_64")]
        #[rustversion::before(1.89)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx512($($arg: $ty),*) {
            $portable::<{ $l512 }>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx2($($arg: $ty),*) {
            $portable::<{ $l2 }>($($arg),*)
        }

        /// The portable body (inlined into every entry point).
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn $portable<const $l: usize>($($arg: $ty),*) $body
    };
}

/// Whether the CPU has AVX-512F and this build may use it (Rust ≥ 1.89, where the AVX-512
/// target features and intrinsics are stable).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn avx512_available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// See the Rust ≥ 1.89 twin: never.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn avx512_available() -> bool {
    false
}

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
