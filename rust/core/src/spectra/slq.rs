//! Stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao, ICML 2019; Ubaru, Chen & Saad 2017).
//!
//! For a probe v with E[v vᵀ] = I/D (Rademacher entries ±1/√D), m Lanczos steps from v give the
//! tridiagonal T_m = S diag(θ) Sᵀ; the Gauss quadrature nodes θ_j and weights τ_j = S_{0j}² satisfy
//! Σ_j τ_j p(θ_j) = vᵀ p(H) v for every polynomial p of degree ≤ 2m − 1, and E[vᵀ p(H) v] =
//! tr p(H) / D. Averaged over probes, the nodes and weights are a discrete approximation of the
//! spectral density φ(t) = (1/D) Σ_i δ(t − λ_i).
//!
//! Probe i's entries come from `stream_rng(seed, i)`; probes are run together in groups (their
//! products with the operator form one block) but each probe's recurrence is independent, so
//! the result depends neither on the grouping nor on the thread count. Every step reorthogonalises
//! fully (twice) against the probe's basis; a breakdown (invariant subspace) ends that probe early
//! (its remaining nodes get weight 0).

use ndarray::{s, Array2};
use rand::Rng;

use super::lanczos::{orthogonalise, sym_eig};
use super::{check_memory, BlockOp};
use crate::control::Control;
use crate::error::{Error, Result};

/// Nodes and weights per probe.
#[derive(Clone, Debug)]
pub struct Quadrature {
    /// (P, m) nodes θ_j (0 where the probe ended early).
    pub nodes: Array2<f64>,
    /// (P, m) weights τ_j (sum 1 per probe; 0 where the probe ended early).
    pub weights: Array2<f64>,
    /// Lanczos steps taken per probe.
    pub n_steps: Vec<usize>,
    /// Operator applications.
    pub n_matvec: u64,
}

/// Work floats of [`slq`] for a group of `g` probes: g bases of (m + 1) × D plus 2 g × D.
pub(crate) fn work_floats(d: usize, m: usize, g: usize) -> usize {
    (g * (m + 3)).saturating_mul(d)
}

/// Probes run together: as many as fit in a quarter of the work budget, at most `max_group`.
pub fn group_size(d: usize, m: usize, n_probes: usize, max_group: usize) -> usize {
    let per = (m + 3).saturating_mul(d).max(1);
    (super::MAX_WORK_FLOATS / 4 / per)
        .max(1)
        .min(n_probes)
        .min(max_group.max(1))
}

/// SLQ with `n_probes` Rademacher probes and `m` Lanczos steps each on the symmetric operator `op`
/// of R^d; probes run `group` at a time.
pub fn slq(
    d: usize,
    n_probes: usize,
    m: usize,
    seed: u64,
    group: usize,
    op: &mut BlockOp<'_>,
    ctl: &Control,
) -> Result<Quadrature> {
    if n_probes == 0 {
        return Err(Error::invalid("n_probes", "must be at least 1"));
    }
    if m == 0 {
        return Err(Error::invalid("n_steps", "must be at least 1"));
    }
    let m = m.min(d);
    let group = group.max(1).min(n_probes);
    check_memory(
        "stochastic Lanczos quadrature bases",
        work_floats(d, m, group),
        "reduce n_steps",
    )?;
    let mut nodes = Array2::zeros((n_probes, m));
    let mut weights = Array2::zeros((n_probes, m));
    let mut steps_taken = vec![0usize; n_probes];
    let mut n_matvec = 0u64;
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    ctl.set_total((n_probes * m * 2) as u64);
    let mut p0 = 0;
    while p0 < n_probes {
        let p1 = (p0 + group).min(n_probes);
        let g = p1 - p0;
        // bases[q] is (m + 1) × D for probe p0 + q.
        let mut bases: Vec<Array2<f64>> = (0..g).map(|_| Array2::zeros((m + 1, d))).collect();
        for (q, b) in bases.iter_mut().enumerate() {
            let mut rng = crate::rng::stream_rng(seed, (p0 + q) as u64);
            for x in b.row_mut(0).iter_mut() {
                *x = if rng.random::<bool>() {
                    inv_sqrt_d
                } else {
                    -inv_sqrt_d
                };
            }
        }
        let mut alpha = vec![vec![0.0; m]; g];
        let mut beta = vec![vec![0.0; m]; g];
        let mut active = vec![true; g];
        let mut len = vec![0usize; g];
        let mut vin = Array2::<f64>::zeros((g, d));
        let mut vout = Array2::<f64>::zeros((g, d));
        for j in 0..m {
            ctl.check()?;
            let act: Vec<usize> = (0..g).filter(|&q| active[q]).collect();
            if act.is_empty() {
                break;
            }
            let na = act.len();
            for (r, &q) in act.iter().enumerate() {
                vin.row_mut(r).assign(&bases[q].row(j));
            }
            op(vin.slice(s![..na, ..]), vout.slice_mut(s![..na, ..]))?;
            n_matvec += na as u64;
            for (r, &q) in act.iter().enumerate() {
                // a check per probe: its reorthogonalisation against j + 1 basis vectors is
                // up to 4·m·D multiply-adds (tens of ms at D = 10⁵)
                ctl.check()?;
                let mut w = vout.row(r).to_owned();
                if w.iter().any(|x| !x.is_finite()) {
                    return Err(Error::Numerical(
                        "a Hessian-vector product was not finite (the gradient returned NaN or inf)"
                            .into(),
                    ));
                }
                // Three-term recurrence, then one reorthogonalisation pass (two when the
                // first removed much of the norm).
                if j > 0 {
                    w.scaled_add(-beta[q][j - 1], &bases[q].row(j - 1));
                }
                let a0 = bases[q].row(j).dot(&w);
                w.scaled_add(-a0, &bases[q].row(j));
                let a = a0 + orthogonalise(&bases[q], j, &mut w, false)[j];
                alpha[q][j] = a;
                len[q] = j + 1;
                let bn = super::norm2(w.as_slice().unwrap_or(&[]));
                let scale = alpha[q][..=j]
                    .iter()
                    .chain(&beta[q][..j])
                    .fold(bn, |s, x| s.max(x.abs()))
                    .max(f64::MIN_POSITIVE);
                if bn <= 1e-12 * scale || j + 1 == m {
                    if bn <= 1e-12 * scale {
                        active[q] = false;
                    }
                    continue;
                }
                beta[q][j] = bn;
                w /= bn;
                bases[q].row_mut(j + 1).assign(&w);
            }
            if j + 1 == m {
                break;
            }
        }
        for q in 0..g {
            let n = len[q];
            let mut t = vec![0.0; n * n];
            for i in 0..n {
                t[i * n + i] = alpha[q][i];
                if i + 1 < n {
                    t[i * n + i + 1] = beta[q][i];
                    t[(i + 1) * n + i] = beta[q][i];
                }
            }
            let (th, sv) = sym_eig(&t, n);
            let p = p0 + q;
            for i in 0..n {
                nodes[[p, i]] = th[i];
                weights[[p, i]] = sv[i] * sv[i];
            }
            steps_taken[p] = n;
        }
        p0 = p1;
    }
    Ok(Quadrature {
        nodes,
        weights,
        n_steps: steps_taken,
        n_matvec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectra::testing::quadratic_with_spectrum;
    use ndarray::{ArrayView2, ArrayViewMut2};

    #[test]
    fn moments_match_the_probes_hutchinson_estimates() {
        let d = 60;
        let eigs: Vec<f64> = (0..d).map(|i| ((i * 7) % 13) as f64 - 4.0).collect();
        let (_, a) = quadratic_with_spectrum(&eigs, 9);
        let ctl = Control::new();
        let mut op = |v: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>| {
            out.assign(&v.dot(&a.t()));
            Ok(())
        };
        let q1 = slq(d, 7, 12, 4, 3, &mut op, &ctl).unwrap();
        let q2 = slq(d, 7, 12, 4, 7, &mut op, &ctl).unwrap();
        // Grouping does not change the result.
        assert_eq!(q1.nodes, q2.nodes);
        assert_eq!(q1.weights, q2.weights);
        for p in 0..7 {
            let wsum: f64 = q1.weights.row(p).sum();
            assert!((wsum - 1.0).abs() < 1e-12);
            // Σ τ θ = vᵀ H v and Σ τ θ² = ‖H v‖² for the probe itself.
            let mut rng = crate::rng::stream_rng(4, p as u64);
            let v: ndarray::Array1<f64> = (0..d)
                .map(|_| {
                    if rng.random::<bool>() {
                        1.0 / (d as f64).sqrt()
                    } else {
                        -1.0 / (d as f64).sqrt()
                    }
                })
                .collect();
            let hv = a.dot(&v);
            let m1: f64 = (0..12).map(|j| q1.weights[[p, j]] * q1.nodes[[p, j]]).sum();
            let m2: f64 = (0..12)
                .map(|j| q1.weights[[p, j]] * q1.nodes[[p, j]].powi(2))
                .sum();
            assert!((m1 - v.dot(&hv)).abs() < 1e-10);
            assert!((m2 - hv.dot(&hv)).abs() < 1e-9);
        }
        assert!(slq(d, 0, 12, 4, 3, &mut op, &ctl).is_err());
    }
}
