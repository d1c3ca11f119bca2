//! Per-sample losses ℓ(z; y) of the data-fit term, with what the solvers need: value, gradient
//! (smooth losses), the proximal map of ℓ/ρ and the convex conjugate ℓ*(u; y) for the dual bound.
//!
//! Conventions (scaling "sum", the paper's): the data-fit term is Σ_k ℓ(z_k; y_k) with
//! - squared: ℓ = ½(z − y)²,
//! - logistic: ℓ = log(1 + exp(−y z)), y ∈ {−1, +1},
//! - hinge: ℓ = max(0, 1 − y z), y ∈ {−1, +1} (not smooth: ADMM only),
//! - huber(δ): ℓ = ½r² if |r| ≤ δ else δ(|r| − δ/2), r = z − y.

use ndarray::{Array1, Array2, ArrayView2, Zip};

use crate::error::{Error, Result};

/// The loss of the data-fit term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    Squared,
    Logistic,
    Hinge,
    /// Huber with threshold δ > 0.
    Huber(f64),
}

#[inline]
fn softplus(t: f64) -> f64 {
    // log(1 + e^t), stable.
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

#[inline]
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

#[inline]
fn xlogx(t: f64) -> f64 {
    if t <= 0.0 {
        0.0
    } else {
        t * t.ln()
    }
}

impl Loss {
    /// Parse a name (`"squared"`, `"logistic"`, `"hinge"`, `"huber"`) with the Huber threshold.
    pub fn parse(name: &str, huber_delta: f64) -> Result<Self> {
        match name {
            "squared" => Ok(Loss::Squared),
            "logistic" => Ok(Loss::Logistic),
            "hinge" => Ok(Loss::Hinge),
            "huber" => {
                if !(huber_delta.is_finite() && huber_delta > 0.0) {
                    return Err(Error::invalid(
                        "huber_delta",
                        format!("must be a finite number > 0, got {huber_delta}"),
                    ));
                }
                Ok(Loss::Huber(huber_delta))
            }
            other => Err(Error::invalid(
                "loss",
                format!("expected one of 'squared', 'logistic', 'hinge', 'huber', got {other:?}"),
            )),
        }
    }

    /// Whether the loss is differentiable (FISTA applies).
    pub fn is_smooth(&self) -> bool {
        !matches!(self, Loss::Hinge)
    }

    /// Whether targets must be ±1 labels.
    pub fn is_classification(&self) -> bool {
        matches!(self, Loss::Logistic | Loss::Hinge)
    }

    /// Lipschitz constant of ℓ' (curvature bound); +∞ for hinge.
    pub fn curvature(&self) -> f64 {
        match self {
            Loss::Squared | Loss::Huber(_) => 1.0,
            Loss::Logistic => 0.25,
            Loss::Hinge => f64::INFINITY,
        }
    }

    /// ℓ''(z; y) (0 for hinge; Huber's generalised second derivative).
    #[inline]
    pub fn second_derivative(&self, z: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared => 1.0,
            Loss::Logistic => {
                let t = -y * z;
                let s = if t >= 0.0 {
                    1.0 / (1.0 + (-t).exp())
                } else {
                    t.exp() / (1.0 + t.exp())
                };
                s * (1.0 - s)
            }
            Loss::Huber(dl) => {
                if (z - y).abs() <= dl {
                    1.0
                } else {
                    0.0
                }
            }
            Loss::Hinge => 0.0,
        }
    }

    /// ℓ(z; y).
    #[inline]
    pub fn value(&self, z: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared => 0.5 * (z - y) * (z - y),
            Loss::Logistic => softplus(-y * z),
            Loss::Hinge => (1.0 - y * z).max(0.0),
            Loss::Huber(d) => {
                let r = (z - y).abs();
                if r <= d {
                    0.5 * r * r
                } else {
                    d * (r - 0.5 * d)
                }
            }
        }
    }

    /// ℓ'(z; y) (for hinge: a subgradient).
    #[inline]
    pub fn grad(&self, z: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared => z - y,
            Loss::Logistic => -y * sigmoid(-y * z),
            Loss::Hinge => {
                if y * z < 1.0 {
                    -y
                } else {
                    0.0
                }
            }
            Loss::Huber(d) => (z - y).clamp(-d, d),
        }
    }

    /// The convex conjugate ℓ*(u; y) = sup_z u z − ℓ(z; y) (+∞ outside its domain).
    #[inline]
    pub fn conjugate(&self, u: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared => 0.5 * u * u + u * y,
            Loss::Logistic => {
                let t = -u * y;
                if !(-1e-15..=1.0 + 1e-15).contains(&t) {
                    f64::INFINITY
                } else {
                    let t = t.clamp(0.0, 1.0);
                    xlogx(t) + xlogx(1.0 - t)
                }
            }
            Loss::Hinge => {
                let t = -u * y;
                if !(-1e-15..=1.0 + 1e-15).contains(&t) {
                    f64::INFINITY
                } else {
                    -t.clamp(0.0, 1.0)
                }
            }
            Loss::Huber(d) => {
                if u.abs() > d * (1.0 + 1e-15) {
                    f64::INFINITY
                } else {
                    0.5 * u * u + u * y
                }
            }
        }
    }

    /// Project a dual candidate `u` onto the domain of ℓ*(·; y) (so the dual bound is finite).
    #[inline]
    pub fn project_dual(&self, u: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared => u,
            Loss::Logistic | Loss::Hinge => {
                let t = (-u * y).clamp(0.0, 1.0);
                -t * y
            }
            Loss::Huber(d) => u.clamp(-d, d),
        }
    }

    /// prox_{ℓ/ρ}(x) = argmin_q ℓ(q; y) + (ρ/2)(q − x)².
    #[inline]
    pub fn prox(&self, x: f64, y: f64, rho: f64) -> f64 {
        match *self {
            Loss::Squared => (rho * x + y) / (rho + 1.0),
            Loss::Huber(d) => {
                let r = x - y;
                if r.abs() <= d * (1.0 + 1.0 / rho) {
                    y + r * rho / (rho + 1.0)
                } else {
                    x - r.signum() * d / rho
                }
            }
            Loss::Hinge => {
                // in s = y q (y = ±1): prox of max(0, 1 − s)
                let s = y * x;
                let sp = if s >= 1.0 {
                    s
                } else if s <= 1.0 - 1.0 / rho {
                    s + 1.0 / rho
                } else {
                    1.0
                };
                y * sp
            }
            Loss::Logistic => {
                // Newton on g(q) = softplus(−y q) + (ρ/2)(q − x)²; g'' ∈ [ρ, ρ + 1/4].
                let mut q = x;
                for _ in 0..60 {
                    let s = sigmoid(-y * q);
                    let g1 = -y * s + rho * (q - x);
                    let g2 = s * (1.0 - s) + rho;
                    let step = g1 / g2;
                    q -= step;
                    if step.abs() <= 1e-15 * (1.0 + q.abs()) {
                        break;
                    }
                }
                q
            }
        }
    }
}

/// Row sums Σ_k ℓ(f_rk; y_rk) of a stack of predictions (rows r) against targets of the same
/// shape and, when `with_grad`, the derivatives ℓ'(f_rk; y_rk) (a subgradient for hinge):
/// what the Python layer evaluates network objectives and SGD/Adam gradients with.
pub fn row_sums(
    loss: Loss,
    f: ArrayView2<f64>,
    y: ArrayView2<f64>,
    with_grad: bool,
) -> Result<(Array1<f64>, Option<Array2<f64>>)> {
    if f.dim() != y.dim() {
        return Err(Error::invalid(
            "y",
            format!(
                "shape {:?} does not match the predictions {:?}",
                y.dim(),
                f.dim()
            ),
        ));
    }
    let sums = Array1::from_iter(f.rows().into_iter().zip(y.rows()).map(|(fr, yr)| {
        fr.iter()
            .zip(yr.iter())
            .map(|(&z, &t)| loss.value(z, t))
            .sum()
    }));
    let grad = with_grad.then(|| {
        let mut g = Array2::<f64>::zeros(f.dim());
        Zip::from(&mut g)
            .and(&f)
            .and(&y)
            .for_each(|g, &z, &t| *g = loss.grad(z, t));
        g
    });
    Ok((sums, grad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses() -> Vec<Loss> {
        vec![Loss::Squared, Loss::Logistic, Loss::Hinge, Loss::Huber(0.7)]
    }

    #[test]
    fn prox_minimises_its_objective() {
        for l in losses() {
            for &(x, y, rho) in &[(0.3, 1.0, 2.0), (-2.0, -1.0, 0.5), (1.7, 1.0, 10.0)] {
                let q = l.prox(x, y, rho);
                let f = |t: f64| l.value(t, y) + 0.5 * rho * (t - x) * (t - x);
                for dt in [1e-4, -1e-4, 1e-2, -1e-2] {
                    assert!(f(q) <= f(q + dt) + 1e-12, "{l:?} {x} {y} {rho}");
                }
            }
        }
    }

    #[test]
    fn fenchel_young_holds_with_equality_at_the_gradient() {
        for l in [Loss::Squared, Loss::Logistic, Loss::Huber(0.7)] {
            for &(z, y) in &[(0.3, 1.0), (-2.0, -1.0), (1.7, 1.0)] {
                let u = l.grad(z, y);
                let lhs = l.value(z, y) + l.conjugate(u, y);
                assert!((lhs - u * z).abs() < 1e-12, "{l:?}");
                // Fenchel–Young inequality at another point
                let u2 = l.project_dual(0.5 * u + 0.1, y);
                assert!(l.value(z, y) + l.conjugate(u2, y) >= u2 * z - 1e-12);
            }
        }
    }

    #[test]
    fn parse_rejects_unknown() {
        assert!(Loss::parse("l1", 1.0).is_err());
        assert!(Loss::parse("huber", -1.0).is_err());
        assert_eq!(Loss::parse("huber", 2.0), Ok(Loss::Huber(2.0)));
    }

    #[test]
    fn row_sums_add_the_pointwise_values() {
        let f = ndarray::array![[0.5, -2.0, 3.0], [1.0, 0.0, -0.25]];
        let y = ndarray::array![[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]];
        for loss in losses() {
            let (s, g) = row_sums(loss, f.view(), y.view(), true).unwrap();
            let g = g.unwrap();
            for r in 0..2 {
                let want: f64 = (0..3).map(|k| loss.value(f[[r, k]], y[[r, k]])).sum();
                assert_eq!(s[r], want);
                for k in 0..3 {
                    assert_eq!(g[[r, k]], loss.grad(f[[r, k]], y[[r, k]]));
                }
            }
            assert!(row_sums(loss, f.view(), y.t(), false).is_err());
        }
        // closed forms: squared ½Σ(f−y)², logistic Σ log(1 + e^{−yf}), hinge Σ(1 − yf)₊
        let (s, _) = row_sums(Loss::Squared, f.view(), y.view(), false).unwrap();
        assert!((s[0] - 0.5 * (0.25 + 1.0 + 4.0)).abs() < 1e-15);
        let (s, _) = row_sums(Loss::Hinge, f.view(), y.view(), false).unwrap();
        assert!((s[1] - (2.0 + 1.0 + 1.25)).abs() < 1e-15);
        let (s, _) = row_sums(Loss::Logistic, f.view(), y.view(), false).unwrap();
        let want = (1.0f64 + (-0.5f64).exp()).ln()
            + (1.0f64 + (-2.0f64).exp()).ln()
            + (1.0f64 + (-3.0f64).exp()).ln();
        assert!((s[0] - want).abs() < 1e-14);
    }
}
