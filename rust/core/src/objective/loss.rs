//! Pointwise losses and activations of the native objectives: the vectorised kernels and rounding
//! scales of the core's one loss type [`Loss`] (defined with its scalar formulas in
//! [`crate::loss`], re-exported here), through which the objectives, Hessians, midpoint tests and
//! slices evaluate losses.
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
//!   [`sigmoid_v`], [`softplus_v`]) over slices, four lanes at a time with AVX2 + FMA intrinsics
//!   (chosen at run time when the CPU has both, module `avx2`; the logistic value kernel and
//!   tanh take eight lanes with AVX-512F where the CPU has it and the build is by Rust ≥ 1.89,
//!   module `avx512`, the exponential's reduction and polynomial written once for both widths)
//!   or one value at a time (the portable twins). All perform the same IEEE operations in the
//!   same order, fused multiply-adds included (`f64::mul_add`, correctly rounded in software
//!   where the CPU has no FMA), so their results are bit-identical at every feature level (the
//!   tests check each width against the portable kernel); they are what the batched evaluation
//!   of the native objectives ([`crate::objective::Objective::values_scales_block`]) uses.
//!   Polynomials are
//!   evaluated by Estrin's scheme (short dependency chains: the kernels are throughput-bound,
//!   not latency-bound).
//!
//! Accuracy of the vectorised kernels (bounds asserted by the tests of this module, relative to
//! the platform's functions on dense sweeps of the argument range): `exp_v` ≤ 2 ulp, `expm1_v`
//! ≤ 3 ulp, `log1p_unit_v` (argument in [0, 1]) ≤ 3 ulp, `log1p_pos_v` (argument ≥ 0) ≤ 4
//! ulp, `sigmoid_v`, `softplus_v`, `tanh_v` ≤ 4 ulp (`KERNEL_ULP`). A loss term computed with
//! them differs from the scalar path by at most `KERNEL_ULP · eps · |term|`, which the rounding
//! scale s = Σ|terms| + … already covers: every rounding bound of the form `C · eps · s` stays
//! valid with C increased by `KERNEL_ULP` (the Hessians use C = 8, the midpoint tests 32 and
//! more). The logistic value kernel sums its logarithms as one log1p of a product per 64
//! samples ([`loss_accumulate_row`]), with the rounding bound of adding the terms in order.

use crate::error::{Error, Result};

pub use crate::loss::{sigmoid, softplus, Loss};

impl Loss {
    /// Rounding-error scale of one loss term, given ℓ, ℓ' and the error bound `ef` (in units of
    /// eps) of the prediction f: |ℓ| + B·(ef + the magnitude of the other operand of the
    /// subtraction), with B a bound of |ℓ'| near f. B = |ℓ'| for every loss but the logistic
    /// one, where B = min(1, e^{−yf}) = min(1, |ℓ'|/(1 − |ℓ'|)) ∈ [|ℓ'|, 2|ℓ'|] (|ℓ'| = σ(−yf)):
    /// the quantity the vectorised kernels have at hand before the division that forms σ, so
    /// that the values-and-scales kernel ([`loss_accumulate_row`]) needs no division for it.
    #[inline]
    pub fn term_scale(self, l: f64, dl: f64, ef: f64, y: f64) -> f64 {
        let other = match self {
            Loss::Squared | Loss::Huber(_) => y.abs(),
            Loss::Logistic => 0.0,
            Loss::Hinge | Loss::SquaredHinge => 1.0,
        };
        let b = match self {
            Loss::Logistic => {
                let s = dl.abs();
                if s >= 0.5 {
                    1.0
                } else {
                    s / (1.0 - s)
                }
            }
            _ => dl.abs(),
        };
        l.abs() + b * (ef + other)
    }
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

/// The coefficients of [`expm1_reduced`]: p(r) ≈ (e^r − 1 − r)/r² on |r| ≤ ln2/2, degree 9,
/// interpolated at the Chebyshev nodes (near-minimax; near 1/k!, k = 2..11). The polynomial's
/// error |r² (p − (e^r − 1 − r)/r²)| is ≤ 1.3e-17 on the interval (0.12 ulp of e^r; computed in
/// 50-digit arithmetic with these double coefficients).
const EXPM1_C: [f64; 10] = [
    0.5000000000000001,
    0.16666666666666669,
    0.041666666666624164,
    0.008333333333330065,
    0.0013888888917196719,
    0.00019841269863040545,
    2.4801521322368692e-05,
    2.7557268480310024e-06,
    2.7620075879983367e-07,
    2.5100375832561234e-08,
];

/// The coefficients of [`atanh_poly`]: P(w) ≈ (atanh(s)/s − 1)/w, w = s² ∈ [0, 1/25], degree 7,
/// interpolated at the Chebyshev nodes (near-minimax; near 1/(2k + 3), k = 0..7). The error
/// |w (P − (atanh(s)/s − 1)/w)|, relative to atanh(s)/s, is ≤ 7.5e-19 on the interval
/// (computed in 50-digit arithmetic with these double coefficients).
const ATANH_A: [f64; 8] = [
    0.3333333333333333,
    0.200000000000039,
    0.14285714283669596,
    0.11111111518903621,
    0.09090869227361513,
    0.07694417338900958,
    0.0660518024256631,
    0.06802007853562039,
];

/// `a·b + c` with one rounding (the fused multiply-add of the AVX2 kernels; correctly rounded
/// in software where the CPU has none).
#[inline(always)]
fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// expm1(r) for |r| ≤ ln2/2 as r + r²·p(r) with p of degree 9 ([`EXPM1_C`], error below 0.12
/// ulp), evaluated by Estrin's scheme (fused multiply-adds; a dependency chain of depth 4
/// instead of Horner's 9, so the out-of-order core overlaps the evaluations of consecutive
/// vectors).
#[inline(always)]
fn expm1_reduced(r: f64) -> f64 {
    let c = &EXPM1_C;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q0 = fma(c[1], r, c[0]);
    let q1 = fma(c[3], r, c[2]);
    let q2 = fma(c[5], r, c[4]);
    let q3 = fma(c[7], r, c[6]);
    let q4 = fma(c[9], r, c[8]);
    let s0 = fma(q1, r2, q0);
    let s1 = fma(q3, r2, q2);
    let t0 = fma(s1, r4, s0);
    let p = fma(q4, r8, t0);
    fma(r2, p, r)
}

/// Σ_k `ATANH_A[k]`·w^k (w = s² ≤ 1/25) by Estrin's scheme.
#[inline(always)]
fn atanh_poly(w: f64) -> f64 {
    let a = &ATANH_A;
    let w2 = w * w;
    let w4 = w2 * w2;
    let q0 = fma(a[1], w, a[0]);
    let q1 = fma(a[3], w, a[2]);
    let q2 = fma(a[5], w, a[4]);
    let q3 = fma(a[7], w, a[6]);
    let s0 = fma(q1, w2, q0);
    let s1 = fma(q3, w2, q2);
    fma(s1, w4, s0)
}

/// `(n, r)` with x = n ln2 + r, n an integer (as a float), |r| ≤ ln2/2 (Cody–Waite reduction).
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    let nf = fma(x, LOG2E, MAGIC) - MAGIC;
    let r = fma(-nf, LN2_LO, fma(-nf, LN2_HI, x));
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

/// 2^−64: the scale-back factor of [`exp_nonpos_v`].
const TWO_M64: f64 = f64::from_bits((1023 - 64) << 52);

/// e^x for x ≤ 0 (or NaN), bit for bit [`exp_v`] with one power of two instead of two:
/// x = n ln2 + r with n ∈ [−1076, 0] after the clamp at −746, and p = e^r ∈ (0.7, 1.42), so
/// p·2^(n+64) is normal and exact and the product with 2^−64 rounds at most once (only when the
/// result is subnormal), the same correctly rounded fl(p·2^n) that [`exp_v`] forms as
/// (p·2^n1)·2^n2. The logistic kernels' exponentials (of −|z|) use it.
#[inline(always)]
pub(crate) fn exp_nonpos_v(x: f64) -> f64 {
    let xc = x.max(-746.0);
    let (nf, r) = reduce(xc);
    let p = 1.0 + expm1_reduced(r);
    let y = p * pow2(nf + 64.0) * TWO_M64;
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
    let y = fma(s, q, s - 1.0);
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// log(1 + u) for u ∈ [0, 1] (the domain of every use here: u = e^{−|z|}), branch-free:
/// 2·atanh(s) with s = u/(2 + u) (u < ½) or, for u ≥ ½, ln 2 + 2·atanh((u − 1)/(u + 3))
/// (u − 1 is exact there); |s| ≤ 1/5 and 2·atanh(s) = 2s + 2s·w·P(w), w = s², with P of degree
/// 7 ([`ATANH_A`], relative error below 1e-18), evaluated by Estrin's scheme ([`atanh_poly`]).
/// Error ≤ 2 ulp on [0, 1] (tested); not for arguments outside [0, 1].
#[inline(always)]
pub(crate) fn log1p_unit_v(u: f64) -> f64 {
    let big = u >= 0.5;
    let num = if big { u - 1.0 } else { u };
    let den = if big { u + 3.0 } else { u + 2.0 };
    let s = num / den;
    let s2 = s * s;
    let p = atanh_poly(s2);
    let two_s = 2.0 * s;
    let hi = if big { LN2_HI } else { 0.0 };
    let lo = if big { LN2_LO } else { 0.0 };
    hi + (two_s + fma(two_s * s2, p, lo))
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

/// Define `$name`, which runs `$avx2` (explicit AVX2 + FMA lanes, see [`avx2`]) when the CPU
/// has both and `$portable` (the same operations one value at a time) otherwise. Both perform
/// the same IEEE operations in the same order (fused multiply-adds included), so they return
/// bit-identical results; the tests check it.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $portable:ident / $avx2:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports the feature the function was compiled for.
                    return unsafe { avx2::$avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }

        /// The portable (one value at a time) twin of the function without the suffix.
        #[allow(dead_code, clippy::too_many_arguments)]
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
            Activation::Relu => relu_in_place(z, dz),
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
            let u = exp_nonpos_v(-z.abs());
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
        // not among the objectives' losses: the scalar path.
        Loss::Huber(_) => loss.eval(f, y),
    }
}

/// ℓ' of one term, branch-free.
#[inline(always)]
fn loss_deriv(loss: Loss, f: f64, y: f64) -> f64 {
    match loss {
        Loss::Logistic => {
            let z = y * f;
            let u = exp_nonpos_v(-z.abs());
            let num = if z > 0.0 { u } else { 1.0 };
            -y * (num / (1.0 + u))
        }
        _ => loss_term(loss, f, y).1,
    }
}

/// Rows (samples) per product of the logistic loss's value kernel ([`loss_accumulate_row`]):
/// the callers fold the accumulated products into the values after every
/// `LOGISTIC_PRODUCT_ROWS` samples and after the last one ([`logistic_flush_after`]). The
/// product of K factors 1 + u ∈ [1, 2] is at most 2^K, far from overflow; the kernel's rounding
/// bound grows with K (see [`loss_accumulate_row`]) and the one log1p per point and K samples
/// costs about 1/K of an exponential per term.
pub(crate) const LOGISTIC_PRODUCT_ROWS: usize = 64;

/// Whether the row of sample `i` of `n` is the last of a product of the logistic loss's value
/// kernel: after every [`LOGISTIC_PRODUCT_ROWS`] samples (counted from sample 0) and after the
/// last sample. The schedule depends on the sample index only, so every block size and
/// position (and the per-point path, a block of one) folds the same products.
#[inline]
pub(crate) fn logistic_flush_after(i: usize, n: usize) -> bool {
    (i + 1) % LOGISTIC_PRODUCT_ROWS == 0 || i + 1 == n
}

/// log(1 + v) for v ≥ 0 (NaN and +inf propagate), the fold of [`loss_accumulate_row`]'s
/// products: [`log1p_unit_v`] for v ≤ 1; otherwise 1 + v = 2^k·m with m ∈ [1, 2) (the sum
/// rounded once, a relative error ≤ eps/2, i.e. an absolute one ≤ eps/2 on the logarithm, which
/// is ≥ ln 2) and log(1 + v) = k·LN2_HI + (k·LN2_LO + log1p_unit_v(m − 1)), m − 1 and
/// k·LN2_HI exact, every term ≥ 0. Error ≤ 4 ulp (tested, `LOG1P_POS_ULP`; subnormal
/// arguments within one subnormal unit).
#[inline(always)]
pub(crate) fn log1p_pos_v(v: f64) -> f64 {
    if v <= 1.0 || v.is_nan() {
        return log1p_unit_v(v);
    }
    let w = 1.0 + v;
    if w == f64::INFINITY {
        return w;
    }
    let bits = w.to_bits();
    let k = (((bits >> 52) & 0x7ff) as i64 - 1023) as f64;
    let m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    k * LN2_HI + fma(k, LN2_LO, log1p_unit_v(m - 1.0))
}

/// Tested bound, in ulp, of [`log1p_pos_v`] against the platform's `ln_1p`.
#[cfg(test)]
const LOG1P_POS_ULP: f64 = 4.0;

/// `(m, B, u)` of one logistic term at prediction f and label y: z = y·f, u = e^{−|z|}
/// ([`exp_nonpos_v`]), m = max(−z, 0) (the term is m + log1p(u)) and the bound
/// B = min(1, e^{−z}) ≥ |ℓ'| of [`Loss::term_scale`].
#[inline(always)]
fn logistic_parts(f: f64, y: f64) -> (f64, f64, f64) {
    let z = y * f;
    let u = exp_nonpos_v(-z.abs());
    ((-z).max(0.0), if z > 0.0 { u } else { 1.0 }, u)
}

/// Fold the products of [`loss_accumulate_row`] (logistic loss) into the values (and the
/// scales, when not empty): L = log1p(P) ([`log1p_pos_v`]) is added to both and P reset to 0.
/// One value at a time in both twins (the same operations: the same bits).
#[inline(always)]
fn logistic_flush(acc_f: &mut [f64], acc_s: &mut [f64], prod: &mut [f64]) {
    let want_s = !acc_s.is_empty();
    for (b, (a, p)) in acc_f.iter_mut().zip(prod.iter_mut()).enumerate() {
        let l = log1p_pos_v(*p);
        *a += l;
        if want_s {
            acc_s[b] += l;
        }
        *p = 0.0;
    }
}

simd_dispatch! {
    /// One sample's terms for a row of B predictions `f` (one per point) with target `y`:
    /// `acc_f[b] += ℓ(f[b], y)` and, when `acc_s` is not empty,
    /// `acc_s[b] += |ℓ| + B (e[b] + |other operand|)` with B ≥ |ℓ'| as in [`Loss::term_scale`].
    ///
    /// The logistic loss, ℓ = m + log1p(u) with m = max(−yf, 0) and u = e^{−|yf|} ∈ [0, 1],
    /// takes no logarithm per term: `acc_f[b] += m`, `acc_s[b] += B·e[b] + m` (one fused
    /// multiply-add; the other operand is 0), and the per-point product
    /// `prod[b] = P` with 1 + P = Π(1 + u) over the samples since the last fold is updated as
    /// P ← (P·u + u) + P (one fused multiply-add and one add; every operand ≥ 0, P itself, never
    /// 1 + P, so small u are not lost). With `flush`, log1p(P) is added to both `acc_f[b]` and
    /// `acc_s[b]` and P reset to 0: the callers flush after every [`LOGISTIC_PRODUCT_ROWS`]
    /// samples and after the last ([`logistic_flush_after`]), so a value is Σ m + Σ over folds of
    /// log1p(P), the same bits for every block size and position. `prod` must hold one entry per
    /// point (zero before the first sample) for the logistic loss and is unused by the others.
    ///
    /// Rounding of one fold of K terms with computed u_k (first order, η = eps/2): the rounding
    /// of the multiply-add at step k, relative to t_k = u_k(1 + P_{k−1}), and of the add,
    /// relative to P_k, reach L = log(1 + P_K) multiplied by 1/(1 + P_k), so they contribute at
    /// most η·(t_k + P_k)/(1 + P_k) ≤ η·(log1p(u_k) + log(1 + P_k)) ≤ η·(λ_k + L), λ_k = log1p(u_k)
    /// (x/(1 + x) ≤ log(1 + x)); over the fold at most η·(K + 1)·L, then log1p_pos_v's ≤ 4 ulp. A
    /// relative error ε of u_k changes L by ε·u_k/(1 + u_k) ≤ ε·λ_k, as it changes the term.
    /// So |L̂ − Σ_k λ_k| ≤ ((K + 1)/2 + 4 + 2)·eps·L with exp_v's 2 ulp: the summation's own
    /// bound ((K − 1)/2 · eps · Σλ for K terms added in order) plus a few ulp, without the per-term
    /// logarithm's error.
    pub(crate) fn loss_accumulate_row / loss_accumulate_row_portable / loss_accumulate_row(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        flush: bool,
    ) {
        if loss == Loss::Logistic {
            let want_s = !acc_s.is_empty();
            let mut n = f.len().min(acc_f.len()).min(prod.len());
            if want_s {
                n = n.min(e.len()).min(acc_s.len());
            }
            for b in 0..n {
                let (m, bd, u) = logistic_parts(f[b], y);
                acc_f[b] += m;
                if want_s {
                    acc_s[b] += fma(bd, e[b], m);
                }
                let p = prod[b];
                prod[b] = fma(p, u, u) + p;
            }
            if flush {
                let s = if want_s { &mut acc_s[..n] } else { &mut acc_s[..0] };
                logistic_flush(&mut acc_f[..n], s, &mut prod[..n]);
            }
            return;
        }
        terms_row(loss, f, e, y, acc_f, acc_s);
    }
}

/// The ReLU activation in place (`dz` may be empty to skip the derivative): g(z) = z for z > 0,
/// else 0 (NaN gives 0), g'(z) = 1 for z > 0, else 0.
#[inline(always)]
fn relu_in_place(z: &mut [f64], dz: &mut [f64]) {
    if !dz.is_empty() {
        for (zv, dv) in z.iter_mut().zip(dz.iter_mut()) {
            let pos = *zv > 0.0;
            *dv = if pos { 1.0 } else { 0.0 };
            *zv = if pos { *zv } else { 0.0 };
        }
    } else {
        z.iter_mut()
            .for_each(|zv| *zv = if *zv > 0.0 { *zv } else { 0.0 });
    }
}

/// [`loss_accumulate_row`] for the losses other than the logistic one: `acc_f[b] += ℓ` and,
/// when `acc_s` is not empty, `acc_s[b] += |ℓ| + |ℓ'|·(e[b] + |other operand|)`.
#[inline(always)]
fn terms_row(loss: Loss, f: &[f64], e: &[f64], y: f64, acc_f: &mut [f64], acc_s: &mut [f64]) {
    if acc_s.is_empty() {
        for (a, &fv) in acc_f.iter_mut().zip(f) {
            *a += loss_term(loss, fv, y).0;
        }
        return;
    }
    let other = match loss {
        Loss::Squared | Loss::Huber(_) => y.abs(),
        Loss::Logistic => 0.0,
        Loss::Hinge | Loss::SquaredHinge => 1.0,
    };
    for (((a, s), &fv), &ev) in acc_f.iter_mut().zip(acc_s.iter_mut()).zip(f).zip(e) {
        let (l, dl) = loss_term(loss, fv, y);
        *a += l;
        *s += l.abs() + dl.abs() * (ev + other);
    }
}

/// One sample's scalar step of [`loss_accumulate_col`]'s logistic branch (the operations of
/// [`loss_accumulate_row`] on one value): `acc = [value, scale, product]`, the parts
/// `(m, bd, u)` from [`logistic_parts`], the fold after `flush`.
#[inline(always)]
fn logistic_col_step(
    acc: &mut [f64; 3],
    (m, bd, u): (f64, f64, f64),
    e: f64,
    want_s: bool,
    flush: bool,
) {
    acc[0] += m;
    if want_s {
        acc[1] += fma(bd, e, m);
    }
    let p = acc[2];
    acc[2] = fma(p, u, u) + p;
    if flush {
        let l = log1p_pos_v(acc[2]);
        acc[0] += l;
        if want_s {
            acc[1] += l;
        }
        acc[2] = 0.0;
    }
}

simd_dispatch! {
    /// One point's loss terms over its samples, in sample order: the value and (with `want_s`)
    /// the rounding scale, bit for bit what [`loss_accumulate_row`] gives when called sample by
    /// sample with a row of one value (`f[i]`, bound `e[i]`, target `y[i]`, accumulators starting
    /// at 0, the logistic products folded after [`logistic_flush_after`]`(i, n)`), with one call
    /// for the column instead of one per sample. `e` is unused without `want_s`. The logistic
    /// loss's exponentials are evaluated eight samples at a time (AVX2), the sums sample by sample.
    pub(crate) fn loss_accumulate_col / loss_accumulate_col_portable / loss_accumulate_col(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: &[f64],
        want_s: bool,
        out: &mut [f64; 2],
    ) {
        let n = if want_s { f.len().min(e.len()) } else { f.len() }.min(y.len());
        if loss == Loss::Logistic {
            let mut acc = [0.0; 3];
            for i in 0..n {
                let ev = if want_s { e[i] } else { 0.0 };
                let flush = logistic_flush_after(i, n);
                logistic_col_step(&mut acc, logistic_parts(f[i], y[i]), ev, want_s, flush);
            }
            *out = [acc[0], acc[1]];
            return;
        }
        // one loop per loss (the match out of the loop), the row kernel's operations per term
        *out = match loss {
            Loss::Squared => column_terms(Loss::Squared, &f[..n], e, &y[..n], want_s),
            Loss::Hinge => column_terms(Loss::Hinge, &f[..n], e, &y[..n], want_s),
            Loss::SquaredHinge => column_terms(Loss::SquaredHinge, &f[..n], e, &y[..n], want_s),
            _ => column_terms(loss, &f[..n], e, &y[..n], want_s),
        };
    }
}

/// The value and scale sums of [`loss_accumulate_col`] for the losses other than the logistic
/// one: `a += ℓ`, `s += |ℓ| + |ℓ'|·(e + |other operand|)`, sample by sample.
#[inline(always)]
fn column_terms(loss: Loss, f: &[f64], e: &[f64], y: &[f64], want_s: bool) -> [f64; 2] {
    let (mut a, mut s) = (0.0, 0.0);
    if !want_s {
        for (&fv, &yv) in f.iter().zip(y) {
            a += loss_term(loss, fv, yv).0;
        }
        return [a, s];
    }
    for ((&fv, &yv), &ev) in f.iter().zip(y).zip(e) {
        let other = match loss {
            Loss::Squared | Loss::Huber(_) => yv.abs(),
            Loss::Logistic => 0.0,
            Loss::Hinge | Loss::SquaredHinge => 1.0,
        };
        let (l, dl) = loss_term(loss, fv, yv);
        a += l;
        s += l.abs() + dl.abs() * (ev + other);
    }
    [a, s]
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

simd_dispatch! {
    /// One point's terms over the samples: `dl[i] = ℓ'(f[i], y[i])` (the operations of
    /// [`loss_derivs_row`] per value, bit for bit).
    pub(crate) fn loss_derivs_col / loss_derivs_col_portable / loss_derivs_col(
        loss: Loss,
        f: &[f64],
        y: &[f64],
        dl: &mut [f64],
    ) {
        for ((d, &fv), &yv) in dl.iter_mut().zip(f).zip(y) {
            *d = loss_deriv(loss, fv, yv);
        }
    }
}

simd_dispatch! {
    /// One sample's central loss-derivative differences along the axes of a linear model: with
    /// the sample's prediction and target `zy = [z, y]` and features `xs` (one per coordinate),
    /// `q[j] = ℓ'(z + tp[j]·xs[j], y) − ℓ'(z − tm[j]·xs[j], y)` (the moved predictions rounded as
    /// written, no fused multiply-add; ℓ' as [`loss_derivs_row`] computes it). `mx` is raised to
    /// the maxima over j of |ẑ⁺| + |ẑ⁻|, |ℓ'⁺| + |ℓ'⁻|, |q_j| and `(tp[j] + tm[j])·|xs[j]|` (NaN
    /// entries are skipped by the maxima; they reach `q`).
    pub(crate) fn loss_deriv_diffs_row / loss_deriv_diffs_row_portable / loss_deriv_diffs_row(
        loss: Loss,
        zy: [f64; 2],
        xs: &[f64],
        tp: &[f64],
        tm: &[f64],
        q: &mut [f64],
        mx: &mut [f64; 4],
    ) {
        let [z, y] = zy;
        for (((qv, &x), &p), &m) in q.iter_mut().zip(xs).zip(tp).zip(tm) {
            let (zp, zm) = (z + p * x, z - m * x);
            let (dp, dm) = (loss_deriv(loss, zp, y), loss_deriv(loss, zm, y));
            let d = dp - dm;
            *qv = d;
            mx[0] = mx[0].max(zp.abs() + zm.abs());
            mx[1] = mx[1].max(dp.abs() + dm.abs());
            mx[2] = mx[2].max(d.abs());
            mx[3] = mx[3].max((p + m) * x.abs());
        }
    }
}

/// Largest shift |δ| for which [`logistic_sinh_diffs_row`] applies: there the truncated series
/// of sinh δ (through δ⁷) and cosh δ (through δ⁶) are below 0.1 ulp from the functions.
pub(crate) const SINH_FORM_MAX_SHIFT: f64 = 1.0 / 32.0;

/// Bound, in ulp of |q|, of the error of [`logistic_sinh_diffs_row`] against the exact
/// difference of ℓ' at the shifts as given (`exp_v` ≤ 2 ulp enters numerator and denominator,
/// the series, the shift's product and the remaining operations about 6 more; twice that for
/// margin). The tests assert it against the platform's `sinh`/`cosh`.
pub(crate) const SINH_FORM_ULP: f64 = 16.0;

/// 1/3!, 1/5!, 1/7!: the series of sinh δ / δ − 1 in δ².
const SINH_C: [f64; 3] = [1.0 / 6.0, 1.0 / 120.0, 1.0 / 5040.0];
/// 1/2!, 1/4!, 1/6!: the series of (cosh δ − 1) / δ² in δ².
const COSH_C: [f64; 3] = [1.0 / 2.0, 1.0 / 24.0, 1.0 / 720.0];

/// The per-sample constants of [`logistic_sinh_diff`] at prediction z: `(2w, 1 + w²)` with
/// w = e^{−|z|}.
#[inline(always)]
fn logistic_sinh_centre(z: f64) -> (f64, f64) {
    let w = exp_v(-z.abs());
    (w + w, fma(w, w, 1.0))
}

/// ℓ'(z + δ) − ℓ'(z − δ) of the logistic loss (labels ±1) without cancellation:
/// σ(z + δ) − σ(z − δ) = sinh δ / (cosh z + cosh δ) = 2w·sinh δ / (1 + w² + 2w·cosh δ) with
/// w = e^{−|z|} (no overflow at any z), sinh and cosh of |δ| ≤ [`SINH_FORM_MAX_SHIFT`] by their
/// series; `(w2, a) = (2w, 1 + w²)` from [`logistic_sinh_centre`].
#[inline(always)]
fn logistic_sinh_diff(d: f64, w2: f64, a: f64) -> f64 {
    let b2 = d * d;
    let ps = fma(b2, fma(b2, SINH_C[2], SINH_C[1]), SINH_C[0]);
    let s = fma(d * b2, ps, d);
    let pc = fma(b2, fma(b2, COSH_C[2], COSH_C[1]), COSH_C[0]);
    let c = fma(b2, pc, 1.0);
    (w2 * s) / fma(w2, c, a)
}

simd_dispatch! {
    /// One sample's central differences of the logistic loss's derivative along the axes of a
    /// linear model with equal moves (θ_j ± h_j both exactly representable as formed): with the
    /// sample's prediction `z` (label ±1), features `xs` and moves `h`,
    /// `q[j] = ℓ'(z + δ_j) − ℓ'(z − δ_j)` with δ_j = `h[j]·xs[j]` (rounded), by
    /// [`logistic_sinh_diff`]: one exponential per sample and one division per entry, relative
    /// error ≤ [`SINH_FORM_ULP`] ulp where every |δ_j| ≤ [`SINH_FORM_MAX_SHIFT`] (the caller
    /// checks `mx[1]`). `mx` is raised to the maxima over j of |q_j| and |δ_j| (NaN skipped).
    pub(crate) fn logistic_sinh_diffs_row / logistic_sinh_diffs_row_portable / logistic_sinh_diffs_row(
        z: f64,
        xs: &[f64],
        h: &[f64],
        q: &mut [f64],
        mx: &mut [f64; 2],
    ) {
        let (w2, a) = logistic_sinh_centre(z);
        for ((qv, &x), &hv) in q.iter_mut().zip(xs).zip(h) {
            let d = hv * x;
            let v = logistic_sinh_diff(d, w2, a);
            *qv = v;
            mx[0] = mx[0].max(v.abs());
            mx[1] = mx[1].max(d.abs());
        }
    }
}

/// `[{ i = 0; e }, { i = 1; e }]`: one step of a computation on two independent vectors,
/// written so that the two dependency chains are interleaved instruction by instruction
/// (the out-of-order core then overlaps their latencies).
#[cfg(target_arch = "x86_64")]
macro_rules! m2 {
    ($i:ident => $e:expr) => {
        [
            {
                let $i = 0usize;
                $e
            },
            {
                let $i = 1usize;
                $e
            },
        ]
    };
}

// The exponential's reduction and polynomial, written once for every lane width: each macro
// expands to the operations of its scalar model ([`reduce`], [`expm1_reduced`],
// [`exp_nonpos_v`]) on vectors, through the lane operations in scope where it is used (`splat`,
// `add`, `sub`, `mul`, `fma`, `max`, `neg`, `pow2`, `nan_or` of the [`avx2`] module, four
// lanes, or of the `avx512` module, eight lanes). The same IEEE operations in the same order per
// lane: every width gives the bits of the scalar kernels.

/// `(n, r)` of [`reduce`] on a vector.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_reduce {
    ($x:expr) => {{
        let x = $x;
        let magic = splat(MAGIC);
        let nf = sub(fma(x, splat(LOG2E), magic), magic);
        let mnf = neg(nf);
        let r = fma(mnf, splat(LN2_LO), fma(mnf, splat(LN2_HI), x));
        (nf, r)
    }};
}

/// [`expm1_reduced`] on a vector.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_expm1_reduced {
    ($r:expr) => {{
        let r = $r;
        let c = &EXPM1_C;
        let r2 = mul(r, r);
        let r4 = mul(r2, r2);
        let r8 = mul(r4, r4);
        let q0 = fma(splat(c[1]), r, splat(c[0]));
        let q1 = fma(splat(c[3]), r, splat(c[2]));
        let q2 = fma(splat(c[5]), r, splat(c[4]));
        let q3 = fma(splat(c[7]), r, splat(c[6]));
        let q4 = fma(splat(c[9]), r, splat(c[8]));
        let s0 = fma(q1, r2, q0);
        let s1 = fma(q3, r2, q2);
        let t0 = fma(s1, r4, s0);
        let p = fma(q4, r8, t0);
        fma(r2, p, r)
    }};
}

/// [`exp_nonpos_v`] of two vectors `[V; 2]`, interleaved: e^x for x ≤ 0 (or NaN) with one power
/// of two (bit for bit the general exponential there).
#[cfg(target_arch = "x86_64")]
macro_rules! simd_exp_nonpos_x2 {
    ($x:expr) => {{
        let x = $x;
        let c = &EXPM1_C;
        let magic = splat(MAGIC);
        let xc = m2!(i => max(x[i], splat(-746.0)));
        let nf = m2!(i => sub(fma(xc[i], splat(LOG2E), magic), magic));
        let mnf = m2!(i => neg(nf[i]));
        let r1 = m2!(i => fma(mnf[i], splat(LN2_HI), xc[i]));
        let r = m2!(i => fma(mnf[i], splat(LN2_LO), r1[i]));
        let r2 = m2!(i => mul(r[i], r[i]));
        let r4 = m2!(i => mul(r2[i], r2[i]));
        let r8 = m2!(i => mul(r4[i], r4[i]));
        let q0 = m2!(i => fma(splat(c[1]), r[i], splat(c[0])));
        let q1 = m2!(i => fma(splat(c[3]), r[i], splat(c[2])));
        let q2 = m2!(i => fma(splat(c[5]), r[i], splat(c[4])));
        let q3 = m2!(i => fma(splat(c[7]), r[i], splat(c[6])));
        let q4 = m2!(i => fma(splat(c[9]), r[i], splat(c[8])));
        let s0 = m2!(i => fma(q1[i], r2[i], q0[i]));
        let s1 = m2!(i => fma(q3[i], r2[i], q2[i]));
        let t0 = m2!(i => fma(s1[i], r4[i], s0[i]));
        let pp = m2!(i => fma(q4[i], r8[i], t0[i]));
        let em1 = m2!(i => fma(r2[i], pp[i], r[i]));
        let p = m2!(i => add(splat(1.0), em1[i]));
        let sc = m2!(i => pow2(add(nf[i], splat(64.0))));
        let y = m2!(i => mul(mul(p[i], sc[i]), splat(TWO_M64)));
        m2!(i => nan_or(x[i], y[i]))
    }};
}

/// The body of a logistic row kernel of `$w` values per step (`$step`: one step of `$w` values
/// at an offset): whole steps in place, the last `< $w` values in zero-padded buffers (lanes are
/// independent, so the padding changes no value), then the fold when `flush`. The AVX2 and
/// AVX-512 kernels differ only in their step and width.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_logistic_row {
    ($w:expr, $step:ident, $f:ident, $e:ident, $y:ident, $acc_f:ident, $acc_s:ident, $prod:ident, $flush:ident) => {{
        let want_s = !$acc_s.is_empty();
        let mut n = $f.len().min($acc_f.len()).min($prod.len());
        if want_s {
            n = n.min($e.len()).min($acc_s.len());
        }
        let yv = splat($y);
        let mut k = 0;
        while k + $w <= n {
            $step(k, $f, $e, yv, $acc_f, $acc_s, $prod, want_s);
            k += $w;
        }
        if k < n {
            let r = n - k;
            let mut bufs = [[0.0f64; $w]; 5];
            bufs[0][..r].copy_from_slice(&$f[k..n]);
            bufs[2][..r].copy_from_slice(&$acc_f[k..n]);
            bufs[4][..r].copy_from_slice(&$prod[k..n]);
            if want_s {
                bufs[1][..r].copy_from_slice(&$e[k..n]);
                bufs[3][..r].copy_from_slice(&$acc_s[k..n]);
            }
            let [fb, eb, mut ab, mut sb, mut pb] = bufs;
            $step(0, &fb, &eb, yv, &mut ab, &mut sb, &mut pb, want_s);
            $acc_f[k..n].copy_from_slice(&ab[..r]);
            $prod[k..n].copy_from_slice(&pb[..r]);
            if want_s {
                $acc_s[k..n].copy_from_slice(&sb[..r]);
            }
        }
        if $flush {
            let s = if want_s {
                &mut $acc_s[..n]
            } else {
                &mut $acc_s[..0]
            };
            super::logistic_flush(&mut $acc_f[..n], s, &mut $prod[..n]);
        }
    }};
}

/// The AVX2 twins of the slice kernels: four lanes per instruction, the same operations in the
/// same order as the scalar kernels ([`exp_v`], [`log1p_unit_v`], …), which also handle the
/// last `len % 4` values. Explicit intrinsics (the compiler does not vectorise the scalar loops
/// by itself: the kernels' selects and bit manipulations stop its cost model).
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe, clippy::missing_safety_doc)]
pub(crate) mod avx2 {
    use super::{
        exp_v, log1p_unit_v, sigmoid_v, softplus_v, tanh_v, Activation, Loss, ATANH_A, COSH_C,
        EXPM1_C, LN2_HI, LN2_LO, LOG2E, MAGIC, SINH_C, TWO_M64,
    };
    use std::arch::x86_64::*;

    type V = __m256d;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(x: f64) -> V {
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(a: V, b: V) -> V {
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sub(a: V, b: V) -> V {
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mul(a: V, b: V) -> V {
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fma(a: V, b: V, c: V) -> V {
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn div(a: V, b: V) -> V {
        unsafe { _mm256_div_pd(a, b) }
    }
    /// `if m { b } else { a }` per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn select(m: V, b: V, a: V) -> V {
        unsafe { _mm256_blendv_pd(a, b, m) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ge(a: V, b: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_GE_OQ>(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn gt(a: V, b: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_GT_OQ>(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn is_nan(a: V) -> V {
        unsafe { _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a) }
    }
    /// max(a, b) for a non-NaN b (as `f64::max`, NaN a gives b).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn max(a: V, b: V) -> V {
        unsafe { _mm256_max_pd(a, b) }
    }
    /// min(a, b) for a non-NaN b (as `f64::min`, NaN a gives b).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn min(a: V, b: V) -> V {
        unsafe { _mm256_min_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn abs(a: V) -> V {
        unsafe { _mm256_andnot_pd(splat(-0.0), a) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn neg_abs(a: V) -> V {
        unsafe { _mm256_or_pd(splat(-0.0), a) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn copysign(mag: V, sign: V) -> V {
        unsafe {
            _mm256_or_pd(
                _mm256_andnot_pd(splat(-0.0), mag),
                _mm256_and_pd(splat(-0.0), sign),
            )
        }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load(s: &[f64], k: usize) -> V {
        debug_assert!(k + 4 <= s.len());
        unsafe { _mm256_loadu_pd(s.as_ptr().add(k)) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store(s: &mut [f64], k: usize, v: V) {
        debug_assert!(k + 4 <= s.len());
        unsafe { _mm256_storeu_pd(s.as_mut_ptr().add(k), v) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn expm1_reduced(r: V) -> V {
        simd_expm1_reduced!(r)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn atanh_poly(w: V) -> V {
        let a = &ATANH_A;
        let k = |v: f64| splat(v);
        let w2 = mul(w, w);
        let w4 = mul(w2, w2);
        let q0 = fma(k(a[1]), w, k(a[0]));
        let q1 = fma(k(a[3]), w, k(a[2]));
        let q2 = fma(k(a[5]), w, k(a[4]));
        let q3 = fma(k(a[7]), w, k(a[6]));
        let s0 = fma(q1, w2, q0);
        let s1 = fma(q3, w2, q2);
        fma(s1, w4, s0)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce(x: V) -> (V, V) {
        simd_reduce!(x)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn neg(a: V) -> V {
        unsafe { _mm256_xor_pd(a, splat(-0.0)) }
    }

    /// `if x is NaN { x } else { y }` per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn nan_or(x: V, y: V) -> V {
        select(is_nan(x), x, y)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pow2(nf: V) -> V {
        unsafe {
            let t = _mm256_castpd_si256(add(nf, splat(MAGIC + 1023.0)));
            let e = _mm256_sub_epi64(t, _mm256_set1_epi64x(MAGIC.to_bits() as i64));
            _mm256_castsi256_pd(_mm256_slli_epi64::<52>(e))
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
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
    #[target_feature(enable = "avx2,fma")]
    fn expm1_4(x: V) -> V {
        let xc = min(max(x, splat(-60.0)), splat(709.0));
        let (nf, r) = reduce(xc);
        let q = expm1_reduced(r);
        let s = pow2(nf);
        let y = fma(s, q, sub(s, splat(1.0)));
        select(is_nan(x), x, y)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn log1p_unit4(u: V) -> V {
        let big = ge(u, splat(0.5));
        let num = select(big, sub(u, splat(1.0)), u);
        let den = select(big, add(u, splat(3.0)), add(u, splat(2.0)));
        let s = div(num, den);
        let s2 = mul(s, s);
        let p = atanh_poly(s2);
        let two_s = mul(splat(2.0), s);
        let zero = splat(0.0);
        let hi = select(big, splat(LN2_HI), zero);
        let lo = select(big, splat(LN2_LO), zero);
        add(hi, add(two_s, fma(mul(two_s, s2), p, lo)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sigmoid4(z: V) -> V {
        let u = exp4(neg_abs(z));
        let num = select(ge(z, splat(0.0)), splat(1.0), u);
        div(num, add(splat(1.0), u))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn softplus4(z: V) -> V {
        add(max(z, splat(0.0)), log1p_unit4(exp4(neg_abs(z))))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tanh4(z: V) -> V {
        let e = expm1_4(min(mul(splat(2.0), abs(z)), splat(40.0)));
        let t = copysign(div(e, add(e, splat(2.0))), z);
        select(is_nan(z), z, t)
    }

    /// [`super::exp_nonpos_v`] of two vectors, interleaved: e^x for x ≤ 0 (or NaN) with one
    /// power of two (bit for bit [`exp4`] there).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp_nonpos4x2(x: [V; 2]) -> [V; 2] {
        simd_exp_nonpos_x2!(x)
    }

    /// [`log1p_unit4`] of two vectors, interleaved (same operations per lane).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn log1p_unit4x2(u: [V; 2]) -> [V; 2] {
        let a = &ATANH_A;
        let big = m2!(i => ge(u[i], splat(0.5)));
        let num = m2!(i => select(big[i], sub(u[i], splat(1.0)), u[i]));
        let den = m2!(i => select(big[i], add(u[i], splat(3.0)), add(u[i], splat(2.0))));
        let s = m2!(i => div(num[i], den[i]));
        let w = m2!(i => mul(s[i], s[i]));
        let w2 = m2!(i => mul(w[i], w[i]));
        let w4 = m2!(i => mul(w2[i], w2[i]));
        let q0 = m2!(i => fma(splat(a[1]), w[i], splat(a[0])));
        let q1 = m2!(i => fma(splat(a[3]), w[i], splat(a[2])));
        let q2 = m2!(i => fma(splat(a[5]), w[i], splat(a[4])));
        let q3 = m2!(i => fma(splat(a[7]), w[i], splat(a[6])));
        let s0 = m2!(i => fma(q1[i], w2[i], q0[i]));
        let s1 = m2!(i => fma(q3[i], w2[i], q2[i]));
        let p = m2!(i => fma(s1[i], w4[i], s0[i]));
        let two_s = m2!(i => mul(splat(2.0), s[i]));
        let zero = splat(0.0);
        let hi = m2!(i => select(big[i], splat(LN2_HI), zero));
        let lo = m2!(i => select(big[i], splat(LN2_LO), zero));
        m2!(i => add(hi[i], add(two_s[i], fma(mul(two_s[i], w[i]), p[i], lo[i]))))
    }

    /// [`logistic4`] of two vectors of predictions, interleaved: `[(ℓ, ℓ'); 2]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn logistic4x2(f: [V; 2], y: V) -> [(V, V); 2] {
        let z = m2!(i => mul(y, f[i]));
        let u = exp_nonpos4x2(m2!(i => neg_abs(z[i])));
        let lg = log1p_unit4x2(u);
        let negz = m2!(i => unsafe { _mm256_xor_pd(z[i], splat(-0.0)) });
        let l = m2!(i => add(max(negz[i], splat(0.0)), lg[i]));
        let num = m2!(i => select(gt(z[i], splat(0.0)), u[i], splat(1.0)));
        let negy = unsafe { _mm256_xor_pd(y, splat(-0.0)) };
        let q = m2!(i => div(num[i], add(splat(1.0), u[i])));
        m2!(i => (l[i], mul(negy, q[i])))
    }

    /// [`logistic4`] of the `m < 4` predictions `f` (zero-padded lanes), written to `l`, `dl`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn logistic_tail(f: &[f64], y: V, l: &mut [f64; 4], dl: &mut [f64; 4]) {
        let mut fb = [0.0; 4];
        fb[..f.len()].copy_from_slice(f);
        let (lv, dv) = logistic4(load(&fb, 0), y);
        store(l, 0, lv);
        store(dl, 0, dv);
    }

    /// `(ℓ, ℓ')` of the logistic loss, four lanes (as [`super::loss_term`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn logistic4(f: V, y: V) -> (V, V) {
        let z = mul(y, f);
        let u = exp4(neg_abs(z));
        let negz = unsafe { _mm256_xor_pd(z, splat(-0.0)) };
        let l = add(max(negz, splat(0.0)), log1p_unit4(u));
        let num = select(gt(z, splat(0.0)), u, splat(1.0));
        let negy = unsafe { _mm256_xor_pd(y, splat(-0.0)) };
        (l, mul(negy, div(num, add(splat(1.0), u))))
    }

    #[target_feature(enable = "avx2,fma")]
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

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn activation_slice(act: Activation, z: &mut [f64], dz: &mut [f64]) {
        let want_d = !dz.is_empty();
        let n = if want_d {
            z.len().min(dz.len())
        } else {
            z.len()
        };
        if act == Activation::Relu
            && super::relu_avx512(&mut z[..n], if want_d { &mut dz[..n] } else { &mut [] })
        {
            return;
        }
        let one = splat(1.0);
        let mut k = 0;
        match act {
            Activation::Tanh => {
                k = super::tanh_avx512_prefix(
                    &mut z[..n],
                    if want_d { &mut dz[..n] } else { &mut [] },
                    want_d,
                );
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
        if k < n
            && matches!(
                act,
                Activation::Tanh | Activation::Softplus | Activation::Sigmoid
            )
        {
            // The last < 4 values in a zero-padded vector (the same operations per lane as the
            // portable kernel, without its software fused multiply-adds: short rows of a small
            // block, e.g. one point's units per sample, are mostly tail).
            let r = n - k;
            let mut zb = [0.0; 4];
            zb[..r].copy_from_slice(&z[k..n]);
            let v = load(&zb, 0);
            let (hv, dv) = match act {
                Activation::Tanh => {
                    let t = tanh4(v);
                    (t, sub(one, mul(t, t)))
                }
                Activation::Softplus => (softplus4(v), sigmoid4(v)),
                _ => {
                    let s = sigmoid4(v);
                    (s, mul(s, sub(one, s)))
                }
            };
            let (mut hb, mut db) = ([0.0; 4], [0.0; 4]);
            store(&mut hb, 0, hv);
            store(&mut db, 0, dv);
            z[k..n].copy_from_slice(&hb[..r]);
            if want_d {
                dz[k..n].copy_from_slice(&db[..r]);
            }
            k = n;
        }
        // The rest (and the piecewise-linear activations) by the portable kernel.
        super::activation_slice_portable(
            act,
            &mut z[k..],
            if want_d { &mut dz[k..] } else { &mut [] },
        );
        let _ = (sigmoid_v, softplus_v, tanh_v);
    }

    /// Eight values of [`super::loss_accumulate_row`]'s logistic branch at offset `k` of every
    /// slice (`acc_s` and `e` unused unless `want_s`): the same operations per lane.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    fn logistic_step8(
        k: usize,
        f: &[f64],
        e: &[f64],
        y: V,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        want_s: bool,
    ) {
        let fv = [load(f, k), load(f, k + 4)];
        let z = m2!(i => mul(y, fv[i]));
        let u = exp_nonpos4x2(m2!(i => neg_abs(z[i])));
        let negz = m2!(i => unsafe { _mm256_xor_pd(z[i], splat(-0.0)) });
        let m = m2!(i => max(negz[i], splat(0.0)));
        for (h, q) in [(0, k), (1, k + 4)] {
            store(acc_f, q, add(load(acc_f, q), m[h]));
            if want_s {
                let bd = select(gt(z[h], splat(0.0)), u[h], splat(1.0));
                store(acc_s, q, add(load(acc_s, q), fma(bd, load(e, q), m[h])));
            }
            let p = load(prod, q);
            store(prod, q, add(fma(p, u[h], u[h]), p));
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn loss_accumulate_row(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        flush: bool,
    ) {
        if loss != Loss::Logistic {
            if super::terms_row_avx512(loss, f, e, y, acc_f, acc_s) {
                return;
            }
            return super::loss_accumulate_row_portable(loss, f, e, y, acc_f, acc_s, prod, flush);
        }
        if super::logistic_row_avx512(f, e, y, acc_f, acc_s, prod, flush) {
            return;
        }
        logistic_row4(f, e, y, acc_f, acc_s, prod, flush)
    }

    /// The logistic branch of [`super::loss_accumulate_row`] on four lanes (eight values per
    /// step): the kernel where the CPU has AVX2 but not AVX-512F.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn logistic_row4(
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        flush: bool,
    ) {
        simd_logistic_row!(8, logistic_step8, f, e, y, acc_f, acc_s, prod, flush)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn loss_accumulate_col(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: &[f64],
        want_s: bool,
        out: &mut [f64; 2],
    ) {
        if loss != Loss::Logistic {
            return super::loss_accumulate_col_portable(loss, f, e, y, want_s, out);
        }
        let n = if want_s {
            f.len().min(e.len())
        } else {
            f.len()
        }
        .min(y.len());
        let mut acc = [0.0; 3];
        let (mut mb, mut bb, mut ub) = ([0.0; 8], [0.0; 8], [0.0; 8]);
        let mut k = 0;
        while k < n {
            // the parts of eight samples (the last ones zero-padded; lanes are independent)
            let r = (n - k).min(8);
            let (fv, yv) = if r == 8 {
                ([load(f, k), load(f, k + 4)], [load(y, k), load(y, k + 4)])
            } else {
                let (mut fb, mut yb) = ([0.0; 8], [0.0; 8]);
                fb[..r].copy_from_slice(&f[k..k + r]);
                yb[..r].copy_from_slice(&y[k..k + r]);
                ([load(&fb, 0), load(&fb, 4)], [load(&yb, 0), load(&yb, 4)])
            };
            let z = m2!(i => mul(yv[i], fv[i]));
            let u = exp_nonpos4x2(m2!(i => neg_abs(z[i])));
            let negz = m2!(i => unsafe { _mm256_xor_pd(z[i], splat(-0.0)) });
            for h in 0..2 {
                store(&mut mb, 4 * h, max(negz[h], splat(0.0)));
                store(
                    &mut bb,
                    4 * h,
                    select(gt(z[h], splat(0.0)), u[h], splat(1.0)),
                );
                store(&mut ub, 4 * h, u[h]);
            }
            for j in 0..r {
                let i = k + j;
                let ev = if want_s { e[i] } else { 0.0 };
                let flush = super::logistic_flush_after(i, n);
                super::logistic_col_step(&mut acc, (mb[j], bb[j], ub[j]), ev, want_s, flush);
            }
            k += r;
        }
        *out = [acc[0], acc[1]];
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn loss_derivs_col(loss: Loss, f: &[f64], y: &[f64], dl: &mut [f64]) {
        let n = f.len().min(y.len()).min(dl.len());
        let mut k = 0;
        if loss == Loss::Logistic {
            while k + 4 <= n {
                let (_, d) = logistic4(load(f, k), load(y, k));
                store(dl, k, d);
                k += 4;
            }
            if k < n {
                // the last < 4 values in zero-padded vectors (lanes are independent)
                let m = n - k;
                let (mut fb, mut yb, mut db) = ([0.0; 4], [0.0; 4], [0.0; 4]);
                fb[..m].copy_from_slice(&f[k..n]);
                yb[..m].copy_from_slice(&y[k..n]);
                let (_, d) = logistic4(load(&fb, 0), load(&yb, 0));
                store(&mut db, 0, d);
                dl[k..n].copy_from_slice(&db[..m]);
                k = n;
            }
        }
        super::loss_derivs_col_portable(loss, &f[k..n], &y[k..n], &mut dl[k..n]);
    }

    #[target_feature(enable = "avx2,fma")]
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
            let want_f = !acc_f.is_empty();
            let mut n = f.len().min(dl.len());
            if want_f {
                n = n.min(acc_f.len());
            }
            while k + 8 <= n {
                let [(l0, d0), (l1, d1)] = logistic4x2([load(f, k), load(f, k + 4)], yv);
                for (j, l, d) in [(k, l0, d0), (k + 4, l1, d1)] {
                    if want_f {
                        store(acc_f, j, add(load(acc_f, j), l));
                    }
                    store(dl, j, d);
                }
                k += 8;
            }
            while k < n {
                let m = (n - k).min(4);
                let (mut lb, mut db) = ([0.0; 4], [0.0; 4]);
                logistic_tail(&f[k..k + m], yv, &mut lb, &mut db);
                for j in 0..m {
                    if want_f {
                        acc_f[k + j] += lb[j];
                    }
                    dl[k + j] = db[j];
                }
                k += m;
            }
        }
        let af = if acc_f.is_empty() {
            &mut acc_f[..0]
        } else {
            &mut acc_f[k..]
        };
        super::loss_derivs_row_portable(loss, &f[k..], y, af, &mut dl[k..]);
    }

    /// One group of four columns of [`loss_deriv_diffs_row`] (logistic loss): `v = [x, tp, tm,
    /// valid]`, where `valid` masks the lanes of a zero-padded last group (their contributions
    /// to the maxima `acc` are zeroed). Returns the four differences q.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn diffs_group(zy: [f64; 2], v: [V; 4], acc: &mut [V; 4]) -> V {
        let [x, p, m, valid] = v;
        let (zv, yv, one, zero) = (splat(zy[0]), splat(zy[1]), splat(1.0), splat(0.0));
        let negy = unsafe { _mm256_xor_pd(yv, splat(-0.0)) };
        let zp = add(zv, mul(p, x));
        let zm = sub(zv, mul(m, x));
        // ℓ'(f) = −y·σ(−y f) as `loss_deriv`: the two exponentials interleaved
        let t = [mul(yv, zp), mul(yv, zm)];
        let u = exp_nonpos4x2([neg_abs(t[0]), neg_abs(t[1])]);
        let dp = mul(negy, div(select(gt(t[0], zero), u[0], one), add(one, u[0])));
        let dm = mul(negy, div(select(gt(t[1], zero), u[1], one), add(one, u[1])));
        let d = sub(dp, dm);
        let new = [
            add(abs(zp), abs(zm)),
            add(abs(dp), abs(dm)),
            abs(d),
            mul(add(p, m), abs(x)),
        ];
        for (a, nv) in acc.iter_mut().zip(new) {
            // max(new, acc): a NaN new lane keeps acc (as `f64::max`)
            *a = max(unsafe { _mm256_and_pd(nv, valid) }, *a);
        }
        d
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn loss_deriv_diffs_row(
        loss: Loss,
        zy: [f64; 2],
        xs: &[f64],
        tp: &[f64],
        tm: &[f64],
        q: &mut [f64],
        mx: &mut [f64; 4],
    ) {
        let n = q.len().min(xs.len()).min(tp.len()).min(tm.len());
        let mut k = 0;
        if loss == Loss::Logistic {
            let mut acc = [splat(0.0); 4];
            let all = unsafe { _mm256_castsi256_pd(_mm256_set1_epi64x(-1)) };
            while k + 4 <= n {
                let d = diffs_group(zy, [load(xs, k), load(tp, k), load(tm, k), all], &mut acc);
                store(q, k, d);
                k += 4;
            }
            if k < n {
                let r = n - k;
                let (mut xb, mut pb, mut mb, mut vb) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
                xb[..r].copy_from_slice(&xs[k..n]);
                pb[..r].copy_from_slice(&tp[k..n]);
                mb[..r].copy_from_slice(&tm[k..n]);
                vb[..r].fill(f64::from_bits(u64::MAX));
                let v = [load(&xb, 0), load(&pb, 0), load(&mb, 0), load(&vb, 0)];
                let d = diffs_group(zy, v, &mut acc);
                let mut db = [0.0; 4];
                store(&mut db, 0, d);
                q[k..n].copy_from_slice(&db[..r]);
                k = n;
            }
            let mut lanes = [0.0; 4];
            for (mv, a) in mx.iter_mut().zip(acc) {
                store(&mut lanes, 0, a);
                for &l in &lanes {
                    *mv = mv.max(l);
                }
            }
        }
        super::loss_deriv_diffs_row_portable(
            loss,
            zy,
            &xs[k..n],
            &tp[k..n],
            &tm[k..n],
            &mut q[k..n],
            mx,
        );
    }

    /// Four entries of [`super::logistic_sinh_diff`]: `(q, δ)` for features `x` and moves `h`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sinh_group(x: V, h: V, w2: V, a: V) -> (V, V) {
        let k = |v: f64| splat(v);
        let d = mul(h, x);
        let b2 = mul(d, d);
        let ps = fma(b2, fma(b2, k(SINH_C[2]), k(SINH_C[1])), k(SINH_C[0]));
        let s = fma(mul(d, b2), ps, d);
        let pc = fma(b2, fma(b2, k(COSH_C[2]), k(COSH_C[1])), k(COSH_C[0]));
        let c = fma(b2, pc, k(1.0));
        (div(mul(w2, s), fma(w2, c, a)), d)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn logistic_sinh_diffs_row(
        z: f64,
        xs: &[f64],
        h: &[f64],
        q: &mut [f64],
        mx: &mut [f64; 2],
    ) {
        let n = q.len().min(xs.len()).min(h.len());
        let (w2s, as_) = super::logistic_sinh_centre(z);
        let (w2, a) = (splat(w2s), splat(as_));
        let mut acc = [splat(0.0); 2];
        let mut k = 0;
        while k < n {
            let (qv, dv) = if k + 4 <= n {
                sinh_group(load(xs, k), load(h, k), w2, a)
            } else {
                // the last < 4 entries in zero-padded lanes (q = δ = 0 there: no effect on
                // the maxima)
                let r = n - k;
                let (mut xb, mut hb) = ([0.0; 4], [0.0; 4]);
                xb[..r].copy_from_slice(&xs[k..n]);
                hb[..r].copy_from_slice(&h[k..n]);
                sinh_group(load(&xb, 0), load(&hb, 0), w2, a)
            };
            if k + 4 <= n {
                store(q, k, qv);
            } else {
                let mut qb = [0.0; 4];
                store(&mut qb, 0, qv);
                q[k..n].copy_from_slice(&qb[..n - k]);
            }
            // max(new, acc): a NaN lane keeps acc (as `f64::max`)
            acc[0] = max(abs(qv), acc[0]);
            acc[1] = max(abs(dv), acc[1]);
            k += 4;
        }
        let mut lanes = [0.0; 4];
        for (mv, a) in mx.iter_mut().zip(acc) {
            store(&mut lanes, 0, a);
            for &l in &lanes {
                *mv = mv.max(l);
            }
        }
    }

    #[allow(dead_code)]
    fn _unused() -> (f64, f64) {
        (log1p_unit_v(0.5), 0.0)
    }
}

/// tanh of the leading multiple of eight values of `z` (and 1 − tanh² into `dz` with `want_d`)
/// by [`avx512::tanh_slice`] where the CPU has AVX-512F: the number of values done (0 without
/// AVX-512F, or when built by a Rust older than 1.89, whose AVX-512 intrinsics were unstable).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
fn tanh_avx512_prefix(z: &mut [f64], dz: &mut [f64], want_d: bool) -> usize {
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the feature the function was compiled for.
        unsafe { avx512::tanh_slice(z, dz, want_d) }
    } else {
        0
    }
}

/// See the Rust ≥ 1.89 twin: nothing done.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
fn tanh_avx512_prefix(_z: &mut [f64], _dz: &mut [f64], _want_d: bool) -> usize {
    0
}

/// The logistic branch of [`loss_accumulate_row`] by [`avx512::logistic_row`] where the CPU has
/// AVX-512F: whether it ran (false without AVX-512F, or when built by a Rust older than 1.89).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn logistic_row_avx512(
    f: &[f64],
    e: &[f64],
    y: f64,
    acc_f: &mut [f64],
    acc_s: &mut [f64],
    prod: &mut [f64],
    flush: bool,
) -> bool {
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the feature the function was compiled for.
        unsafe { avx512::logistic_row(f, e, y, acc_f, acc_s, prod, flush) };
        true
    } else {
        false
    }
}

/// See the Rust ≥ 1.89 twin: nothing done.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn logistic_row_avx512(
    _f: &[f64],
    _e: &[f64],
    _y: f64,
    _acc_f: &mut [f64],
    _acc_s: &mut [f64],
    _prod: &mut [f64],
    _flush: bool,
) -> bool {
    false
}

/// The ReLU activation ([`relu_in_place`]) compiled for AVX-512F where the CPU has it: whether
/// it ran (false without AVX-512F, or when built by a Rust older than 1.89).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn relu_avx512(z: &mut [f64], dz: &mut [f64]) -> bool {
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the feature the function was compiled for.
        unsafe { avx512::relu_slice(z, dz) };
        true
    } else {
        false
    }
}

/// See the Rust ≥ 1.89 twin: nothing done.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn relu_avx512(_z: &mut [f64], _dz: &mut [f64]) -> bool {
    false
}

/// The terms of the losses other than the logistic one ([`terms_row`]) compiled for AVX-512F
/// where the CPU has it: whether it ran (false without AVX-512F, before Rust 1.89, or for the
/// Huber loss, which takes the scalar path).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn terms_row_avx512(
    loss: Loss,
    f: &[f64],
    e: &[f64],
    y: f64,
    acc_f: &mut [f64],
    acc_s: &mut [f64],
) -> bool {
    if matches!(loss, Loss::Squared | Loss::Hinge | Loss::SquaredHinge)
        && std::arch::is_x86_feature_detected!("avx512f")
    {
        // SAFETY: the CPU supports the feature the function was compiled for.
        unsafe { avx512::terms_row(loss, f, e, y, acc_f, acc_s) };
        true
    } else {
        false
    }
}

/// See the Rust ≥ 1.89 twin: nothing done.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
#[inline]
fn terms_row_avx512(
    _loss: Loss,
    _f: &[f64],
    _e: &[f64],
    _y: f64,
    _acc_f: &mut [f64],
    _acc_s: &mut [f64],
) -> bool {
    false
}

/// The AVX-512 twins (eight lanes) of the tanh activation ([`avx2`]'s `tanh4`) and of the
/// logistic value kernel ([`avx2`]'s `logistic_row4`), used where the CPU has AVX-512F: the same
/// operations per lane (the exponential from the same macros), so the same bits as the AVX2 and
/// portable kernels (tested).
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
#[allow(unused_unsafe, clippy::missing_safety_doc)]
pub(crate) mod avx512 {
    use super::{Loss, EXPM1_C, LN2_HI, LN2_LO, LOG2E, MAGIC, TWO_M64};
    use std::arch::x86_64::*;

    type V = __m512d;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(x: f64) -> V {
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: V, b: V) -> V {
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn sub(a: V, b: V) -> V {
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mul(a: V, b: V) -> V {
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn div(a: V, b: V) -> V {
        unsafe { _mm512_div_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fma(a: V, b: V, c: V) -> V {
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    /// max(a, b) for a non-NaN b (NaN a gives b, as `_mm256_max_pd`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn max(a: V, b: V) -> V {
        unsafe { _mm512_max_pd(a, b) }
    }
    /// min(a, b) for a non-NaN b (NaN a gives b, as `_mm256_min_pd`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn min(a: V, b: V) -> V {
        unsafe { _mm512_min_pd(a, b) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn bits(a: V) -> __m512i {
        unsafe { _mm512_castpd_si512(a) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn float(a: __m512i) -> V {
        unsafe { _mm512_castsi512_pd(a) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn abs(a: V) -> V {
        unsafe { float(_mm512_andnot_si512(bits(splat(-0.0)), bits(a))) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn neg(a: V) -> V {
        unsafe { float(_mm512_xor_si512(bits(a), bits(splat(-0.0)))) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn copysign(mag: V, sign: V) -> V {
        let m = bits(splat(-0.0));
        unsafe {
            float(_mm512_or_si512(
                _mm512_andnot_si512(m, bits(mag)),
                _mm512_and_si512(m, bits(sign)),
            ))
        }
    }
    /// `if x is NaN { x } else { y }` per lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn nan_or(x: V, y: V) -> V {
        unsafe { _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_UNORD_Q>(x, x), y, x) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce(x: V) -> (V, V) {
        simd_reduce!(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn pow2(nf: V) -> V {
        unsafe {
            let t = bits(add(nf, splat(MAGIC + 1023.0)));
            let e = _mm512_sub_epi64(t, _mm512_set1_epi64(MAGIC.to_bits() as i64));
            float(_mm512_slli_epi64::<52>(e))
        }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn expm1_reduced(r: V) -> V {
        simd_expm1_reduced!(r)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn expm1_8(x: V) -> V {
        let xc = min(max(x, splat(-60.0)), splat(709.0));
        let (nf, r) = reduce(xc);
        let q = expm1_reduced(r);
        let s = pow2(nf);
        let y = fma(s, q, sub(s, splat(1.0)));
        nan_or(x, y)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn tanh8(z: V) -> V {
        let e = expm1_8(min(mul(splat(2.0), abs(z)), splat(40.0)));
        let t = copysign(div(e, add(e, splat(2.0))), z);
        nan_or(z, t)
    }

    /// tanh of `z[..8⌊n/8⌋]` in place and, with `want_d`, 1 − tanh² into `dz` (n = the usable
    /// length of both); returns the number of values done (the caller finishes the rest).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tanh_slice(z: &mut [f64], dz: &mut [f64], want_d: bool) -> usize {
        let n = if want_d {
            z.len().min(dz.len())
        } else {
            z.len()
        };
        let one = splat(1.0);
        let mut k = 0;
        while k + 8 <= n {
            unsafe {
                let t = tanh8(_mm512_loadu_pd(z.as_ptr().add(k)));
                _mm512_storeu_pd(z.as_mut_ptr().add(k), t);
                if want_d {
                    _mm512_storeu_pd(dz.as_mut_ptr().add(k), sub(one, mul(t, t)));
                }
            }
            k += 8;
        }
        k
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(s: &[f64], k: usize) -> V {
        debug_assert!(k + 8 <= s.len());
        unsafe { _mm512_loadu_pd(s.as_ptr().add(k)) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store(s: &mut [f64], k: usize, v: V) {
        debug_assert!(k + 8 <= s.len());
        unsafe { _mm512_storeu_pd(s.as_mut_ptr().add(k), v) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn neg_abs(a: V) -> V {
        unsafe { float(_mm512_or_si512(bits(splat(-0.0)), bits(a))) }
    }
    /// `if a > 0 { b } else { c }` per lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn if_pos(a: V, b: V, c: V) -> V {
        unsafe { _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(a, splat(0.0)), c, b) }
    }

    /// Sixteen values of the logistic branch of [`super::loss_accumulate_row`] at offset `k`
    /// of every slice (`acc_s` and `e` unused unless `want_s`): the operations of the AVX2
    /// kernel's `logistic_step8` per lane.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    fn logistic_step16(
        k: usize,
        f: &[f64],
        e: &[f64],
        y: V,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        want_s: bool,
    ) {
        let fv = [load(f, k), load(f, k + 8)];
        let z = m2!(i => mul(y, fv[i]));
        let u = simd_exp_nonpos_x2!(m2!(i => neg_abs(z[i])));
        let m = m2!(i => max(neg(z[i]), splat(0.0)));
        for (h, q) in [(0, k), (1, k + 8)] {
            store(acc_f, q, add(load(acc_f, q), m[h]));
            if want_s {
                let bd = if_pos(z[h], u[h], splat(1.0));
                store(acc_s, q, add(load(acc_s, q), fma(bd, load(e, q), m[h])));
            }
            let p = load(prod, q);
            store(prod, q, add(fma(p, u[h], u[h]), p));
        }
    }

    /// [`super::relu_in_place`] compiled for AVX-512F (the compiler's vectors: the same
    /// operations per value).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn relu_slice(z: &mut [f64], dz: &mut [f64]) {
        super::relu_in_place(z, dz)
    }

    /// [`super::terms_row`] compiled for AVX-512F, one loop per loss (the compiler's vectors:
    /// the same operations per value, no fused multiply-add).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn terms_row(
        loss: Loss,
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
    ) {
        match loss {
            Loss::Squared => super::terms_row(Loss::Squared, f, e, y, acc_f, acc_s),
            Loss::Hinge => super::terms_row(Loss::Hinge, f, e, y, acc_f, acc_s),
            Loss::SquaredHinge => super::terms_row(Loss::SquaredHinge, f, e, y, acc_f, acc_s),
            _ => super::terms_row(loss, f, e, y, acc_f, acc_s),
        }
    }

    /// The logistic branch of [`super::loss_accumulate_row`] on eight lanes (sixteen values per
    /// step, the last < 16 in zero-padded buffers), bit for bit the AVX2 and portable kernels.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn logistic_row(
        f: &[f64],
        e: &[f64],
        y: f64,
        acc_f: &mut [f64],
        acc_s: &mut [f64],
        prod: &mut [f64],
        flush: bool,
    ) {
        simd_logistic_row!(16, logistic_step16, f, e, y, acc_f, acc_s, prod, flush)
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
        let mut lcg = crate::rng::Lcg(0x9E37_79B9_7F4A_7C15);
        for _ in 0..n {
            xs.push(lo + (hi - lo) * lcg.unit());
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
    fn tanh_slices_are_bit_identical_across_dispatch() {
        // the AVX-512 (eight lanes), AVX2 (four) and portable kernels, every length around the
        // vector widths, special values included
        let mut zs = sweep(-30.0, 30.0, 997);
        zs.extend([
            0.0,
            -0.0,
            1e-300,
            -1e-310,
            19.5,
            -20.0,
            400.0,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ]);
        for len in [1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 200, zs.len()] {
            let zs = &zs[zs.len() - len..];
            let (mut z1, mut d1) = (zs.to_vec(), vec![0.0; len]);
            activation_slice(Activation::Tanh, &mut z1, &mut d1);
            let (mut z2, mut d2) = (zs.to_vec(), vec![0.0; len]);
            activation_slice_portable(Activation::Tanh, &mut z2, &mut d2);
            let mut z3 = zs.to_vec();
            activation_slice(Activation::Tanh, &mut z3, &mut []);
            let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(b(&z1), b(&z2), "{len}");
            assert_eq!(b(&d1), b(&d2), "{len}");
            assert_eq!(b(&z1), b(&z3), "{len}");
        }
    }

    #[test]
    fn exp_of_non_positive_arguments_is_exp_bit_for_bit() {
        let mut xs = sweep(-760.0, 0.0, 400_000);
        xs.extend(sweep(-746.0, -700.0, 100_000)); // subnormal and smallest normal results
        xs.extend([
            0.0,
            -0.0,
            -1e-300,
            -745.1332191019412,
            -f64::MIN_POSITIVE,
            -800.0,
        ]);
        xs.push(f64::NEG_INFINITY);
        for &x in &xs {
            assert_eq!(exp_nonpos_v(x).to_bits(), exp_v(x).to_bits(), "{x}");
        }
        assert!(exp_nonpos_v(f64::NAN).is_nan());
    }

    #[test]
    fn logistic_rows_of_every_length_are_bit_identical_across_dispatch() {
        // the AVX2 kernel runs in pieces of 64 values with an 8-value tail: every boundary
        let fs = sweep(-50.0, 50.0, 331);
        let es: Vec<f64> = fs.iter().map(|f| 0.5 * f.abs()).collect();
        for len in [
            1, 3, 7, 8, 9, 15, 16, 63, 64, 65, 71, 72, 127, 128, 129, 200, 331,
        ] {
            for y in [1.0, -1.0] {
                let (f, e) = (&fs[..len], &es[..len]);
                let (mut af, mut as_) = (vec![0.25; len], vec![0.5; len]);
                let (mut p1, mut p2, mut p3) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
                loss_accumulate_row(Loss::Logistic, f, e, y, &mut af, &mut as_, &mut p1, true);
                let (mut pf, mut ps) = (vec![0.25; len], vec![0.5; len]);
                loss_accumulate_row_portable(
                    Loss::Logistic,
                    f,
                    e,
                    y,
                    &mut pf,
                    &mut ps,
                    &mut p2,
                    true,
                );
                assert_eq!(af, pf, "{len}");
                assert_eq!(as_, ps, "{len}");
                let mut nf = vec![0.25; len];
                loss_accumulate_row(Loss::Logistic, f, e, y, &mut nf, &mut [], &mut p3, true);
                assert_eq!(af, nf, "{len}");
                for k in 0..len {
                    let (l, d) = Loss::Logistic.eval(f[k], y);
                    let tol = KERNEL_ULP * f64::EPSILON;
                    assert!((af[k] - 0.25 - l).abs() <= tol * l.abs() + 2.0 * f64::EPSILON * 0.25);
                    let ts = Loss::Logistic.term_scale(l, d, e[k], y);
                    assert!((as_[k] - 0.5 - ts).abs() <= 2.0 * tol * (ts + 0.5));
                }
            }
        }
    }

    #[test]
    fn logistic_rows_are_bit_identical_on_four_and_eight_lanes() {
        // the dispatcher (eight lanes where the CPU has AVX-512F), the four-lane AVX2 kernel
        // called directly and the portable one, over several samples with folds, special values
        // included, every length around both vector widths
        #[cfg(target_arch = "x86_64")]
        {
            if !(std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"))
            {
                return;
            }
            let mut fs = sweep(-60.0, 60.0, 389);
            fs.extend([0.0, -0.0, 1e-300, -1e-310, 745.5, -800.0, 1e300, f64::NAN]);
            fs.extend([f64::INFINITY, f64::NEG_INFINITY]);
            let es: Vec<f64> = fs.iter().map(|f| 0.25 * f.abs()).collect();
            let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for len in [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 255, 256, fs.len()] {
                for want_s in [true, false] {
                    let run = |which: u8| {
                        let (mut af, mut as_, mut pr) = (
                            vec![0.125; len],
                            vec![0.5; if want_s { len } else { 0 }],
                            vec![0.0; len],
                        );
                        for i in 0..70 {
                            let y = if i % 3 == 0 { -1.0 } else { 1.0 };
                            let f: Vec<f64> = (0..len)
                                .map(|k| fs[fs.len() - len + (k + 5 * i) % len])
                                .collect();
                            let e = &es[es.len() - len..];
                            let fl = logistic_flush_after(i, 70);
                            match which {
                                0 => loss_accumulate_row(
                                    Loss::Logistic,
                                    &f,
                                    e,
                                    y,
                                    &mut af,
                                    &mut as_,
                                    &mut pr,
                                    fl,
                                ),
                                // SAFETY: AVX2 and FMA checked above.
                                1 => unsafe {
                                    avx2::logistic_row4(&f, e, y, &mut af, &mut as_, &mut pr, fl)
                                },
                                _ => loss_accumulate_row_portable(
                                    Loss::Logistic,
                                    &f,
                                    e,
                                    y,
                                    &mut af,
                                    &mut as_,
                                    &mut pr,
                                    fl,
                                ),
                            }
                        }
                        (b(&af), b(&as_))
                    };
                    let r0 = run(0);
                    assert_eq!(r0, run(1), "{len} {want_s}");
                    assert_eq!(r0, run(2), "{len} {want_s}");
                }
            }
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
                let (mut p1, mut p2) = (vec![0.0; b], vec![0.0; b]);
                loss_accumulate_row(loss, &fs, &es, y, &mut af, &mut as_, &mut p1, true);
                let (mut pf, mut ps) = (vec![1.5; b], vec![2.0; b]);
                loss_accumulate_row_portable(loss, &fs, &es, y, &mut pf, &mut ps, &mut p2, true);
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

    #[test]
    fn derivative_columns_equal_the_rows_bit_for_bit() {
        // one point's predictions over samples with their own targets: each value as the row
        // kernel computes it, at every length around the vector widths
        let fs = sweep(-60.0, 60.0, 203);
        let ys: Vec<f64> = (0..fs.len())
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
            Loss::Huber(0.7),
        ] {
            for len in [0, 1, 3, 4, 5, 7, 8, 9, 200, 203] {
                let (f, y) = (&fs[..len], &ys[..len]);
                let mut dc = vec![f64::NAN; len];
                loss_derivs_col(loss, f, y, &mut dc);
                let mut dp = vec![f64::NAN; len];
                loss_derivs_col_portable(loss, f, y, &mut dp);
                assert_eq!(dc, dp, "{loss:?} {len}");
                for k in 0..len {
                    let mut d1 = [0.0];
                    loss_derivs_row(loss, &f[k..=k], y[k], &mut [], &mut d1);
                    assert_eq!(dc[k].to_bits(), d1[0].to_bits(), "{loss:?} {len} {k}");
                }
            }
        }
    }

    #[test]
    fn accumulated_columns_equal_the_rows_bit_for_bit() {
        // one point's loss terms over samples with their own targets and bounds, in one call:
        // the value and scale that the row kernel gives sample by sample (one value per row,
        // the logistic products folded on the same samples), at lengths around the vector
        // widths and the product's fold
        let fs = sweep(-60.0, 60.0, 203);
        let es: Vec<f64> = fs.iter().map(|f| 3.0 * f.abs() + 0.25).collect();
        let ys: Vec<f64> = (0..fs.len())
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
            Loss::Huber(0.7),
        ] {
            for len in [0, 1, 3, 4, 5, 7, 8, 9, 63, 64, 65, 129, 200, 203] {
                let (f, e, y) = (&fs[..len], &es[..len], &ys[..len]);
                for want_s in [true, false] {
                    let mut col = [f64::NAN; 2];
                    loss_accumulate_col(loss, f, e, y, want_s, &mut col);
                    let mut port = [f64::NAN; 2];
                    loss_accumulate_col_portable(loss, f, e, y, want_s, &mut port);
                    let (mut v, mut sc, mut p) = ([0.0], [0.0], [0.0]);
                    for i in 0..len {
                        let acc_s: &mut [f64] = if want_s { &mut sc } else { &mut [] };
                        let flush = logistic_flush_after(i, len);
                        loss_accumulate_row(
                            loss,
                            &f[i..=i],
                            &e[i..=i],
                            y[i],
                            &mut v,
                            acc_s,
                            &mut p,
                            flush,
                        );
                    }
                    let bits = |x: [f64; 2]| [x[0].to_bits(), x[1].to_bits()];
                    let want = [v[0], if want_s { sc[0] } else { 0.0 }];
                    assert_eq!(bits(col), bits(want), "{loss:?} {len} {want_s}");
                    assert_eq!(bits(port), bits(want), "{loss:?} {len} {want_s}");
                }
            }
        }
    }

    #[test]
    fn log1p_of_non_negative_arguments_is_within_its_bound() {
        let mut vs = sweep(0.0, 1.0, 20_001);
        let mut v = 1.0;
        while v < 1e300 {
            vs.extend([v, v * (1.0 + 1e-9), v * 1.37, v * 1.999]);
            v *= 1.9;
        }
        vs.extend([f64::MIN_POSITIVE, 2.0f64.powi(64) - 1.0, f64::MAX]);
        let worst = max_rel_ulp(&vs, log1p_pos_v, f64::ln_1p);
        assert!(worst <= LOG1P_POS_ULP, "{worst}");
        // subnormal arguments (log1p(v) = v there): within one unit of the last place
        for v in [5e-324, 1e-320, 0.7 * f64::MIN_POSITIVE] {
            assert!((log1p_pos_v(v) - v).abs() <= 5e-324, "{v}");
        }
        assert_eq!(log1p_pos_v(0.0), 0.0);
        assert_eq!(log1p_pos_v(f64::INFINITY), f64::INFINITY);
        assert!(log1p_pos_v(f64::NAN).is_nan());
    }

    /// Σ_k log1p(û_k) for the computed exponentials û_k of the kernel, from the platform's
    /// ln_1p (≤ 1 ulp each) summed with Neumaier's compensation: a reference within ~1 ulp.
    fn log_sum_reference(zs: &[f64]) -> f64 {
        let (mut sum, mut c) = (0.0f64, 0.0f64);
        for &z in zs {
            let t = exp_nonpos_v(-z.abs()).ln_1p();
            let s2 = sum + t;
            c += if sum.abs() >= t.abs() {
                (sum - s2) + t
            } else {
                (t - s2) + sum
            };
            sum = s2;
        }
        sum + c
    }

    #[test]
    fn logistic_products_are_within_their_bound_and_dispatch_is_bit_identical() {
        // rows of predictions for several points (lanes) over up to 3·K + 5 samples, folded by
        // the callers' schedule; the values equal Σ max(−z, 0) + Σ folds log1p(P), and each fold
        // is within ((K + 1)/2 + 6)·eps of its exact sum of logarithms (module documentation).
        let mut lcg = crate::rng::Lcg(0x1234_5678_9ABC_DEF1);
        let kr = LOGISTIC_PRODUCT_ROWS;
        for (case, (scale, nb, n)) in [
            (1e-9, 5, 1),
            (1e-9, 13, kr),
            (0.5, 11, kr + 1),
            (3.0, 17, 3 * kr + 5),
            (30.0, 9, 2 * kr),
            (800.0, 8, kr + 7),
        ]
        .into_iter()
        .enumerate()
        {
            let mut fs: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..nb).map(|_| scale * (2.0 * lcg.unit() - 1.0)).collect())
                .collect();
            fs[0][0] = 0.0; // z = 0: u = 1
            let ys: Vec<f64> = (0..n)
                .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
                .collect();
            let es: Vec<f64> = (0..nb).map(|b| b as f64).collect();
            let run = |portable: bool, want_s: bool| {
                let (mut af, mut as_, mut pr) = (
                    vec![0.0; nb],
                    vec![0.0; if want_s { nb } else { 0 }],
                    vec![0.0; nb],
                );
                for i in 0..n {
                    let fl = logistic_flush_after(i, n);
                    if portable {
                        loss_accumulate_row_portable(
                            Loss::Logistic,
                            &fs[i],
                            &es,
                            ys[i],
                            &mut af,
                            &mut as_,
                            &mut pr,
                            fl,
                        );
                    } else {
                        loss_accumulate_row(
                            Loss::Logistic,
                            &fs[i],
                            &es,
                            ys[i],
                            &mut af,
                            &mut as_,
                            &mut pr,
                            fl,
                        );
                    }
                }
                assert!(pr.iter().all(|&p| p == 0.0));
                (af, as_)
            };
            let (af, as_) = run(false, true);
            assert_eq!((af.clone(), as_.clone()), run(true, true), "case {case}");
            assert_eq!(af, run(false, false).0, "case {case}");
            for b in 0..nb {
                // the same point alone (a block of one) gives the same bits
                let (mut a1, mut s1, mut p1) = ([0.0], [0.0], [0.0]);
                for i in 0..n {
                    let fl = logistic_flush_after(i, n);
                    loss_accumulate_row(
                        Loss::Logistic,
                        &fs[i][b..b + 1],
                        &es[b..b + 1],
                        ys[i],
                        &mut a1,
                        &mut s1,
                        &mut p1,
                        fl,
                    );
                }
                assert_eq!((a1[0], s1[0]), (af[b], as_[b]), "case {case} point {b}");
                // the value against Σ m + Σ log1p(û), fold by fold
                let zs: Vec<f64> = (0..n).map(|i| ys[i] * fs[i][b]).collect();
                let m_sum: f64 = zs.iter().map(|z| (-z).max(0.0)).sum();
                let mut bound = 0.5 * (n + n.div_ceil(kr)) as f64 * f64::EPSILON * af[b];
                let mut exact = m_sum;
                for fold in zs.chunks(kr) {
                    let l = log_sum_reference(fold);
                    exact += l;
                    bound += (0.5 * (fold.len() + 1) as f64 + 6.0) * f64::EPSILON * l;
                }
                assert!(
                    (af[b] - exact).abs() <= bound,
                    "case {case} point {b}: {} vs {exact} (bound {bound})",
                    af[b]
                );
                assert!(as_[b] >= af[b] * (1.0 - 1e-15));
            }
        }
    }

    #[test]
    fn derivative_difference_rows_match_the_scalar_path_and_dispatch_is_bit_identical() {
        // rows of every length 0..=13 (full AVX2 groups and tails), predictions from flat to
        // saturated, moves from tiny to large
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
        ] {
            for (r, &z) in [0.0, 0.3, -2.5, 37.0, -800.0, 1e-12].iter().enumerate() {
                for y in [1.0, -1.0] {
                    for len in 0..=13usize {
                        let xs: Vec<f64> = (0..len)
                            .map(|j| ((j * 7 + r) as f64 * 0.71).sin() * 3.0)
                            .collect();
                        let tp: Vec<f64> = (0..len)
                            .map(|j| 1e-6 * (1.0 + j as f64) * 10f64.powi(r as i32 - 2))
                            .collect();
                        let tm: Vec<f64> = tp.iter().map(|t| t * 0.75).collect();
                        let (mut q1, mut m1) = (vec![f64::NAN; len], [0.5; 4]);
                        loss_deriv_diffs_row(loss, [z, y], &xs, &tp, &tm, &mut q1, &mut m1);
                        let (mut q2, mut m2) = (vec![f64::NAN; len], [0.5; 4]);
                        loss_deriv_diffs_row_portable(
                            loss,
                            [z, y],
                            &xs,
                            &tp,
                            &tm,
                            &mut q2,
                            &mut m2,
                        );
                        assert_eq!(q1, q2, "{loss:?} {z} {y} {len}");
                        assert_eq!(m1, m2, "{loss:?} {z} {y} {len}");
                        // against the row kernel's ℓ' and brute-force maxima
                        let zp: Vec<f64> = (0..len).map(|j| z + tp[j] * xs[j]).collect();
                        let zm: Vec<f64> = (0..len).map(|j| z - tm[j] * xs[j]).collect();
                        let (mut dp, mut dm) = (vec![0.0; len], vec![0.0; len]);
                        loss_derivs_row(loss, &zp, y, &mut [], &mut dp);
                        loss_derivs_row(loss, &zm, y, &mut [], &mut dm);
                        let mut want = [0.5f64; 4];
                        for j in 0..len {
                            assert_eq!(q1[j], dp[j] - dm[j]);
                            want[0] = want[0].max(zp[j].abs() + zm[j].abs());
                            want[1] = want[1].max(dp[j].abs() + dm[j].abs());
                            want[2] = want[2].max(q1[j].abs());
                            want[3] = want[3].max((tp[j] + tm[j]) * xs[j].abs());
                        }
                        assert_eq!(m1, want, "{loss:?} {z} {y} {len}");
                    }
                }
            }
        }
    }
    #[test]
    fn sinh_form_differences_are_accurate_and_dispatch_is_bit_identical() {
        // predictions from flat to saturated (overflowing cosh z), shifts up to the limit, rows
        // of every length 0..=13 (full AVX2 groups and tails)
        let eps = f64::EPSILON;
        for (r, &z) in [0.0, 0.3, -2.5, 37.0, -800.0, 1e-12, 710.5]
            .iter()
            .enumerate()
        {
            for len in 0..=13usize {
                let xs: Vec<f64> = (0..len)
                    .map(|j| ((j * 7 + r) as f64 * 0.71).sin() * 3.0)
                    .collect();
                let h: Vec<f64> = (0..len)
                    .map(|j| 1e-6 * (1.0 + j as f64) * 10f64.powi(r as i32 - 2))
                    .map(|t: f64| t.min(SINH_FORM_MAX_SHIFT / 3.0))
                    .collect();
                let (mut q1, mut m1) = (vec![f64::NAN; len], [0.0; 2]);
                logistic_sinh_diffs_row(z, &xs, &h, &mut q1, &mut m1);
                let (mut q2, mut m2) = (vec![f64::NAN; len], [0.0; 2]);
                logistic_sinh_diffs_row_portable(z, &xs, &h, &mut q2, &mut m2);
                assert_eq!(q1, q2, "{z} {len}");
                assert_eq!(m1, m2, "{z} {len}");
                let mut want = [0.0f64; 2];
                for j in 0..len {
                    let d = h[j] * xs[j];
                    // reference: sinh δ / (cosh z + cosh δ) by the platform (≤ a few ulp; for
                    // |z| > 700, where cosh z overflows, e^{−|z|}·2 sinh δ / (1 + …) → 0)
                    let want_q = if z.abs() < 700.0 {
                        d.sinh() / (z.cosh() + d.cosh())
                    } else {
                        2.0 * (-z.abs()).exp() * d.sinh()
                    };
                    assert!(
                        (q1[j] - want_q).abs()
                            <= (SINH_FORM_ULP - 4.0) * eps * want_q.abs() + f64::MIN_POSITIVE,
                        "{z} {d}: {} vs {want_q}",
                        q1[j]
                    );
                    // the same difference as the row kernel's ℓ'(z + δ) − ℓ'(z − δ), which
                    // loses |ℓ'|·eps/|q| to cancellation
                    for y in [1.0, -1.0] {
                        let (mut dp, mut dm) = ([0.0], [0.0]);
                        loss_derivs_row(Loss::Logistic, &[z + d], y, &mut [], &mut dp);
                        loss_derivs_row(Loss::Logistic, &[z - d], y, &mut [], &mut dm);
                        let naive = dp[0] - dm[0];
                        let tol =
                            4.0 * KERNEL_ULP * eps * (1.0 + z.abs()) + 16.0 * eps * q1[j].abs();
                        assert!((q1[j] - naive).abs() <= tol, "{z} {d} {y}");
                    }
                    want[0] = want[0].max(q1[j].abs());
                    want[1] = want[1].max(d.abs());
                }
                assert_eq!(m1, want, "{z} {len}");
            }
        }
        // NaN predictions propagate to q and are skipped by the maxima
        let (mut q, mut m) = (vec![0.0; 5], [0.0; 2]);
        logistic_sinh_diffs_row(f64::NAN, &[1.0; 5], &[1e-5; 5], &mut q, &mut m);
        assert!(q.iter().all(|v| v.is_nan()));
        assert_eq!(m, [0.0, 1e-5]);
    }
}
