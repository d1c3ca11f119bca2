//! Spectra of a batch of estimated Hessians: eigenvalues, the eigenvector of λ_min and the
//! verdict tolerance τ = ‖E‖_F, per point.
//!
//! Eigen-decompositions use faer's self-adjoint eigensolver (Householder tridiagonalisation and
//! implicit QR, sequential: `Par::Seq`), reading the lower triangle like LAPACK's `syevd` with
//! `UPLO='L'`. Both are backward stable, so their eigenvalues agree to a few eps · ‖H‖₂ (the tests
//! compare with NumPy's `eigvalsh`); eigenvectors agree up to sign and, for clustered eigenvalues,
//! up to a rotation within the cluster.
//!
//! Each point is decomposed alone (in parallel over points above [`SPECTRUM_PAR_MIN`] units of
//! B·D³), so results do not depend on the thread count.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::{Col, Mat, MatRef, Par};
use ndarray::{Array1, Array2, ArrayView3};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{Error, Result};

/// B·D³ above which the points are decomposed in parallel (a D = 16 batch of 64 points).
pub const SPECTRUM_PAR_MIN: usize = 1 << 18;

/// Work units (B·D³ with eigen-decompositions, B·D² without) up to which [`spectrum`] counts
/// as short: a few milliseconds, so callers may run it without cancellation polling.
pub const SHORT_SPECTRUM_WORK: usize = 1 << 21;

/// The work units of [`spectrum`] on `b` points of dimension `d` (compare with
/// [`SHORT_SPECTRUM_WORK`]).
pub fn spectrum_work(b: usize, d: usize, eigen: bool) -> usize {
    let dd = d.saturating_mul(d);
    b.saturating_mul(if eigen { dd.saturating_mul(d) } else { dd })
}

/// The spectra of a batch (see [`spectrum`]).
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// (B, D) ascending eigenvalues; NaN rows where `ok` is false (or when not computed).
    pub eig: Array2<f64>,
    /// (B, D) unit eigenvector of λ_min; NaN rows where `ok` is false (or when not computed).
    pub vmin: Array2<f64>,
    /// (B,) τ = ‖E_b‖_F (see [`frobenius`]).
    pub tol: Array1<f64>,
    /// (B,) `finite[b]` and every entry of H_b finite.
    pub ok: Vec<bool>,
}

/// ‖E‖_F computed as m · ‖E/m‖_F with m = max|E|, so the squares neither underflow nor overflow
/// at any scale: 0 for E = 0, NaN when E holds a NaN, inf when it holds an inf.
pub fn frobenius(err: &[f64]) -> f64 {
    let mut m = 0.0f64;
    for &e in err {
        if e.is_nan() {
            return f64::NAN;
        }
        m = m.max(e.abs());
    }
    if !m.is_finite() || m == 0.0 {
        return m;
    }
    let s: f64 = err.iter().map(|&e| (e / m) * (e / m)).sum();
    m * s.sqrt()
}

/// Eigenvalues and the λ_min eigenvector of one symmetric D × D matrix (row-major `h`, lower
/// triangle read), written into `eig` and `vmin`.
fn eigen_point(
    h: &[f64],
    d: usize,
    eig: &mut [f64],
    vmin: &mut [f64],
    mem: &mut MemBuffer,
) -> Result<()> {
    let a = MatRef::from_row_major_slice(h, d, d);
    let mut s = Col::<f64>::zeros(d);
    let mut u = Mat::<f64>::zeros(d, d);
    self_adjoint_evd(
        a,
        s.as_diagonal_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(mem),
        Default::default(),
    )
    .map_err(|e| {
        Error::Numerical(format!(
            "symmetric eigendecomposition did not converge: {e:?}"
        ))
    })?;
    for i in 0..d {
        eig[i] = s[i];
        vmin[i] = u[(i, 0)];
    }
    Ok(())
}

/// Tolerances τ_b = ‖E_b‖_F, the `ok` flags and (with `eigen`) the eigenvalues and λ_min
/// eigenvectors of the Hessians `h` (B × D × D, symmetric) with error estimates `err`.
///
/// `finite[b]` says whether every evaluation of point b was finite; points that are not, or
/// whose H holds a non-finite entry, get NaN rows. Without `eigen` the `eig` and `vmin` rows are
/// all NaN (the caller decomposes elsewhere). Cancellation is checked before each point.
pub fn spectrum(
    h: ArrayView3<'_, f64>,
    err: ArrayView3<'_, f64>,
    finite: &[bool],
    eigen: bool,
    ctl: &Control,
) -> Result<Spectrum> {
    let (b, d, d2) = h.dim();
    if d != d2 || err.dim() != (b, d, d) || finite.len() != b {
        return Err(Error::invalid(
            "H",
            format!(
                "expected H and err of shape (B, D, D) and finite of length B, got {:?}, {:?}, {}",
                h.dim(),
                err.dim(),
                finite.len()
            ),
        ));
    }
    let h = h.as_standard_layout();
    let err = err.as_standard_layout();
    let hs = h.as_slice().unwrap_or(&[]);
    let es = err.as_slice().unwrap_or(&[]);
    let dd = d * d;
    let ok: Vec<bool> = (0..b)
        .map(|p| finite[p] && hs[p * dd..(p + 1) * dd].iter().all(|x| x.is_finite()))
        .collect();
    let tol: Vec<f64> = (0..b)
        .map(|p| frobenius(&es[p * dd..(p + 1) * dd]))
        .collect();
    let mut eig = vec![f64::NAN; b * d];
    let mut vmin = vec![f64::NAN; b * d];
    if eigen && d > 0 {
        let scratch = self_adjoint_evd_scratch::<f64>(
            d,
            ComputeEigenvectors::Yes,
            Par::Seq,
            Default::default(),
        );
        let one =
            |mem: &mut MemBuffer, (p, (e, v)): (usize, (&mut [f64], &mut [f64]))| -> Result<()> {
                ctl.check()?;
                if ok[p] {
                    eigen_point(&hs[p * dd..(p + 1) * dd], d, e, v, mem)?;
                }
                Ok(())
            };
        let work = b.saturating_mul(dd).saturating_mul(d);
        if crate::parallel::should_parallelize(work, SPECTRUM_PAR_MIN) {
            eig.par_chunks_mut(d)
                .zip(vmin.par_chunks_mut(d))
                .enumerate()
                .try_for_each_init(|| MemBuffer::new(scratch), one)?;
        } else {
            let mut mem = MemBuffer::new(scratch);
            eig.chunks_mut(d)
                .zip(vmin.chunks_mut(d))
                .enumerate()
                .try_for_each(|t| one(&mut mem, t))?;
        }
    }
    let bad = |e: ndarray::ShapeError| Error::Numerical(format!("spectrum assembly: {e}"));
    Ok(Spectrum {
        eig: Array2::from_shape_vec((b, d), eig).map_err(bad)?,
        vmin: Array2::from_shape_vec((b, d), vmin).map_err(bad)?,
        tol: Array1::from(tol),
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn frobenius_at_every_scale() {
        assert_eq!(frobenius(&[0.0, 0.0]), 0.0);
        assert_eq!(frobenius(&[3.0, -4.0]), 5.0);
        let tiny = frobenius(&[3e-200, 4e-200]);
        assert!((tiny / 5e-200 - 1.0).abs() < 1e-15);
        let huge = frobenius(&[3e200, -4e200]);
        assert!((huge / 5e200 - 1.0).abs() < 1e-15);
        assert!(frobenius(&[1.0, f64::NAN]).is_nan());
        assert_eq!(frobenius(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(frobenius(&[]), 0.0);
    }

    #[test]
    fn diagonal_and_rotated_spectra() {
        // H = Q diag(-1, 2, 5) Qᵀ with a Givens rotation Q in the (0, 2) plane.
        let (c, s) = (0.6f64, 0.8f64);
        let q = [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]];
        let lam = [-1.0, 2.0, 5.0];
        let mut h = Array3::<f64>::zeros((2, 3, 3));
        for i in 0..3 {
            for j in 0..3 {
                h[[0, i, j]] = (0..3).map(|k| q[i][k] * lam[k] * q[j][k]).sum();
            }
        }
        h[[1, 0, 0]] = f64::NAN;
        let err = Array3::<f64>::zeros((2, 3, 3));
        let sp = spectrum(h.view(), err.view(), &[true, true], true, &Control::new()).unwrap();
        assert_eq!(sp.ok, vec![true, false]);
        for (k, l) in lam.iter().enumerate() {
            assert!((sp.eig[[0, k]] - l).abs() < 1e-14);
        }
        // λ_min eigenvector ±(c, 0, s)
        let v = sp.vmin.row(0);
        let dot = v[0] * c + v[2] * s;
        assert!((dot.abs() - 1.0).abs() < 1e-14);
        assert!(sp.eig.row(1).iter().all(|x| x.is_nan()));
        assert_eq!(sp.tol.to_vec(), vec![0.0, 0.0]);
        let none = spectrum(h.view(), err.view(), &[true, true], false, &Control::new()).unwrap();
        assert!(none.eig.iter().all(|x| x.is_nan()));
    }
}
