//! Pointwise losses and activations shared by the native objectives — the one loss module of the
//! core: the objectives, Hessians, midpoint tests and slices all evaluate losses through it, and
//! the convex solvers can use the same kernels.
//!
//! Scaling convention: every data loss is a **sum** over samples (and outputs), never a mean:
//! `L(θ) = Σ_i ℓ(f(x_i; θ), y_i)`. Classification labels are ±1 inside the core (the Python layer
//! maps {0, 1} to {−1, +1}).
//!
//! Two paths compute the same functions:
//!
//! - **scalar** ([`Loss::eval`], [`Activation::apply`], [`sigmoid`], [`softplus`]): the platform
//!   `exp`/`ln_1p`/`tanh`, one value at a time;
//! - **vectorised** (the `*_slice` kernels, [`loss_accumulate_row`] and [`loss_derivs_row`]):
//!   branch-free polynomial kernels ([`exp_v`], [`log1p_unit_v`], [`expm1_v`], [`tanh_v`],
//!   [`sigmoid_v`], [`softplus_v`]) over slices, four lanes at a time with AVX2 intrinsics
//!   (chosen at run time when the CPU has AVX2, module `avx2`) or one value at a time (the
//!   portable twins). Both perform the same IEEE operations in the same order (no fused
//!   multiply-add), so their results are bit-identical; they are what the batched evaluation of
//!   the native objectives ([`crate::objective::Objective::values_scales_block`]) uses.
//!
//! Accuracy of the vectorised kernels (bounds asserted by the tests of this module, relative to
//! the platform's functions on dense sweeps of the argument range): `exp_v` ≤ 2 ulp, `expm1_v`
//! ≤ 3 ulp, `log1p_unit_v` (argument in [0, 1]) ≤ 3 ulp, `sigmoid_v`, `softplus_v`, `tanh_v` ≤ 4
//! ulp (`KERNEL_ULP`). A loss term computed with them differs from the scalar path by at most
//! `KERNEL_ULP · eps · |term|`, which the rounding scale s = Σ|terms| + … already covers: every
//! rounding bound of the form `C · eps · s` stays valid with C increased by `KERNEL_ULP` (the
//! Hessians use C = 8, the midpoint tests 32 and more).

use crate::error::{Error, Result};

/// A pointwise loss ℓ(f, y) of a prediction f and a target y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// ½ (f − y)².
    Squared,
    /// log(1 + exp(−y f)), y ∈ {−1, +1} (binary cross-entropy on the logit f).
    Logistic,
    /// max(0, 1 − y f), y ∈ {−1, +1}.
    Hinge,
    /// max(0, 1 − y f)², y ∈ {−1, +1} (no ½).
    SquaredHinge,
}

impl Loss {
    /// Parse "squared" | "logistic" | "hinge" | "squared_hinge".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "squared" => Ok(Loss::Squared),
            "logistic" => Ok(Loss::Logistic),
            "hinge" => Ok(Loss::Hinge),
            "squared_hinge" => Ok(Loss::SquaredHinge),
            _ => Err(Error::invalid(
                "loss",
                format!(
                    "expected one of 'squared', 'logistic', 'hinge', 'squared_hinge', got {s:?}"
                ),
            )),
        }
    }

    /// The option string.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Squared => "squared",
            Loss::Logistic => "logistic",
            Loss::Hinge => "hinge",
            Loss::SquaredHinge => "squared_hinge",
        }
    }

    /// Whether targets must be ±1 labels.
    pub fn is_classification(self) -> bool {
        !matches!(self, Loss::Squared)
    }

    /// `(ℓ(f, y), ∂ℓ/∂f)`. Kinks (hinge at y f = 1) take the left derivative's value −y.
    #[inline]
    pub fn eval(self, f: f64, y: f64) -> (f64, f64) {
        match self {
            Loss::Squared => {
                let r = f - y;
                (0.5 * r * r, r)
            }
            Loss::Logistic => {
                let z = y * f;
                // log(1 + e^{−z}) computed stably; derivative −y σ(−z).
                let l = (-z).max(0.0) + (-z.abs()).exp().ln_1p();
                (l, -y * sigmoid(-z))
            }
            Loss::Hinge => {
                let m = 1.0 - y * f;
                if m > 0.0 {
                    (m, -y)
                } else {
                    (0.0, 0.0)
                }
            }
            Loss::SquaredHinge => {
                let m = 1.0 - y * f;
                if m > 0.0 {
                    (m * m, -2.0 * y * m)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }

    /// Rounding-error scale of one loss term, given the error bound `ef` (in units of eps) of the
    /// prediction f: |ℓ| + |ℓ'| (ef + the magnitude of the other operand of the subtraction).
    #[inline]
    pub fn term_scale(self, l: f64, dl: f64, ef: f64, y: f64) -> f64 {
        let other = match self {
            Loss::Squared => y.abs(),
            Loss::Logistic => 0.0,
            Loss::Hinge | Loss::SquaredHinge => 1.0,
        };
        l.abs() + dl.abs() * (ef + other)
    }
}

/// The logistic function 1/(1 + e^{−z}), computed without overflow.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z), computed without overflow.
#[inline]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Elementwise activation g.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// g(z) = z.
    Identity,
    /// g(z) = max(z, 0); g'(0) := 0.
    Relu,
    /// g(z) = tanh z.
    Tanh,
    /// g(z) = log(1 + e^z).
    Softplus,
    /// g(z) = 1/(1 + e^{−z}).
    Sigmoid,
}

impl Activation {
    /// Parse "identity" | "relu" | "tanh" | "softplus" | "sigmoid".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "identity" => Ok(Activation::Identity),
            "relu" => Ok(Activation::Relu),
            "tanh" => Ok(Activation::Tanh),
            "softplus" => Ok(Activation::Softplus),
            "sigmoid" => Ok(Activation::Sigmoid),
            _ => Err(Error::invalid(
                "activation",
                format!(
                    "expected one of 'relu', 'tanh', 'softplus', 'sigmoid', 'identity', got {s:?}"
                ),
            )),
        }
    }

    /// The option string.
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// `(g(z), g'(z))`.
    #[inline]
    pub fn apply(self, z: f64) -> (f64, f64) {
        match self {
            Activation::Identity => (z, 1.0),
            Activation::Relu => {
                if z > 0.0 {
                    (z, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                (t, 1.0 - t * t)
            }
            Activation::Softplus => (softplus(z), sigmoid(z)),
            Activation::Sigmoid => {
                let s = sigmoid(z);
                (s, s * (1.0 - s))
            }
        }
    }

    /// A Lipschitz constant of g (propagates rounding-error bounds).
    pub fn lipschitz(self) -> f64 {
        match self {
            Activation::Sigmoid => 0.25,
            _ => 1.0,
        }
    }
}

// ---- vectorised kernels ---------------------------------------------------------------------

/// Tested bound, in ulp, of the difference between a vectorised kernel and the scalar path
/// (see the module documentation).
pub const KERNEL_ULP: f64 = 4.0;

/// ln 2 = LN2_HI + LN2_LO (fdlibm's split): LN2_HI has 21 trailing zero bits, so n · LN2_HI is
/// exact for |n| < 2^21.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// 1.5 · 2^52: `(x + MAGIC) − MAGIC` rounds |x| < 2^51 to the nearest integer (ties to even).
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// expm1(r) for |r| ≤ ln2/2: the Taylor polynomial of degree 13, whose truncation error
/// |r|^14/14! ≤ 5e-18 is below half an ulp; evaluated by Horner's rule as r + r·(r·p(r)).
#[inline(always)]
fn expm1_reduced(r: f64) -> f64 {
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0,
    ];
    let mut p = C[11];
    for k in (0..11).rev() {
        p = p * r + C[k];
    }
    r + r * (r * p)
}

/// `(n, r)` with x = n ln2 + r, n an integer (as a float), |r| ≤ ln2/2 (Cody–Waite reduction).
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    let nf = (x * LOG2E + MAGIC) - MAGIC;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    (nf, r)
}

/// 2^n for an integer n ∈ [−1022, 1024] given as a float (2^1024 gives +inf), by building the
/// exponent bits (integer add and shift only: vectorisable on AVX2).
#[inline(always)]
fn pow2(nf: f64) -> f64 {
    f64::from_bits(
        (nf + (MAGIC + 1023.0))
            .to_bits()
            .wrapping_sub(MAGIC.to_bits())
            << 52,
    )
}

/// e^x, branch-free (vectorisable). Overflow gives +inf, underflow 0 (subnormal results are
/// rounded once), NaN propagates. Error ≤ 1 ulp (tested).
#[inline(always)]
pub(crate) fn exp_v(x: f64) -> f64 {
    let xc = x.clamp(-746.0, 710.0);
    let (nf, r) = reduce(xc);
    let p = 1.0 + expm1_reduced(r);
    // 2^n as 2^n1 · 2^n2 so that subnormal results and n = 1024 are handled.
    let n1 = (nf * 0.5 + MAGIC) - MAGIC;
    let n2 = nf - n1;
    let y = p * pow2(n1) * pow2(n2);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// e^x − 1 for x ≤ 709 (larger x are clamped to 709), accurate near 0 (no cancellation):
/// 2^n·expm1(r) + (2^n − 1). Error ≤ 2 ulp (tested).
#[inline(always)]
pub(crate) fn expm1_v(x: f64) -> f64 {
    let xc = x.clamp(-60.0, 709.0);
    let (nf, r) = reduce(xc);
    let q = expm1_reduced(r);
    let s = pow2(nf);
    let y = s * q + (s - 1.0);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// log(1 + u) for u ∈ [0, 1] (the domain of every use here: u = e^{−|z|}), branch-free:
/// 2·atanh(s) with s = u/(2 + u) (u < ½) or, for u ≥ ½, ln 2 + 2·atanh((u − 1)/(u + 3))
/// (u − 1 is exact there); |s| ≤ 1/5 and the odd series is cut after s^23 (truncation < 1e-18
/// relative). Error ≤ 2 ulp on [0, 1] (tested); not for arguments outside [0, 1].
#[inline(always)]
pub(crate) fn log1p_unit_v(u: f64) -> f64 {
    const A: [f64; 11] = [
        1.0 / 3.0,
        1.0 / 5.0,
        1.0 / 7.0,
        1.0 / 9.0,
        1.0 / 11.0,
        1.0 / 13.0,
        1.0 / 15.0,
        1.0 / 17.0,
        1.0 / 19.0,
        1.0 / 21.0,
        1.0 / 23.0,
    ];
    let big = u >= 0.5;
    let num = if big { u - 1.0 } else { u };
    let den = if big { u + 3.0 } else { u + 2.0 };
    let s = num / den;
    let s2 = s * s;
    let mut p = A[10];
    for k in (0..10).rev() {
        p = p * s2 + A[k];
    }
    let two_s = 2.0 * s;
    let hi = if big { LN2_HI } else { 0.0 };
    let lo = if big { LN2_LO } else { 0.0 };
    hi + (two_s + (two_s * s2 * p + lo))
}

/// The logistic function 1/(1 + e^{−z}), branch-free (vectorisable). Error ≤ 3 ulp (tested).
#[inline(always)]
pub(crate) fn sigmoid_v(z: f64) -> f64 {
    let u = exp_v(-z.abs());
    let num = if z >= 0.0 { 1.0 } else { u };
    num / (1.0 + u)
}

/// log(1 + e^z), branch-free (vectorisable). Error ≤ 3 ulp (tested).
#[inline(always)]
pub(crate) fn softplus_v(z: f64) -> f64 {
    z.max(0.0) + log1p_unit_v(exp_v(-z.abs()))
}

/// tanh z = sign(z)·e/(e + 2) with e = expm1(2|z|) (2|z| capped at 40, where tanh rounds to ±1),
/// branch-free (vectorisable). Error ≤ 3 ulp (tested).
#[inline(always)]
pub(crate) fn tanh_v(z: f64) -> f64 {
    let e = expm1_v((2.0 * z.abs()).min(40.0));
    let t = (e / (e + 2.0)).copysign(z);
    if z.is_nan() {
        z
    } else {
        t
    }
}

/// Define `$name`, which runs `$avx2` (explicit AVX2 lanes, see [`avx2`]) when the CPU has
/// AVX2 and `$portable` (the same operations one value at a time) otherwise. Both perform the same
/// IEEE operations in the same order (no fused multiply-add), so they return bit-identical
/// results; the tests check it.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $portable:ident / $avx2:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports the feature the function was compiled for.
                    return unsafe { avx2::$avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }

        /// The portable (one value at a time) twin of the function without the suffix.
        #[allow(dead_code)]
        $vis fn $portable($($arg: $ty),*) $body
    };
}

simd_dispatch! {
    /// `out[k] = e^{x[k]}` ([`exp_v`]).
    pub fn exp_slice / exp_slice_portable / exp_slice(x: &[f64], out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = exp_v(v);
        }
    }
}

simd_dispatch! {
    /// In place `z[k] ← g(z[k])` and `dz[k] = g'(z[k])` (the vectorised [`Activation::apply`];
    /// `dz` may be empty to skip the derivative).
    pub(crate) fn activation_slice / activation_slice_portable / activation_slice(act: Activation, z: &mut [f64], dz: &mut [f64]) {
        let want_d = !dz.is_empty();
        match act {
            Activation::Identity => dz.iter_mut().for_each(|d| *d = 1.0),
            Activation::Relu => {
                if want_d {
                    for (zv, dv) in z.iter_mut().zip(dz.iter_mut()) {
                        let pos = *zv > 0.0;
                        *dv = if pos { 1.0 } else { 0.0 };
                        *zv = if pos { *zv } else { 0.0 };
                    }
                } else {
                    z.iter_mut().for_each(|zv| *zv = if *zv > 0.0 { *zv } else { 0.0 });
                }
            }
            Activation::Tanh => {
                if want_d {
                    for (zv, dv) in z.iter_mut().zip(dz.iter_mut()) {
                        let t = tanh_v(*zv);
                        *zv = t;
                        *dv = 1.0 - t * t;
                    }
                } else {
                    z.iter_mut().for_each(|zv| *zv = tanh_v(*zv));
                }
            }
            Activation::Softplus => {
                if want_d {
                    for (zv, dv) in z.iter_mut().zip(dz.iter_mut()) {
                        let v = *zv;
                        *dv = sigmoid_v(v);
                        *zv = softplus_v(v);
                    }
                } else {
                    z.iter_mut().for_each(|zv| *zv = softplus_v(*zv));
                }
            }
            Activation::Sigmoid => {
                if want_d {
                    for (zv, dv) in z.iter_mut().zip(dz.iter_mut()) {
                        let s = sigmoid_v(*zv);
                        *zv = s;
                        *dv = s * (1.0 - s);
                    }
                } else {
                    z.iter_mut().for_each(|zv| *zv = sigmoid_v(*zv));
                }
            }
        }
    }
}

/// `(ℓ, ℓ')` of one term, branch-free (the vectorised [`Loss::eval`]).
#[inline(always)]
fn loss_term(loss: Loss, f: f64, y: f64) -> (f64, f64) {
    match loss {
        Loss::Squared => {
            let r = f - y;
            (0.5 * r * r, r)
        }
        Loss::Logistic => {
            let z = y * f;
            let u = exp_v(-z.abs());
            let l = (-z).max(0.0) + log1p_unit_v(u);
            // σ(−z) = 1/(1 + u) for z ≤ 0, u/(1 + u) for z > 0.
            let num = if z > 0.0 { u } else { 1.0 };
            (l, -y * (num / (1.0 + u)))
        }
        Loss::Hinge => {
            let m = 1.0 - y * f;
            let pos = m > 0.0;
            (if pos { m } else { 0.0 }, if pos { -y } else { 0.0 })
        }
        Loss::SquaredHinge => {
            let m = 1.0 - y * f;
            let pos = m > 0.0;
            (
                if pos { m * m } else { 0.0 },
                if pos { -2.0 * y * m } else { 0.0 },
            )
        }
    }
}

/// ℓ' of one term, branch-free.
#[inline(always)]
fn loss_deriv(loss: Loss, f: f64, y: f64) -> f64 {
    match loss {
        Loss::Logistic => {
            let z = y * f;
            let u = exp_v(-z.abs());
            let num = if z > 0.0 { u } else { 1.0 };
            -y * (num / (1.0 + u))
        }
        _ => loss_term(loss, f, y).1,
    }
}

simd_dispatch! {
    /// One sample's terms for a row of B predictions `f` (one per point) with target `y`:
    /// `acc_f[b] += ℓ(f[b], y)` and, when `acc_s` is not empty,
    /// `acc_s[b] += |ℓ| + |ℓ'| (e[b] + |other operand|)` ([`Loss::term_scale`]).
    pub(crate) fn loss_accumulate_row / loss_accumulate_row_portable / loss_accumulate_row(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
    ) {
        if acc_s.is_empty() {
            for (a, &fv) in acc_f.iter_mut().zip(f) {
                *a += loss_term(loss, fv, y).0;
            }
            return;
        }
        let other = match loss {
            Loss::Squared => y.abs(),
            Loss::Logistic => 0.0,
            Loss::Hinge | Loss::SquaredHinge => 1.0,
        };
        for (((a, s), &fv), &ev) in acc_f.iter_mut().zip(acc_s.iter_mut()).zip(f).zip(e) {
            let (l, dl) = loss_term(loss, fv, y);
            *a += l;
            *s += l.abs() + dl.abs() * (ev + other);
        }
    }
}

simd_dispatch! {
    /// One sample's terms for a row of B predictions: `dl[b] = ℓ'(f[b], y)` and, when `acc_f` is
    /// not empty, `acc_f[b] += ℓ(f[b], y)`.
    pub(crate) fn loss_derivs_row / loss_derivs_row_portable / loss_derivs_row(
        loss: Loss,
        f: &[f64],
        y: f64,
        acc_f: &mut [f64],
        dl: &mut [f64],
    ) {
        if acc_f.is_empty() {
            for (d, &fv) in dl.iter_mut().zip(f) {
                *d = loss_deriv(loss, fv, y);
            }
            return;
        }
        for ((a, d), &fv) in acc_f.iter_mut().zip(dl.iter_mut()).zip(f) {
            let (l, g) = loss_term(loss, fv, y);
            *a += l;
            *d = g;
        }
    }
}

/// The AVX2 twins of the slice kernels: four lanes per instruction, the same operations in the
/// same order as the scalar kernels ([`exp_v`], [`log1p_unit_v`], …), which also handle the
/// last `len % 4` values. Explicit intrinsics (the compiler does not vectorise the scalar loops
/// by itself: the kernels' selects and bit manipulations stop its cost model).
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe, clippy::missing_safety_doc)]
pub(crate) mod avx2 {
    use super::{
        exp_v, log1p_unit_v, loss_term, sigmoid_v, softplus_v, tanh_v, Activation, Loss, LN2_HI,
        LN2_LO, LOG2E, MAGIC,
    };
    use std::arch::x86_64::*;

    type V = __m256d;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: f64) -> V {
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: V, b: V) -> V {
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sub(a: V, b: V) -> V {
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul(a: V, b: V) -> V {
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn div(a: V, b: V) -> V {
        unsafe { _mm256_div_pd(a, b) }
    }
    /// `if m { b } else { a }` per lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn select(m: V, b: V, a: V) -> V {
        unsafe { _mm256_blendv_pd(a, b, m) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn ge(a: V, b: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_GE_OQ>(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn gt(a: V, b: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_GT_OQ>(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn is_nan(a: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a) }
    }
    /// max(a, b) for a non-NaN b (as `f64::max`, NaN a gives b).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn max(a: V, b: V) -> V {
        unsafe { _mm256_max_pd(a, b) }
    }
    /// min(a, b) for a non-NaN b (as `f64::min`, NaN a gives b).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn min(a: V, b: V) -> V {
        unsafe { _mm256_min_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn abs(a: V) -> V {
        unsafe { _mm256_andnot_pd(splat(-0.0), a) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn neg_abs(a: V) -> V {
        unsafe { _mm256_or_pd(splat(-0.0), a) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn copysign(mag: V, sign: V) -> V {
        unsafe {
            _mm256_or_pd(
                _mm256_andnot_pd(splat(-0.0), mag),
                _mm256_and_pd(splat(-0.0), sign),
            )
        }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(s: &[f64], k: usize) -> V {
        debug_assert!(k + 4 <= s.len());
        unsafe { _mm256_loadu_pd(s.as_ptr().add(k)) }
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(s: &mut [f64], k: usize, v: V) {
        debug_assert!(k + 4 <= s.len());
        unsafe { _mm256_storeu_pd(s.as_mut_ptr().add(k), v) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn expm1_reduced(r: V) -> V {
        const C: [f64; 12] = [
            1.0 / 2.0,
            1.0 / 6.0,
            1.0 / 24.0,
            1.0 / 120.0,
            1.0 / 720.0,
            1.0 / 5040.0,
            1.0 / 40320.0,
            1.0 / 362880.0,
            1.0 / 3628800.0,
            1.0 / 39916800.0,
            1.0 / 479001600.0,
            1.0 / 6227020800.0,
        ];
        let mut p = splat(C[11]);
        for k in (0..11).rev() {
            p = add(mul(p, r), splat(C[k]));
        }
        add(r, mul(r, mul(r, p)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce(x: V) -> (V, V) {
        let magic = splat(MAGIC);
        let nf = sub(add(mul(x, splat(LOG2E)), magic), magic);
        let r = sub(sub(x, mul(nf, splat(LN2_HI))), mul(nf, splat(LN2_LO)));
        (nf, r)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn pow2(nf: V) -> V {
        unsafe {
            let t = _mm256_castpd_si256(add(nf, splat(MAGIC + 1023.0)));
            let e = _mm256_sub_epi64(t, _mm256_set1_epi64x(MAGIC.to_bits() as i64));
            _mm256_castsi256_pd(_mm256_slli_epi64::<52>(e))
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn exp4(x: V) -> V {
        let xc = min(max(x, splat(-746.0)), splat(710.0));
        let (nf, r) = reduce(xc);
        let p = add(splat(1.0), expm1_reduced(r));
        let magic = splat(MAGIC);
        let n1 = sub(add(mul(nf, splat(0.5)), magic), magic);
        let n2 = sub(nf, n1);
        let y = mul(mul(p, pow2(n1)), pow2(n2));
        select(is_nan(x), x, y)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn expm1_4(x: V) -> V {
        let xc = min(max(x, splat(-60.0)), splat(709.0));
        let (nf, r) = reduce(xc);
        let q = expm1_reduced(r);
        let s = pow2(nf);
        let y = add(mul(s, q), sub(s, splat(1.0)));
        select(is_nan(x), x, y)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn log1p_unit4(u: V) -> V {
        const A: [f64; 11] = [
            1.0 / 3.0,
            1.0 / 5.0,
            1.0 / 7.0,
            1.0 / 9.0,
            1.0 / 11.0,
            1.0 / 13.0,
            1.0 / 15.0,
            1.0 / 17.0,
            1.0 / 19.0,
            1.0 / 21.0,
            1.0 / 23.0,
        ];
        let big = ge(u, splat(0.5));
        let num = select(big, sub(u, splat(1.0)), u);
        let den = select(big, add(u, splat(3.0)), add(u, splat(2.0)));
        let s = div(num, den);
        let s2 = mul(s, s);
        let mut p = splat(A[10]);
        for k in (0..10).rev() {
            p = add(mul(p, s2), splat(A[k]));
        }
        let two_s = mul(splat(2.0), s);
        let zero = splat(0.0);
        let hi = select(big, splat(LN2_HI), zero);
        let lo = select(big, splat(LN2_LO), zero);
        add(hi, add(two_s, add(mul(mul(two_s, s2), p), lo)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn sigmoid4(z: V) -> V {
        let u = exp4(neg_abs(z));
        let num = select(ge(z, splat(0.0)), splat(1.0), u);
        div(num, add(splat(1.0), u))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn softplus4(z: V) -> V {
        add(max(z, splat(0.0)), log1p_unit4(exp4(neg_abs(z))))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn tanh4(z: V) -> V {
        let e = expm1_4(min(mul(splat(2.0), abs(z)), splat(40.0)));
        let t = copysign(div(e, add(e, splat(2.0))), z);
        select(is_nan(z), z, t)
    }

    /// `(ℓ, ℓ')` of the logistic loss, four lanes (as [`loss_term`]).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn logistic4(f: V, y: V) -> (V, V) {
        let z = mul(y, f);
        let u = exp4(neg_abs(z));
        let negz = unsafe { _mm256_xor_pd(z, splat(-0.0)) };
        let l = add(max(negz, splat(0.0)), log1p_unit4(u));
        let num = select(gt(z, splat(0.0)), u, splat(1.0));
        let negy = unsafe { _mm256_xor_pd(y, splat(-0.0)) };
        (l, mul(negy, div(num, add(splat(1.0), u))))
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn exp_slice(x: &[f64], out: &mut [f64]) {
        let n = x.len().min(out.len());
        let mut k = 0;
        while k + 4 <= n {
            store(out, k, exp4(load(x, k)));
            k += 4;
        }
        for j in k..n {
            out[j] = exp_v(x[j]);
        }
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn activation_slice(act: Activation, z: &mut [f64], dz: &mut [f64]) {
        let want_d = !dz.is_empty();
        let n = if want_d {
            z.len().min(dz.len())
        } else {
            z.len()
        };
        let one = splat(1.0);
        let mut k = 0;
        match act {
            Activation::Tanh => {
                while k + 4 <= n {
                    let t = tanh4(load(z, k));
                    store(z, k, t);
                    if want_d {
                        store(dz, k, sub(one, mul(t, t)));
                    }
                    k += 4;
                }
            }
            Activation::Softplus => {
                while k + 4 <= n {
                    let v = load(z, k);
                    if want_d {
                        store(dz, k, sigmoid4(v));
                    }
                    store(z, k, softplus4(v));
                    k += 4;
                }
            }
            Activation::Sigmoid => {
                while k + 4 <= n {
                    let s = sigmoid4(load(z, k));
                    store(z, k, s);
                    if want_d {
                        store(dz, k, mul(s, sub(one, s)));
                    }
                    k += 4;
                }
            }
            Activation::Identity | Activation::Relu => {}
        }
        // The rest (and the piecewise-linear activations) by the portable kernel.
        super::activation_slice_portable(
            act,
            &mut z[k..],
            if want_d { &mut dz[k..] } else { &mut [] },
        );
        let _ = (sigmoid_v, softplus_v, tanh_v);
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn loss_accumulate_row(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
    ) {
        let mut k = 0;
        if loss == Loss::Logistic {
            let n = f.len().min(acc_f.len());
            let yv = splat(y);
            if acc_s.is_empty() {
                while k + 4 <= n {
                    let (l, _) = logistic4(load(f, k), yv);
                    store(acc_f, k, add(load(acc_f, k), l));
                    k += 4;
                }
            } else {
                let n = n.min(e.len()).min(acc_s.len());
                // other operand: 0 for the logistic loss.
                let other = splat(0.0);
                while k + 4 <= n {
                    let (l, dl) = logistic4(load(f, k), yv);
                    store(acc_f, k, add(load(acc_f, k), l));
                    let ts = add(abs(l), mul(abs(dl), add(load(e, k), other)));
                    store(acc_s, k, add(load(acc_s, k), ts));
                    k += 4;
                }
            }
        }
        let (es, ss) = if acc_s.is_empty() {
            (&e[..0], &mut acc_s[..0])
        } else {
            (&e[k..], &mut acc_s[k..])
        };
        super::loss_accumulate_row_portable(loss, &f[k..], es, y, &mut acc_f[k..], ss);
        let _ = loss_term;
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn loss_derivs_row(
        loss: Loss,
        f: &[f64],
        y: f64,
        acc_f: &mut [f64],
        dl: &mut [f64],
    ) {
        let mut k = 0;
        if loss == Loss::Logistic {
            let yv = splat(y);
            let n = f.len().min(dl.len());
            if acc_f.is_empty() {
                while k + 4 <= n {
                    let (_, d) = logistic4(load(f, k), yv);
                    store(dl, k, d);
                    k += 4;
                }
            } else {
                let n = n.min(acc_f.len());
                while k + 4 <= n {
                    let (l, d) = logistic4(load(f, k), yv);
                    store(acc_f, k, add(load(acc_f, k), l));
                    store(dl, k, d);
                    k += 4;
                }
            }
        }
        let af = if acc_f.is_empty() {
            &mut acc_f[..0]
        } else {
            &mut acc_f[k..]
        };
        super::loss_derivs_row_portable(loss, &f[k..], y, af, &mut dl[k..]);
    }

    #[allow(dead_code)]
    fn _unused() -> (f64, f64) {
        (log1p_unit_v(0.5), 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_derivatives_match_differences() {
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
        ] {
            for &(f, y) in &[(0.3, 1.0), (-2.0, 1.0), (1.7, -1.0), (40.0, -1.0)] {
                let (_, d) = loss.eval(f, y);
                let h = 1e-6;
                let fd = (loss.eval(f + h, y).0 - loss.eval(f - h, y).0) / (2.0 * h);
                assert!((d - fd).abs() < 1e-5 * (1.0 + d.abs()), "{loss:?} {f} {y}");
            }
        }
        // Stable far out.
        assert!(Loss::Logistic.eval(-800.0, 1.0).0.is_finite());
        assert_eq!(Loss::Logistic.eval(800.0, 1.0).0, 0.0);
    }

    #[test]
    fn activation_derivatives_match_differences() {
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Tanh,
            Activation::Softplus,
            Activation::Sigmoid,
        ] {
            for &z in &[-3.0, -0.4, 0.7, 2.5] {
                let (_, d) = act.apply(z);
                let h = 1e-6;
                let fd = (act.apply(z + h).0 - act.apply(z - h).0) / (2.0 * h);
                assert!((d - fd).abs() < 1e-6, "{act:?} {z}");
            }
        }
        assert!(softplus(1000.0).is_finite() && softplus(-1000.0) >= 0.0);
    }

    /// Largest |a − b| / (eps · |b|) over a sweep (b the platform function's value).
    fn max_rel_ulp(xs: &[f64], fast: impl Fn(f64) -> f64, exact: impl Fn(f64) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for &x in xs {
            let (a, b) = (fast(x), exact(x));
            if b == 0.0 || !b.is_finite() {
                assert_eq!(a, b, "x = {x}");
                continue;
            }
            worst = worst.max((a - b).abs() / (f64::EPSILON * b.abs()));
        }
        worst
    }

    /// A dense sweep of [lo, hi] plus small magnitudes near 0 (both signs).
    fn sweep(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        let mut xs: Vec<f64> = (0..=n)
            .map(|k| lo + (hi - lo) * (k as f64 / n as f64))
            .collect();
        let mut t = 1e-300;
        while t < 1.0 {
            xs.extend([t, -t, 1.37 * t, -0.71 * t]);
            t *= 3.1;
        }
        xs.retain(|x| *x >= lo && *x <= hi);
        // Pseudo-random points (a fixed LCG) between the grid points.
        let mut u: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..n {
            u = u
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            xs.push(lo + (hi - lo) * ((u >> 11) as f64 / (1u64 << 53) as f64));
        }
        xs
    }

    #[test]
    fn vectorised_kernels_are_within_a_few_ulp() {
        let e = max_rel_ulp(&sweep(-708.0, 709.0, 400_000), exp_v, f64::exp);
        assert!(e <= 2.0, "exp {e}");
        let e = max_rel_ulp(&sweep(-40.0, 700.0, 400_000), expm1_v, f64::exp_m1);
        assert!(e <= 3.0, "expm1 {e}");
        let e = max_rel_ulp(&sweep(0.0, 1.0, 400_000), log1p_unit_v, f64::ln_1p);
        assert!(e <= 3.0, "log1p {e}");
        let e = max_rel_ulp(&sweep(-700.0, 700.0, 400_000), sigmoid_v, sigmoid);
        assert!(e <= KERNEL_ULP, "sigmoid {e}");
        let e = max_rel_ulp(&sweep(-700.0, 700.0, 400_000), softplus_v, softplus);
        assert!(e <= KERNEL_ULP, "softplus {e}");
        let e = max_rel_ulp(&sweep(-30.0, 30.0, 400_000), tanh_v, f64::tanh);
        assert!(e <= KERNEL_ULP, "tanh {e}");
        // Special values.
        assert_eq!(exp_v(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp_v(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_v(800.0), f64::INFINITY);
        assert_eq!(exp_v(-800.0), 0.0);
        assert_eq!(exp_v(0.0), 1.0);
        assert!(exp_v(f64::NAN).is_nan() && tanh_v(f64::NAN).is_nan());
        assert!(sigmoid_v(f64::NAN).is_nan() && softplus_v(f64::NAN).is_nan());
        assert_eq!(tanh_v(100.0), 1.0);
        assert_eq!(tanh_v(-100.0), -1.0);
        assert_eq!(softplus_v(-800.0), 0.0);
        assert_eq!(softplus_v(800.0), 800.0);
        // Subnormal results: one rounding.
        for x in [-709.5, -720.0, -740.0, -745.0] {
            assert!((exp_v(x) - x.exp()).abs() <= f64::from_bits(1), "{x}");
        }
    }

    #[test]
    fn slice_kernels_match_scalar_path_and_dispatch_is_bit_identical() {
        let zs = sweep(-40.0, 40.0, 5_003);
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::Tanh,
            Activation::Softplus,
            Activation::Sigmoid,
        ] {
            let (mut z1, mut d1) = (zs.clone(), vec![0.0; zs.len()]);
            activation_slice(act, &mut z1, &mut d1);
            let (mut z2, mut d2) = (zs.clone(), vec![0.0; zs.len()]);
            activation_slice_portable(act, &mut z2, &mut d2);
            assert_eq!(z1, z2);
            assert_eq!(d1, d2);
            let mut z3 = zs.clone();
            activation_slice(act, &mut z3, &mut []);
            assert_eq!(z1, z3);
            for (k, &z) in zs.iter().enumerate() {
                let (a, da) = act.apply(z);
                assert!(
                    (z1[k] - a).abs() <= KERNEL_ULP * f64::EPSILON * a.abs(),
                    "{act:?} {z}"
                );
                assert!(
                    (d1[k] - da).abs()
                        <= 2.0 * KERNEL_ULP * f64::EPSILON * (da.abs() + 1e-300)
                            + 4.0 * f64::EPSILON * a.abs() * a.abs(),
                    "{act:?}' {z}: {} vs {da}",
                    d1[k]
                );
            }
        }
        let fs = sweep(-60.0, 60.0, 3_001);
        let b = fs.len();
        let es: Vec<f64> = fs.iter().map(|f| 3.0 * f.abs()).collect();
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
        ] {
            for y in [1.0, -1.0, 0.3] {
                if loss.is_classification() && y == 0.3 {
                    continue;
                }
                let (mut af, mut as_) = (vec![1.5; b], vec![2.0; b]);
                loss_accumulate_row(loss, &fs, &es, y, &mut af, &mut as_);
                let (mut pf, mut ps) = (vec![1.5; b], vec![2.0; b]);
                loss_accumulate_row_portable(loss, &fs, &es, y, &mut pf, &mut ps);
                assert_eq!(af, pf);
                assert_eq!(as_, ps);
                let (mut vf, mut dl) = (vec![0.0; b], vec![0.0; b]);
                loss_derivs_row(loss, &fs, y, &mut vf, &mut dl);
                let mut dl2 = vec![0.0; b];
                loss_derivs_row(loss, &fs, y, &mut [], &mut dl2);
                assert_eq!(dl, dl2);
                for k in 0..b {
                    let (l, d) = loss.eval(fs[k], y);
                    let tol = KERNEL_ULP * f64::EPSILON;
                    assert!((vf[k] - l).abs() <= tol * l.abs(), "{loss:?} {}", fs[k]);
                    assert!((af[k] - 1.5 - l).abs() <= tol * l.abs() + 2.0 * f64::EPSILON * 1.5);
                    assert!((dl[k] - d).abs() <= tol * d.abs(), "{loss:?}' {}", fs[k]);
                    let ts = loss.term_scale(l, d, es[k], y);
                    assert!((as_[k] - 2.0 - ts).abs() <= 2.0 * tol * (ts + 2.0));
                }
            }
        }
    }
}
