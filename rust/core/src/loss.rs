//! The one loss type of the core: the pointwise loss ℓ(f; y) of a prediction f and a target y,
//! its value and first two derivatives in f, and the parsing of its option string.
//!
//! Every consumer uses this one [`Loss`]:
//!
//! - the native objectives ([`crate::objective`]), and through them the Hessians, midpoint tests
//!   and slices: [`crate::objective::loss`] adds the vectorised kernels (bit-identical AVX2 and
//!   portable twins, within `KERNEL_ULP` of [`Loss::eval`]) and the rounding-error scale of a
//!   term (`Loss::term_scale`);
//! - the convex solvers ([`crate::convex`]): [`crate::convex::loss`] adds what they need on the
//!   same type — curvature bounds, the convex conjugate ℓ*, the projection onto its domain and
//!   the proximal map of ℓ/ρ;
//! - the Python layer's network objectives, through [`crate::convex::loss::row_sums`].
//!
//! Conventions: a data loss is a **sum** Σ_k ℓ(f_k; y_k) over samples (and outputs), never a
//! mean (a mean scaling is applied by the caller). Classification labels are ±1 (the Python
//! layer maps {0, 1} to {−1, +1}); [`Loss::is_classification`] says which losses need them.
//!
//! | variant | ℓ(f; y) | ℓ'(f; y) |
//! |---|---|---|
//! | `Squared` | ½(f − y)² | f − y |
//! | `Logistic` | log(1 + e^{−y f}) | −y σ(−y f) |
//! | `Hinge` | max(0, 1 − y f) | −y if y f < 1, else 0 |
//! | `SquaredHinge` | max(0, 1 − y f)² (no ½) | −2y max(0, 1 − y f) |
//! | `Huber(δ)` | ½r² if \|r\| ≤ δ, else δ(\|r\| − δ/2), r = f − y | clamp(r, −δ, δ) |
//!
//! At the hinge's kink (y f = 1) the derivative is 0 (the one-sided derivative of its flat side).
//! Which losses a capability accepts is its own choice: the objectives take
//! [`Loss::OBJECTIVE_NAMES`], the convex solvers [`Loss::CONVEX_NAMES`] (parse with
//! [`Loss::parse_among`], whose error lists the allowed names).

use crate::error::{Error, Result};

/// A pointwise loss ℓ(f; y) of a prediction f and a target y (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// ½ (f − y)².
    Squared,
    /// log(1 + exp(−y f)), y ∈ {−1, +1} (binary cross-entropy on the logit f).
    Logistic,
    /// max(0, 1 − y f), y ∈ {−1, +1}.
    Hinge,
    /// max(0, 1 − y f)², y ∈ {−1, +1} (no ½).
    SquaredHinge,
    /// Huber with threshold δ > 0: ½r² if |r| ≤ δ, else δ(|r| − δ/2), r = f − y.
    Huber(f64),
}

impl Loss {
    /// The losses of the native objectives.
    pub const OBJECTIVE_NAMES: &'static [&'static str] =
        &["squared", "logistic", "hinge", "squared_hinge"];
    /// The losses of the convex solvers.
    pub const CONVEX_NAMES: &'static [&'static str] = &["squared", "logistic", "hinge", "huber"];

    /// Parse one of the names in `allowed` (a subset of `"squared"`, `"logistic"`, `"hinge"`,
    /// `"squared_hinge"`, `"huber"`); `huber_delta` is Huber's δ (finite, > 0; ignored by the
    /// others). The error names the argument `loss` and lists `allowed`.
    pub fn parse_among(name: &str, huber_delta: f64, allowed: &[&str]) -> Result<Self> {
        let loss = match name {
            _ if !allowed.contains(&name) => None,
            "squared" => Some(Loss::Squared),
            "logistic" => Some(Loss::Logistic),
            "hinge" => Some(Loss::Hinge),
            "squared_hinge" => Some(Loss::SquaredHinge),
            "huber" => {
                if !(huber_delta.is_finite() && huber_delta > 0.0) {
                    return Err(Error::invalid(
                        "huber_delta",
                        format!("must be a finite number > 0, got {huber_delta}"),
                    ));
                }
                Some(Loss::Huber(huber_delta))
            }
            _ => None,
        };
        loss.ok_or_else(|| {
            let names: Vec<String> = allowed.iter().map(|s| format!("'{s}'")).collect();
            Error::invalid(
                "loss",
                format!("expected one of {}, got {name:?}", names.join(", ")),
            )
        })
    }

    /// Parse a loss of the native objectives (`"squared"`, `"logistic"`, `"hinge"`,
    /// `"squared_hinge"`).
    pub fn parse_objective(name: &str) -> Result<Self> {
        Self::parse_among(name, 1.0, Self::OBJECTIVE_NAMES)
    }

    /// Parse a loss of the convex solvers (`"squared"`, `"logistic"`, `"hinge"`, `"huber"`)
    /// with Huber's threshold δ.
    pub fn parse_convex(name: &str, huber_delta: f64) -> Result<Self> {
        Self::parse_among(name, huber_delta, Self::CONVEX_NAMES)
    }

    /// The option string.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Squared => "squared",
            Loss::Logistic => "logistic",
            Loss::Hinge => "hinge",
            Loss::SquaredHinge => "squared_hinge",
            Loss::Huber(_) => "huber",
        }
    }

    /// Whether targets must be ±1 labels.
    pub fn is_classification(self) -> bool {
        matches!(self, Loss::Logistic | Loss::Hinge | Loss::SquaredHinge)
    }

    /// ℓ(f; y).
    #[inline]
    pub fn value(self, f: f64, y: f64) -> f64 {
        match self {
            Loss::Squared => {
                let r = f - y;
                0.5 * r * r
            }
            Loss::Logistic => softplus(-(y * f)),
            Loss::Hinge => {
                let m = 1.0 - y * f;
                if m > 0.0 {
                    m
                } else {
                    0.0
                }
            }
            Loss::SquaredHinge => {
                let m = 1.0 - y * f;
                if m > 0.0 {
                    m * m
                } else {
                    0.0
                }
            }
            Loss::Huber(d) => {
                let r = (f - y).abs();
                if r <= d {
                    0.5 * r * r
                } else {
                    d * (r - 0.5 * d)
                }
            }
        }
    }

    /// ℓ'(f; y), the derivative in f (for the hinge: 0 at its kink y f = 1).
    #[inline]
    pub fn grad(self, f: f64, y: f64) -> f64 {
        match self {
            Loss::Squared => f - y,
            Loss::Logistic => -y * sigmoid(-(y * f)),
            Loss::Hinge => {
                if 1.0 - y * f > 0.0 {
                    -y
                } else {
                    0.0
                }
            }
            Loss::SquaredHinge => {
                let m = 1.0 - y * f;
                if m > 0.0 {
                    -2.0 * y * m
                } else {
                    0.0
                }
            }
            Loss::Huber(d) => (f - y).clamp(-d, d),
        }
    }

    /// `(ℓ(f; y), ℓ'(f; y))`.
    #[inline]
    pub fn eval(self, f: f64, y: f64) -> (f64, f64) {
        (self.value(f, y), self.grad(f, y))
    }

    /// ℓ''(f; y) (labels ±1; the generalised second derivative where ℓ' jumps: 0 for the hinge,
    /// the inner branch's value at the squared hinge's and Huber's joints).
    #[inline]
    pub fn second_derivative(self, f: f64, y: f64) -> f64 {
        match self {
            Loss::Squared => 1.0,
            Loss::Logistic => {
                let s = sigmoid(-(y * f));
                s * (1.0 - s)
            }
            Loss::Hinge => 0.0,
            Loss::SquaredHinge => {
                if 1.0 - y * f > 0.0 {
                    2.0
                } else {
                    0.0
                }
            }
            Loss::Huber(d) => {
                if (f - y).abs() <= d {
                    1.0
                } else {
                    0.0
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [Loss; 6] {
        [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
            Loss::Huber(0.7),
            Loss::Huber(1e-3),
        ]
    }

    /// Predictions: a grid through [−50, 50], the kinks and joints, and extreme magnitudes.
    fn grid() -> Vec<f64> {
        let mut fs: Vec<f64> = (-200..=200).map(|k| 0.25 * k as f64 + 0.013).collect();
        for t in [
            1e-300, 1e-17, 1e-8, 0.3, 1.0, 1.7, 2.0, 36.0, 37.5, 700.0, 710.0, 745.0,
        ] {
            fs.extend([t, -t]);
        }
        fs.extend([1e10, -1e10, 1e200, -1e200, f64::MAX, -f64::MAX, 0.0, -0.0]);
        fs.extend([
            1.0 + f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
            0.3,
            1.0,
            1.0007,
        ]);
        fs
    }

    fn targets(loss: Loss) -> Vec<f64> {
        if loss.is_classification() {
            vec![1.0, -1.0]
        } else {
            vec![0.0, 1.0, -2.5, 0.3, 1e8]
        }
    }

    // ---- the two formulas the unified type replaces, verbatim (oracles for bit-equality) ----

    /// The convex solvers' former `Loss::value` / `Loss::grad` / `Loss::second_derivative`.
    fn old_convex(loss: Loss, z: f64, y: f64) -> Option<(f64, f64, f64)> {
        fn softplus_c(t: f64) -> f64 {
            if t > 0.0 {
                t + (-t).exp().ln_1p()
            } else {
                t.exp().ln_1p()
            }
        }
        fn sigmoid_c(t: f64) -> f64 {
            if t >= 0.0 {
                1.0 / (1.0 + (-t).exp())
            } else {
                let e = t.exp();
                e / (1.0 + e)
            }
        }
        Some(match loss {
            Loss::Squared => (0.5 * (z - y) * (z - y), z - y, 1.0),
            Loss::Logistic => {
                let t = -y * z;
                let s = if t >= 0.0 {
                    1.0 / (1.0 + (-t).exp())
                } else {
                    t.exp() / (1.0 + t.exp())
                };
                (softplus_c(-y * z), -y * sigmoid_c(-y * z), s * (1.0 - s))
            }
            Loss::Hinge => (
                (1.0 - y * z).max(0.0),
                if y * z < 1.0 { -y } else { 0.0 },
                0.0,
            ),
            Loss::Huber(d) => {
                let r = (z - y).abs();
                let v = if r <= d {
                    0.5 * r * r
                } else {
                    d * (r - 0.5 * d)
                };
                (v, (z - y).clamp(-d, d), if r <= d { 1.0 } else { 0.0 })
            }
            Loss::SquaredHinge => return None,
        })
    }

    /// The objectives' former `Loss::eval`.
    fn old_objective(loss: Loss, f: f64, y: f64) -> Option<(f64, f64)> {
        Some(match loss {
            Loss::Squared => {
                let r = f - y;
                (0.5 * r * r, r)
            }
            Loss::Logistic => {
                let z = y * f;
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
            Loss::Huber(_) => return None,
        })
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a == b) || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn matches_both_former_formulas_bit_for_bit() {
        for loss in all() {
            let mut ys = targets(loss);
            ys.push(f64::NAN);
            for &y in &ys {
                for &f in grid()
                    .iter()
                    .chain([f64::INFINITY, f64::NEG_INFINITY, f64::NAN].iter())
                {
                    let (v, g) = loss.eval(f, y);
                    let h = loss.second_derivative(f, y);
                    if let Some((ov, og, oh)) = old_convex(loss, f, y) {
                        assert!(same(v, ov), "{loss:?} value f={f} y={y}: {v} vs {ov}");
                        assert!(same(g, og), "{loss:?} grad f={f} y={y}: {g} vs {og}");
                        assert!(same(h, oh), "{loss:?} ℓ'' f={f} y={y}: {h} vs {oh}");
                    }
                    if let Some((ov, og)) = old_objective(loss, f, y) {
                        assert!(same(v, ov), "{loss:?} value f={f} y={y}: {v} vs {ov}");
                        assert!(same(g, og), "{loss:?} grad f={f} y={y}: {g} vs {og}");
                    }
                }
            }
        }
    }

    #[test]
    fn closed_forms() {
        let ln = |t: f64| t.ln();
        assert_eq!(Loss::Squared.eval(3.0, 1.0), (2.0, 2.0));
        let (v, g) = Loss::Logistic.eval(0.5, -1.0);
        assert!((v - ln(1.0 + 0.5f64.exp())).abs() < 1e-15);
        assert!((g - 1.0 / (1.0 + (-0.5f64).exp())).abs() < 1e-15);
        assert_eq!(Loss::Hinge.eval(0.25, -1.0), (1.25, 1.0));
        assert_eq!(Loss::Hinge.eval(1.0, 1.0), (0.0, 0.0));
        assert_eq!(Loss::SquaredHinge.eval(-0.5, 1.0), (2.25, -3.0));
        assert_eq!(Loss::Huber(0.5).eval(2.0, 1.0), (0.375, 0.5));
        assert_eq!(Loss::Huber(0.5).eval(0.8, 1.0).1, -0.19999999999999996);
        // far out: finite and exact limits
        assert_eq!(Loss::Logistic.value(800.0, 1.0), 0.0);
        assert_eq!(Loss::Logistic.value(-800.0, 1.0), 800.0);
        assert_eq!(Loss::Logistic.grad(-800.0, 1.0), -1.0);
        assert_eq!(Loss::Logistic.grad(800.0, 1.0), -0.0);
        assert_eq!(Loss::Logistic.second_derivative(800.0, -1.0), 0.0);
        assert_eq!(Loss::Huber(2.0).value(1e300, 0.0), 2.0 * (1e300 - 1.0));
    }

    #[test]
    fn derivatives_match_differences() {
        for loss in all() {
            for &y in &targets(loss)[..2] {
                for k in -60..=60 {
                    let f = 0.1 * k as f64 + 0.0371;
                    // stay away from the kinks and joints
                    let near_kink = match loss {
                        Loss::Hinge | Loss::SquaredHinge => (1.0 - y * f).abs() < 1e-3,
                        Loss::Huber(d) => ((f - y).abs() - d).abs() < 1e-3,
                        _ => false,
                    };
                    if near_kink {
                        continue;
                    }
                    let h = 1e-6;
                    let (_, g) = loss.eval(f, y);
                    let fd = (loss.value(f + h, y) - loss.value(f - h, y)) / (2.0 * h);
                    assert!(
                        (g - fd).abs() < 1e-7 * (1.0 + g.abs()),
                        "{loss:?} ℓ' {f} {y}"
                    );
                    let fd2 = (loss.grad(f + h, y) - loss.grad(f - h, y)) / (2.0 * h);
                    let s = loss.second_derivative(f, y);
                    assert!(
                        (s - fd2).abs() < 1e-6 * (1.0 + s.abs()),
                        "{loss:?} ℓ'' {f} {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_are_finite_and_nonnegative_at_extremes() {
        for loss in all() {
            for &y in &targets(loss) {
                for &f in &grid() {
                    let (v, g) = loss.eval(f, y);
                    let s = loss.second_derivative(f, y);
                    assert!(v >= 0.0 && !v.is_nan(), "{loss:?} {f} {y}: {v}");
                    assert!(g.is_finite() || matches!(loss, Loss::Squared | Loss::SquaredHinge));
                    assert!(s.is_finite() && s >= 0.0);
                }
            }
        }
    }

    #[test]
    fn parse_lists_the_allowed_names() {
        assert_eq!(
            Loss::parse_objective("squared_hinge"),
            Ok(Loss::SquaredHinge)
        );
        assert_eq!(Loss::parse_convex("huber", 2.0), Ok(Loss::Huber(2.0)));
        for name in Loss::OBJECTIVE_NAMES {
            assert_eq!(Loss::parse_objective(name).unwrap().as_str(), *name);
        }
        for name in Loss::CONVEX_NAMES {
            assert_eq!(Loss::parse_convex(name, 0.5).unwrap().as_str(), *name);
        }
        let e = Loss::parse_objective("huber").unwrap_err().to_string();
        assert!(
            e.contains(
                "expected one of 'squared', 'logistic', 'hinge', 'squared_hinge', got \"huber\""
            ),
            "{e}"
        );
        let e = Loss::parse_convex("squared_hinge", 1.0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "expected one of 'squared', 'logistic', 'hinge', 'huber', got \"squared_hinge\""
            ),
            "{e}"
        );
        assert!(Loss::parse_convex("l1", 1.0).is_err());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = Loss::parse_convex("huber", bad).unwrap_err().to_string();
            assert!(e.contains("huber_delta"), "{e}");
        }
        // δ is ignored by the other losses
        assert_eq!(Loss::parse_convex("squared", f64::NAN), Ok(Loss::Squared));
    }
}
