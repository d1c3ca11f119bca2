//! Pointwise losses and activations shared by the native objectives.
//!
//! Scaling convention: every data loss is a **sum** over samples (and outputs), never a mean:
//! `L(θ) = Σ_i ℓ(f(x_i; θ), y_i)`. Classification labels are ±1 inside the core (the Python layer
//! maps {0, 1} to {−1, +1}).

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
}
