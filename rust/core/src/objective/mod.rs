//! Native objectives on a flat float64 parameter vector: value, a rounding-error scale, and the
//! analytic gradient. (Issue: convexity diagnostics.)
//!
//! Contract shared by `hessian`, `midpoint` and the slices: an objective is `Send + Sync` (it is
//! evaluated from rayon workers), pure (same θ ⇒ same bits), and cheap to share behind an `Arc`.

pub mod icnn;
pub mod loss;
pub mod mlp;
pub mod quadratic;

use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};

/// A real function of a flat parameter vector θ ∈ R^D.
pub trait Objective: Send + Sync {
    /// D, the length of θ.
    fn dim(&self) -> usize;

    /// `(f(θ), s(θ))` where `s(θ) >= |f(θ)|` bounds the magnitude of the summands that were added
    /// to form f (Σ|term|), so the rounding error of f is at most about `D_eff · eps · s(θ)`.
    /// Midpoint tests use it for condition-aware tolerances.
    fn value_and_scale(&self, theta: &[f64]) -> (f64, f64);

    /// f(θ).
    fn value(&self, theta: &[f64]) -> f64 {
        self.value_and_scale(theta).0
    }

    /// Whether [`Objective::gradient`] is analytic (else it errors).
    fn has_gradient(&self) -> bool {
        true
    }

    /// Write ∇f(θ) into `grad` (length D) and return f(θ).
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64>;

    /// A short human-readable name ("least squares", "two-layer ReLU (m=4)", ...).
    fn name(&self) -> String;

    /// Values and rounding scales at the B rows of `points` (B × D, any strides), written into
    /// `values` and `scales` (length B each): per row the pair of [`Objective::value_and_scale`].
    ///
    /// This is the batched evaluation path every consumer (Hessians, midpoint tests, slices) calls
    /// with blocks of points. The default loops over the rows; the native objectives override it
    /// with matrix products over the whole block and the vectorised kernels of [`loss`], whose
    /// results differ from the per-point path by at most a few ulp of the rounding scale (see
    /// `docs/performance-evaluation.md`). A point's result does not depend on the other rows of the
    /// block.
    fn values_scales_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        check_block(self.dim(), points, values.len(), scales.len(), None)?;
        let mut buf = Vec::new();
        for (i, row) in points.outer_iter().enumerate() {
            let (v, s) = match row.as_slice() {
                Some(r) => self.value_and_scale(r),
                None => {
                    buf.clear();
                    buf.extend(row.iter().copied());
                    self.value_and_scale(&buf)
                }
            };
            values[i] = v;
            scales[i] = s;
        }
        Ok(())
    }

    /// Values and rounding scales at the points of a block of midpoint pairs, written as by
    /// [`Objective::values_scales_block`]. `points` is pair-major with r = 2 + T rows per pair
    /// (T = `ts.len()`): rows r·i and r·i + 1 are a_i and b_i, row r·i + 2 + j is the t-point
    /// m_ij = t_j·a_i + (1 − t_j)·b_i as formed by the midpoint test. The default evaluates every
    /// row; an objective whose first layer is affine in θ may derive the t-points' first-layer
    /// pre-activations from those of a_i and b_i (no product for them), provided its rounding
    /// scale still bounds the error of the value at the row m_ij.
    fn pair_values_block(
        &self,
        points: ArrayView2<'_, f64>,
        ts: &[f64],
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        let _ = ts;
        self.values_scales_block(points, values, scales)
    }

    /// Values and gradients at the B rows of `points` (B × D, any strides): `values[b] = f(θ_b)`
    /// and `grads[b·D..(b+1)·D] = ∇f(θ_b)` (row-major B × D). The default loops over
    /// [`Objective::gradient`]; the native objectives override it with matrix products over the
    /// block (same mathematics, rounding within a few ulp of the per-point path).
    fn gradients_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        let d = self.dim();
        check_block(d, points, values.len(), values.len(), Some(grads.len()))?;
        let mut buf = Vec::with_capacity(d);
        for (i, row) in points.outer_iter().enumerate() {
            buf.clear();
            buf.extend(row.iter().copied());
            values[i] = self.gradient(&buf, &mut grads[i * d..(i + 1) * d])?;
        }
        Ok(())
    }

    /// Gradients at θ + t_k e_{i_k} for each move `(i_k, t_k)` (one coordinate moved per row,
    /// to `theta[i] + t`), written row by row into `out` (K × D). The default calls
    /// [`Objective::gradient`] K times; models with structure override it with a batched kernel
    /// (used by the gradients-method Hessian).
    fn gradients_along_axes(
        &self,
        theta: &[f64],
        moves: &[(usize, f64)],
        out: &mut [f64],
    ) -> Result<()> {
        let d = self.dim();
        let mut buf = theta.to_vec();
        for (k, &(i, t)) in moves.iter().enumerate() {
            buf[i] = theta[i] + t;
            self.gradient(&buf, &mut out[k * d..(k + 1) * d])?;
            buf[i] = theta[i];
        }
        Ok(())
    }
}

/// Check the shapes of a block evaluation: `points` B × `d`, `nv` = `ns` = B values and scales,
/// `ng` = B·d gradient entries.
pub(crate) fn check_block(
    d: usize,
    points: ArrayView2<'_, f64>,
    nv: usize,
    ns: usize,
    ng: Option<usize>,
) -> Result<()> {
    let b = points.nrows();
    if points.ncols() != d {
        return Err(Error::invalid(
            "points",
            format!(
                "expected {d} columns (the objective's dimension), got {}",
                points.ncols()
            ),
        ));
    }
    if nv != b || ns != b || ng.is_some_and(|g| g != b * d) {
        return Err(Error::invalid(
            "points",
            format!("output buffers do not match a block of {b} points"),
        ));
    }
    Ok(())
}

/// Check that `theta` has the objective's length.
pub fn check_dim(obj: &dyn Objective, arg: &str, len: usize) -> Result<()> {
    if len != obj.dim() {
        return Err(Error::invalid(
            arg,
            format!(
                "expected length {} (the objective's dimension), got {len}",
                obj.dim()
            ),
        ));
    }
    Ok(())
}

/// Rows per block of the batched consumers ([`batch_values_and_scales`], [`batch_gradients`],
/// Hessians, midpoint tests): fixed, so results never depend on the thread count.
pub(crate) const EVAL_BLOCK: usize = 64;

/// Values and scales at every row of `points` (B × D), in blocks of `EVAL_BLOCK` rows through
/// [`Objective::values_scales_block`], in parallel over blocks when `B >= par_threshold`. Row
/// order is kept; results do not depend on the thread count.
pub fn batch_values_and_scales(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    par_threshold: usize,
    ctl: &Control,
) -> Result<(Array1<f64>, Array1<f64>)> {
    check_dim(obj, "points", points.ncols())?;
    let b = points.nrows();
    let mut values = vec![0.0; b];
    let mut scales = vec![0.0; b];
    let eval = |k: usize, v: &mut [f64], s: &mut [f64]| -> Result<()> {
        ctl.check()?;
        let lo = k * EVAL_BLOCK;
        let rows = points.slice(ndarray::s![lo..lo + v.len(), ..]);
        obj.values_scales_block(rows, v, s)
    };
    if crate::parallel::should_parallelize(b, par_threshold) {
        values
            .par_chunks_mut(EVAL_BLOCK)
            .zip(scales.par_chunks_mut(EVAL_BLOCK))
            .enumerate()
            .try_for_each(|(k, (v, s))| eval(k, v, s))?;
    } else {
        for (k, (v, s)) in values
            .chunks_mut(EVAL_BLOCK)
            .zip(scales.chunks_mut(EVAL_BLOCK))
            .enumerate()
        {
            eval(k, v, s)?;
        }
    }
    Ok((Array1::from(values), Array1::from(scales)))
}

/// Values and gradients at every row of `points` (B × D), in blocks of `EVAL_BLOCK` rows
/// through [`Objective::gradients_block`], in parallel over blocks when `B >= par_threshold`.
/// Deterministic (fixed blocks).
pub fn batch_gradients(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    par_threshold: usize,
    ctl: &Control,
) -> Result<(Array1<f64>, Array2<f64>)> {
    check_dim(obj, "points", points.ncols())?;
    if !obj.has_gradient() {
        return Err(Error::invalid(
            "objective",
            format!("{} has no analytic gradient", obj.name()),
        ));
    }
    let (b, d) = points.dim();
    let mut values = vec![0.0; b];
    let mut grads = Array2::<f64>::zeros((b, d));
    if d == 0 || b == 0 {
        return Ok((Array1::from(values), grads));
    }
    let grads_slice = grads
        .as_slice_mut()
        .ok_or_else(|| Error::Numerical("gradient buffer is not contiguous".into()))?;
    let eval = |k: usize, v: &mut [f64], g: &mut [f64]| -> Result<()> {
        ctl.check()?;
        let lo = k * EVAL_BLOCK;
        let rows = points.slice(ndarray::s![lo..lo + v.len(), ..]);
        obj.gradients_block(rows, v, g)
    };
    if crate::parallel::should_parallelize(b, par_threshold) {
        values
            .par_chunks_mut(EVAL_BLOCK)
            .zip(grads_slice.par_chunks_mut(EVAL_BLOCK * d))
            .enumerate()
            .try_for_each(|(k, (v, g))| eval(k, v, g))?;
    } else {
        for (k, (v, g)) in values
            .chunks_mut(EVAL_BLOCK)
            .zip(grads_slice.chunks_mut(EVAL_BLOCK * d))
            .enumerate()
        {
            eval(k, v, g)?;
        }
    }
    Ok((Array1::from(values), grads))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A tiny objective for tests of the generic machinery: f(θ) = ½ θᵀ diag(a) θ + cᵀθ.
    use super::*;

    /// Compare the analytic gradient with central differences (relative tolerance `tol`).
    pub fn check_gradient(obj: &dyn Objective, theta: &[f64], tol: f64) {
        let mut g = vec![0.0; theta.len()];
        let f = obj.gradient(theta, &mut g).unwrap();
        assert!((f - obj.value(theta)).abs() <= 1e-12 * (1.0 + f.abs()));
        let scale = g.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let mut t = theta.to_vec();
        for i in 0..theta.len() {
            let h = 1e-6 * (1.0 + theta[i].abs());
            t[i] = theta[i] + h;
            let fp = obj.value(&t);
            t[i] = theta[i] - h;
            let fm = obj.value(&t);
            t[i] = theta[i];
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= tol * scale * 10.0,
                "{}: coordinate {i}: analytic {} vs differences {fd}",
                obj.name(),
                g[i]
            );
        }
    }

    pub struct DiagQuadratic {
        pub a: Vec<f64>,
        pub c: Vec<f64>,
    }

    impl Objective for DiagQuadratic {
        fn dim(&self) -> usize {
            self.a.len()
        }
        fn value_and_scale(&self, t: &[f64]) -> (f64, f64) {
            let mut f = 0.0;
            let mut s = 0.0;
            for (i, &ti) in t.iter().enumerate() {
                let q = 0.5 * self.a[i] * ti * ti;
                let l = self.c[i] * ti;
                f += q + l;
                s += q.abs() + l.abs();
            }
            (f, s)
        }
        fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
            for i in 0..t.len() {
                g[i] = self.a[i] * t[i] + self.c[i];
            }
            Ok(self.value(t))
        }
        fn name(&self) -> String {
            "diagonal quadratic".into()
        }
    }

    #[test]
    fn batch_matches_rows() {
        let q = DiagQuadratic {
            a: vec![1.0, -2.0, 3.0],
            c: vec![0.5, 0.0, -1.0],
        };
        let pts = ndarray::Array2::from_shape_fn((200, 3), |(i, j)| (i as f64) * 0.01 - j as f64);
        let ctl = Control::new();
        let (v, s) = batch_values_and_scales(&q, pts.view(), 16, &ctl).unwrap();
        for i in 0..200 {
            let r = pts.row(i).to_vec();
            assert_eq!(v[i], q.value(&r));
            assert!(s[i] >= v[i].abs());
        }
        // Strided (column-sliced) input is accepted.
        let wide = ndarray::Array2::from_shape_fn((5, 6), |(i, j)| (i + j) as f64);
        let view = wide.slice(ndarray::s![.., ..;2]);
        let (v2, _) = batch_values_and_scales(&q, view, 1, &ctl).unwrap();
        assert_eq!(v2[1], q.value(&[1.0, 3.0, 5.0]));
        assert!(batch_values_and_scales(&q, wide.view(), 1, &ctl).is_err());
    }
}
