//! What the convex solvers need of the core's one loss type [`Loss`] (defined with its value
//! and derivatives in [`crate::loss`], re-exported here): curvature bounds, the proximal map of
//! ℓ/ρ, the convex conjugate ℓ*(u; y) for the dual bound and the projection onto its domain.
//!
//! Conventions (scaling "sum", the paper's): the data-fit term is Σ_k ℓ(z_k; y_k) with
//! - squared: ℓ = ½(z − y)²,
//! - logistic: ℓ = log(1 + exp(−y z)), y ∈ {−1, +1},
//! - hinge: ℓ = max(0, 1 − y z), y ∈ {−1, +1} (not smooth: ADMM only),
//! - huber(δ): ℓ = ½r² if |r| ≤ δ else δ(|r| − δ/2), r = z − y.
//!
//! The convex solvers accept these four ([`Loss::CONVEX_NAMES`], [`Problem`](super::Problem)
//! refuses the squared hinge); the functions here also cover the squared hinge
//! ℓ = max(0, 1 − y z)² so that every method is defined on every variant.

use ndarray::{Array1, Array2, ArrayView2, Zip};

use crate::error::{Error, Result};
use crate::loss::sigmoid;
pub use crate::loss::Loss;

#[inline]
fn xlogx(t: f64) -> f64 {
    if t <= 0.0 {
        0.0
    } else {
        t * t.ln()
    }
}

impl Loss {
    /// Whether the loss is differentiable (FISTA applies).
    pub fn is_smooth(&self) -> bool {
        !matches!(self, Loss::Hinge)
    }

    /// Lipschitz constant of ℓ' (curvature bound); +∞ for hinge.
    pub fn curvature(&self) -> f64 {
        match self {
            Loss::Squared | Loss::Huber(_) => 1.0,
            Loss::Logistic => 0.25,
            Loss::SquaredHinge => 2.0,
            Loss::Hinge => f64::INFINITY,
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
            Loss::SquaredHinge => {
                // v = u y ≤ 0: sup_s v s − (1 − s)₊² is attained at s = 1 + v/2
                let v = u * y;
                if v > 1e-15 {
                    f64::INFINITY
                } else {
                    let v = v.min(0.0);
                    v + 0.25 * v * v
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

    /// ℓ*''(u; y), the conjugate's second derivative inside its domain (+∞ on the logistic
    /// loss's boundary, where ℓ* has infinite slope; 0 for the hinge, whose conjugate is
    /// linear): 1/ℓ''(ℓ*'(u)).
    #[inline]
    pub fn conjugate_second(&self, u: f64, y: f64) -> f64 {
        match *self {
            Loss::Squared | Loss::Huber(_) => 1.0,
            Loss::Logistic => {
                let t = (-u * y).clamp(0.0, 1.0);
                1.0 / (t * (1.0 - t))
            }
            Loss::SquaredHinge => 0.5,
            Loss::Hinge => 0.0,
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
            Loss::SquaredHinge => -(-u * y).max(0.0) * y,
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
            Loss::SquaredHinge => {
                // in s = y q: prox of (1 − s)₊², stationary at s = (2 + ρ s₀)/(2 + ρ) when s₀ < 1
                let s = y * x;
                let sp = if s >= 1.0 {
                    s
                } else {
                    (2.0 + rho * s) / (2.0 + rho)
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
        vec![
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
            Loss::Huber(0.7),
        ]
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
        for l in [
            Loss::Squared,
            Loss::Logistic,
            Loss::SquaredHinge,
            Loss::Huber(0.7),
        ] {
            for &(z, y) in &[(0.3, 1.0), (-2.0, -1.0), (1.7, 1.0), (0.4, -1.0)] {
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
        assert!(Loss::parse_convex("l1", 1.0).is_err());
        assert!(Loss::parse_convex("squared_hinge", 1.0).is_err());
        assert!(Loss::parse_convex("huber", -1.0).is_err());
        assert_eq!(Loss::parse_convex("huber", 2.0), Ok(Loss::Huber(2.0)));
    }

    /// ℓ*(u) against sup_z u z − ℓ(z) over a fine grid of z (a lower bound that converges to it),
    /// inside the domain; outside, u z − ℓ(z) grows without bound along the grid.
    #[test]
    fn conjugate_is_the_supremum() {
        let zs: Vec<f64> = (-40_000..=40_000).map(|k| k as f64 / 1000.0).collect();
        for l in losses() {
            for &y in &[1.0, -1.0] {
                for k in -12..=12 {
                    let u = 0.1 * k as f64 + 0.05;
                    let sup_within = |r: f64| {
                        zs.iter()
                            .filter(|z| z.abs() <= r)
                            .map(|&z| u * z - l.value(z, y))
                            .fold(f64::NEG_INFINITY, f64::max)
                    };
                    let sup = sup_within(40.0);
                    let c = l.conjugate(u, y);
                    if c.is_finite() {
                        assert!(sup <= c + 1e-12, "{l:?} u={u} y={y}: {sup} > {c}");
                        assert!(c - sup < 1e-5, "{l:?} u={u} y={y}: {sup} vs {c}");
                        assert_eq!(l.project_dual(u, y), u, "{l:?} u={u} y={y}");
                    } else {
                        // grows at least linearly (slope ≥ 0.05, the distance to the domain)
                        let grown = sup - sup_within(20.0);
                        assert!(grown > 0.9, "{l:?} u={u} y={y}: {grown}");
                        let p = l.project_dual(u, y);
                        assert!(l.conjugate(p, y).is_finite(), "{l:?} u={u} y={y}");
                    }
                }
            }
        }
    }

    /// The curvature bound dominates ℓ'' (and the slope of ℓ' between grid points).
    #[test]
    fn curvature_bounds_the_second_derivative() {
        for l in losses() {
            if !l.is_smooth() {
                assert_eq!(l.curvature(), f64::INFINITY);
                continue;
            }
            for &y in &[1.0, -1.0] {
                for k in -400..400 {
                    let (a, b) = (0.01 * k as f64, 0.01 * (k + 1) as f64);
                    assert!(l.second_derivative(a, y) <= l.curvature());
                    let slope = (l.grad(b, y) - l.grad(a, y)) / (b - a);
                    assert!(slope <= l.curvature() * (1.0 + 1e-9), "{l:?} {a}");
                }
            }
        }
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
