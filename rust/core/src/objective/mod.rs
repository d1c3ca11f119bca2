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

    /// About how many multiply-adds one evaluation of f costs (a gradient costs a small multiple):
    /// sizes the pieces of work between two cancellation checks ([`points_per_check`]). The
    /// default, D, suits objectives whose cost is linear in θ; data-driven objectives return
    /// about n·D.
    fn work_per_point(&self) -> f64 {
        self.dim() as f64
    }

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

    /// Central gradient differences along every axis at each row θ_p of `points` (K × D, with
    /// the steps h_p in the rows of `steps`), formed without the gradients themselves: row j of
    /// point p, `diff[(p·D + j)·D + k] = ∇_k f(θ_p + h_pj e_j) − ∇_k f(θ_p − h_pj e_j)` (the moved
    /// points as [`Objective::gradients_along_axes`] forms them: θ_pj + h_pj and θ_pj − h_pj
    /// rounded), and `bound` alike, a bound on the rounding error of that computed difference.
    /// Returns `Ok(false)` (buffers untouched) when the objective has no such kernel; the
    /// gradients-method Hessian then differences [`Objective::gradients_along_axes`], which calls
    /// it with no points to find out. A kernel may form the block's products together, so a
    /// point's last bits may depend on the block it is in (the caller's blocks are fixed by the
    /// point index). Linear models override it (see `docs/diagnostics.md`, "Gradient differences
    /// of linear models").
    fn gradient_differences(
        &self,
        points: ArrayView2<'_, f64>,
        steps: ArrayView2<'_, f64>,
        diff: &mut [f64],
        bound: &mut [f64],
    ) -> Result<bool> {
        let _ = (points, steps, diff, bound);
        Ok(false)
    }
}

/// Width, in gradient-difference rows, of a block of points of
/// [`Objective::gradient_differences`] as the gradients-method Hessian calls it.
const DIFF_BLOCK_WIDTH: usize = 256;
/// Most points per block of [`Objective::gradient_differences`].
const DIFF_BLOCK_MAX_POINTS: usize = 16;

/// Points per block of [`Objective::gradient_differences`] at dimension `d` (a function of `d`
/// only, so that blocks do not depend on the thread count): about [`DIFF_BLOCK_WIDTH`] moves.
pub(crate) fn diff_block_points(d: usize) -> usize {
    (DIFF_BLOCK_WIDTH / d.max(1)).clamp(1, DIFF_BLOCK_MAX_POINTS)
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

/// Multiply-adds between two cancellation checks of the batched consumers: a few milliseconds of
/// work, so Ctrl-C is honoured within a fraction of [`EVAL_BLOCK`] points of a large network.
const CHECK_WORK: f64 = 4.0e6;

/// Points per cancellation check (1..=`max`) when evaluating `obj`: `max` for cheap objectives,
/// fewer for costly ones ([`Objective::work_per_point`]). It depends on the objective's sizes
/// only, never on timing, and a point's result does not depend on the other rows of its block,
/// so splitting a block into such pieces leaves every result unchanged.
pub(crate) fn points_per_check(obj: &dyn Objective, max: usize) -> usize {
    let w = obj.work_per_point();
    if w.is_nan() || w <= 0.0 {
        return max.max(1);
    }
    ((CHECK_WORK / w) as usize).clamp(1, max.max(1))
}

/// `f(lo, hi)` for consecutive pieces `lo..hi` of the rows `0..b`, of `points_per_check(obj, b)`
/// rows, with a cancellation check before each piece.
pub(crate) fn for_pieces(
    obj: &dyn Objective,
    b: usize,
    ctl: &Control,
    mut f: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    let step = points_per_check(obj, b);
    let mut lo = 0;
    while lo < b {
        ctl.check()?;
        let hi = (lo + step).min(b);
        f(lo, hi)?;
        lo = hi;
    }
    Ok(())
}

/// Rows copied between two cancellation checks by [`copy_rows`] (10⁶ × 50 values: a check every
/// few ms).
pub(crate) const COPY_ROWS: usize = 1 << 12;

/// An owned, standard-layout copy of `x` (any strides), made in blocks of rows with a
/// cancellation check between blocks: the objectives' constructors take their data this way
/// with the GIL released, so a large X (10⁶ × 50) can be interrupted while it is copied.
pub fn copy_rows(x: ArrayView2<'_, f64>, ctl: &Control) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    let mut out: Vec<f64> = Vec::with_capacity(n * d);
    for block in x.axis_chunks_iter(ndarray::Axis(0), COPY_ROWS) {
        ctl.check()?;
        match block.as_slice() {
            Some(s) => out.extend_from_slice(s),
            None => out.extend(block.iter().copied()),
        }
    }
    Array2::from_shape_vec((n, d), out).map_err(|e| Error::Numerical(format!("copy of X: {e}")))
}

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
        let lo = k * EVAL_BLOCK;
        for_pieces(obj, v.len(), ctl, |a, z| {
            let rows = points.slice(ndarray::s![lo + a..lo + z, ..]);
            obj.values_scales_block(rows, &mut v[a..z], &mut s[a..z])
        })
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
        let lo = k * EVAL_BLOCK;
        for_pieces(obj, v.len(), ctl, |a, z| {
            let rows = points.slice(ndarray::s![lo + a..lo + z, ..]);
            obj.gradients_block(rows, &mut v[a..z], &mut g[a * d..z * d])
        })
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

    /// [`DiagQuadratic`] that declares itself costly (one evaluation: ~10⁹ multiply-adds) and
    /// cancels `ctl` at its `cancel_at`-th evaluation (values and gradients counted alike), as
    /// Ctrl-C would in the middle of a run: the tests count the evaluations made after that.
    pub struct CancelsAt<'a> {
        pub q: DiagQuadratic,
        pub ctl: &'a Control,
        pub cancel_at: usize,
        pub evals: std::sync::atomic::AtomicUsize,
    }

    impl<'a> CancelsAt<'a> {
        pub fn new(d: usize, ctl: &'a Control, cancel_at: usize) -> Self {
            CancelsAt {
                q: DiagQuadratic {
                    a: vec![1.0; d],
                    c: vec![0.0; d],
                },
                ctl,
                cancel_at,
                evals: std::sync::atomic::AtomicUsize::new(0),
            }
        }
        pub fn evals(&self) -> usize {
            self.evals.load(std::sync::atomic::Ordering::SeqCst)
        }
        fn count(&self) {
            let k = self.evals.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if k == self.cancel_at {
                self.ctl.cancel();
            }
        }
    }

    impl Objective for CancelsAt<'_> {
        fn dim(&self) -> usize {
            self.q.dim()
        }
        fn value_and_scale(&self, t: &[f64]) -> (f64, f64) {
            self.count();
            self.q.value_and_scale(t)
        }
        fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
            self.count();
            self.q.gradient(t, g)
        }
        fn name(&self) -> String {
            "costly diagonal quadratic".into()
        }
        fn work_per_point(&self) -> f64 {
            1e9
        }
    }

    #[test]
    fn a_costly_objective_is_cancelled_within_one_point() {
        // a cancellation in the middle of a block of EVAL_BLOCK points of a costly objective
        // stops the batch at the next point, not at the end of the block
        let pts = ndarray::Array2::from_shape_fn((EVAL_BLOCK, 3), |(i, j)| (i + j) as f64);
        let ctl = Control::new();
        let obj = CancelsAt::new(3, &ctl, 5);
        let r = batch_values_and_scales(&obj, pts.view(), usize::MAX, &ctl);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert_eq!(obj.evals(), 5);
        let ctl = Control::new();
        let obj = CancelsAt::new(3, &ctl, 2);
        let r = batch_gradients(&obj, pts.view(), usize::MAX, &ctl);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert_eq!(obj.evals(), 2);
        // cheap objectives keep whole blocks (one check per EVAL_BLOCK points)
        assert_eq!(points_per_check(&obj.q, EVAL_BLOCK), EVAL_BLOCK);
        assert_eq!(points_per_check(&obj, EVAL_BLOCK), 1);
    }

    #[test]
    fn pieces_leave_the_results_unchanged() {
        // the same points through pieces of one (costly declaration) and whole blocks
        let ctl = Control::new();
        let obj = CancelsAt::new(3, &ctl, usize::MAX);
        let pts = ndarray::Array2::from_shape_fn((150, 3), |(i, j)| (i as f64).sin() + j as f64);
        let (v1, s1) = batch_values_and_scales(&obj, pts.view(), usize::MAX, &ctl).unwrap();
        let (v2, s2) = batch_values_and_scales(&obj.q, pts.view(), usize::MAX, &ctl).unwrap();
        assert_eq!(v1, v2);
        assert_eq!(s1, s2);
        let (g1, h1) = batch_gradients(&obj, pts.view(), 1, &ctl).unwrap();
        let (g2, h2) = batch_gradients(&obj.q, pts.view(), 1, &ctl).unwrap();
        assert_eq!(g1, g2);
        assert_eq!(h1, h2);
    }

    #[test]
    fn copy_rows_copies_any_layout_and_stops_when_cancelled() {
        let x = ndarray::Array2::from_shape_fn((5000, 7), |(i, j)| (i * 7 + j) as f64);
        let ctl = Control::new();
        assert_eq!(copy_rows(x.view(), &ctl).unwrap(), x);
        let xt = x.t().to_owned();
        let back = copy_rows(xt.t(), &ctl).unwrap();
        assert!(back.is_standard_layout());
        assert_eq!(back, x);
        ctl.cancel();
        assert_eq!(copy_rows(x.view(), &ctl).unwrap_err(), Error::Interrupted);
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
