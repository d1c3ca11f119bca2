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
//! Coordinate descent runs on a working set (the nonzero coefficients and the columns of
//! largest correlation, doubling each round; Celer-style), until the working set's own gap is a
//! fraction of the outer gap; the whole dictionary is checked by the gap at every outer round; the full correlation pass is parallel over fixed chunks of neurons (each column's sum
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
/// A cancelled run skips the remaining chunks (the caller checks the control afterwards).
fn correlations(values: &[f64], n: usize, r: &[f64], ctl: &Control) -> Vec<f64> {
    let m = values.len() / n.max(1);
    let mut g = vec![0.0; 2 * m];
    g.par_chunks_mut(2 * GRAD_CHUNK)
        .enumerate()
        .for_each(|(c, out)| {
            if ctl.is_cancelled() {
                return;
            }
            for (t, o) in out.chunks_mut(2).enumerate() {
                let j = c * GRAD_CHUNK + t;
                let s = &values[j * n..(j + 1) * n];
                // branch-free ((−v)₊ = v₊ − v; the signs are random, a branch mispredicts half
                // the time), four fixed lanes combined in a fixed order
                let (mut pos, mut neg) = ([0.0f64; 4], [0.0f64; 4]);
                let (sv, rv) = (s.chunks_exact(4), r.chunks_exact(4));
                let (st, rt) = (sv.remainder(), rv.remainder());
                for (vq, rq) in sv.zip(rv) {
                    for t in 0..4 {
                        let p = vq[t].max(0.0);
                        pos[t] += p * rq[t];
                        neg[t] += (p - vq[t]) * rq[t];
                    }
                }
                for (v, ri) in st.iter().zip(rt) {
                    let p = v.max(0.0);
                    pos[0] += p * ri;
                    neg[0] += (p - v) * ri;
                }
                o[0] = (pos[0] + pos[1]) + (pos[2] + pos[3]);
                o[1] = (neg[0] + neg[1]) + (neg[2] + neg[3]);
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
    ctl.check()?;
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
    ctl.check()?;
    let mut z: Vec<f64> = vec![0.0; 2 * m];
    let mut c = if s.intercept {
        y.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut r: Vec<f64> = y.iter().map(|v| v - c).collect();
    let mut sweeps = 0usize;
    let mut last: Option<(f64, f64, Vec<f64>)> = None; // (gap, dual, theta) of the last check
    let mut cache = GramCache::default();
    // largest working set kept across rounds (then rebuilt from the support)
    let ws_max = (WS_MAX_PER_SAMPLE * n.max(WS_START)).min(WS_MAX);
    ctl.set_total(s.max_iter as u64);
    for it in 0..s.max_iter {
        ctl.check()?;
        ctl.set_done(it as u64);
        if s.intercept {
            recentre(&mut r, &mut c);
        }
        let g = correlations(values, n, &r, ctl);
        ctl.check()?;
        let (primal, dual, scale) = objectives(&z, &r, y, beta, g.iter().copied());
        let gap = primal - dual;
        let theta: Vec<f64> = r.iter().map(|v| v * scale).collect();
        last = Some((gap, dual, theta));
        let target = s.tol * primal.abs().max(1.0);
        if gap <= target {
            return Ok(finish(z, c, primal, last, it + 1, sweeps, true));
        }
        // working set: the previous working set (its Gram entries are cached; keeping it stops
        // columns from leaving and re-entering round after round), the nonzero coefficients,
        // and the columns of largest correlation
        let supp = z.iter().filter(|v| **v != 0.0).count();
        let grow = (2 * supp).max(WS_START);
        let keep = cache.ids.len() + grow <= ws_max;
        let mut in_ws = vec![false; 2 * m];
        let mut ws: Vec<usize> = if keep { cache.ids.clone() } else { Vec::new() };
        for &l in &ws {
            in_ws[l] = true;
        }
        for l in 0..2 * m {
            if z[l] != 0.0 && !in_ws[l] {
                in_ws[l] = true;
                ws.push(l);
            }
        }
        let mut cand: Vec<usize> = (0..2 * m)
            .filter(|&l| !in_ws[l] && norms[l] > 0.0 && g[l].abs() > 0.0)
            .collect();
        // largest |g| first, ties by index (deterministic)
        cand.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()).then(a.cmp(&b)));
        // new columns: up to twice the support (Celer's rule), at least WS_START, the violators
        // of |a_lᵀr| ≤ β first; a fresh working set is filled to that size
        let violators = cand.iter().take_while(|&&l| g[l].abs() > beta).count();
        let take = if keep {
            violators.min(grow)
        } else {
            grow.saturating_sub(ws.len())
        };
        ws.extend(cand.into_iter().take(take));
        ws.sort_unstable();
        // the working set's Lasso solved exactly by an active-set method on its Gram matrix;
        // coordinate descent (below) only when that fails (singular support)
        let before: Vec<f64> = ws.iter().map(|&l| z[l]).collect();
        if active_set(
            values,
            n,
            y,
            beta,
            s.intercept,
            &ws,
            &mut z,
            &mut cache,
            ctl,
        )? && ws.iter().zip(&before).any(|(&l, &b)| z[l] != b)
        {
            residual(values, n, y, s.intercept, &z, &mut r, &mut c);
            continue;
        }
        // coordinate descent on the working set until its own gap is a fraction of the outer gap
        let inner_target = (INNER_FRACTION * gap).max(0.5 * target);
        for sweep in 1..=MAX_SWEEPS {
            sweeps += 1;
            for &l in &ws {
                cd_step(values, n, l, &norms, beta, &mut z, &mut r);
            }
            if s.intercept {
                recentre(&mut r, &mut c);
            }
            ctl.check()?;
            if sweep % GAP_EVERY == 0 {
                support_step(values, n, y, beta, s.intercept, &mut z, &mut r, &mut c);
                let gws = ws.iter().map(|&l| column_dot(values, n, l, &r));
                let (p_ws, d_ws, _) = objectives(&z, &r, y, beta, gws);
                if p_ws - d_ws <= inner_target {
                    break;
                }
            }
        }
    }
    let rr: f64 = r.iter().map(|v| v * v).sum();
    let primal = 0.5 * rr + beta * z.iter().map(|v| v.abs()).sum::<f64>();
    Ok(finish(z, c, primal, last, s.max_iter, sweeps, false))
}

/// Initial working-set size (columns).
const WS_START: usize = 100;
/// A working set grows across rounds up to this many columns per sample (at least per
/// WS_START samples), then restarts from the support.
const WS_MAX_PER_SAMPLE: usize = 8;
/// ... and never beyond this many columns (its Gram matrix and the cached copy: 2 × 8·WS_MAX²
/// bytes, 256 MiB).
const WS_MAX: usize = 4096;
/// The inner loop stops when the working set's gap is below this fraction of the outer gap.
const INNER_FRACTION: f64 = 0.3;
/// Sweeps between two working-set gap checks.
const GAP_EVERY: usize = 5;
/// Sweep budget of one inner loop.
const MAX_SWEEPS: usize = 5000;

/// Largest support for the Newton step on the support (its Gram matrix is |S|² · 8 bytes).
const MAX_SUPPORT_STEP: usize = 2000;

/// Newton step on the support S of z with its signs σ fixed: the minimiser z' of
/// ½‖y − A_S z_S − c‖² + β σᵀz_S (normal equations, Cholesky). Moves from z towards z' up to the
/// first coordinate that would change sign (zeroed there): on that segment the objective is the
/// convex sign-fixed quadratic, so it never increases. Skipped when the Gram matrix is singular.
/// Coordinate descent alone crawls on the nearly parallel columns of a wedge dictionary.
#[allow(clippy::too_many_arguments)]
fn support_step(
    values: &[f64],
    n: usize,
    y: &[f64],
    beta: f64,
    intercept: bool,
    z: &mut [f64],
    r: &mut [f64],
    c: &mut f64,
) {
    use crate::convex::linalg::{cholesky, cholesky_solve};
    use ndarray::{Array1, Array2};
    let supp: Vec<usize> = (0..z.len()).filter(|&l| z[l] != 0.0).collect();
    let k = supp.len();
    if k == 0 || k > MAX_SUPPORT_STEP || k > n {
        return;
    }
    // the support's columns, centred when there is an intercept
    let mut cols = vec![0.0; k * n];
    for (t, &l) in supp.iter().enumerate() {
        let j = l / 2;
        let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
        let dst = &mut cols[t * n..(t + 1) * n];
        for (o, v) in dst.iter_mut().zip(&values[j * n..(j + 1) * n]) {
            *o = (sg * v).max(0.0);
        }
        if intercept {
            let mu = dst.iter().sum::<f64>() / n as f64;
            dst.iter_mut().for_each(|v| *v -= mu);
        }
    }
    let ymean = if intercept {
        y.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut g = Array2::<f64>::zeros((k, k));
    let mut b = Array1::<f64>::zeros(k);
    for a in 0..k {
        let ca = &cols[a * n..(a + 1) * n];
        for bb in 0..=a {
            let cb = &cols[bb * n..(bb + 1) * n];
            g[[a, bb]] = ca.iter().zip(cb).map(|(p, q)| p * q).sum();
        }
        let sign = z[supp[a]].signum();
        b[a] = ca.iter().zip(y).map(|(p, q)| p * (q - ymean)).sum::<f64>() - beta * sign;
    }
    let Ok(l) = cholesky(&g) else {
        return;
    };
    cholesky_solve(&l, &mut b);
    if b.iter().any(|v| !v.is_finite()) {
        return;
    }
    // step length: up to the first sign change
    let mut t = 1.0f64;
    let mut hit = None;
    for (a, &l) in supp.iter().enumerate() {
        let (old, new) = (z[l], b[a]);
        if new.signum() != old.signum() || new == 0.0 {
            let ta = old / (old - new);
            if ta < t {
                t = ta;
                hit = Some(l);
            }
        }
    }
    let old_obj =
        0.5 * r.iter().map(|v| v * v).sum::<f64>() + beta * z.iter().map(|v| v.abs()).sum::<f64>();
    let saved: Vec<f64> = supp.iter().map(|&l| z[l]).collect();
    for (a, &l) in supp.iter().enumerate() {
        z[l] += t * (b[a] - z[l]);
    }
    if let Some(l) = hit {
        z[l] = 0.0;
    }
    // residual from scratch on the support (its centred columns when there is an intercept)
    let mut nr: Vec<f64> = y.iter().map(|v| v - ymean).collect();
    for (a, &l) in supp.iter().enumerate() {
        let za = z[l];
        if za != 0.0 {
            for (o, v) in nr.iter_mut().zip(&cols[a * n..(a + 1) * n]) {
                *o -= za * v;
            }
        }
    }
    let new_obj =
        0.5 * nr.iter().map(|v| v * v).sum::<f64>() + beta * z.iter().map(|v| v.abs()).sum::<f64>();
    if new_obj <= old_obj {
        if intercept {
            // c = mean(y − A_S z_S) with the uncentred columns
            let mut cc = ymean;
            for &l in &supp {
                let j = l / 2;
                let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
                let mu = values[j * n..(j + 1) * n]
                    .iter()
                    .map(|v| (sg * v).max(0.0))
                    .sum::<f64>()
                    / n as f64;
                cc -= z[l] * mu;
            }
            *c = cc;
        }
        r.copy_from_slice(&nr);
    } else {
        for (a, &l) in supp.iter().enumerate() {
            z[l] = saved[a];
        }
    }
}

/// Columns (centred with an intercept) of the listed dictionary columns, row per column.
fn gather(values: &[f64], n: usize, cols_idx: &[usize], intercept: bool) -> Vec<f64> {
    let mut cols = vec![0.0; cols_idx.len() * n];
    for (t, &l) in cols_idx.iter().enumerate() {
        let j = l / 2;
        let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
        let dst = &mut cols[t * n..(t + 1) * n];
        for (o, v) in dst.iter_mut().zip(&values[j * n..(j + 1) * n]) {
            *o = (sg * v).max(0.0);
        }
        if intercept {
            let mu = dst.iter().sum::<f64>() / n as f64;
            dst.iter_mut().for_each(|v| *v -= mu);
        }
    }
    cols
}

/// Residual r = y − c − Σ_l z_l a_l from scratch (c = its optimal value, the mean, with an
/// intercept; 0 without).
fn residual(
    values: &[f64],
    n: usize,
    y: &[f64],
    intercept: bool,
    z: &[f64],
    r: &mut [f64],
    c: &mut f64,
) {
    r.copy_from_slice(y);
    for (l, &zl) in z.iter().enumerate() {
        if zl == 0.0 {
            continue;
        }
        let j = l / 2;
        let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
        for (o, v) in r.iter_mut().zip(&values[j * n..(j + 1) * n]) {
            let a = sg * v;
            if a > 0.0 {
                *o -= zl * a;
            }
        }
    }
    *c = 0.0;
    if intercept {
        recentre(r, c);
    }
}

/// The working set's Gram matrix, kept across outer rounds: entries between columns of the
/// previous working set are reused, the rows of new columns computed by one product (new
/// columns × working set, in fixed chunks of rows with a cancellation check between them).
#[derive(Default)]
struct GramCache {
    ids: Vec<usize>,
    g: Vec<f64>,
    /// The previous round's buffer, reused (no fresh zeroed pages every round).
    spare: Vec<f64>,
}

/// Rows of new Gram columns per product (a cancellation check after each).
const GRAM_ROWS: usize = 64;

impl GramCache {
    /// Gram matrix (k × k, row-major) of the gathered columns `cols` (k × n) of `ws`.
    fn gram(&mut self, cols: &[f64], n: usize, ws: &[usize], ctl: &Control) -> Result<&[f64]> {
        use crate::convex::linalg::matmul;
        use ndarray::ArrayView2;
        let k = ws.len();
        let kp = self.ids.len();
        let prev: std::collections::HashMap<usize, usize> =
            self.ids.iter().enumerate().map(|(i, &l)| (l, i)).collect();
        let old: Vec<Option<usize>> = ws.iter().map(|l| prev.get(l).copied()).collect();
        let fresh: Vec<usize> = (0..k).filter(|&a| old[a].is_none()).collect();
        let all = ArrayView2::from_shape((k, n), cols)
            .map_err(|e| crate::error::Error::Numerical(e.to_string()))?;
        let mut g = std::mem::take(&mut self.spare);
        g.clear();
        g.resize(k * k, 0.0);
        for a in 0..k {
            if let Some(pa) = old[a] {
                for b in 0..k {
                    if let Some(pb) = old[b] {
                        g[a * k + b] = self.g[pa * kp + pb];
                    }
                }
            }
        }
        for chunk in fresh.chunks(GRAM_ROWS) {
            ctl.check()?;
            let mut rows = vec![0.0; chunk.len() * n];
            for (t, &a) in chunk.iter().enumerate() {
                rows[t * n..(t + 1) * n].copy_from_slice(&cols[a * n..(a + 1) * n]);
            }
            let rv = ArrayView2::from_shape((chunk.len(), n), &rows)
                .map_err(|e| crate::error::Error::Numerical(e.to_string()))?;
            let b = matmul(rv, all.t(), true);
            for (t, &a) in chunk.iter().enumerate() {
                for c in 0..k {
                    g[a * k + c] = b[[t, c]];
                    g[c * k + a] = b[[t, c]];
                }
            }
        }
        ctl.check()?;
        self.ids = ws.to_vec();
        self.spare = std::mem::replace(&mut self.g, g);
        Ok(&self.g)
    }
}

/// The Lasso restricted to the working set `ws` (columns of the dictionary), solved exactly by
/// the active-set method of [`super::active`] on the working set's Gram matrix (the active
/// columns kept linearly independent). Updates z on `ws` and returns true when the working
/// set's optimality conditions hold; returns false, leaving z unchanged, when the step budget
/// runs out (the caller then falls back to coordinate descent).
#[allow(clippy::too_many_arguments)]
fn active_set(
    values: &[f64],
    n: usize,
    y: &[f64],
    beta: f64,
    intercept: bool,
    ws: &[usize],
    z: &mut [f64],
    cache: &mut GramCache,
    ctl: &Control,
) -> Result<bool> {
    let k = ws.len();
    if k == 0 {
        return Ok(true);
    }
    let cols = gather(values, n, ws, intercept);
    ctl.check()?;
    let ymean = if intercept {
        y.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let g = cache.gram(&cols, n, ws, ctl)?;
    let q: Vec<f64> = (0..k)
        .map(|a| {
            cols[a * n..(a + 1) * n]
                .iter()
                .zip(y)
                .map(|(p, t)| p * (t - ymean))
                .sum()
        })
        .collect();
    ctl.check()?;
    let mut zl: Vec<f64> = ws.iter().map(|&l| z[l]).collect();
    let ok = super::active::solve(g, &q, beta, n, &mut zl, ctl)?;
    if ok {
        for (t, &l) in ws.iter().enumerate() {
            z[l] = zl[t];
        }
    }
    Ok(ok)
}

fn recentre(r: &mut [f64], c: &mut f64) {
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    *c += mean;
    r.iter_mut().for_each(|v| *v -= mean);
}

/// (primal, dual, scale): θ = scale·r is dual feasible for the columns whose correlations `g`
/// are given.
fn objectives(
    z: &[f64],
    r: &[f64],
    y: &[f64],
    beta: f64,
    g: impl Iterator<Item = f64>,
) -> (f64, f64, f64) {
    let gmax = g.fold(0.0f64, |a, v| a.max(v.abs()));
    let l1: f64 = z.iter().map(|v| v.abs()).sum();
    let rr: f64 = r.iter().map(|v| v * v).sum();
    let primal = 0.5 * rr + beta * l1;
    let scale = if gmax > beta { beta / gmax } else { 1.0 };
    let ty: f64 = r.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() * scale;
    (primal, ty - 0.5 * scale * scale * rr, scale)
}

/// a_lᵀr for column l (orientation l % 2 of neuron l / 2).
#[inline]
fn column_dot(values: &[f64], n: usize, l: usize, r: &[f64]) -> f64 {
    let j = l / 2;
    let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
    let col = &values[j * n..(j + 1) * n];
    let mut dot = 0.0;
    for (v, ri) in col.iter().zip(r) {
        let a = sg * v;
        if a > 0.0 {
            dot += a * ri;
        }
    }
    dot
}

/// One exact coordinate minimisation of column l; updates z and the residual.
#[inline]
fn cd_step(
    values: &[f64],
    n: usize,
    l: usize,
    norms: &[f64],
    beta: f64,
    z: &mut [f64],
    r: &mut [f64],
) {
    if norms[l] == 0.0 {
        return;
    }
    let dot = column_dot(values, n, l, r);
    let old = z[l];
    let new = soft(old + dot / norms[l], beta / norms[l]);
    let delta = new - old;
    if delta != 0.0 {
        z[l] = new;
        let j = l / 2;
        let sg = if l % 2 == 0 { 1.0 } else { -1.0 };
        let col = &values[j * n..(j + 1) * n];
        for (v, ri) in col.iter().zip(r.iter_mut()) {
            let a = sg * v;
            if a > 0.0 {
                *ri -= delta * a;
            }
        }
    }
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

    #[test]
    fn the_active_set_step_stops_when_cancelled() {
        // the working set's Gram matrix (k² n multiply-adds) is built with cancellation checks
        let n = 50;
        let values: Vec<f64> = (0..4 * n).map(|i| ((i * 7) as f64).sin()).collect();
        let y: Vec<f64> = (0..n).map(|i| (i as f64).cos()).collect();
        let ws = [0, 1, 2, 3];
        let mut z = vec![0.0; 8];
        let ctl = Control::new();
        let mut cache = GramCache::default();
        assert!(active_set(&values, n, &y, 0.1, false, &ws, &mut z, &mut cache, &ctl).is_ok());
        ctl.cancel();
        let mut cache = GramCache::default();
        let r = active_set(&values, n, &y, 0.1, false, &ws, &mut z, &mut cache, &ctl);
        assert_eq!(r.unwrap_err(), Error::Interrupted);
    }
}
