//! The Lasso over a wedge dictionary, solved by coordinate descent with a duality-gap
//! certificate.
//!
//! Problem (scaling "sum", squared loss): with `s_j ∈ ℝⁿ` the signed feature of neuron j
//! (`Dictionary::values`), columns `a_{2j} = (s_j)₊`, `a_{2j+1} = (−s_j)₊`,
//!
//! ```text
//! P = min_{z, c}  ½‖y − Σ_l z_l a_l − c·1‖² + β‖z‖₁      (c = 0 unless `intercept`)
//! D = max_θ  θᵀy − ½‖θ‖²   s.t. |a_lᵀθ| ≤ β ∀l  (and 1ᵀθ = 0 with an intercept).
//! ```
//!
//! Weak duality gives `D(θ) ≤ P ≤ P(z, c)` for any feasible θ; we take θ = r·min(1, β/‖Aᵀr‖∞)
//! from the residual r (centred when there is an intercept, which is then the optimal c for
//! the current z), so `P(z, c) − D(θ)` is a rigorous bound on the suboptimality. The solver
//! stops when it is ≤ `tol·max(1, P(z, c))`.
//!
//! Coordinate descent runs on a working set (nonzero coefficients and columns whose correlation
//! is within a factor of β), checked against the whole dictionary by the gap at every outer
//! round; the full correlation pass is parallel over fixed chunks of neurons (each column's sum
//! in sample order), so results do not depend on the thread count.

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{ensure_finite, Error, Result};

/// Solver settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Regularisation β > 0.
    pub beta: f64,
    /// Free (unpenalised) intercept c.
    pub intercept: bool,
    /// Relative gap tolerance.
    pub tol: f64,
    /// Outer rounds (each: a full correlation pass and a gap check).
    pub max_iter: usize,
}

/// Solution and certificate.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Coefficients, 2m (column 2j: `(s_j)₊`, 2j + 1: `(−s_j)₊`).
    pub z: Vec<f64>,
    /// Intercept (0 without one).
    pub intercept: f64,
    /// Primal objective at (z, c).
    pub primal: f64,
    /// Dual objective at θ (a lower bound on the optimum).
    pub dual: f64,
    /// The dual point θ (n).
    pub theta: Vec<f64>,
    /// Outer rounds used.
    pub n_iter: usize,
    /// Coordinate-descent sweeps used.
    pub n_sweeps: usize,
    /// Gap within tolerance.
    pub converged: bool,
}

const GRAD_CHUNK: usize = 64;

/// Correlations of both orientations of every neuron with r: (a_{2j}ᵀr, a_{2j+1}ᵀr).
fn correlations(values: &[f64], n: usize, r: &[f64]) -> Vec<f64> {
    let m = values.len() / n.max(1);
    let mut g = vec![0.0; 2 * m];
    g.par_chunks_mut(2 * GRAD_CHUNK)
        .enumerate()
        .for_each(|(c, out)| {
            for (t, o) in out.chunks_mut(2).enumerate() {
                let j = c * GRAD_CHUNK + t;
                let s = &values[j * n..(j + 1) * n];
                let (mut pos, mut neg) = (0.0, 0.0);
                for (v, ri) in s.iter().zip(r) {
                    if *v > 0.0 {
                        pos += v * ri;
                    } else {
                        neg -= v * ri;
                    }
                }
                o[0] = pos;
                o[1] = neg;
            }
        });
    g
}

/// Column norms² of both orientations.
fn col_norms(values: &[f64], n: usize) -> Vec<f64> {
    values
        .chunks(n)
        .flat_map(|s| {
            let (mut p, mut q) = (0.0, 0.0);
            for v in s {
                if *v > 0.0 {
                    p += v * v;
                } else {
                    q += v * v;
                }
            }
            [p, q]
        })
        .collect()
}

#[inline]
fn soft(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

/// Solve the Lasso over the dictionary `values` (m × n, row per neuron) for targets y.
pub fn solve(values: &[f64], n: usize, y: &[f64], s: &Settings, ctl: &Control) -> Result<Solution> {
    if y.len() != n || n == 0 {
        return Err(Error::invalid(
            "y",
            format!("expected {n} targets, got {}", y.len()),
        ));
    }
    if values.len() % n != 0 {
        return Err(Error::invalid("values", "length is not a multiple of n"));
    }
    ensure_finite("y", y)?;
    ensure_finite("values", values)?;
    if !(s.beta.is_finite() && s.beta > 0.0) {
        return Err(Error::invalid(
            "beta",
            format!("must be a finite number > 0, got {}", s.beta),
        ));
    }
    if !(s.tol.is_finite() && s.tol > 0.0) {
        return Err(Error::invalid(
            "tol",
            format!("must be a finite number > 0, got {}", s.tol),
        ));
    }
    let m = values.len() / n;
    let beta = s.beta;
    let norms = col_norms(values, n);
    let mut z: Vec<f64> = vec![0.0; 2 * m];
    let mut c = if s.intercept {
        y.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut r: Vec<f64> = y.iter().map(|v| v - c).collect();
    let mut inner_tol = 1e-3;
    let mut sweeps = 0usize;
    let mut best: Option<(f64, f64, Vec<f64>)> = None; // (gap, dual, theta) of the last check
    ctl.set_total(s.max_iter as u64);
    for it in 0..s.max_iter {
        ctl.check()?;
        ctl.set_done(it as u64);
        if s.intercept {
            let mean = r.iter().sum::<f64>() / n as f64;
            c += mean;
            r.iter_mut().for_each(|v| *v -= mean);
        }
        let g = correlations(values, n, &r);
        let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let l1: f64 = z.iter().map(|v| v.abs()).sum();
        let rr: f64 = r.iter().map(|v| v * v).sum();
        let primal = 0.5 * rr + beta * l1;
        let scale = if gmax > beta { beta / gmax } else { 1.0 };
        let ty: f64 = r.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() * scale;
        let dual = ty - 0.5 * scale * scale * rr;
        let gap = primal - dual;
        let theta: Vec<f64> = r.iter().map(|v| v * scale).collect();
        best = Some((gap, dual, theta));
        if gap <= s.tol * primal.abs().max(1.0) {
            return Ok(finish(z, c, primal, best, it + 1, sweeps, true));
        }
        // working set: active coefficients and near-active columns
        let ws: Vec<usize> = (0..2 * m)
            .filter(|&l| norms[l] > 0.0 && (z[l] != 0.0 || g[l].abs() >= 0.5 * beta))
            .collect();
        // coordinate descent on the working set until the largest change is small
        let target = inner_tol * s.tol * primal.abs().max(1.0);
        for _ in 0..10_000 {
            sweeps += 1;
            let mut max_change = 0.0f64;
            for &l in &ws {
                let j = l / 2;
                let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
                let col = &values[j * n..(j + 1) * n];
                let mut dot = 0.0;
                for (v, ri) in col.iter().zip(&r) {
                    let a = sg * v;
                    if a > 0.0 {
                        dot += a * ri;
                    }
                }
                let old = z[l];
                let new = soft(old + dot / norms[l], beta / norms[l]);
                let delta = new - old;
                if delta != 0.0 {
                    z[l] = new;
                    for (v, ri) in col.iter().zip(r.iter_mut()) {
                        let a = sg * v;
                        if a > 0.0 {
                            *ri -= delta * a;
                        }
                    }
                    max_change = max_change.max(delta * delta * norms[l]);
                }
            }
            if s.intercept {
                let mean = r.iter().sum::<f64>() / n as f64;
                c += mean;
                r.iter_mut().for_each(|v| *v -= mean);
            }
            if max_change <= target {
                break;
            }
            if sweeps % 16 == 0 {
                ctl.check()?;
            }
        }
        inner_tol *= 0.1;
    }
    let l1: f64 = z.iter().map(|v| v.abs()).sum();
    let rr: f64 = r.iter().map(|v| v * v).sum();
    let primal = 0.5 * rr + beta * l1;
    Ok(finish(z, c, primal, best, s.max_iter, sweeps, false))
}

fn finish(
    z: Vec<f64>,
    c: f64,
    primal: f64,
    best: Option<(f64, f64, Vec<f64>)>,
    n_iter: usize,
    n_sweeps: usize,
    converged: bool,
) -> Solution {
    let (_, dual, theta) = best.unwrap_or((f64::INFINITY, f64::NEG_INFINITY, Vec::new()));
    Solution {
        z,
        intercept: c,
        primal,
        dual,
        theta,
        n_iter,
        n_sweeps,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_design_has_the_soft_threshold_solution() {
        // two neurons with disjoint supports: the Lasso decouples
        let n = 4;
        let values = vec![1.0, 0.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0];
        let y = vec![3.0, -4.0, 0.0, 0.0];
        let s = Settings {
            beta: 1.0,
            intercept: false,
            tol: 1e-12,
            max_iter: 100,
        };
        let sol = solve(&values, n, &y, &s, &Control::new()).unwrap();
        assert!(sol.converged);
        // column 0 = e0 → z = soft(3, 1) = 2; column 3 = (2 e1): z = soft(2·(−4)... )
        assert!((sol.z[0] - 2.0).abs() < 1e-9);
        // (−s_1)₊ = 2 e1, correlation −8, norm² 4: z = soft(−2, 1/4) = −1.75
        assert!((sol.z[3] + 1.75).abs() < 1e-9);
        assert!(sol.primal - sol.dual <= 1e-12 * sol.primal.max(1.0));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let s = Settings {
            beta: 0.0,
            intercept: false,
            tol: 1e-8,
            max_iter: 10,
        };
        assert!(solve(&[1.0], 1, &[1.0], &s, &Control::new()).is_err());
        let s = Settings { beta: 1.0, ..s };
        assert!(solve(&[1.0], 1, &[f64::NAN], &s, &Control::new()).is_err());
        assert!(solve(&[1.0, 2.0], 1, &[1.0, 2.0], &s, &Control::new()).is_err());
    }
}
