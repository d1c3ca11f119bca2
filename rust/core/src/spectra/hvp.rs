//! Hessian-vector products by central differences of gradients.
//!
//! For a vector v ≠ 0 with u = v / ‖v‖₂ and a step h:
//!
//!   D(h) = ‖v‖ (∇f(θ + h u) − ∇f(θ − h u)) / (2h) = H v + O(h²).
//!
//! With Richardson the result is (4 D(h) − D(2h)) / 3 (O(h⁴)) and the per-entry error estimate is
//! |D(h) − D(2h)| + the rounding bound of D(h), ROUND_C · eps · ‖v‖ (|∇f(θ+hu)| + |∇f(θ−hu)|) / (2h)
//! (the conventions of the gradients-method Hessian, [`crate::hessian`]); without it the estimate is
//! the rounding bound alone. 4 gradients per vector with Richardson, 2 without.
//!
//! Step: h = 2^round(log2(c · max(1, ‖θ‖∞ / 64))) — a power of two, the floor of the Hessian's
//! per-coordinate step scale (a direction moves every coordinate) — with c = eps^(1/5) with
//! Richardson and eps^(1/3) without (the gradients-method defaults), or a caller-given c.

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use super::{check_memory, norm2, GradFn};
use crate::control::Control;
use crate::error::{Error, Result};
use crate::hessian::{default_step, Method, ROUND_C, SPREAD};

/// Gradient rows held at once by [`hvp`] (2^22 float64 per array = 32 MiB, at least one vector).
const BLOCK_FLOATS: usize = 1 << 22;

/// The default relative step c (eps^(1/5) with Richardson, eps^(1/3) without).
pub fn default_relative_step(richardson: bool) -> f64 {
    default_step(Method::Gradients, richardson)
}

/// The absolute step h = 2^round(log2(c · max(1, ‖θ‖∞ / 64))).
pub fn step_size(theta: &[f64], c: f64) -> Result<f64> {
    if !(c.is_finite() && c > 0.0) {
        return Err(Error::invalid(
            "step",
            format!("must be a finite number > 0, got {c}"),
        ));
    }
    crate::error::ensure_finite("theta", theta)?;
    let floor = theta.iter().fold(1.0f64, |m, t| m.max(SPREAD * t.abs()));
    Ok(2f64.powi((c * floor).log2().round() as i32))
}

/// The finite-difference Hessian operator at θ with a fixed step.
pub struct FdHvp<'t> {
    theta: &'t [f64],
    h: f64,
    richardson: bool,
    pts: Array2<f64>,
    grads: Array2<f64>,
    /// Gradient evaluations so far.
    pub n_gradients: u64,
}

impl<'t> FdHvp<'t> {
    /// The operator at `theta` with relative step `c` (see [`step_size`]).
    pub fn new(theta: &'t [f64], c: f64, richardson: bool) -> Result<Self> {
        if theta.is_empty() {
            return Err(Error::invalid("theta", "must not be empty"));
        }
        let h = step_size(theta, c)?;
        Ok(FdHvp {
            theta,
            h,
            richardson,
            pts: Array2::zeros((0, theta.len())),
            grads: Array2::zeros((0, theta.len())),
            n_gradients: 0,
        })
    }

    /// The absolute step h.
    pub fn step(&self) -> f64 {
        self.h
    }

    /// Gradient rows per vector (4 with Richardson, 2 without).
    pub fn rows_per_vector(&self) -> usize {
        if self.richardson {
            4
        } else {
            2
        }
    }

    /// H v for every row v of `vs` (K × D), written into the rows of `out`; with `err`, the
    /// per-entry error estimates too. One call of `grad` for the whole block.
    pub fn apply(
        &mut self,
        vs: ArrayView2<'_, f64>,
        mut out: ArrayViewMut2<'_, f64>,
        mut err: Option<ArrayViewMut2<'_, f64>>,
        grad: &mut GradFn<'_>,
    ) -> Result<()> {
        let d = self.theta.len();
        let k = vs.nrows();
        if vs.ncols() != d || out.dim() != (k, d) {
            return Err(Error::invalid(
                "V",
                format!(
                    "expected vectors of length {d} (the objective's dimension), got {:?}",
                    vs.dim()
                ),
            ));
        }
        let r = self.rows_per_vector();
        let h = self.h;
        if self.pts.nrows() != r * k {
            self.pts = Array2::zeros((r * k, d));
            self.grads = Array2::zeros((r * k, d));
        }
        let mut norms = vec![0.0; k];
        for (i, v) in vs.outer_iter().enumerate() {
            let nv = match v.as_slice() {
                Some(s) => norm2(s),
                None => norm2(&v.to_vec()),
            };
            norms[i] = nv;
            let inv = if nv > 0.0 { 1.0 / nv } else { 0.0 };
            for sc in 0..r / 2 {
                let t = h * (1u32 << sc) as f64;
                for (sign, row) in [(1.0, r * i + 2 * sc), (-1.0, r * i + 2 * sc + 1)] {
                    let mut p = self.pts.row_mut(row);
                    for ((pj, &tj), &vj) in p.iter_mut().zip(self.theta).zip(v.iter()) {
                        *pj = tj + sign * t * (vj * inv);
                    }
                }
            }
        }
        grad(self.pts.view(), self.grads.view_mut())?;
        self.n_gradients += (r * k) as u64;
        let eps = f64::EPSILON;
        for i in 0..k {
            let nv = norms[i];
            let gp = self.grads.row(r * i);
            let gm = self.grads.row(r * i + 1);
            let den = 2.0 * h;
            let mut o = out.row_mut(i);
            if self.richardson {
                let gp2 = self.grads.row(r * i + 2);
                let gm2 = self.grads.row(r * i + 3);
                let den2 = 4.0 * h;
                for j in 0..d {
                    let d1 = nv * (gp[j] - gm[j]) / den;
                    let d2 = nv * (gp2[j] - gm2[j]) / den2;
                    o[j] = (4.0 * d1 - d2) / 3.0;
                    if let Some(e) = err.as_mut() {
                        e[[i, j]] = (d1 - d2).abs()
                            + ROUND_C * eps * nv * (gp[j].abs() + gm[j].abs()) / den;
                    }
                }
            } else {
                for j in 0..d {
                    o[j] = nv * (gp[j] - gm[j]) / den;
                    if let Some(e) = err.as_mut() {
                        e[[i, j]] = ROUND_C * eps * nv * (gp[j].abs() + gm[j].abs()) / den;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Hessian-vector products of a batch.
#[derive(Clone, Debug)]
pub struct HvpBatch {
    /// (K, D) H v_k.
    pub hv: Array2<f64>,
    /// (K, D) per-entry error estimates.
    pub err: Array2<f64>,
    /// The absolute step h.
    pub step: f64,
    /// Gradient evaluations.
    pub n_gradients: u64,
}

/// Work floats of [`hvp`] for K vectors of length D (outputs plus one gradient block).
pub(crate) fn hvp_work_floats(k: usize, d: usize, richardson: bool) -> usize {
    let r = if richardson { 4 } else { 2 };
    let block_vecs = (BLOCK_FLOATS / (r * d.max(1))).max(1).min(k.max(1));
    (2 * k)
        .saturating_mul(d)
        .saturating_add(2 * r * block_vecs * d)
}

/// H v for every row v of `vs` (K × D) at `theta`, blocks of vectors per call of `grad`.
pub fn hvp(
    theta: &[f64],
    vs: ArrayView2<'_, f64>,
    c: f64,
    richardson: bool,
    grad: &mut GradFn<'_>,
    ctl: &Control,
) -> Result<HvpBatch> {
    let (k, d) = vs.dim();
    if d != theta.len() {
        return Err(Error::invalid(
            "V",
            format!(
                "expected vectors of length {} (the length of theta), got {d}",
                theta.len()
            ),
        ));
    }
    if k == 0 {
        return Err(Error::invalid("V", "need at least one vector"));
    }
    crate::error::ensure_finite_iter("V", vs.iter())?;
    check_memory(
        "Hessian-vector products",
        hvp_work_floats(k, d, richardson),
        "pass fewer vectors per call",
    )?;
    let mut op = FdHvp::new(theta, c, richardson)?;
    let r = op.rows_per_vector();
    let block = (BLOCK_FLOATS / (r * d)).max(1);
    ctl.set_total((k * r) as u64);
    let mut hv = Array2::zeros((k, d));
    let mut err = Array2::zeros((k, d));
    let mut k0 = 0;
    while k0 < k {
        ctl.check()?;
        let k1 = (k0 + block).min(k);
        op.apply(
            vs.slice(s![k0..k1, ..]),
            hv.slice_mut(s![k0..k1, ..]),
            Some(err.slice_mut(s![k0..k1, ..])),
            grad,
        )?;
        k0 = k1;
    }
    Ok(HvpBatch {
        hv,
        err,
        step: op.step(),
        n_gradients: op.n_gradients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::native_gradients;
    use crate::spectra::testing::quadratic_with_spectrum;

    #[test]
    fn quadratic_hvp_is_exact_up_to_rounding() {
        let (q, a) = quadratic_with_spectrum(&[3.0, -1.0, 0.5, 2.0, -4.0], 1);
        let theta = vec![0.3, -1.0, 2.0, 0.0, 5.0];
        let vs = Array2::from_shape_fn((3, 5), |(i, j)| ((i * 5 + j) as f64).sin());
        let ctl = Control::new();
        let mut g = native_gradients(&q, &ctl);
        for rich in [true, false] {
            let c = default_relative_step(rich);
            let out = hvp(&theta, vs.view(), c, rich, &mut g, &ctl).unwrap();
            assert_eq!(out.n_gradients, 3 * if rich { 4 } else { 2 });
            let exact = vs.dot(&a.t());
            for (x, (y, e)) in out.hv.iter().zip(exact.iter().zip(out.err.iter())) {
                assert!((x - y).abs() <= 1e-8, "{x} vs {y}");
                assert!(*e >= 0.0 && *e < 1e-7);
            }
        }
        // zero vector → zero product; wrong length and NaN are refused
        let z = Array2::zeros((1, 5));
        let out = hvp(&theta, z.view(), 1e-3, true, &mut g, &ctl).unwrap();
        assert!(out.hv.iter().all(|v| *v == 0.0));
        assert!(hvp(
            &theta,
            Array2::zeros((1, 4)).view(),
            1e-3,
            true,
            &mut g,
            &ctl
        )
        .is_err());
        let mut bad = Array2::zeros((1, 5));
        bad[[0, 2]] = f64::NAN;
        assert!(hvp(&theta, bad.view(), 1e-3, true, &mut g, &ctl).is_err());
        assert!(hvp(&theta, vs.view(), 0.0, true, &mut g, &ctl).is_err());
    }

    #[test]
    fn step_is_a_power_of_two_from_the_scale() {
        let h = step_size(&[0.5, -2.0], 1e-5).unwrap();
        assert_eq!(h, 2f64.powi((1e-5f64).log2().round() as i32));
        let h2 = step_size(&[6400.0], 1e-5).unwrap();
        assert_eq!(h2, 2f64.powi((1e-3f64).log2().round() as i32));
    }
}
