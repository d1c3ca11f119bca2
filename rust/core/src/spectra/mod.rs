//! Hessian-vector products and Hessian spectra at large D, from gradients only.
//!
//! - [`hvp`]: H v by central differences of gradients along v, batched over vectors, with a
//!   per-entry error estimate from the steps h and 2h (Richardson).
//! - [`lanczos`]: thick-restart Lanczos (Wu & Simon 2000) with full reorthogonalisation for the
//!   extreme eigenvalues of the finite-difference operator.
//! - [`slq`]: stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019) for the spectral
//!   density.
//!
//! Every algorithm reaches the objective through a [`GradFn`]: a closure writing the gradients at
//! the rows of a block of points. [`native_gradients`] builds one for a native objective (rows in
//! parallel); the bindings build one that calls a Python gradient once per block. All randomness
//! comes from [`crate::rng::stream_rng`]; all reductions run in a fixed order, so results do not
//! depend on the thread count.

pub mod hvp;
pub mod lanczos;
pub mod slq;

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::objective::Objective;

/// Gradients at every row of a block of points (B × D), written into the rows of `out` (B × D).
pub type GradFn<'a> = dyn FnMut(ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>) -> Result<()> + 'a;

/// A symmetric operator applied to the rows of a block of vectors (K × D), results into the rows
/// of the output (K × D).
pub type BlockOp<'a> = dyn FnMut(ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>) -> Result<()> + 'a;

/// Largest number of float64 entries the spectra routines allocate for their work arrays
/// (basis, Ritz vectors, gradient blocks): 2^28 entries = 2 GiB.
pub(crate) const MAX_WORK_FLOATS: usize = 1 << 28;

/// Refuse a run whose work arrays would exceed `MAX_WORK_FLOATS`, naming the estimate.
pub fn check_memory(what: &str, floats: usize, hint: &str) -> Result<()> {
    if floats > MAX_WORK_FLOATS {
        return Err(Error::too_large(
            what,
            format!("{:.1} MiB", floats as f64 * 8.0 / (1u64 << 20) as f64),
            format!("{} MiB", MAX_WORK_FLOATS * 8 / (1 << 20)),
            hint,
        ));
    }
    Ok(())
}

/// Rows per task of [`gradients`]: whole blocks through [`Objective::gradients_block`] (its
/// matrix products over the block) for small D; one point per task from D = 4096 on, where one
/// gradient is itself a sequence of matrix products and two rows already keep two cores busy.
/// A function of D only, so results do not depend on the thread count.
fn gradient_rows_per_task(d: usize, b: usize) -> usize {
    if d >= 4096 {
        1
    } else {
        crate::objective::EVAL_BLOCK.min(b.max(1))
    }
}

/// Gradients of a native objective at every row of `points`, written into `out`.
///
/// Rows are grouped into fixed blocks ([`gradient_rows_per_task`]) evaluated by one
/// [`Objective::gradients_block`] call each, blocks in parallel; a row's gradient does not depend
/// on the block it is in, so the result does not depend on the thread count. This is the one
/// place the spectra routines evaluate a native objective.
pub fn gradients(
    obj: &dyn Objective,
    points: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
    ctl: &Control,
) -> Result<()> {
    let d = obj.dim();
    if points.ncols() != d || out.ncols() != d || out.nrows() != points.nrows() {
        return Err(Error::invalid(
            "points",
            format!(
                "expected ({}, {d}) points and gradients, got {:?} and {:?}",
                points.nrows(),
                points.dim(),
                out.dim()
            ),
        ));
    }
    if !obj.has_gradient() {
        return Err(Error::invalid(
            "objective",
            format!("{} has no analytic gradient", obj.name()),
        ));
    }
    let rows = gradient_rows_per_task(d, points.nrows());
    let work = |(p, mut g): (ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>)| -> Result<()> {
        ctl.check()?;
        let nb = p.nrows();
        let mut vals = vec![0.0; nb];
        match g.as_slice_mut() {
            Some(gs) => obj.gradients_block(p, &mut vals, gs)?,
            None => {
                let mut gb = vec![0.0; nb * d];
                obj.gradients_block(p, &mut vals, &mut gb)?;
                g.iter_mut().zip(&gb).for_each(|(a, b)| *a = *b);
            }
        }
        ctl.advance(nb as u64);
        Ok(())
    };
    let blocks = points.axis_chunks_iter(Axis(0), rows);
    let outs = out.axis_chunks_iter_mut(Axis(0), rows);
    if points.nrows() > rows && crate::parallel::num_threads() > 1 {
        blocks
            .into_par_iter()
            .zip(outs.into_par_iter())
            .try_for_each(work)
    } else {
        blocks.zip(outs).try_for_each(work)
    }
}

/// A [`GradFn`] for a native objective.
pub fn native_gradients<'a>(
    obj: &'a dyn Objective,
    ctl: &'a Control,
) -> impl FnMut(ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>) -> Result<()> + 'a {
    move |p, g| gradients(obj, p, g, ctl)
}

/// Euclidean norm with a fixed summation order.
pub(crate) fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::objective::quadratic::Quadratic;
    use ndarray::{Array1, Array2};
    use rand::Rng;

    /// A quadratic ½θᵀAθ with the spectrum `eigs` in a seeded random orthogonal basis.
    pub fn quadratic_with_spectrum(eigs: &[f64], seed: u64) -> (Quadratic, Array2<f64>) {
        let d = eigs.len();
        let mut rng = crate::rng::stream_rng(seed, 0);
        // Random orthogonal Q by Gram-Schmidt on a Gaussian-ish matrix.
        let mut q = Array2::<f64>::zeros((d, d));
        for i in 0..d {
            let mut v: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
            for _ in 0..2 {
                for j in 0..i {
                    let c: f64 = (0..d).map(|t| v[t] * q[[j, t]]).sum();
                    for t in 0..d {
                        v[t] -= c * q[[j, t]];
                    }
                }
            }
            let n = norm2(&v);
            for t in 0..d {
                q[[i, t]] = v[t] / n;
            }
        }
        let mut a = Array2::<f64>::zeros((d, d));
        for i in 0..d {
            for j in 0..d {
                a[[i, j]] = (0..d).map(|t| q[[t, i]] * eigs[t] * q[[t, j]]).sum();
            }
        }
        for i in 0..d {
            for j in 0..i {
                let m = 0.5 * (a[[i, j]] + a[[j, i]]);
                a[[i, j]] = m;
                a[[j, i]] = m;
            }
        }
        let obj = Quadratic::new(a.clone(), Array1::zeros(d), 0.0).unwrap();
        (obj, a)
    }

    #[test]
    fn gradients_match_rows_at_any_thread_count() {
        let (q, _) = quadratic_with_spectrum(&[1.0, -2.0, 3.0, 0.5], 3);
        let pts = Array2::from_shape_fn((7, 4), |(i, j)| (i as f64) * 0.3 - j as f64);
        let ctl = Control::new();
        let mut a = Array2::zeros((7, 4));
        crate::parallel::install(|| gradients(&q, pts.view(), a.view_mut(), &ctl))
            .unwrap()
            .unwrap();
        for i in 0..7 {
            let mut g = vec![0.0; 4];
            q.gradient(&pts.row(i).to_vec(), &mut g).unwrap();
            assert_eq!(a.row(i).to_vec(), g);
        }
        // Strided points are accepted.
        let t = pts.t().to_owned();
        let mut b = Array2::zeros((7, 4));
        gradients(&q, t.t(), b.view_mut(), &ctl).unwrap();
        assert_eq!(a, b);
        assert!(gradients(&q, pts.view(), Array2::zeros((7, 3)).view_mut(), &ctl).is_err());
    }
}
