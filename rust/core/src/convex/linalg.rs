//! Small dense kernels: column-chunked (deterministic, optionally parallel) products and a dense
//! Cholesky factorisation with triangular solves.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};

/// Column chunk width of the products: fixed, so results never depend on the thread count.
pub const CHUNK: usize = 64;

/// `out = a · b`, split into fixed column chunks of `b`/`out`, in parallel when `par`.
pub fn matmul_into(a: ArrayView2<f64>, b: ArrayView2<f64>, mut out: ArrayViewMut2<f64>, par: bool) {
    if par {
        use rayon::prelude::*;
        let pairs: Vec<_> = out
            .axis_chunks_iter_mut(Axis(1), CHUNK)
            .zip(b.axis_chunks_iter(Axis(1), CHUNK))
            .collect();
        pairs
            .into_par_iter()
            .for_each(|(mut o, bc)| general_mat_mul(1.0, &a, &bc, 0.0, &mut o));
    } else {
        for (mut o, bc) in out
            .axis_chunks_iter_mut(Axis(1), CHUNK)
            .zip(b.axis_chunks_iter(Axis(1), CHUNK))
        {
            general_mat_mul(1.0, &a, &bc, 0.0, &mut o);
        }
    }
}

/// `a · b` as a new array (see [`matmul_into`]).
pub fn matmul(a: ArrayView2<f64>, b: ArrayView2<f64>, par: bool) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((a.nrows(), b.ncols()));
    matmul_into(a, b, out.view_mut(), par);
    out
}

/// Lower Cholesky factor L (A = L Lᵀ) of a symmetric positive-definite matrix.
pub fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    cholesky_impl(a, false)
}

/// Cholesky factor of an ill-conditioned SPD matrix (an interior-point normal matrix) in which
/// a pivot that rounding has made tiny (≤ 1e-15 of its original diagonal) or negative is
/// replaced by a huge one ("Cholesky-infinity", LIPSOL/PCx): the matching component of a
/// solution becomes ~0 instead of garbage.
pub fn cholesky_inf(a: &Array2<f64>) -> Result<Array2<f64>> {
    cholesky_impl(a, true)
}

fn cholesky_impl(a: &Array2<f64>, inf: bool) -> Result<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut s = a[[j, j]];
        {
            let lj = l.row(j);
            for k in 0..j {
                s -= lj[k] * lj[k];
            }
        }
        let d = if inf && s.is_finite() && a[[j, j]].is_finite() && s <= 1e-15 * a[[j, j]].abs() {
            1e64
        } else if s.is_nan() || s <= 0.0 {
            return Err(Error::Numerical(format!(
                "Cholesky factorisation failed at pivot {j} (value {s:e}): matrix not positive definite"
            )));
        } else {
            s.sqrt()
        };
        l[[j, j]] = d;
        let (top, mut bottom) = l.view_mut().split_at(Axis(0), j + 1);
        let lj = top.row(j);
        for (ii, mut li) in bottom.axis_iter_mut(Axis(0)).enumerate() {
            let i = j + 1 + ii;
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= li[k] * lj[k];
            }
            li[j] = s / d;
        }
    }
    Ok(l)
}

/// Solve (L Lᵀ) x = b in place.
pub fn cholesky_solve(l: &Array2<f64>, b: &mut Array1<f64>) {
    let n = l.nrows();
    for i in 0..n {
        let li = l.row(i);
        let mut s = b[i];
        for k in 0..i {
            s -= li[k] * b[k];
        }
        b[i] = s / li[i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[[k, i]] * b[k];
        }
        b[i] = s / l[[i, i]];
    }
}

/// Solve L X = B in place for a lower-triangular L (row by row, so each step is a vector
/// operation over the columns of B).
pub fn forward_solve_rows(l: &Array2<f64>, b: &mut Array2<f64>) {
    let n = l.nrows();
    for i in 0..n {
        let (done, mut rest) = b.view_mut().split_at(Axis(0), i);
        let mut bi = rest.row_mut(0);
        let li = l.row(i);
        for (k, bk) in done.rows().into_iter().enumerate() {
            let c = li[k];
            if c != 0.0 {
                bi.scaled_add(-c, &bk);
            }
        }
        bi /= li[i];
    }
}

/// Inverse of a small SPD matrix through its Cholesky factor.
pub fn spd_inverse(a: &Array2<f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let l = cholesky(a)?;
    let mut inv = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut e = Array1::<f64>::zeros(n);
        e[j] = 1.0;
        cholesky_solve(&l, &mut e);
        inv.column_mut(j).assign(&e);
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cholesky_solves() {
        let a = array![[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let l = cholesky(&a).unwrap();
        let mut b = array![1.0, 2.0, 3.0];
        let b0 = b.clone();
        cholesky_solve(&l, &mut b);
        let r = a.dot(&b) - &b0;
        assert!(r.iter().all(|v| v.abs() < 1e-12));
        let inv = spd_inverse(&a).unwrap();
        let id = a.dot(&inv);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id[[i, j]] - e).abs() < 1e-12);
            }
        }
        assert!(cholesky(&array![[1.0, 2.0], [2.0, 1.0]]).is_err());
    }

    #[test]
    fn chunked_matmul_matches_plain_and_parallel() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 3 + j) as f64 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((5, 150), |(i, j)| ((i + 2 * j) % 7) as f64 - 3.0);
        let c1 = matmul(a.view(), b.view(), false);
        let c2 = matmul(a.view(), b.view(), true);
        let c3 = a.dot(&b);
        assert_eq!(c1, c2);
        for (x, y) in c1.iter().zip(c3.iter()) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
