//! Polishing and a sharp certificate for the ReLU program.
//!
//! ADMM identifies the support quickly but converges slowly on these degenerate programs. Given
//! an iterate, [`face`] guesses the active blocks (‖z_b‖ above a threshold) and, per block, the
//! active cone constraints ((S_b z_b)_k ≈ 0); [`polish_with`] restricts each block to the null space N_b of its
//! active rows (z_b = N_b ξ_b) and minimises the smooth reduced objective
//! Σ ℓ(Σ_b σ_b D_i X N_b ξ_b) + β Σ_b ‖ξ_b‖ by damped Newton. The result is accepted only if it
//! is feasible for every cone constraint; [`sharp_certificate`] then builds the dual point
//! λ = ℓ'(prediction) and, for every block whose norm condition fails with μ = 0, the optimal
//! multipliers μ_b = argmin_{μ ≥ 0} ‖A_bᵀλ − S_bᵀμ‖ by Lawson–Hanson NNLS (exact active set), so
//! the dual bound is as tight as λ allows. Both the polished objective (feasible point) and the
//! dual bound are rigorous; a wrong support guess only makes the gap large, never invalid.
//!
//! The polish is an optional refinement: its dense face system (n × kk and kk × kk, kk up to d
//! per active block) is built only when it fits the fit's [`Budget`]; otherwise it is skipped,
//! and the solver it would have shortened goes on (or stops honestly uncertified).

use ndarray::{Array1, Array2};

use super::linalg::{cholesky, cholesky_shifted_ctl, cholesky_solve, dot, matmul_ctl};
use super::{Budget, Certificate, Kind, Problem};
use crate::control::Control;
use crate::error::{Error, Result};

/// Orthonormal basis (columns, d × k) of the null space of the rows of `rows` (m × d).
fn null_space(rows: &[Vec<f64>], d: usize) -> Array2<f64> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let orth = |v: &mut Vec<f64>, basis: &Vec<Vec<f64>>| {
        for _ in 0..2 {
            for b in basis.iter() {
                let dot: f64 = v.iter().zip(b.iter()).map(|(a, c)| a * c).sum();
                for (x, c) in v.iter_mut().zip(b.iter()) {
                    *x -= dot * c;
                }
            }
        }
    };
    for r in rows {
        let mut v = r.clone();
        let n0 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n0 == 0.0 {
            continue;
        }
        orth(&mut v, &basis);
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if nv > 1e-9 * n0 {
            basis.push(v.iter().map(|x| x / nv).collect());
        }
        if basis.len() == d {
            break;
        }
    }
    let rank = basis.len();
    let mut null: Vec<Vec<f64>> = Vec::new();
    for j in 0..d {
        if null.len() + rank == d {
            break;
        }
        let mut v = vec![0.0; d];
        v[j] = 1.0;
        let mut all = basis.clone();
        all.extend(null.iter().cloned());
        orth(&mut v, &all);
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if nv > 1e-6 {
            null.push(v.iter().map(|x| x / nv).collect());
        }
    }
    let mut out = Array2::<f64>::zeros((d, null.len()));
    for (c, v) in null.iter().enumerate() {
        for j in 0..d {
            out[[j, c]] = v[j];
        }
    }
    out
}

/// Lawson–Hanson NNLS: μ ≥ 0 minimising ‖g − E μ‖ for E (d × m) given by its columns.
/// Returns (μ, residual norm).
#[cfg(test)]
pub fn nnls(e: &Array2<f64>, g: &Array1<f64>, max_iter: usize) -> (Array1<f64>, f64) {
    let (d, m) = e.dim();
    let mut x = Vec::with_capacity(m * d);
    for k in 0..m {
        x.extend(e.column(k).iter());
    }
    let gs: Vec<f64> = g.iter().copied().collect();
    let (mu, rn) = cone_nnls(&x, &vec![1.0; m], d, &gs, &[], max_iter, 0.0);
    (Array1::from(mu), rn)
}

/// Lawson–Hanson NNLS with the columns of E given as signed rows, e_k = s_k x_k (x: m × d
/// row-major — for a block's dual certificate the rows of X with the pattern's signs, so nothing
/// is copied): μ ≥ 0 minimising ‖g − Σ_k μ_k e_k‖; returns (μ, residual norm). `warm` is a
/// guessed passive set: when the least-squares solution on it is positive, the method continues
/// from there (usually a check or two), else it starts cold; the result is the NNLS solution
/// either way. Least squares on a passive set by its normal equations (Gram entries s_a s_b
/// x_aᵀx_b, a 1e-13 relative ridge); a column whose system cannot be factorised is left out.
/// The method stops early once the residual norm is at most `enough` (0: never): Lawson–Hanson's
/// residual only decreases, so a residual that the full method would leave above `enough` is
/// still returned exactly.
pub fn cone_nnls(
    x: &[f64],
    s: &[f64],
    d: usize,
    g: &[f64],
    warm: &[usize],
    max_iter: usize,
    enough: f64,
) -> (Vec<f64>, f64) {
    let m = s.len();
    let mut mu = vec![0.0; m];
    let mut flags = vec![(false, false); m];
    let rn = cone_nnls_into(x, s, d, g, warm, max_iter, enough, &mut mu, &mut flags);
    (mu, rn)
}

/// [`cone_nnls`] into `mu` (m entries, overwritten) with `flags` (m work entries: passive,
/// excluded) from the caller, e.g. on its stack; returns the residual norm.
#[allow(clippy::too_many_arguments)]
fn cone_nnls_into(
    x: &[f64],
    s: &[f64],
    d: usize,
    g: &[f64],
    warm: &[usize],
    max_iter: usize,
    enough: f64,
    mu: &mut [f64],
    flags: &mut [(bool, bool)],
) -> f64 {
    let m = s.len();
    mu.fill(0.0);
    flags.fill((false, false));
    let col = |k: usize| &x[k * d..(k + 1) * d];
    let scale = g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
    // least squares on a passive set: its normal equations, factorised in place on the stack
    // up to SMALL_LS columns (the facet rows' sets have at most a few; a faer factorisation of
    // a 2 × 2 system cost more than the rest of the pricing), by `cholesky` beyond
    let ls = |set: &[usize], out: &mut Vec<f64>| -> bool {
        let p = set.len();
        out.clear();
        if p <= SMALL_LS {
            let mut gram = [0.0f64; SMALL_LS * SMALL_LS];
            let mut rhs = [0.0f64; SMALL_LS];
            for (a, &ka) in set.iter().enumerate() {
                let xa = col(ka);
                rhs[a] = s[ka] * dot(xa, g);
                for (b, &kb) in set.iter().enumerate().take(a + 1) {
                    gram[a * SMALL_LS + b] = s[ka] * s[kb] * dot(xa, col(kb));
                }
            }
            let tr = (0..p)
                .map(|a| gram[a * SMALL_LS + a])
                .sum::<f64>()
                .max(1e-300);
            if !small_cholesky_solve(&mut gram, &mut rhs[..p], 1e-13 * tr) {
                return false;
            }
            out.extend_from_slice(&rhs[..p]);
            return true;
        }
        let mut gram = Array2::<f64>::zeros((p, p));
        let mut rhs = Array1::<f64>::zeros(p);
        for (a, &ka) in set.iter().enumerate() {
            let xa = col(ka);
            rhs[a] = s[ka] * dot(xa, g);
            for (b, &kb) in set.iter().enumerate().take(a + 1) {
                let v = s[ka] * s[kb] * dot(xa, col(kb));
                gram[[a, b]] = v;
                gram[[b, a]] = v;
            }
        }
        let tr = (0..p).map(|a| gram[[a, a]]).sum::<f64>().max(1e-300);
        for a in 0..p {
            gram[[a, a]] += 1e-13 * tr;
        }
        let Ok(l) = cholesky(&gram) else {
            return false;
        };
        cholesky_solve(&l, &mut rhs);
        out.extend(rhs.iter());
        true
    };
    let residual = |mu: &[f64], set: &[usize], r: &mut Vec<f64>| {
        r.clear();
        r.extend_from_slice(g);
        for &k in set {
            let c = mu[k] * s[k];
            for (rj, &xj) in r.iter_mut().zip(col(k)) {
                *rj -= c * xj;
            }
        }
    };
    let mut sol: Vec<f64> = Vec::with_capacity(SMALL_LS);
    if !warm.is_empty() && warm.iter().all(|&k| k < m) {
        let mut w: Vec<usize> = warm.to_vec();
        w.sort_unstable();
        w.dedup();
        if ls(&w, &mut sol) && sol.iter().all(|&v| v > 0.0) {
            for (a, &k) in w.iter().enumerate() {
                mu[k] = sol[a];
                flags[k].0 = true;
            }
        }
    }
    let set_of = |flags: &[(bool, bool)], idx: &mut Vec<usize>| {
        idx.clear();
        idx.extend((0..m).filter(|&k| flags[k].0));
    };
    let mut idx: Vec<usize> = Vec::with_capacity(SMALL_LS);
    let mut r: Vec<f64> = Vec::with_capacity(d);
    set_of(flags, &mut idx);
    residual(mu, &idx, &mut r);
    for _ in 0..max_iter {
        if enough > 0.0 && dot(&r, &r) <= enough * enough {
            break;
        }
        // the most violated dual condition: w_k = e_kᵀ r
        let mut best = None;
        let mut wmax = 1e-12 * scale;
        for k in 0..m {
            if flags[k].0 || flags[k].1 {
                continue;
            }
            let wk = s[k] * dot(col(k), &r);
            if wk > wmax {
                wmax = wk;
                best = Some(k);
            }
        }
        let Some(k) = best else { break };
        flags[k].0 = true;
        loop {
            set_of(flags, &mut idx);
            if !ls(&idx, &mut sol) {
                flags[k] = (false, true);
                break;
            }
            if sol.iter().all(|&v| v > 0.0) {
                for (a, &j) in idx.iter().enumerate() {
                    mu[j] = sol[a];
                }
                break;
            }
            let mut alpha = f64::INFINITY;
            for (a, &j) in idx.iter().enumerate() {
                if sol[a] <= 0.0 {
                    let den = mu[j] - sol[a];
                    if den > 0.0 {
                        alpha = alpha.min(mu[j] / den);
                    }
                }
            }
            if !alpha.is_finite() {
                alpha = 0.0;
            }
            for (a, &j) in idx.iter().enumerate() {
                mu[j] += alpha * (sol[a] - mu[j]);
                if mu[j] <= 1e-15 * scale {
                    mu[j] = 0.0;
                    flags[j].0 = false;
                }
            }
            if idx.iter().all(|&j| !flags[j].0) {
                break;
            }
        }
        set_of(flags, &mut idx);
        residual(mu, &idx, &mut r);
    }
    r.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Passive sets up to this many columns are solved on the stack in [`cone_nnls`].
const SMALL_LS: usize = 8;
/// Pricing on at most this many facet rows of at most [`STACK_D`] coordinates (the cones of
/// d ≤ 3 have ~4) runs its NNLS on stack buffers.
const STACK_ROWS: usize = 16;
/// See [`STACK_ROWS`].
const STACK_D: usize = 8;

/// Solve (G + ridge·I) x = b in place for the symmetric positive definite p × p matrix G whose
/// lower triangle is stored row-major with row stride [`SMALL_LS`] (p = `b.len()`), by an
/// unblocked Cholesky factorisation (G's lower triangle is overwritten by the factor). False
/// when a pivot is not positive (the system is left unsolved).
fn small_cholesky_solve(gram: &mut [f64], b: &mut [f64], ridge: f64) -> bool {
    let p = b.len();
    let at = |i: usize, j: usize| i * SMALL_LS + j;
    for j in 0..p {
        let mut dj = gram[at(j, j)] + ridge;
        for c in 0..j {
            dj -= gram[at(j, c)] * gram[at(j, c)];
        }
        if dj.is_nan() || dj <= 0.0 {
            return false;
        }
        let ljj = dj.sqrt();
        gram[at(j, j)] = ljj;
        for i in j + 1..p {
            let mut v = gram[at(i, j)];
            for c in 0..j {
                v -= gram[at(i, c)] * gram[at(j, c)];
            }
            gram[at(i, j)] = v / ljj;
        }
    }
    // L y = b, then Lᵀ x = y
    for i in 0..p {
        let mut v = b[i];
        for c in 0..i {
            v -= gram[at(i, c)] * b[c];
        }
        b[i] = v / gram[at(i, i)];
    }
    for i in (0..p).rev() {
        let mut v = b[i];
        for c in i + 1..p {
            v -= gram[at(c, i)] * b[c];
        }
        b[i] = v / gram[at(i, i)];
    }
    true
}

/// The sharpest dual bound at `z` (ReLU program): λ = ℓ'(prediction), μ by NNLS where needed.
/// Also returns the multipliers μ (n × B).
pub fn sharp_certificate(
    prob: &Problem,
    z: &Array2<f64>,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>)> {
    sharp_certificate_scores(prob, z, ctl).map(|(c, m, _)| (c, m))
}

/// [`sharp_certificate`] plus, per pattern, the largest dual residual ‖A_bᵀλ − S_bᵀμ_b‖ over
/// its blocks (> β means the block would enter the solution: the working-set score).
#[allow(clippy::type_complexity)]
pub fn sharp_certificate_scores(
    prob: &Problem,
    z: &Array2<f64>,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>, Vec<f64>)> {
    sharp_certificate_guided(prob, z, None, false, ctl)
}

/// [`sharp_certificate_scores`] with multipliers `guess` (n × B, e.g. an interior-point
/// method's): a block whose dual residual with its guessed μ_b is already ≤ β keeps it, and only
/// the others are solved by NNLS — with `stop_at_beta`, stopped as soon as their residual is
/// ≤ β (a one-off certificate; multipliers handed on to the next round of a loop are better
/// solved to the end, so that they still pass the guess test after λ moves). The dual bound is
/// the same as with NNLS run to the end everywhere (λ is the same; every block's residual ends
/// ≤ β exactly when NNLS's would, and the worst block is NNLS's), and a pattern's score is > β
/// exactly when NNLS's is (and then equal to it; a score ≤ β is an upper bound of NNLS's). The
/// blocks are independent and run in parallel (results do not depend on the thread count).
#[allow(clippy::type_complexity)]
pub fn sharp_certificate_guided(
    prob: &Problem,
    z: &Array2<f64>,
    guess: Option<&Array2<f64>>,
    stop_at_beta: bool,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>, Vec<f64>)> {
    sharp_certificate_at(prob, z, None, guess, stop_at_beta, ctl)
}

/// [`sharp_certificate_guided`] at the dual point `lam` (projected onto the loss's conjugate
/// domain) instead of ℓ'(prediction at z) when given — e.g. the dual point a solve of a
/// sub-program certified, priced on the whole program (z still gives the upper bound).
#[allow(clippy::type_complexity)]
pub fn sharp_certificate_at(
    prob: &Problem,
    z: &Array2<f64>,
    lam: Option<&Array1<f64>>,
    guess: Option<&Array2<f64>>,
    stop_at_beta: bool,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>, Vec<f64>)> {
    sharp_certificate_on_rows(prob, z, lam, guess, stop_at_beta, None, ctl)
}

/// [`sharp_certificate_at`] with each pattern's NNLS over the cone rows `rows[i]` only (one
/// list per pattern, e.g. its facet rows, [`super::conic::facet_rows`]; all n rows when `None`
/// or when a list is empty). μ_b is then supported on those rows: still a dual-feasible
/// multiplier, so the bound stays rigorous, and a block's residual is an upper bound of the
/// all-rows NNLS's — equal to it when the rows are the cone's facets, whose generators span
/// the same dual cone. With 2 (d = 2) or ~4 (d = 3) rows instead of n, the pricing of every
/// pattern costs a small fraction of the all-rows NNLS (n = 40, d = 3, all 1,562 patterns:
/// 10–30 ms a round before).
#[allow(clippy::type_complexity)]
pub fn sharp_certificate_on_rows(
    prob: &Problem,
    z: &Array2<f64>,
    lam: Option<&Array1<f64>>,
    guess: Option<&Array2<f64>>,
    stop_at_beta: bool,
    rows: Option<&[Vec<usize>]>,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>, Vec<f64>)> {
    let base = prob.certify(z, None, None);
    sharp_certificate_from(prob, z, base, lam, guess, stop_at_beta, rows, ctl)
}

/// [`sharp_certificate_on_rows`] from `base` = `prob.certify(z, None, None)` computed by the
/// caller (several candidates priced at the same `z` share it).
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn sharp_certificate_from(
    prob: &Problem,
    z: &Array2<f64>,
    base: Certificate,
    lam: Option<&Array1<f64>>,
    guess: Option<&Array2<f64>>,
    stop_at_beta: bool,
    rows: Option<&[Vec<usize>]>,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>, Vec<f64>)> {
    use rayon::prelude::*;
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    let lam = match lam.filter(|l| l.len() == n) {
        Some(l) => l
            .iter()
            .zip(prob.y.iter())
            .map(|(&a, &b)| prob.loss.project_dual(a, b))
            .collect(),
        None => prob.loss_grad(&prob.predict(z.view())),
    };
    let g = prob.at(&lam); // d × P
    let guess = guess.filter(|m| m.dim() == (n, nb) && prob.kind == Kind::Relu);
    // S_bᵀ μ_b of the guess (d × B)
    let smu = guess
        .map(|mu| {
            let mut w = mu.to_owned();
            for k in 0..n {
                for b in 0..nb {
                    w[[k, b]] *= prob.sign[[k, b % p]];
                }
            }
            matmul_ctl(prob.x.t(), w.view(), prob.par, ctl)
        })
        .transpose()?;
    let xstd = prob.x.as_standard_layout();
    let xs: &[f64] = xstd.as_slice().unwrap_or(&[]);
    if xs.len() != n * d {
        return Err(crate::error::Error::Numerical(
            "data matrix is not contiguous".into(),
        ));
    }
    // per block: (dual residual, the nonzeros (k, μ_bk) of its μ_b)
    let one = |b: usize| -> Result<(f64, Vec<(usize, f64)>)> {
        ctl.check()?;
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        let gs: Vec<f64> = (0..d).map(|j| sig * g[[j, i]]).collect();
        let nrm = gs.iter().map(|v| v * v).sum::<f64>().sqrt();
        if nrm <= prob.beta || prob.kind == Kind::Gated {
            return Ok((nrm, Vec::new()));
        }
        let nonzeros = |m: &[f64]| -> Vec<(usize, f64)> {
            m.iter()
                .enumerate()
                .filter(|(_, &v)| v != 0.0)
                .map(|(k, &v)| (k, v))
                .collect()
        };
        if let (Some(mu), Some(smu)) = (guess, smu.as_ref()) {
            let rg = (0..d)
                .map(|j| (gs[j] - smu[[j, b]]).powi(2))
                .sum::<f64>()
                .sqrt();
            if rg <= prob.beta {
                let col = mu.column(b);
                return Ok((
                    rg,
                    (0..n)
                        .filter(|&k| col[k] != 0.0)
                        .map(|k| (k, col[k]))
                        .collect(),
                ));
            }
        }
        // E = S_bᵀ: columns sign_k x_k; warm start: the rows the guess weighs most (at most d)
        let mut warm: Vec<usize> = Vec::new();
        if let Some(mu) = guess {
            let col = mu.column(b);
            let mut order: Vec<usize> = (0..n).filter(|&k| col[k] > 0.0).collect();
            order.sort_by(|&a, &c| col[c].total_cmp(&col[a]));
            warm.extend(order.into_iter().take(d));
        }
        let enough = if stop_at_beta { prob.beta } else { 0.0 };
        if let Some(ri) = rows.and_then(|r| r.get(i)).filter(|r| !r.is_empty()) {
            // the NNLS over the rows ri only (warm start: those the guess weighs)
            let wr: Vec<usize> = (0..ri.len()).filter(|&a| warm.contains(&ri[a])).collect();
            let iters = 3 * ri.len() + 10;
            let (mr, rn) = if ri.len() <= STACK_ROWS && ri.len() * d <= STACK_ROWS * STACK_D {
                // a few facet rows: the system and the work on the stack
                let mut xr = [0.0f64; STACK_ROWS * STACK_D];
                let mut sr = [0.0f64; STACK_ROWS];
                for (a, &k) in ri.iter().enumerate() {
                    xr[a * d..(a + 1) * d].copy_from_slice(&xs[k * d..(k + 1) * d]);
                    sr[a] = prob.sign[[k, i]];
                }
                let m = ri.len();
                let mut mr = [0.0f64; STACK_ROWS];
                let mut flags = [(false, false); STACK_ROWS];
                let rn = cone_nnls_into(
                    &xr[..m * d],
                    &sr[..m],
                    d,
                    &gs,
                    &wr,
                    iters,
                    enough,
                    &mut mr[..m],
                    &mut flags[..m],
                );
                (nonzeros(&mr[..m]), rn)
            } else {
                let mut xr = Vec::with_capacity(ri.len() * d);
                for &k in ri {
                    xr.extend_from_slice(&xs[k * d..(k + 1) * d]);
                }
                let sr: Vec<f64> = ri.iter().map(|&k| prob.sign[[k, i]]).collect();
                let (mr, rn) = cone_nnls(&xr, &sr, d, &gs, &wr, iters, enough);
                (nonzeros(&mr), rn)
            };
            let nz = mr.into_iter().map(|(a, v)| (ri[a], v)).collect();
            return Ok((rn, nz));
        }
        // a residual ≤ β is all the bound needs (the worst block, > β, is solved exactly; like a
        // guessed μ_b, the score of a block ≤ β is then an upper bound of NNLS's)
        let signs: Vec<f64> = (0..n).map(|k| prob.sign[[k, i]]).collect();
        let (m, rn) = cone_nnls(xs, &signs, d, &gs, &warm, 3 * n + 10, enough);
        Ok((rn, nonzeros(&m)))
    };
    let per: Vec<(f64, Vec<(usize, f64)>)> = if prob.par {
        (0..nb).into_par_iter().map(one).collect::<Result<_>>()?
    } else {
        (0..nb).map(one).collect::<Result<_>>()?
    };
    let mut mu = Array2::<f64>::zeros((n, nb));
    let mut worst: f64 = 0.0;
    let mut scores = vec![0.0f64; p];
    for (b, (rn, mb)) in per.into_iter().enumerate() {
        worst = worst.max(rn);
        scores[b % p] = scores[b % p].max(rn);
        for (k, v) in mb {
            mu[[k, b]] = v;
        }
    }
    let (dual, scale) = prob.best_dual_scale(&lam, worst);
    let lam_s = lam.mapv(|v| v * scale);
    let mut cert = base;
    if dual > cert.dual {
        cert.dual = dual;
        cert.dual_point = lam_s;
    }
    Ok((cert, mu, scores))
}

/// Blocks below this fraction of the largest block's norm are not on the face of
/// [`dual_on_face`] (a solver's rounding-level blocks, whose dual constraints need not be tight).
const FACE_BLOCK_REL: f64 = 1e-6;
/// Conjugate curvatures above this freeze their coordinate in [`dual_on_face`] (the logistic
/// loss's ℓ*'' = 1/(t(1 − t)) at samples of margin ≳ 28: λ_k ≈ 0 stays where it is).
const FACE_FROZEN_CURVATURE: f64 = 1e12;
/// Singular values of the weighted constraint Jacobian below this fraction of the largest are
/// dropped in [`dual_on_face`]'s minimum-norm step (the face's constraints are degenerate: more
/// tight blocks than independent directions).
const FACE_RCOND: f64 = 1e-10;
/// Steps of [`dual_on_face`] (each cuts the constraints' residual about fourfold or better).
const FACE_STEPS: usize = 8;

/// A dual candidate moved onto the face of the dual feasible set that the primal point `z`
/// identifies: every block on at `z` (norm above [`FACE_BLOCK_REL`] of the largest) has a tight
/// dual constraint at the optimum, ‖P_b A_bᵀλ‖ = β, with P_b the projector on the complement of
/// the cone rows its NNLS multipliers use at `lam0` (for d = 2 a block on a ray keeps one row).
///
/// Why: the certificate's dual bound is the dual objective at λ scaled into the feasible set,
/// and a uniform scaling by s = β / (worst residual) loses (1 − s)·(the penalty) — first order
/// in the candidate's error — while a point on the face loses only second order (the
/// objective's gradient −u = Σ_b ν_b ∇c_b is normal to the face). Near interpolation (small β)
/// the candidates λ = ℓ'(prediction) and a conic solver's multipliers are off by more than the
/// tolerance allows: the prediction is a sum of block terms ~10³ times larger than itself
/// (logistic, n = 60, d = 2, all 120 patterns, β = 1e-4: a gap of 5e-6 from ℓ'(prediction) and
/// 1.4e-8 from the multipliers, 2.4e-9 after two steps here from either).
///
/// The steps are Gauss–Newton on the tight constraints c_b(λ) = ‖P_b A_bᵀλ‖ − β in the metric
/// W = ℓ*''(λ) + Σ_b ν_b ∇²c_b (ν_b = ‖z_b‖, the constraints' multipliers at the optimum): the
/// minimum-W-norm δ with J δ = −c, by a thin SVD of J L⁻ᵀ (W = L Lᵀ, small singular values
/// dropped). The curvature terms keep a block's A_bᵀλ from sliding along its circle of radius β
/// (a tangential move of size t breaks the constraint by t²/2β); coordinates whose ℓ*'' exceeds
/// [`FACE_FROZEN_CURVATURE`] stay fixed. Returns the candidate with the smallest residual
/// (inside the conjugate's domain), `None` when there is no face (z = 0, a non-smooth loss) or
/// no step could be computed. The steps stop once the largest residual is at most `target` · β:
/// the uniform scaling then loses at most `target` times the penalty (logistic, n = 60, d = 2,
/// all 120 patterns: 1 step at β = 10⁻³ and 3 at β = 10⁻⁴ to 10⁻¹¹ β, where 8 ran before).
/// Each step also tries twice the correction, see below. The caller prices it on every block:
/// the bound stays rigorous whatever the face guess.
pub fn dual_on_face(
    prob: &Problem,
    z: &Array2<f64>,
    lam0: &Array1<f64>,
    target: f64,
    ctl: &Control,
) -> Result<Option<Array1<f64>>> {
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    if !prob.loss.is_smooth() || lam0.len() != n || prob.beta.is_nan() || prob.beta <= 0.0 {
        return Ok(None);
    }
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0f64, f64::max);
    if !(zmax > 0.0 && zmax.is_finite()) {
        return Ok(None);
    }
    let on: Vec<usize> = (0..prob.n_blocks())
        .filter(|&b| norms[b] > FACE_BLOCK_REL * zmax)
        .collect();
    let project = |l: &Array1<f64>| -> Array1<f64> {
        l.iter()
            .zip(prob.y.iter())
            .map(|(&a, &b)| prob.loss.project_dual(a, b))
            .collect()
    };
    let mut lam = project(lam0);
    let xstd = prob.x.as_standard_layout();
    let xs: &[f64] = xstd.as_slice().unwrap_or(&[]);
    if xs.len() != n * d {
        return Ok(None);
    }
    // per block on the face: N_b (d × k_b, orthonormal), the complement of its tight rows
    let g0 = prob.at(&lam);
    let mut bases: Vec<(usize, f64, Array2<f64>)> = Vec::with_capacity(on.len());
    for &b in &on {
        ctl.check()?;
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        let gb: Vec<f64> = (0..d).map(|j| sig * g0[[j, i]]).collect();
        let nsp = if prob.kind == Kind::Relu {
            let signs: Vec<f64> = (0..n).map(|k| prob.sign[[k, i]]).collect();
            let (mu, _) = cone_nnls(xs, &signs, d, &gb, &[], 3 * n + 10, 0.0);
            let rows: Vec<Vec<f64>> = (0..n)
                .filter(|&k| mu[k] > 0.0)
                .map(|k| (0..d).map(|j| signs[k] * prob.x[[k, j]]).collect())
                .collect();
            null_space(&rows, d)
        } else {
            Array2::eye(d)
        };
        if nsp.ncols() > 0 {
            bases.push((b, norms[b], nsp));
        }
    }
    let m = bases.len();
    if m == 0 {
        return Ok(None);
    }
    let kall: usize = bases.iter().map(|(_, _, nsp)| nsp.ncols()).sum();
    // the largest residual |‖N_bᵀA_bᵀλ‖ − β| over the face's blocks (∞ when one vanishes)
    let residual = |l: &Array1<f64>| -> f64 {
        let g = prob.at(l);
        let mut worst = 0.0f64;
        for (b, _, nsp) in bases.iter() {
            let (i, sig) = if *b < p { (*b, 1.0) } else { (*b - p, -1.0) };
            let r = (0..nsp.ncols())
                .map(|q| {
                    let t: f64 = (0..d).map(|j| nsp[[j, q]] * sig * g[[j, i]]).sum();
                    t * t
                })
                .sum::<f64>()
                .sqrt();
            if !(r > 0.0 && r.is_finite()) {
                return f64::INFINITY;
            }
            worst = worst.max((r - prob.beta).abs());
        }
        worst
    };
    let mut best: Option<(f64, Array1<f64>)> = None;
    for _ in 0..FACE_STEPS {
        ctl.check()?;
        let g = prob.at(&lam);
        let hd: Vec<f64> = lam
            .iter()
            .zip(prob.y.iter())
            .map(|(&a, &b)| prob.loss.conjugate_second(a, b))
            .collect();
        let free: Vec<usize> = (0..n)
            .filter(|&k| hd[k].is_finite() && hd[k] <= FACE_FROZEN_CURVATURE)
            .collect();
        let nf = free.len();
        if nf == 0 {
            break;
        }
        let mut w = faer::Mat::<f64>::zeros(nf, nf);
        for (a, &k) in free.iter().enumerate() {
            w[(a, a)] = hd[k];
        }
        let mut jac = faer::Mat::<f64>::zeros(m, nf);
        let mut c = vec![0.0; m];
        let mut worst = 0.0f64;
        // the curvature terms Σ_b (ν_b / r_b)(G_b G_bᵀ − ∇c_b ∇c_bᵀ) as one product: the columns
        // of G_b scaled by √(ν_b / r_b) side by side (nf × Σ k_b), and the rows of J scaled
        // alike (the per-block rank-k_b updates written out took most of a step: logistic,
        // n = 60, d = 2, all 120 patterns, β = 1e-4)
        let mut gall = faer::Mat::<f64>::zeros(nf, kall);
        let mut jscaled = faer::Mat::<f64>::zeros(m, nf);
        let mut col0 = 0usize;
        for (row, (b, nu, nsp)) in bases.iter().enumerate() {
            ctl.check()?;
            let (i, sig) = if *b < p { (*b, 1.0) } else { (*b - p, -1.0) };
            let kb = nsp.ncols();
            // v = N_bᵀ A_bᵀ λ (A_bᵀλ = σ_b Xᵀ(D_i λ))
            let v: Vec<f64> = (0..kb)
                .map(|q| (0..d).map(|j| nsp[[j, q]] * sig * g[[j, i]]).sum())
                .collect();
            let r = v.iter().map(|t| t * t).sum::<f64>().sqrt();
            if !(r > 0.0 && r.is_finite()) {
                return Ok(best.map(|(_, l)| l));
            }
            c[row] = r - prob.beta;
            worst = worst.max(c[row].abs());
            // G = A_b N_b on the free coordinates (nf × k_b), its rows σ m_ki x_kᵀ N_b;
            // ∇c_b = G v̂ and ν_b ∇²c_b = (ν_b / r) (G Gᵀ − ∇c_b ∇c_bᵀ)
            let sf = (nu / r).sqrt();
            for (a, &k) in free.iter().enumerate() {
                let f = sig * prob.mask[[k, i]];
                if f == 0.0 {
                    continue;
                }
                let mut gr = 0.0;
                for q in 0..kb {
                    let gaq = f * (0..d).map(|j| prob.x[[k, j]] * nsp[[j, q]]).sum::<f64>();
                    gall[(a, col0 + q)] = sf * gaq;
                    gr += gaq * v[q] / r;
                }
                jac[(row, a)] = gr;
                jscaled[(row, a)] = sf * gr;
            }
            col0 += kb;
        }
        faer::linalg::matmul::matmul(
            w.as_mut(),
            faer::Accum::Add,
            gall.as_ref(),
            gall.transpose(),
            1.0,
            faer::Par::Seq,
        );
        faer::linalg::matmul::matmul(
            w.as_mut(),
            faer::Accum::Add,
            jscaled.transpose(),
            jscaled.as_ref(),
            -1.0,
            faer::Par::Seq,
        );
        if best.as_ref().is_none_or(|(r, _)| worst < *r) {
            best = Some((worst, lam.clone()));
        } else {
            break; // no progress: keep the best point
        }
        if worst <= target.max(1e-15) * prob.beta {
            break;
        }
        // faer's LLᵀ on this thread (its default parallelism is the global pool's: no gain at
        // this size, and the factor stays the same at any thread count)
        let nw = w.nrows();
        let mut lw = faer::Mat::<f64>::from_fn(nw, nw, |i, j| if i >= j { w[(i, j)] } else { 0.0 });
        if super::linalg::factor_block(lw.as_mut(), None).is_err() {
            break;
        }
        let l = lw.as_ref();
        // J L⁻ᵀ = (L⁻¹ Jᵀ)ᵀ
        let mut jt = jac.transpose().to_owned();
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(
            l,
            jt.as_mut(),
            faer::Par::Seq,
        );
        // the thin SVD of J L⁻ᵀ on this thread (faer's default parallelism starts its thread
        // pool's barriers for a 100 × 60 matrix: most of the step's time on a loaded host)
        let mn = m.min(nf);
        let mut u = faer::Mat::<f64>::zeros(m, mn);
        let mut vv = faer::Mat::<f64>::zeros(nf, mn);
        let mut sdiag = faer::diag::Diag::<f64>::zeros(mn);
        let scratch = faer::linalg::svd::svd_scratch::<f64>(
            m,
            nf,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            faer::Par::Seq,
            Default::default(),
        );
        let mut mem = faer::dyn_stack::MemBuffer::new(scratch);
        let ok = faer::linalg::svd::svd(
            jt.transpose(),
            sdiag.as_mut(),
            Some(u.as_mut()),
            Some(vv.as_mut()),
            faer::Par::Seq,
            faer::dyn_stack::MemStack::new(&mut mem),
            Default::default(),
        );
        if ok.is_err() {
            break;
        }
        let sv = sdiag.column_vector();
        let smax = (0..sv.nrows()).map(|q| sv[q]).fold(0.0f64, f64::max);
        let mut e = faer::Mat::<f64>::zeros(nf, 1);
        for q in 0..sv.nrows() {
            if sv[q] <= FACE_RCOND * smax {
                continue;
            }
            let coef = -(0..m).map(|row| u[(row, q)] * c[row]).sum::<f64>() / sv[q];
            for a in 0..nf {
                e[(a, 0)] += coef * vv[(a, q)];
            }
        }
        // δ = L⁻ᵀ e
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(
            l.transpose(),
            e.as_mut(),
            faer::Par::Seq,
        );
        let step = |t: f64| -> Array1<f64> {
            let mut next = lam.clone();
            for (a, &k) in free.iter().enumerate() {
                next[k] += t * e[(a, 0)];
            }
            next
        };
        let next = step(1.0);
        if next.iter().any(|v| !v.is_finite()) {
            break;
        }
        // the doubled step too, the one with the smaller residual kept: where a tight
        // constraint's gradient vanishes on the face (a double root) the steps only halve the
        // distance and the residual falls fourfold a step, and twice the step restores the
        // fast convergence (logistic, n = 60, d = 2, all 120 patterns, β = 1e-4: 8 steps to
        // 1e-11 β before)
        let next = project(&next);
        let next2 = project(&step(2.0));
        lam = if next2.iter().all(|v| v.is_finite()) && residual(&next2) < residual(&next) {
            next2
        } else {
            next
        };
    }
    Ok(best.map(|(_, l)| l))
}

/// The support guess for [`polish_with`] at an iterate `z` (see the module docs): the blocks above 1e-3 of the largest block's norm
/// and, per block, its cone rows with a relative slack at most `act_rel`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Face {
    n: usize,
    /// The blocks on, increasing.
    blocks: Vec<usize>,
    /// Per block on: its active rows (bit k of word k / 64).
    rows: Vec<Vec<u64>>,
}

impl Face {
    pub(crate) fn on(&self, b: usize) -> bool {
        self.blocks.binary_search(&b).is_ok()
    }

    pub(crate) fn row_on(&self, k: usize, b: usize) -> bool {
        match self.blocks.binary_search(&b) {
            Ok(j) => self.rows[j][k / 64] >> (k % 64) & 1 == 1,
            Err(_) => false,
        }
    }
}

/// The [`Face`] at `z` (None when z = 0). Its rows take n/64 words per block on.
pub fn face(prob: &Problem, z: &Array2<f64>, act_rel: f64, ctl: &Control) -> Result<Option<Face>> {
    let n = prob.n();
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0, f64::max);
    if zmax == 0.0 {
        return Ok(None);
    }
    let xz = prob.xu_ctl(z.view(), ctl)?;
    let row_norm: Vec<f64> = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let p = prob.p();
    let blocks: Vec<usize> = (0..prob.n_blocks())
        .filter(|&b| norms[b] > 1e-3 * zmax)
        .collect();
    let mut rows = Vec::with_capacity(blocks.len());
    for &b in &blocks {
        ctl.check()?;
        let mut w = vec![0u64; n.div_ceil(64)];
        if prob.kind == Kind::Relu {
            for k in 0..n {
                let s = prob.sign[[k, b % p]] * xz[[k, b]];
                if s <= act_rel * row_norm[k] * norms[b] && row_norm[k] > 0.0 {
                    w[k / 64] |= 1u64 << (k % 64);
                }
            }
        }
        rows.push(w);
    }
    Ok(Some(Face { n, blocks, rows }))
}

/// Bytes of the dense face system of [`polish_with`] for `n` samples and `kk` face
/// coordinates over `blocks` blocks: the blocks' and the whole face's n × kk matrices and the
/// weighted copy (3 n·kk), the Hessian, its product buffer and its factor (3 kk²), vectors.
/// Computed in f64 (no overflow; saturates at usize::MAX).
pub fn face_bytes(n: usize, kk: usize, blocks: usize) -> usize {
    let (n, kk) = (n as f64, kk as f64);
    (8.0 * (3.0 * n * kk + 3.0 * kk * kk + 8.0 * kk + 4.0 * n + blocks as f64)) as usize
}

/// Polish `z` on a guessed support (see the module docs; [`face`] guesses it from `z`), the
/// polished blocks when they are feasible, else `None` — also when the dense face system
/// ([`face_bytes`]) exceeds `budget` (the skip is recorded there). The support guess: `block_on(b)` says whether block b is nonzero,
/// `row_on(k, b)` whether cone row k of block b is active (an interior-point method reads
/// both from its primal/dual complementarity pairs).
pub fn polish_with(
    prob: &Problem,
    z: &Array2<f64>,
    block_on: &dyn Fn(usize) -> bool,
    row_on: &dyn Fn(usize, usize) -> bool,
    budget: &Budget,
    ctl: &Control,
) -> Result<Option<Array2<f64>>> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    let zmax = super::block_norms(z).iter().cloned().fold(0.0, f64::max);
    let row_norm: Vec<f64> = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    // the face's bases N_b first (d × k_b each; d² per block on, checked against the budget
    // with k_b = d), then the dense system once its size kk = Σ k_b is known: a face too large
    // for the budget is skipped before its n × kk and kk × kk matrices exist
    let on: Vec<usize> = (0..nb).filter(|&b| block_on(b)).collect();
    if !budget.admit("polish", (8.0 * (d * d) as f64 * on.len() as f64) as usize) {
        return Ok(None);
    }
    let mut bases: Vec<(usize, Array2<f64>)> = Vec::new();
    for &b in &on {
        ctl.check()?;
        let i = if b < p { b } else { b - p };
        let mut rows = Vec::new();
        for k in 0..n {
            if row_on(k, b) {
                rows.push(
                    (0..d)
                        .map(|j| prob.sign[[k, i]] * prob.x[[k, j]])
                        .collect::<Vec<f64>>(),
                );
            }
        }
        let nsp = null_space(&rows, d);
        if nsp.ncols() > 0 {
            bases.push((b, nsp));
        }
    }
    if bases.is_empty() {
        return Ok(None);
    }
    let kk: usize = bases.iter().map(|(_, nsp)| nsp.ncols()).sum();
    if !budget.admit("polish", face_bytes(n, kk, bases.len())) {
        return Ok(None);
    }
    // blocks: (b, N_b, M_b = σ D_i X N_b)
    let mut blocks: Vec<(usize, Array2<f64>, Array2<f64>)> = Vec::with_capacity(bases.len());
    for (b, nsp) in bases {
        ctl.check()?;
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        let mut mb = prob.x.dot(&nsp); // n × k
        for k in 0..n {
            let f = sig * prob.mask[[k, i]];
            mb.row_mut(k).mapv_inplace(|v| v * f);
        }
        blocks.push((b, nsp, mb));
    }
    let dims: Vec<usize> = blocks.iter().map(|(_, nsp, _)| nsp.ncols()).collect();
    let mut offs = vec![0usize; blocks.len() + 1];
    for (j, &k) in dims.iter().enumerate() {
        offs[j + 1] = offs[j] + k;
    }
    let mut mfull = Array2::<f64>::zeros((n, kk));
    let mut xi = Array1::<f64>::zeros(kk);
    for (j, (b, nsp, mb)) in blocks.iter().enumerate() {
        mfull
            .slice_mut(ndarray::s![.., offs[j]..offs[j + 1]])
            .assign(mb);
        let zb = z.column(*b);
        let x0 = nsp.t().dot(&zb);
        xi.slice_mut(ndarray::s![offs[j]..offs[j + 1]]).assign(&x0);
    }
    let beta = prob.beta;
    let fval = |xi: &Array1<f64>| -> f64 {
        let pred = mfull.dot(xi);
        let mut f = prob.loss_value(&pred);
        for j in 0..blocks.len() {
            let s = xi.slice(ndarray::s![offs[j]..offs[j + 1]]);
            f += beta * s.iter().map(|v| v * v).sum::<f64>().sqrt();
        }
        f
    };
    let mut f = fval(&xi);
    for _ in 0..100 {
        ctl.check()?;
        let pred = mfull.dot(&xi);
        let l1 = prob.loss_grad(&pred);
        let l2 = prob.loss_second(&pred);
        let mut grad = mfull.t().dot(&l1);
        let mut wm = mfull.clone();
        for k in 0..n {
            let s = l2[k];
            wm.row_mut(k).mapv_inplace(|v| v * s);
        }
        // the face Hessian Mᵀ W M (n·kk² flops) by the fixed column parts of matmul_ctl (the
        // bits of `mfull.t().dot(&wm)`), checked between parts
        let mut h = matmul_ctl(mfull.t(), wm.view(), prob.par, ctl)?;
        for j in 0..blocks.len() {
            let r = offs[j]..offs[j + 1];
            let s = xi.slice(ndarray::s![r.clone()]).to_owned();
            let nrm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
            if nrm < 1e-300 {
                return Ok(None);
            }
            for a in 0..s.len() {
                grad[r.start + a] += beta * s[a] / nrm;
                for c in 0..s.len() {
                    let id = if a == c { 1.0 } else { 0.0 };
                    h[[r.start + a, r.start + c]] += beta * (id - s[a] * s[c] / (nrm * nrm)) / nrm;
                }
            }
        }
        let gnorm = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm <= 1e-13 * f.abs().max(1.0) {
            break;
        }
        let tr = (0..kk).map(|a| h[[a, a]]).sum::<f64>() / kk as f64;
        let mut damp = 1e-12 * tr.max(1e-300);
        let step = loop {
            // the factor of H + damp·I (kk³/3 flops, checked per panel and trailing block; the
            // damping added as H is copied in): an interrupt is passed on, only a failed pivot
            // raises the damping
            match cholesky_shifted_ctl(&h, damp, true, ctl) {
                Ok(l) => {
                    let mut s = grad.mapv(|v| -v);
                    cholesky_solve(&l, &mut s);
                    break s;
                }
                Err(Error::Interrupted) => return Err(Error::Interrupted),
                Err(_) => {}
            }
            damp *= 100.0;
            if damp > 1e6 * tr.max(1.0) {
                return Ok(None);
            }
        };
        let slope = grad.dot(&step);
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            ctl.check()?;
            let cand = &xi + &(&step * t);
            let fc = fval(&cand);
            if fc <= f + 1e-4 * t * slope {
                xi = cand;
                let dec = f - fc;
                f = fc;
                accepted = true;
                if dec <= 1e-16 * f.abs().max(1.0) {
                    t = 0.0;
                }
                break;
            }
            t *= 0.5;
        }
        if !accepted || t == 0.0 {
            break;
        }
    }
    let mut out = Array2::<f64>::zeros((d, nb));
    for (j, (b, nsp, _)) in blocks.iter().enumerate() {
        let s = xi.slice(ndarray::s![offs[j]..offs[j + 1]]);
        let zb = nsp.dot(&s);
        out.column_mut(*b).assign(&zb);
    }
    if prob.kind == Kind::Gated {
        return Ok(Some(out)); // no cone constraints
    }
    // feasibility: every cone constraint within rounding
    let xo = prob.xu_ctl(out.view(), ctl)?;
    for k in 0..n {
        for b in 0..nb {
            let i = if b < p { b } else { b - p };
            let s = prob.sign[[k, i]] * xo[[k, b]];
            if s < -1e-10 * row_norm[k] * zmax.max(1.0) {
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The stack solve of the small passive sets against the blocked (faer) factorisation and
    /// the residual of the system itself, p = 1 … SMALL_LS, well and badly conditioned; a
    /// singular matrix without ridge is refused, as by `cholesky`.
    #[test]
    fn small_cholesky_solve_matches_the_blocked_factorisation() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for p in 1..=SMALL_LS {
            for cond in [1.0f64, 1e6] {
                let a = Array2::from_shape_fn((p, p), |_| rng.random_range(-1.0..1.0));
                let mut g = a.t().dot(&a);
                for i in 0..p {
                    g[[i, i]] += cond.recip() + (i as f64) * 1e-3;
                }
                let b: Vec<f64> = (0..p).map(|_| rng.random_range(-1.0..1.0)).collect();
                let mut packed = [0.0; SMALL_LS * SMALL_LS];
                for i in 0..p {
                    for j in 0..=i {
                        packed[i * SMALL_LS + j] = g[[i, j]];
                    }
                }
                let mut x = b.clone();
                assert!(small_cholesky_solve(&mut packed, &mut x, 0.0));
                let l = cholesky(&g).unwrap();
                let mut y = Array1::from(b.clone());
                cholesky_solve(&l, &mut y);
                let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                for i in 0..p {
                    assert!(
                        (x[i] - y[i]).abs() <= 1e-9 * scale,
                        "p {p} cond {cond}: {x:?} {y}"
                    );
                    let r: f64 = (0..p).map(|j| g[[i, j]] * x[j]).sum::<f64>() - b[i];
                    assert!(
                        r.abs() <= 1e-10 * g.iter().fold(0.0f64, |m, v| m.max(v.abs())) * scale
                    );
                }
            }
        }
        // rank one: the second pivot is zero (up to rounding) without a ridge
        let mut packed = [0.0; SMALL_LS * SMALL_LS];
        packed[0] = 1.0;
        packed[SMALL_LS] = 2.0;
        packed[SMALL_LS + 1] = 4.0;
        let mut x = [1.0, 1.0];
        assert!(!small_cholesky_solve(&mut packed, &mut x, 0.0));
    }

    #[test]
    fn nnls_matches_known_solution() {
        // E = I: μ = max(g, 0), residual = ‖min(g, 0)‖
        let e = Array2::<f64>::eye(3);
        let g = array![1.0, -2.0, 0.5];
        let (mu, rn) = nnls(&e, &g, 20);
        assert!((mu[0] - 1.0).abs() < 1e-12 && mu[1] == 0.0 && (mu[2] - 0.5).abs() < 1e-12);
        assert!((rn - 2.0).abs() < 1e-12);
    }

    /// A ReLU program (n = 40, d = 5) and a strictly feasible iterate with every block nonzero
    /// (z_b = a tenth of its pattern's witness gate): the polish on the full support (no active
    /// cone row) runs Newton on a face of 2·P·d coordinates, factorised in several panels.
    fn full_face() -> (Problem, Array2<f64>) {
        let (prob, g) = crate::convex::pdip::tests::relu_program_at(5, 40, 5, 20, 1e-3);
        let (p, d) = (prob.p(), prob.d());
        let z = Array2::from_shape_fn((d, 2 * p), |(j, b)| 0.1 * g[[b % p, j]]);
        (prob, z)
    }

    #[test]
    fn an_interrupt_in_the_face_newton_step_is_passed_on() {
        // a Ctrl-C inside the face Hessian's product or its factorisation must end the polish
        // with Interrupted: never taken for a matrix that is not positive definite (more
        // damping, then "no polish"), never a finished polish
        let (prob, z) = full_face();
        assert!(
            2 * prob.p() * prob.d() > 128,
            "{} coordinates",
            2 * prob.p() * prob.d()
        );
        let budget = Budget::default();
        let polish_all =
            |ctl: &Control| polish_with(&prob, &z, &|_| true, &|_, _| false, &budget, ctl);
        let count = Control::new();
        let full = polish_all(&count).unwrap();
        let total = count.checks();
        let sites = count.check_sites();
        assert!(sites.iter().any(|f| f.ends_with("linalg.rs")), "{sites:?}");
        // every check of the set-up and the first Newton iterations, then 100 spread over the rest
        let spread = (201..=total).step_by((total as usize / 100).max(1));
        for k in (1..=total.min(200)).chain(spread) {
            let ctl = Control::cancelled_at_check(k);
            assert_eq!(
                polish_all(&ctl),
                Err(Error::Interrupted),
                "check {k} of {total}"
            );
        }
        // the checks change nothing
        assert_eq!(polish_all(&Control::new()).unwrap(), full);
    }

    #[test]
    fn a_face_over_the_budget_is_skipped_before_it_is_built() {
        // the full face of 2·P blocks (kk = 2·P·d coordinates): with one byte less than its
        // dense system needs, the polish returns "no polish" before any n × kk or kk × kk
        // matrix exists (no product, no factorisation: no check inside linalg.rs) and records
        // the skip; with exactly the bytes it needs, it runs as without a limit
        let (prob, z) = full_face();
        let (n, d, nb) = (prob.n(), prob.d(), prob.n_blocks());
        let need = face_bytes(n, nb * d, nb);
        assert!(need > 8 * (nb * d) * (nb * d), "{need}");
        let run = |budget: &Budget, ctl: &Control| {
            polish_with(&prob, &z, &|_| true, &|_, _| false, budget, ctl).unwrap()
        };
        let full = run(&Budget::default(), &Control::new());
        let tight = Budget::new(Some(need - 1));
        let ctl = Control::new();
        assert_eq!(run(&tight, &ctl), None);
        assert_eq!(tight.skipped(), vec![("polish", 1, need)]);
        assert!(
            !ctl.check_sites().iter().any(|f| f.ends_with("linalg.rs")),
            "{:?}",
            ctl.check_sites()
        );
        assert!(ctl.checks() <= nb as u64 + 1, "{} checks", ctl.checks());
        // the bases alone (d² per block) over the budget: skipped before the null spaces
        let tiny = Budget::new(Some(8 * d * d * nb - 1));
        let ctl = Control::new();
        assert_eq!(run(&tiny, &ctl), None);
        assert_eq!(tiny.skipped(), vec![("polish", 1, 8 * d * d * nb)]);
        assert_eq!(ctl.checks(), 0);
        let exact = Budget::new(Some(need));
        assert_eq!(run(&exact, &Control::new()), full);
        assert!(exact.skipped().is_empty());
    }

    #[test]
    fn a_face_whose_polish_failed_is_not_polished_again() {
        // try_polish at an iterate far from the optimum (every block a tenth of its witness
        // gate): the polish does not certify; the faces it tried are remembered, and a second
        // call at the same iterate builds no face system (no product or factorisation)
        let (prob, z) = full_face();
        let settings = crate::convex::Settings {
            tol: 1e-8,
            ..Default::default()
        };
        let mut tried = Vec::new();
        let first = Control::new();
        let r = crate::convex::admm::try_polish(&prob, &z, &settings, &mut tried, &first).unwrap();
        assert!(r.is_none());
        let faces: Vec<Face> = crate::convex::admm::POLISH_THRESHOLDS
            .iter()
            .map(|&a| face(&prob, &z, a, &Control::new()).unwrap().unwrap())
            .collect();
        // one entry per distinct face (a face both thresholds give is polished once)
        let mut distinct = faces.clone();
        distinct.dedup();
        assert_eq!(tried, distinct);
        let second = Control::new();
        let r = crate::convex::admm::try_polish(&prob, &z, &settings, &mut tried, &second).unwrap();
        assert!(r.is_none());
        assert_eq!(tried, distinct);
        // the second call only guesses the faces (X·z and a pass over the blocks per threshold)
        let guesses = Control::new();
        for &a in &crate::convex::admm::POLISH_THRESHOLDS {
            face(&prob, &z, a, &guesses).unwrap();
        }
        assert_eq!(second.checks(), guesses.checks());
        assert!(
            second.checks() < first.checks() / 4,
            "{} {}",
            second.checks(),
            first.checks()
        );
    }

    #[test]
    fn null_space_is_orthogonal() {
        let rows = vec![vec![1.0, 1.0, 0.0]];
        let n = null_space(&rows, 3);
        assert_eq!(n.ncols(), 2);
        for c in 0..2 {
            assert!((n[[0, c]] + n[[1, c]]).abs() < 1e-12);
        }
    }
}
