//! A dense quadratic f(θ) = ½ θᵀAθ + bᵀθ + c (A symmetric): the oracle for Hessian tests and a
//! reference convex / non-convex function for midpoint tests.
//!
//! Rounding scale: ½ Σ_ij |A_ij θ_i θ_j| + Σ_i |b_i θ_i| + |c| (the summands of f).

use ndarray::{Array1, Array2};

use super::Objective;
use crate::error::{Error, Result};

/// f(θ) = ½ θᵀAθ + bᵀθ + c.
#[derive(Clone, Debug)]
pub struct Quadratic {
    a: Array2<f64>,
    b: Array1<f64>,
    c: f64,
}

impl Quadratic {
    /// `a` must be square and symmetric (exactly), `b` of matching length, all finite.
    pub fn new(a: Array2<f64>, b: Array1<f64>, c: f64) -> Result<Self> {
        let d = a.nrows();
        if d == 0 || a.ncols() != d {
            return Err(Error::invalid(
                "A",
                format!("expected a non-empty square matrix, got {:?}", a.dim()),
            ));
        }
        if b.len() != d {
            return Err(Error::invalid(
                "b",
                format!("expected length {d}, got {}", b.len()),
            ));
        }
        crate::error::ensure_finite_iter("A", a.iter())?;
        crate::error::ensure_finite_iter("b", b.iter())?;
        if !c.is_finite() {
            return Err(Error::invalid("c", "must be finite"));
        }
        for i in 0..d {
            for j in 0..i {
                if a[[i, j]] != a[[j, i]] {
                    return Err(Error::invalid(
                        "A",
                        format!("must be symmetric (A[{i},{j}] != A[{j},{i}])"),
                    ));
                }
            }
        }
        Ok(Quadratic {
            a: a.as_standard_layout().to_owned(),
            b,
            c,
        })
    }
}

impl Objective for Quadratic {
    fn dim(&self) -> usize {
        self.b.len()
    }
    /// A block of one point ([`Objective::values_scales_block`]), so that the per-point and the
    /// batched values agree bit for bit.
    fn value_and_scale(&self, t: &[f64]) -> (f64, f64) {
        let (mut v, mut s) = ([f64::NAN], [f64::NAN]);
        match ndarray::ArrayView2::from_shape((1, t.len()), t) {
            Ok(p) if self.values_scales_block(p, &mut v, &mut s).is_ok() => (v[0], s[0]),
            _ => (f64::NAN, f64::NAN),
        }
    }
    fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
        let d = self.b.len();
        if t.len() != d || g.len() != d {
            return Err(Error::invalid("theta", format!("expected length {d}")));
        }
        let p = ndarray::ArrayView2::from_shape((1, d), t)
            .map_err(|e| Error::Numerical(format!("quadratic shapes: {e}")))?;
        let mut v = [0.0];
        self.gradients_block(p, &mut v, g)?;
        Ok(v[0])
    }
    fn name(&self) -> String {
        format!("quadratic (D={})", self.b.len())
    }
    fn work_per_point(&self) -> f64 {
        (self.b.len() as f64).powi(2)
    }

    /// The block as two products, Q = Θ A and |Θ| |A| (A symmetric), then per row the sums of
    /// the per-point path in the same order.
    fn values_scales_block(
        &self,
        points: ndarray::ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        let d = self.b.len();
        super::check_block(d, points, values.len(), scales.len(), None)?;
        let q = points.dot(&self.a);
        let qa = points.mapv(f64::abs).dot(&self.a.mapv(f64::abs));
        for (k, t) in points.outer_iter().enumerate() {
            let mut f = self.c;
            let mut s = self.c.abs();
            for i in 0..d {
                f += t[i] * (0.5 * q[[k, i]] + self.b[i]);
                s += t[i].abs() * (0.5 * qa[[k, i]] + self.b[i].abs());
            }
            values[k] = f;
            scales[k] = s;
        }
        Ok(())
    }

    fn gradients_block(
        &self,
        points: ndarray::ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        let d = self.b.len();
        super::check_block(d, points, values.len(), values.len(), Some(grads.len()))?;
        let q = points.dot(&self.a);
        for (k, t) in points.outer_iter().enumerate() {
            let mut f = self.c;
            for i in 0..d {
                f += t[i] * (0.5 * q[[k, i]] + self.b[i]);
                grads[k * d + i] = q[[k, i]] + self.b[i];
            }
            values[k] = f;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::check_gradient;

    #[test]
    fn value_gradient_and_validation() {
        let a = ndarray::arr2(&[[2.0, -1.0], [-1.0, -3.0]]);
        let q = Quadratic::new(a, ndarray::arr1(&[0.5, 1.0]), 2.0).unwrap();
        let t = [0.3, -0.7];
        let want = 0.5 * (2.0 * 0.09 - 2.0 * 0.3 * -0.7 - 3.0 * 0.49) + 0.15 - 0.7 + 2.0;
        assert!((q.value(&t) - want).abs() < 1e-14);
        check_gradient(&q, &t, 1e-7);
        assert!(Quadratic::new(
            ndarray::arr2(&[[1.0, 2.0], [0.0, 1.0]]),
            ndarray::arr1(&[0.0, 0.0]),
            0.0
        )
        .is_err());
    }

    #[test]
    fn block_path_matches_per_point_path() {
        let a = ndarray::arr2(&[[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0], [0.5, 0.0, -1.0]]);
        let q = Quadratic::new(a, ndarray::arr1(&[0.3, -0.2, 1.0]), 0.7).unwrap();
        let pts =
            ndarray::Array2::from_shape_fn((11, 3), |(i, j)| ((i * 3 + j) as f64).sin() * 4.0);
        let (mut v, mut s, mut g) = (vec![0.0; 11], vec![0.0; 11], vec![0.0; 33]);
        q.values_scales_block(pts.view(), &mut v, &mut s).unwrap();
        let mut gv = vec![0.0; 11];
        q.gradients_block(pts.view(), &mut gv, &mut g).unwrap();
        let a = ndarray::arr2(&[[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0], [0.5, 0.0, -1.0]]);
        let bv = [0.3, -0.2, 1.0];
        for k in 0..11 {
            let t = pts.row(k).to_vec();
            // Scalar reference: ½ tᵀAt + bᵀt + c and Σ|summands|.
            let (mut f, mut sc) = (0.7, 0.7);
            for i in 0..3 {
                let (mut qi, mut qa) = (0.0, 0.0);
                for j in 0..3 {
                    qi += a[[i, j]] * t[j];
                    qa += (a[[i, j]] * t[j]).abs();
                }
                f += t[i] * (0.5 * qi + bv[i]);
                sc += t[i].abs() * (0.5 * qa + f64::abs(bv[i]));
            }
            assert_eq!(q.value_and_scale(&t), (v[k], s[k]));
            assert!(
                (v[k] - f).abs() <= 16.0 * f64::EPSILON * sc && (s[k] - sc).abs() <= 1e-12 * sc
            );
            assert!((gv[k] - f).abs() <= 16.0 * f64::EPSILON * sc);
            let g1: Vec<f64> = (0..3)
                .map(|i| (0..3).map(|j| a[[i, j]] * t[j]).sum::<f64>() + bv[i])
                .collect();
            for j in 0..3 {
                assert!((g[k * 3 + j] - g1[j]).abs() <= 1e-13 * (1.0 + g1[j].abs()) * 10.0);
            }
        }
    }
}
