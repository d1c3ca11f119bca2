//! The Lasso restricted to a working set of columns, solved exactly by an active-set method on
//! the working set's Gram matrix, with the active columns kept linearly independent.
//!
//! Problem (up to a constant): `min_z ½zᵀGz − qᵀz + β‖z‖₁` with `G = AᵀA`, `q = Aᵀy` over the
//! k working-set columns A. The method is Osborne, Presnell & Turlach's (2000, "A new approach
//! to variable selection in least squares problems"): add the column that violates the
//! optimality condition |q_j − (Gz)_j| ≤ β most, solve the sign-fixed normal equations on the
//! active set, and move towards their solution up to the first coordinate that would change
//! sign (dropped there). On that segment the objective is the convex sign-fixed quadratic, so
//! every step decreases it.
//!
//! Linearly dependent columns. Wedge dictionaries have exact linear dependences: the two
//! features of a neuron satisfy `(s)₊ − (−s)₊ = s = X̃u ∈ range(X̃)`, so any r + 1 such pairs
//! are dependent, and factor samples give exact zeros. The Lasso optimum is then not unique, and
//! an active set that contains a dependent column has a singular Gram matrix. A column j whose
//! squared distance to the span of the active columns is at most `DEPENDENT`·‖a_j‖² (read from
//! the Cholesky factor) is not added; instead it is exchanged in (a Carathéodory step): with
//! `a_j ≈ A_S c` the direction `+s` on j, `−s·c` on S (s = sign of j's correlation) leaves the
//! fit unchanged up to the tiny distance and lowers the ℓ1 norm at the rate |corr_j| − β > 0;
//! the step runs until the first active coordinate reaches zero, which leaves the set, and j
//! takes its place. The active columns therefore stay independent (at most rank A of them), the
//! factorisation stays well defined, and the result is an optimum of the working set's Lasso
//! supported on independent columns — one of the (possibly many) optima.
//!
//! The Cholesky factor of the active Gram matrix is updated, not recomputed: a column is
//! appended by one triangular solve (O(m²)), a column is removed by a rank-one update of the
//! trailing factor (O(m²)). Each sign-fixed solve is followed by one step of iterative
//! refinement against G.

use crate::control::Control;
use crate::error::Result;

/// A column whose squared distance to the span of the active columns is at most this fraction
/// of its squared norm is treated as dependent (exchanged in, never appended).
const DEPENDENT: f64 = 1e-10;
/// Relative optimality tolerance of the working set: |q_j − (Gz)_j| ≤ β(1 + KKT_TOL).
const KKT_TOL: f64 = 1e-11;
/// Step budget, as a multiple of the working-set size (plus a constant).
const STEPS_PER_COLUMN: usize = 8;
/// Steps between two cancellation checks (a step costs O(k·m) on a working set of k columns
/// with m active: milliseconds for thousands of columns).
const CHECK_EVERY: usize = 2;

/// Lower Cholesky factor L of the active Gram matrix G_SS = L Lᵀ (row-major, stride `cap`).
struct Factor {
    l: Vec<f64>,
    cap: usize,
    m: usize,
}

impl Factor {
    fn new(cap: usize) -> Self {
        Factor {
            l: vec![0.0; cap * cap],
            cap,
            m: 0,
        }
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.l[i * self.cap + j]
    }

    /// Forward solve L x = b (b of length m), in place.
    fn forward(&self, b: &mut [f64]) {
        for i in 0..self.m {
            let row = &self.l[i * self.cap..i * self.cap + i];
            let s: f64 = row.iter().zip(&b[..i]).map(|(a, c)| a * c).sum();
            b[i] = (b[i] - s) / self.at(i, i);
        }
    }

    /// Back solve Lᵀ x = b, in place.
    fn backward(&self, b: &mut [f64]) {
        for i in (0..self.m).rev() {
            let xi = b[i] / self.at(i, i);
            b[i] = xi;
            let row = &self.l[i * self.cap..i * self.cap + i];
            for (bk, lk) in b[..i].iter_mut().zip(row) {
                *bk -= lk * xi;
            }
        }
    }

    /// Squared distance of a new column to the span of the active ones, and the forward solve
    /// l = L⁻¹ G_{S,j} (returned in `l`): δ² = G_jj − ‖l‖².
    fn probe(&self, g_sj: &[f64], g_jj: f64, l: &mut Vec<f64>) -> f64 {
        l.clear();
        l.extend_from_slice(&g_sj[..self.m]);
        self.forward(l);
        g_jj - l.iter().map(|v| v * v).sum::<f64>()
    }

    /// Append a column with the probe's l and δ² > 0.
    fn append(&mut self, l: &[f64], delta2: f64) {
        let m = self.m;
        let row = &mut self.l[m * self.cap..m * self.cap + m + 1];
        row[..m].copy_from_slice(l);
        row[m] = delta2.sqrt();
        self.m += 1;
    }

    /// Remove active position p: rows/columns p of G_SS deleted. The trailing factor absorbs
    /// column p below the diagonal by a rank-one update; rows shift up.
    fn remove(&mut self, p: usize) {
        let (m, cap) = (self.m, self.cap);
        let mut x: Vec<f64> = (p + 1..m).map(|i| self.at(i, p)).collect();
        // shift rows p+1.. up by one and columns p+1.. left by one
        for i in p + 1..m {
            for j in 0..=i {
                if j == p {
                    continue;
                }
                let jj = if j > p { j - 1 } else { j };
                self.l[(i - 1) * cap + jj] = self.l[i * cap + j];
            }
        }
        self.m -= 1;
        // rank-one update of the trailing block (rows/cols p.. of the new factor) with x
        let t = m - 1 - p;
        for k in 0..t {
            let kk = p + k;
            let lkk = self.at(kk, kk);
            let r = lkk.hypot(x[k]);
            let (c, s) = (r / lkk, x[k] / lkk);
            self.l[kk * cap + kk] = r;
            for (i, xi) in (k + 1..t).zip(x[k + 1..].iter_mut()) {
                let ii = p + i;
                let v = (self.at(ii, kk) + s * *xi) / c;
                self.l[ii * cap + kk] = v;
                *xi = c * *xi - s * v;
            }
        }
    }
}

/// Solve the Lasso restricted to the k working-set columns, from the start `zl` (updated in
/// place). `g` is the k × k Gram matrix (row-major), `q` the columns' correlations with the
/// targets, `norms2` the columns' squared norms (the Gram diagonal), `rank_cap` an upper bound on
/// the rank (n, the number of samples). Returns Ok(true) when the working set's optimality
/// conditions hold; Ok(false) when the step budget ran out or rounding made the result worse
/// than the start (zl is then restored).
pub(crate) fn solve(
    g: &[f64],
    q: &[f64],
    beta: f64,
    rank_cap: usize,
    zl: &mut [f64],
    ctl: &Control,
) -> Result<bool> {
    let k = q.len();
    if k == 0 {
        return Ok(true);
    }
    let start = zl.to_vec();
    let objective = |zv: &[f64]| -> f64 {
        let mut f = 0.0;
        for a in 0..k {
            if zv[a] != 0.0 {
                let gz: f64 = (0..k).map(|b| g[a * k + b] * zv[b]).sum();
                f += zv[a] * (0.5 * gz - q[a]) + beta * zv[a].abs();
            }
        }
        f
    };
    let f_start = objective(zl);
    let cap = k.min(rank_cap) + 1;
    let mut fac = Factor::new(cap);
    // active positions (indices into the working set) in factor order, and their signs
    let mut act: Vec<usize> = Vec::with_capacity(cap);
    let mut sgn = vec![0.0f64; k];
    let mut blocked = vec![false; k];
    let mut l = Vec::with_capacity(cap);
    let mut gs = vec![0.0; cap];
    // the starting support, independent columns only (a dependent one is zeroed: the settle
    // below then starts from a point off the start, which the final check guards)
    for a in 0..k {
        if a % 64 == 0 {
            ctl.check()?; // the factor grows by up to 64 columns between two checks
        }
        if zl[a] != 0.0 {
            if add_if_independent(&mut fac, &mut act, g, k, a, &mut l, &mut gs) {
                sgn[a] = zl[a].signum();
            } else {
                zl[a] = 0.0;
            }
        }
    }
    let mut settle = !act.is_empty();
    let mut added: Option<usize> = None;
    let budget = STEPS_PER_COLUMN * k + 50;
    let mut steps = 0usize;
    let mut corr = vec![0.0; k];
    let mut rhs = Vec::with_capacity(cap);
    let mut tmp = Vec::with_capacity(cap);
    loop {
        steps += 1;
        if steps > budget {
            zl.copy_from_slice(&start);
            return Ok(false);
        }
        if steps % CHECK_EVERY == 0 {
            ctl.check()?;
        }
        // sign-fixed solves with drops until the solution keeps every sign
        while settle {
            let m = act.len();
            if m == 0 {
                break;
            }
            // G_SS z = q_S − β σ_S, one refinement step
            rhs.clear();
            rhs.extend(act.iter().map(|&a| q[a] - beta * sgn[a]));
            tmp.clear();
            tmp.extend_from_slice(&rhs);
            fac.forward(&mut tmp);
            fac.backward(&mut tmp);
            for (i, &a) in act.iter().enumerate() {
                let gz: f64 = act.iter().zip(&tmp).map(|(&b, v)| g[a * k + b] * v).sum();
                rhs[i] -= gz;
            }
            fac.forward(&mut rhs);
            fac.backward(&mut rhs);
            for (t, r) in tmp.iter_mut().zip(&rhs) {
                *t += r;
            }
            if tmp.iter().any(|v| !v.is_finite()) {
                zl.copy_from_slice(&start);
                return Ok(false);
            }
            // move towards the solution up to the first sign change
            let mut t = 1.0f64;
            let mut hit = None;
            for (i, &a) in act.iter().enumerate() {
                if tmp[i] * sgn[a] <= 0.0 {
                    let old = zl[a];
                    let ta = if old == tmp[i] {
                        0.0
                    } else {
                        old / (old - tmp[i])
                    };
                    if ta < t {
                        t = ta;
                        hit = Some(i);
                    }
                }
            }
            for (i, &a) in act.iter().enumerate() {
                zl[a] += t * (tmp[i] - zl[a]);
            }
            match hit {
                None => {
                    blocked.iter_mut().for_each(|b| *b = false);
                    settle = false;
                }
                Some(i) => {
                    let a = act[i];
                    zl[a] = 0.0;
                    sgn[a] = 0.0;
                    act.remove(i);
                    fac.remove(i);
                    if Some(a) == added && t == 0.0 {
                        blocked[a] = true; // degenerate: its direction does not descend now
                    }
                }
            }
        }
        // correlations with the current residual: q − G z
        for a in 0..k {
            corr[a] = q[a] - act.iter().map(|&b| g[a * k + b] * zl[b]).sum::<f64>();
        }
        let mut best = None;
        let mut worst = beta * KKT_TOL;
        for a in 0..k {
            if sgn[a] == 0.0 && !blocked[a] && g[a * k + a] > 0.0 {
                let v = corr[a].abs() - beta;
                if v > worst {
                    worst = v;
                    best = Some(a);
                }
            }
        }
        let Some(j) = best else {
            if blocked.iter().any(|&b| b) {
                zl.copy_from_slice(&start);
                return Ok(false);
            }
            // every step descends in exact arithmetic; refuse a result that rounding made worse
            if objective(zl) > f_start + 1e-12 * f_start.abs() {
                zl.copy_from_slice(&start);
                return Ok(false);
            }
            return Ok(true);
        };
        let s = corr[j].signum();
        if add_if_independent(&mut fac, &mut act, g, k, j, &mut l, &mut gs) {
            sgn[j] = s;
            added = Some(j);
            settle = true;
            continue;
        }
        // j is (numerically) in the span of the active columns: exchange it in
        if !exchange(&mut fac, &mut act, &mut sgn, j, s, &l, zl) {
            // no active coefficient limits the exchange, so j is not dependent in exact
            // arithmetic: append it when its distance to the span is positive at all
            let d2 = g[j * k + j] - l.iter().map(|v| v * v).sum::<f64>();
            if d2 > 0.0 && act.len() + 1 < fac.cap {
                fac.append(&l, d2);
                act.push(j);
                sgn[j] = s;
                added = Some(j);
                settle = true;
            } else {
                blocked[j] = true;
            }
            continue;
        }
        // the active set lost the column that reached zero; j is now independent of the rest
        if add_if_independent(&mut fac, &mut act, g, k, j, &mut l, &mut gs) {
            sgn[j] = s;
            added = Some(j);
            settle = true;
        } else {
            // still dependent (another active column spans it): its value stays, unsigned in
            // the factor; undo by restoring the start
            zl.copy_from_slice(&start);
            return Ok(false);
        }
    }
}

/// Append working-set column j to the active set when its squared distance to the active span
/// exceeds DEPENDENT·G_jj. Leaves the probe's l (= L⁻¹ G_{S,j}) in `l` either way.
fn add_if_independent(
    fac: &mut Factor,
    act: &mut Vec<usize>,
    g: &[f64],
    k: usize,
    j: usize,
    l: &mut Vec<f64>,
    gs: &mut [f64],
) -> bool {
    let gjj = g[j * k + j];
    for (i, &a) in act.iter().enumerate() {
        gs[i] = g[a * k + j];
    }
    let d2 = fac.probe(gs, gjj, l);
    if act.len() + 1 < fac.cap && d2 > DEPENDENT * gjj {
        fac.append(l, d2);
        act.push(j);
        true
    } else {
        false
    }
}

/// The Carathéodory exchange of a dependent column j (a_j ≈ A_S c, c = L⁻ᵀl) with sign s:
/// z_S −= t·s·c, z_j = t·s, t up to the first active coordinate that reaches zero (removed from
/// the active set). Returns false when no active coordinate limits the step (j is then left
/// out).
fn exchange(
    fac: &mut Factor,
    act: &mut Vec<usize>,
    sgn: &mut [f64],
    j: usize,
    s: f64,
    l: &[f64],
    zl: &mut [f64],
) -> bool {
    let mut c = l.to_vec();
    fac.backward(&mut c);
    let mut t = f64::INFINITY;
    let mut hit = None;
    for (i, &a) in act.iter().enumerate() {
        let d = -s * c[i];
        if d * zl[a] < 0.0 {
            let ta = -zl[a] / d;
            if ta < t {
                t = ta;
                hit = Some(i);
            }
        }
    }
    let Some(h) = hit else {
        return false;
    };
    for (i, &a) in act.iter().enumerate() {
        zl[a] -= t * s * c[i];
    }
    zl[j] = t * s;
    let a = act[h];
    zl[a] = 0.0;
    sgn[a] = 0.0;
    act.remove(h);
    fac.remove(h);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(cols: &[Vec<f64>]) -> Vec<f64> {
        let k = cols.len();
        let mut g = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                g[a * k + b] = cols[a].iter().zip(&cols[b]).map(|(x, y)| x * y).sum();
            }
        }
        g
    }

    #[test]
    fn factor_remove_matches_a_fresh_factorisation() {
        let cols: Vec<Vec<f64>> = (0..5)
            .map(|j| {
                (0..7)
                    .map(|i| ((i * 3 + j * 5) % 7) as f64 - 2.5 + j as f64 * 0.1)
                    .collect()
            })
            .collect();
        let g = gram(&cols);
        let mut fac = Factor::new(6);
        let mut act = Vec::new();
        let (mut l, mut gs) = (Vec::new(), vec![0.0; 6]);
        for j in 0..5 {
            assert!(add_if_independent(
                &mut fac, &mut act, &g, 5, j, &mut l, &mut gs
            ));
        }
        fac.remove(1);
        act.remove(1);
        let mut fresh = Factor::new(6);
        let mut act2 = Vec::new();
        for &j in &act {
            assert!(add_if_independent(
                &mut fresh, &mut act2, &g, 5, j, &mut l, &mut gs
            ));
        }
        for i in 0..4 {
            for jj in 0..=i {
                assert!((fac.at(i, jj) - fresh.at(i, jj)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn dependent_columns_are_exchanged_not_appended() {
        // a2 = a0 + a1 exactly: the optimum uses two independent columns
        let a0 = vec![1.0, 0.0, 0.0, 1.0];
        let a1 = vec![0.0, 1.0, 0.0, 1.0];
        let a2: Vec<f64> = a0.iter().zip(&a1).map(|(x, y)| x + y).collect();
        let y = vec![2.0, 2.0, 0.0, 4.0];
        let cols = vec![a0, a1, a2];
        let g = gram(&cols);
        let q: Vec<f64> = cols
            .iter()
            .map(|c| c.iter().zip(&y).map(|(x, t)| x * t).sum())
            .collect();
        let mut z = vec![0.0; 3];
        assert!(solve(&g, &q, 0.5, 4, &mut z, &Control::new()).unwrap());
        // optimality: |a_jᵀr| ≤ β everywhere, = β·sign on the support
        let r: Vec<f64> = (0..4)
            .map(|i| y[i] - (0..3).map(|j| cols[j][i] * z[j]).sum::<f64>())
            .collect();
        for j in 0..3 {
            let c: f64 = cols[j].iter().zip(&r).map(|(x, t)| x * t).sum();
            assert!(c.abs() <= 0.5 + 1e-9, "{c}");
            if z[j] != 0.0 {
                assert!((c - 0.5 * z[j].signum()).abs() < 1e-9);
            }
        }
        assert!(z.iter().filter(|v| **v != 0.0).count() <= 2);
    }
}
