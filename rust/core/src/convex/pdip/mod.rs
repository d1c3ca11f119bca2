//! A primal–dual interior-point method (Mehrotra predictor–corrector, Nesterov–Todd scaling)
//! for the ReLU program with a smooth loss.
//!
//! Per block b (pattern i = b mod P, sign σ_b = ±1) the variables are z_b ∈ ℝ^d and an
//! epigraph t_b ≥ ‖z_b‖; the program is
//!   min f(z) + β Σ_b t_b  s.t. (t_b, z_b) ∈ Q^{d+1},  h_b := S_i X z_b ∈ ℝⁿ₊,
//! with f(z) = Σ_k ℓ((Σ_b σ_b D_i X z_b)_k; y_k) and S_i = diag(2D_i − I). The LP slacks h_b are
//! separate variables (residual r_p = h − S X z, zero from a strictly feasible start at the
//! chambers' witnesses, decaying geometrically otherwise), so any pattern set is accepted.
//! Dual variables: y_b ∈ Q^{d+1} for the cone, μ_b ∈ ℝⁿ₊ for the LP part.
//!
//! Each iteration linearises the KKT conditions with NT scaling W (LP: W⁻² = diag(μ/h)), which
//! leaves one reduced system in the primal blocks,
//!   (∇²f + Gᵀ W⁻² G) Δx = −r_d + Gᵀ W⁻¹ q + Gᵀ W⁻² r_p,
//! whose matrix is block diagonal ((d+1)² per block: W_b⁻² plus Xᵀ diag(μ_b/h_b) X) plus
//! Jᵀ diag(ℓ'') J of rank ≤ n. It is solved by Woodbury in the n-dimensional residual space —
//! M = I + K B⁻¹ Kᵀ, K = diag(√ℓ'') J, assembled pattern by pattern (the v and w blocks of a
//! pattern share their rows, so their inverses are summed first: Σ_i n_i² d flops) — with
//! iterative refinement against the exact operator; blocks whose B_b⁻¹ is too large for that
//! update to stay accurate (nonzero neurons near the optimum) are solved through their own Schur
//! complement instead. Predictor and corrector share the factorisation; steps keep 1% to the
//! boundary. The n-row arrays of the cone rows are stored per block (column-major) and each stage
//! of an iteration is one fused pass over them, parallel over fixed chunks of blocks. About 20–40
//! iterations, each O(Σ_b n d + Σ_b d³ + Σ_i n_i² d + n³).
//!
//! The pieces, one module each: `cone` (second-order cone algebra and the NT scalings), `kkt`
//! (the reduced system: block matrices, the Woodbury assembly and the Schur blocks, their
//! factorisations, refined solves), `lp_rows` (which LP rows each pattern keeps, and the
//! per-block kernels over them), `iterate` (the start, residuals and update of the iterate),
//! `step` (Newton directions, step lengths, Mehrotra's predictor–corrector, Gondzio's
//! centrality correctors) and `solver` (the main loop, the certificate and the polish).

use ndarray::{Array2, ArrayView2};

use super::{Kind, Problem, Settings};
use crate::control::Control;
use crate::error::Result;

mod cone;
mod iterate;
mod kkt;
mod lp_rows;
mod solver;
mod step;

pub use iterate::Iterate;
pub use lp_rows::keeps_row_subset;
use solver::solve_rows;

/// What the primal–dual method returns.
pub struct PdResult {
    /// Blocks d × B.
    pub z: Array2<f64>,
    /// LP multipliers μ (n × B) of the cone constraints S_i X z_b ≥ 0.
    pub mu: Array2<f64>,
    pub iters: usize,
    /// Whether the rigorous certificate closed the gap within `settings.tol`.
    #[allow(dead_code)] // the callers re-certify the point themselves
    pub converged: bool,
    /// Whether it stopped at the relative gap asked by [`solve_until`] (neither converged nor
    /// stalled).
    pub stopped_early: bool,
    /// The iterate it stopped at, when `stopped_early`.
    pub iterate: Option<Iterate>,
    /// Whether it ended beyond rows it had left out and solved again with every row.
    #[cfg_attr(not(test), allow(dead_code))]
    pub all_rows_again: bool,
}

/// Solve the ReLU program (smooth loss). `gates` (P × d), when given, are strictly interior
/// points of the cones and give a feasible start; otherwise the LP slacks start infeasible.
pub fn solve(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    ctl: &Control,
) -> Result<PdResult> {
    solve_rows(prob, settings, gates, None, None, None, START_EPIGRAPH, ctl)
}

/// [`solve`], stopping early (`stopped_early`, with the iterate) once the relative gap
/// μν/max(1, |f|) is at most `stop_rel_gap` — the caller then screens the blocks the iterate has
/// driven to ~0 —, and starting from `warm` (an interior iterate of this program) when given.
pub fn solve_until(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    warm: Option<&Iterate>,
    ctl: &Control,
) -> Result<PdResult> {
    let epigraph = if keeps_row_subset(prob.n(), prob.d()) {
        SCREENED_START_EPIGRAPH
    } else {
        START_EPIGRAPH
    };
    solve_rows(
        prob,
        settings,
        gates,
        stop_rel_gap,
        warm,
        None,
        epigraph,
        ctl,
    )
}

/// The starting epigraphs t_b as a multiple of the starting ‖z_b‖ (the cone (t, z) that far
/// inside) of a direct or working-set solve …
const START_EPIGRAPH: f64 = 2.0;
/// … and of a screened one that keeps a subset of its cone rows ([`keeps_row_subset`]): at 2
/// every block's cone held the first affine steps of (1000, 20, 1000) to 0.1–0.2, at 3 the whole
/// program reaches its 30% gap in 9 iterations instead of 10–11 (seeds 0–3: 3.0–3.7 → 2.7–3.0 s;
/// 5 and above were slower again). Elsewhere 3 was slower: (200, 10, 500), all rows, 21 → 25
/// iterations; the working-set loop on all 872 chambers of n = 30 points in ℝ³ ended 1e-6 short
/// of its 1e-8 tolerance (a test).
const SCREENED_START_EPIGRAPH: f64 = 3.0;

/// Make every block exactly feasible (S_i X z_b ≥ 0 in floating point): a block with a
/// violated row is moved along its pattern's witness (which has a positive margin) by the
/// smallest amount that clears every row; without a witness it is zeroed. Blocks already
/// feasible are returned unchanged.
pub fn clean_feasible(
    prob: &Problem,
    z: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
) -> Array2<f64> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let mut out = z.clone();
    if prob.kind != Kind::Relu {
        return out;
    }
    let xz = prob.xu(z.view());
    let gates = gates.filter(|g| g.dim() == (p, d));
    for b in 0..z.ncols() {
        let i = b % p;
        let worst = (0..n)
            .map(|k| prob.sign[[k, i]] * xz[[k, b]])
            .fold(f64::INFINITY, f64::min);
        if worst >= 0.0 {
            continue;
        }
        let mut fixed = false;
        if let Some(g) = gates {
            let gr = g.row(i);
            let xg: Vec<f64> = (0..n)
                .map(|k| prob.sign[[k, i]] * prob.x.row(k).dot(&gr))
                .collect();
            if xg.iter().all(|&v| v > 0.0) {
                // smallest ε with sign·X(z + εg) ≥ 0 on every row, with a little slack
                let mut eps: f64 = 0.0;
                for k in 0..n {
                    let v = prob.sign[[k, i]] * xz[[k, b]];
                    if v < 0.0 {
                        eps = eps.max(-v / xg[k]);
                    }
                }
                // plus an absolute margin far above the rounding of any way of computing X z
                // (so every product agrees on the sign); it costs β·1e-12‖z_b‖ of objective
                let zn = z.column(b).dot(&z.column(b)).sqrt();
                let gn = gr.dot(&gr).sqrt().max(1e-300);
                let pad = 1e-12 * zn / gn;
                for factor in [1.0 + 1e-9, 1.0 + 1e-6, 1.0 + 1e-3, 2.0] {
                    let mut zb = z.column(b).to_owned();
                    zb.scaled_add(eps * factor + pad, &gr);
                    let ok = (0..n).all(|k| prob.sign[[k, i]] * prob.x.row(k).dot(&zb) >= 0.0);
                    if ok {
                        out.column_mut(b).assign(&zb);
                        fixed = true;
                        break;
                    }
                }
            }
        }
        if !fixed {
            out.column_mut(b).fill(0.0);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
