//! Thick-restart Lanczos (Wu & Simon, SIAM J. Matrix Anal. Appl. 22, 2000) for the extreme
//! eigenvalues of a symmetric operator given by its products with blocks of vectors.
//!
//! One cycle extends an orthonormal basis V = [v_0 … v_{m−1}] with A v_j, orthogonalised twice
//! against the whole basis (classical Gram–Schmidt twice: full reorthogonalisation, so no ghost
//! eigenvalues), giving the projected matrix T = Vᵀ A V and the residual β v_m. The Ritz pairs
//! (θ_i, V s_i) of T have residual norms ‖A V s_i − θ_i V s_i‖ = β |s_{m−1,i}|. At a restart the p
//! Ritz vectors at the wanted end(s) of the spectrum are kept (p = nwant + (m − nwant)/2), with
//! T = diag(θ) coupled to the residual vector by the row β s_{m−1,·} (an arrowhead), and the
//! cycle goes on from v_p = v_m. A Ritz value has converged when its residual ≤ tol · ‖A‖_est,
//! ‖A‖_est being the largest |θ| seen.
//!
//! The start vector is standard normal from `stream_rng(seed, 0)`; if the Krylov space becomes
//! invariant, a fresh random vector (stream 1, 2, …) orthogonal to the basis continues it.
//! Small dense eigenproblems (T, at most m × m) are solved by cyclic Jacobi ([`sym_eig`]).

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::{check_memory, norm2, BlockOp};
use crate::control::Control;
use crate::error::{Error, Result};

/// Which end of the spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The k largest (algebraic) eigenvalues.
    Largest,
    /// The k smallest (algebraic).
    Smallest,
    /// The k largest and the k smallest.
    Both,
}

impl Which {
    /// Parse "largest" | "smallest" | "both".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "largest" => Ok(Which::Largest),
            "smallest" => Ok(Which::Smallest),
            "both" => Ok(Which::Both),
            _ => Err(Error::invalid(
                "which",
                format!("expected one of 'largest', 'smallest', 'both', got {s:?}"),
            )),
        }
    }

    /// Number of eigenvalues wanted for `k` per end.
    pub fn n_wanted(self, k: usize) -> usize {
        if self == Which::Both {
            2 * k
        } else {
            k
        }
    }
}

/// Options of [`lanczos`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Eigenvalues per end.
    pub k: usize,
    /// Which end(s).
    pub which: Which,
    /// Relative residual tolerance (residual ≤ tol · ‖A‖_est).
    pub tol: f64,
    /// Basis size m (≥ nwant + 2, at most D).
    pub ncv: usize,
    /// Largest number of restarts.
    pub max_restarts: usize,
    /// Seed of the start vector.
    pub seed: u64,
}

/// The default basis size for `nwant` eigenvalues of a D-dimensional operator.
pub fn default_ncv(nwant: usize, d: usize) -> usize {
    (2 * nwant + 20).max(40).min(d)
}

/// Ritz pairs at the wanted end(s).
#[derive(Clone, Debug)]
pub struct Eigs {
    /// Ritz values: largest descending, smallest ascending; "both": smallest ascending then
    /// largest descending.
    pub values: Vec<f64>,
    /// (n, D) unit Ritz vectors, row i for `values[i]`.
    pub vectors: Array2<f64>,
    /// Residual norms ‖A y − θ y‖ (from the Lanczos relation).
    pub residuals: Vec<f64>,
    /// Whether each residual met the tolerance.
    pub converged: Vec<bool>,
    /// Largest |Ritz value| seen (‖A‖ estimate).
    pub anorm: f64,
    /// Operator applications.
    pub n_matvec: u64,
    /// Restarts performed.
    pub n_restarts: usize,
}

/// Eigenvalues (ascending) and eigenvectors (column i of the row-major n × n result) of the
/// symmetric matrix `a` (row-major n × n), by cyclic Jacobi rotations.
pub(crate) fn sym_eig(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let frob2: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..n {
            for q in (p + 1)..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        if off <= (f64::EPSILON * f64::EPSILON) * frob2 * 1e-2 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = a[p * n + p];
                let aqq = a[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let vals = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + new] = v[k * n + old];
        }
    }
    (vals, vecs)
}

/// Columns per task of the projections (fixed: results do not depend on the thread count).
const COL_CHUNK: usize = 8192;

/// c = V w for the rows of `vb` (n × D): partial products per fixed column chunk, in parallel,
/// summed in chunk order.
fn project(vb: ArrayView2<'_, f64>, w: &Array1<f64>) -> Array1<f64> {
    let d = vb.ncols();
    let n_chunks = d.div_ceil(COL_CHUNK).max(1);
    let parts: Vec<Array1<f64>> = (0..n_chunks)
        .into_par_iter()
        .map(|q| {
            let lo = q * COL_CHUNK;
            let hi = (lo + COL_CHUNK).min(d);
            vb.slice(s![.., lo..hi]).dot(&w.slice(s![lo..hi]))
        })
        .collect();
    let mut c = Array1::zeros(vb.nrows());
    for p in &parts {
        c += p;
    }
    c
}

/// w −= Vᵀ c, in parallel over fixed column chunks.
fn subtract(vb: ArrayView2<'_, f64>, c: &Array1<f64>, w: &mut Array1<f64>) {
    let d = vb.ncols();
    let ws = match w.as_slice_mut() {
        Some(ws) => ws,
        None => return,
    };
    ws.par_chunks_mut(COL_CHUNK)
        .enumerate()
        .for_each(|(q, chunk)| {
            let lo = q * COL_CHUNK;
            let hi = (lo + chunk.len()).min(d);
            let upd = vb.slice(s![.., lo..hi]).t().dot(c);
            for (x, u) in chunk.iter_mut().zip(upd.iter()) {
                *x -= u;
            }
        });
}

/// Orthogonalise `w` against rows `0..=j` of `basis` (classical Gram–Schmidt; a second pass when
/// the first removed more than 1 − 1/√2 of the norm, or always with `twice`). Returns the
/// coefficients of both passes.
pub(crate) fn orthogonalise(
    basis: &Array2<f64>,
    j: usize,
    w: &mut Array1<f64>,
    twice: bool,
) -> Array1<f64> {
    let vb = basis.slice(s![..=j, ..]);
    let before = norm2(w.as_slice().unwrap_or(&[]));
    let mut c = project(vb, w);
    subtract(vb, &c, w);
    let after = norm2(w.as_slice().unwrap_or(&[]));
    if twice || after < std::f64::consts::FRAC_1_SQRT_2 * before {
        let c2 = project(vb, w);
        subtract(vb, &c2, w);
        c += &c2;
    }
    c
}

/// Ritz values (ascending), vectors (row-major n × n, column i) and residual norms of the
/// leading n × n block of `t` (stride m) with coupling `beta` to the next basis vector.
fn ritz(t: &[f64], m: usize, n: usize, beta: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n..(i + 1) * n].copy_from_slice(&t[i * m..i * m + n]);
    }
    let (theta, svec) = sym_eig(&a, n);
    let res = (0..n)
        .map(|i| (beta * svec[(n - 1) * n + i]).abs())
        .collect();
    (theta, svec, res)
}

/// Steps between convergence checks inside a cycle.
const CHECK_EVERY: usize = 4;

fn random_unit(d: usize, seed: u64, stream: u64) -> Array1<f64> {
    let mut rng = crate::rng::stream_rng(seed, stream);
    let mut v: Array1<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
    let n = norm2(v.as_slice().unwrap_or(&[]));
    v /= n;
    v
}

/// Indices (into ascending Ritz values 0..m) of the wanted ones, in output order, and of the
/// `p` kept at a restart.
fn select(which: Which, k: usize, m: usize, p: usize) -> (Vec<usize>, Vec<usize>) {
    match which {
        Which::Largest => ((m - k..m).rev().collect(), (m - p..m).rev().collect()),
        Which::Smallest => ((0..k).collect(), (0..p).collect()),
        Which::Both => {
            let wanted: Vec<usize> = (0..k).chain((m - k..m).rev()).collect();
            let lo = p / 2;
            let hi = p - lo;
            let kept: Vec<usize> = (0..lo).chain((m - hi..m).rev()).collect();
            (wanted, kept)
        }
    }
}

/// Work floats of [`lanczos`]: the basis (m + 1) × D plus the n × D Ritz vectors.
pub(crate) fn work_floats(d: usize, ncv: usize, nwant: usize) -> usize {
    (ncv + 1 + nwant).saturating_mul(d)
}

/// The extreme eigenpairs of the symmetric operator `op` (products with blocks of row vectors)
/// on R^d.
pub fn lanczos(d: usize, opts: &Options, op: &mut BlockOp<'_>, ctl: &Control) -> Result<Eigs> {
    let nwant = opts.which.n_wanted(opts.k);
    if opts.k == 0 || nwant > d {
        return Err(Error::invalid(
            "k",
            format!(
                "must be in [1, {}] for D = {d} and which = {:?}, got {}",
                if opts.which == Which::Both { d / 2 } else { d },
                opts.which,
                opts.k
            ),
        ));
    }
    if !(opts.tol.is_finite() && opts.tol > 0.0) {
        return Err(Error::invalid(
            "tol",
            format!("must be a finite number > 0, got {}", opts.tol),
        ));
    }
    let m = opts.ncv.min(d);
    if m < nwant + 2 && m < d {
        return Err(Error::invalid(
            "ncv",
            format!(
                "must be at least {} (the number of wanted eigenvalues + 2) or D, got {}",
                nwant + 2,
                opts.ncv
            ),
        ));
    }
    check_memory(
        "Lanczos basis and Ritz vectors",
        work_floats(d, m, nwant),
        "reduce ncv or k",
    )?;
    let mut basis = Array2::<f64>::zeros((m + 1, d));
    basis.row_mut(0).assign(&random_unit(d, opts.seed, 0));
    let mut t = vec![0.0; m * m];
    let mut kept = 0usize;
    let mut anorm = 0.0f64;
    let mut n_matvec = 0u64;
    let mut n_restarts = 0usize;
    let mut fresh_stream = 1u64;
    let mut w2 = Array2::<f64>::zeros((1, d));
    loop {
        let mut beta_m = 0.0;
        let mut n_cur = m;
        for j in kept..m {
            ctl.check()?;
            {
                let vj = basis.slice(s![j..j + 1, ..]);
                op(vj, w2.view_mut())?;
            }
            n_matvec += 1;
            let mut w = w2.row(0).to_owned();
            if w.iter().any(|x| !x.is_finite()) {
                return Err(Error::Numerical(
                    "a Hessian-vector product was not finite (the gradient returned NaN or inf)"
                        .into(),
                ));
            }
            let alpha = if j == kept {
                // First step of a cycle: couplings to every kept vector (arrowhead).
                orthogonalise(&basis, j, &mut w, true)[j]
            } else {
                // Three-term recurrence, then one reorthogonalisation pass against the basis.
                let b_prev = t[(j - 1) * m + j];
                w.scaled_add(-b_prev, &basis.row(j - 1));
                let a = basis.row(j).dot(&w);
                w.scaled_add(-a, &basis.row(j));
                a + orthogonalise(&basis, j, &mut w, false)[j]
            };
            t[j * m + j] = alpha;
            anorm = anorm.max(alpha.abs());
            let mut beta = norm2(w.as_slice().unwrap_or(&[]));
            let scale = anorm.max(beta).max(f64::MIN_POSITIVE);
            if beta <= 1e-12 * scale {
                // Invariant subspace: continue with a fresh direction (no coupling).
                beta = 0.0;
                if j + 1 < d.min(m + 1) {
                    let mut r = random_unit(d, opts.seed, fresh_stream);
                    fresh_stream += 1;
                    orthogonalise(&basis, j, &mut r, true);
                    let nr = norm2(r.as_slice().unwrap_or(&[]));
                    r /= nr;
                    w = r;
                } else {
                    w.fill(0.0);
                }
            } else {
                w /= beta;
            }
            basis.row_mut(j + 1).assign(&w);
            if j + 1 < m {
                t[j * m + j + 1] = beta;
                t[(j + 1) * m + j] = beta;
            }
            beta_m = beta;
            // Early exit once every wanted value has converged.
            let n = j + 1;
            if n < m && n > nwant && (n - kept) % CHECK_EVERY == 0 {
                let (theta, _, res) = ritz(&t, m, n, beta);
                let an = theta.iter().fold(anorm, |a, x| a.max(x.abs()));
                let (wanted, _) = select(opts.which, opts.k, n, nwant);
                if wanted.iter().all(|&i| res[i] <= opts.tol * an) {
                    n_cur = n;
                    break;
                }
            }
        }
        let (theta, svec, res) = ritz(&t, m, n_cur, beta_m);
        anorm = theta.iter().fold(anorm, |a, x| a.max(x.abs()));
        let p = (nwant + (m - nwant) / 2).min(m - 1).max(nwant);
        let (wanted, keep) = select(opts.which, opts.k, n_cur, p.min(n_cur));
        let thr = opts.tol * anorm;
        let all_conv = wanted.iter().all(|&i| res[i] <= thr);
        let exhausted = m == d || n_restarts >= opts.max_restarts;
        if all_conv || exhausted {
            let mut vectors = Array2::zeros((wanted.len(), d));
            let vb = basis.slice(s![..n_cur, ..]);
            let sel =
                Array2::from_shape_fn((wanted.len(), n_cur), |(r, c)| svec[c * n_cur + wanted[r]]);
            vectors.assign(&sel.dot(&vb));
            for mut row in vectors.axis_iter_mut(Axis(0)) {
                let n = norm2(row.as_slice().unwrap_or(&[]));
                if n > 0.0 {
                    row /= n;
                }
            }
            return Ok(Eigs {
                values: wanted.iter().map(|&i| theta[i]).collect(),
                vectors,
                residuals: wanted.iter().map(|&i| res[i]).collect(),
                converged: wanted.iter().map(|&i| res[i] <= thr).collect(),
                anorm,
                n_matvec,
                n_restarts,
            });
        }
        // Thick restart: keep p Ritz vectors, then the residual direction.
        n_restarts += 1;
        debug_assert_eq!(n_cur, m);
        let sel = Array2::from_shape_fn((keep.len(), m), |(r, c)| svec[c * m + keep[r]]);
        let newv = sel.dot(&basis.slice(s![..m, ..]));
        let resid = basis.row(m).to_owned();
        basis.slice_mut(s![..keep.len(), ..]).assign(&newv);
        basis.row_mut(keep.len()).assign(&resid);
        t.iter_mut().for_each(|x| *x = 0.0);
        let pk = keep.len();
        for (r, &i) in keep.iter().enumerate() {
            t[r * m + r] = theta[i];
            let cpl = beta_m * svec[(m - 1) * m + i];
            t[r * m + pk] = cpl;
            t[pk * m + r] = cpl;
        }
        kept = pk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::hvp::{default_relative_step, FdHvp};
    use crate::spectra::native_gradients;
    use crate::spectra::testing::quadratic_with_spectrum;
    use ndarray::ArrayViewMut2;

    #[test]
    fn jacobi_diagonalises() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, -0.2, 0.5, -0.2, -1.0];
        let (w, v) = sym_eig(&a, 3);
        for i in 0..3 {
            for r in 0..3 {
                let av: f64 = (0..3).map(|c| a[r * 3 + c] * v[c * 3 + i]).sum();
                assert!((av - w[i] * v[r * 3 + i]).abs() < 1e-13);
            }
        }
        assert!(w[0] <= w[1] && w[1] <= w[2]);
    }

    fn dense_op(
        a: &Array2<f64>,
    ) -> impl FnMut(ArrayView2<'_, f64>, ArrayViewMut2<'_, f64>) -> Result<()> + '_ {
        move |v, mut out| {
            out.assign(&v.dot(&a.t()));
            Ok(())
        }
    }

    #[test]
    fn finds_both_ends_with_restarts() {
        let d = 300;
        let eigs: Vec<f64> = (0..d).map(|i| (i as f64) / 10.0 - 3.0).collect();
        let (_, a) = quadratic_with_spectrum(&eigs, 5);
        let ctl = Control::new();
        for which in [Which::Largest, Which::Smallest, Which::Both] {
            let opts = Options {
                k: 3,
                which,
                tol: 1e-10,
                ncv: 20,
                max_restarts: 2000,
                seed: 1,
            };
            let r = lanczos(d, &opts, &mut dense_op(&a), &ctl).unwrap();
            assert!(r.n_restarts > 0);
            let want: Vec<f64> = match which {
                Which::Largest => vec![26.9, 26.8, 26.7],
                Which::Smallest => vec![-3.0, -2.9, -2.8],
                Which::Both => vec![-3.0, -2.9, -2.8, 26.9, 26.8, 26.7],
            };
            assert!(r.converged.iter().all(|c| *c));
            for (x, y) in r.values.iter().zip(&want) {
                assert!((x - y).abs() < 1e-8, "{which:?}: {x} vs {y}");
            }
            // Ritz vectors are eigenvectors.
            let av = r.vectors.dot(&a.t());
            for (i, lam) in r.values.iter().enumerate() {
                let res: f64 = (0..d)
                    .map(|j| (av[[i, j]] - lam * r.vectors[[i, j]]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(res < 1e-7, "residual {res}");
            }
        }
    }

    #[test]
    fn small_d_and_fd_operator() {
        // D ≤ ncv: one pass spans the whole space; with an invariant start (repeated
        // eigenvalues) the fresh-vector path is taken.
        let eigs = [2.0, 2.0, 2.0, -1.0, -1.0, 5.0];
        let (q, a) = quadratic_with_spectrum(&eigs, 2);
        let theta = vec![0.1; 6];
        let ctl = Control::new();
        let mut g = native_gradients(&q, &ctl);
        let mut fd = FdHvp::new(&theta, default_relative_step(false), false).unwrap();
        let mut op =
            |v: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>| fd.apply(v, out, None, &mut g);
        let opts = Options {
            k: 2,
            which: Which::Both,
            tol: 1e-10,
            ncv: 40,
            max_restarts: 10,
            seed: 0,
        };
        let r = lanczos(6, &opts, &mut op, &ctl).unwrap();
        for (x, y) in r.values.iter().zip(&[-1.0, -1.0, 5.0, 2.0]) {
            assert!((x - y).abs() < 1e-7, "{x} vs {y}");
        }
        let _ = a;
        let bad = Options {
            k: 4,
            ..opts.clone()
        };
        assert!(lanczos(6, &bad, &mut dense_op(&Array2::eye(6)), &ctl).is_err());
        let bad = Options {
            tol: f64::NAN,
            ..opts
        };
        assert!(lanczos(6, &bad, &mut dense_op(&Array2::eye(6)), &ctl).is_err());
    }

    #[test]
    fn cancel_is_honoured() {
        let ctl = Control::new();
        ctl.cancel();
        let opts = Options {
            k: 1,
            which: Which::Largest,
            tol: 1e-8,
            ncv: 10,
            max_restarts: 10,
            seed: 0,
        };
        let a = Array2::<f64>::eye(20);
        assert_eq!(
            lanczos(20, &opts, &mut dense_op(&a), &ctl).unwrap_err(),
            Error::Interrupted
        );
    }
}
