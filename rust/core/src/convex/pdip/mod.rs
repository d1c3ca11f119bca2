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

use ndarray::{s, Array1, Array2, ArrayView2, Axis, ShapeBuilder};

use super::{Kind, Problem, Settings};
use crate::control::Control;
use crate::error::{Error, Result};

mod cone;
mod kkt;
mod lp_rows;

use cone::*;
use kkt::*;
pub use lp_rows::keeps_row_subset;
use lp_rows::*;

// ---------------------------------------------------------------------------------------------
// The solver.
// ---------------------------------------------------------------------------------------------

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

/// An interior iterate of the method: blocks z (d × B), epigraphs t (B), LP slacks h and their
/// multipliers μ (n × B, column-major), cone duals y ((d+1) × B). A screened solve hands it on to
/// the program restricted to the patterns it keeps, where it is still interior.
#[derive(Clone)]
pub struct Iterate {
    pub z: Array2<f64>,
    pub t: Array1<f64>,
    pub h: Array2<f64>,
    pub lam: Array2<f64>,
    pub ysoc: Array2<f64>,
    /// The complementarity measure μ at this iterate …
    pub mu: f64,
    /// … and (μ, t) two iterations earlier, when the run made them (a block whose epigraph
    /// t_b keeps its size while μ shrinks is heading for the support: Tapia's indicator).
    pub back: Option<(f64, Array1<f64>)>,
    /// The data rows of each pattern's LP rows (column-major nl × P, see [`nearest_rows`]);
    /// `None`: all n rows.
    pub lp_rows: Option<Vec<usize>>,
}

impl Iterate {
    /// The iterate restricted to the patterns `idx` of a program with `p` patterns and `reps`
    /// blocks per pattern (block r·p + i becomes r·|idx| + a for idx[a] = i).
    pub fn select(&self, idx: &[usize], p: usize, reps: usize) -> Iterate {
        let cols: Vec<usize> = (0..reps)
            .flat_map(|r| idx.iter().map(move |&i| r * p + i))
            .collect();
        let sel_f = |a: &Array2<f64>| {
            let mut out = Array2::<f64>::zeros((a.nrows(), cols.len()).f());
            for (c, &b) in cols.iter().enumerate() {
                out.column_mut(c).assign(&a.column(b));
            }
            out
        };
        Iterate {
            z: self.z.select(Axis(1), &cols),
            t: self.t.select(Axis(0), &cols),
            h: sel_f(&self.h),
            lam: sel_f(&self.lam),
            ysoc: self.ysoc.select(Axis(1), &cols),
            mu: self.mu,
            back: self
                .back
                .as_ref()
                .map(|(m, tb)| (*m, tb.select(Axis(0), &cols))),
            lp_rows: self.lp_rows.as_ref().map(|ix| {
                let nl = self.lam.nrows();
                idx.iter()
                    .flat_map(|&i| ix[i * nl..(i + 1) * nl].iter().copied())
                    .collect()
            }),
        }
    }

    /// Tapia's indicator per block: t_b / t_b two iterations earlier, and the same ratio of μ
    /// (the rate at which a block outside the support shrinks); `None` before two iterations.
    pub fn growth(&self) -> Option<(Array1<f64>, f64)> {
        let (mu_back, t_back) = self.back.as_ref()?;
        let rho = Array1::from_shape_fn(self.t.len(), |b| {
            if t_back[b] > 0.0 {
                self.t[b] / t_back[b]
            } else {
                f64::INFINITY
            }
        });
        Some((
            rho,
            if *mu_back > 0.0 {
                self.mu / mu_back
            } else {
                1.0
            },
        ))
    }
}

/// Wall time per stage of the iterations, one line of [`Settings::trace`] when the solve ends
/// (collected only while tracing).
struct Phases {
    on: Option<super::Trace>,
    secs: [f64; 8],
    last: std::time::Instant,
}

impl Phases {
    const NAMES: [&'static str; 8] = [
        "residuals",
        "certificate/polish",
        "scaling+blocks",
        "woodbury",
        "factorisations",
        "predictor",
        "corrector",
        "update",
    ];

    fn new(on: Option<super::Trace>) -> Self {
        Phases {
            on,
            secs: [0.0; 8],
            last: std::time::Instant::now(),
        }
    }

    /// Charge the time since the last call to stage `k`.
    fn lap(&mut self, k: usize) {
        if self.on.is_some() {
            let now = std::time::Instant::now();
            self.secs[k] += (now - self.last).as_secs_f64();
            self.last = now;
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(t) = &self.on {
            let parts: Vec<String> = Self::NAMES
                .iter()
                .zip(self.secs)
                .map(|(n, s)| format!("{n}={s:.4}"))
                .collect();
            t.push(format!("pdip phases (s): {}", parts.join(" ")));
        }
    }
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

/// [`solve_until`] keeping `lp_rows` LP rows per pattern on a cold start ([`nearest_rows`];
/// `None`: [`lp_row_count`]), whose epigraphs start at `epigraph` × ‖z_b‖. When the method ends
/// uncertified at a point beyond a row it did not keep (a facet of that pattern's cone was left
/// out, and the relaxed program's optimum lies past it), it solves again with every row.
#[allow(clippy::too_many_arguments)]
fn solve_rows(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    warm: Option<&Iterate>,
    lp_rows: Option<usize>,
    epigraph: f64,
    ctl: &Control,
) -> Result<PdResult> {
    let n = prob.n();
    let d = prob.d();
    let p = prob.p();
    let nb = prob.n_blocks();
    let dm = d + 1;
    let beta = prob.beta;
    let t_start = std::time::Instant::now();
    let xs = prob.x.as_standard_layout().into_owned();
    let Some(xsl) = xs.as_slice() else {
        return Err(Error::Numerical("data matrix is not contiguous".into()));
    };
    let mut wood = Woodbury::new(prob, xsl, ctl)?;
    // LP rows: the n cone rows per block of the ReLU program; none in the gated program (its
    // blocks are free, only the norm cones remain)
    let nl_full = if prob.kind == Kind::Relu { n } else { 0 };
    // the LP rows each pattern keeps: a warm start's, else the rows nearest to the witnesses
    let lp_idx: Option<Vec<usize>> = match warm {
        _ if nl_full == 0 => None,
        Some(w) if w.z.dim() == (d, nb) => w.lp_rows.clone(),
        _ => gates.filter(|g| g.dim() == (p, d)).and_then(|g| {
            let par_sel = prob.par || crate::parallel::should_parallelize(n * d * p, 50_000);
            nearest_rows(
                xsl,
                n,
                d,
                |k, i| prob.sign[[k, i]],
                g,
                lp_rows.unwrap_or_else(|| lp_row_count(n, d)),
                par_sel,
            )
        }),
    };
    let nl = match &lp_idx {
        Some(ix) if p > 0 => ix.len() / p,
        _ => nl_full,
    };
    // ---- start ----
    let xmax = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
        .max(1e-300);
    let ynorm = prob.y.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0);
    let c0 = ynorm / (xmax * (nb as f64).sqrt());
    let mut z = Array2::<f64>::zeros((d, nb));
    if let Some(g) = gates {
        if g.dim() == (p, d) {
            let gz: Vec<f64> = (0..p)
                .map(|i| g.row(i).iter().map(|v| v * v).sum::<f64>().sqrt())
                .collect();
            if gz.iter().all(|&v| v.is_finite() && v > 0.0) {
                for b in 0..nb {
                    let i = b % p;
                    for j in 0..d {
                        z[[j, b]] = 0.1 * c0 * g[[i, j]] / gz[i];
                    }
                }
            }
        }
    }
    // the per-block work of an iteration (LP rows and (d+1)² block algebra) decides, not the
    // problem's n·d·P
    let par = prob.par || crate::parallel::should_parallelize(nb * (nl + dm * dm), 50_000);
    let lp = LpData {
        x: xs.slice(s![..nl_full, ..]),
        xr: xsl,
        row_norm: wood.row_norm2.iter().map(|v| v.sqrt()).collect(),
        // S (column-major nl × P): +1 on the pattern's active rows, −1 elsewhere
        sg: match lp_idx.as_ref() {
            Some(ix) => ix
                .iter()
                .enumerate()
                .map(|(a, &k)| prob.sign[[k, a / nl]])
                .collect(),
            None => {
                let mut sg = vec![-1.0; nl * p];
                if nl > 0 {
                    for (i, r) in wood.rows.iter().enumerate() {
                        for &k in r {
                            sg[i * nl + k] = 1.0;
                        }
                    }
                }
                sg
            }
        },
        idx: lp_idx,
        nl,
        d,
        p,
        nb,
        par,
    };
    // S X z per block (LP rows), column-major like every LP array below
    let mut sxz = lp.signed_x(&z)?;
    // LP slacks: max(S X z, floor) — rows where the witness margin is small start infeasible
    // (r_p = h − S X z ≠ 0), which keeps the start well centred.
    let hfloor = 0.1 * c0 * xmax;
    let mut h = sxz.mapv(|v| v.max(hfloor));
    let mut t = Array1::<f64>::from_elem(nb, 0.0);
    for b in 0..nb {
        let zn = z.column(b).iter().map(|v| v * v).sum::<f64>().sqrt();
        t[b] = (epigraph * zn).max(0.05 * epigraph * c0);
    }
    // duals: centred at μ₀ (s ∘ y = μ₀ e)
    let mu0 = beta.max(1e-3 * ynorm) * 0.1 * c0;
    let mut lam = h.mapv(|v| mu0 / v);
    let mut ysoc = Array2::<f64>::zeros((dm, nb));
    for b in 0..nb {
        let mut sv = vec![t[b]];
        sv.extend(z.column(b).iter());
        let det = soc_det(&sv);
        ysoc[[0, b]] = mu0 * sv[0] / det;
        for j in 0..d {
            ysoc[[j + 1, b]] = -mu0 * sv[j + 1] / det;
        }
    }
    if let Some(w) = warm {
        if w.z.dim() == (d, nb)
            && w.t.len() == nb
            && w.h.dim() == (nl, nb)
            && w.lam.dim() == (nl, nb)
            && w.ysoc.dim() == (dm, nb)
        {
            z = w.z.clone();
            t = w.t.clone();
            h = Array2::<f64>::zeros((nl, nb).f());
            h.assign(&w.h);
            lam = Array2::<f64>::zeros((nl, nb).f());
            lam.assign(&w.lam);
            ysoc = w.ysoc.clone();
            sxz = lp.signed_x(&z)?;
        }
    }
    let nu = (nb * (nl + 1)) as f64;
    // the LP rows' work arrays, allocated once: r_p, μ/h (W⁻² of the LP part), the
    // predictor's and the corrector's Δh, Δμ
    let mut rp = lp_zeros(nl, nb);
    let mut dlp = lp_zeros(nl, nb);
    let (mut dh_a, mut dl_a) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let (mut dh, mut dl) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let (mut dh_c, mut dl_c) = (lp_zeros(nl, nb), lp_zeros(nl, nb));
    let mut lp_extra = lp_zeros(nl, nb);

    let mut iters = 0usize;
    let mut converged = false;
    let mut best_mu: Option<(f64, Array2<f64>, Array2<f64>)> = None; // (dual, z, μ)
    let max_iter = settings.max_iter.min(200);
    ctl.begin_stage();
    ctl.set_total(max_iter as u64);
    let mut stall = 0usize;
    let mut polish_at = 1e-4f64;
    // Stop at the second short step in a row (α < 0.01): past that point the reduced solve has lost the
    // accuracy it needs and the caller finishes from this iterate.
    let max_stall = 2usize;
    let mut phases = Phases::new(settings.trace.clone());
    // lowered (×0.1, down to 1) each time a solve stops short of its refinement tolerance by
    // far: the Woodbury update has lost the accuracy the direction needs
    let mut schur_min_weight = SCHUR_MIN_WEIGHT;
    // (μ, t) of the last two iterations, oldest first (for the screening indicator)
    let mut hist: std::collections::VecDeque<(f64, Array1<f64>)> =
        std::collections::VecDeque::with_capacity(3);
    while iters < max_iter {
        phases.lap(7);
        ctl.check()?;
        iters += 1;
        ctl.advance(1);
        let pred = prob.predict(z.view());
        let gl = prob.loss_grad(&pred);
        let sqw = prob.loss_second(&pred).mapv(|v| v.max(0.0).sqrt());
        // ---- residuals ----
        // r_d,z = σ_b Xᵀ D_i ℓ' − ȳ_b − Xᵀ S_i μ_b ; r_d,t = β − y₀
        let gx = prob.at(&gl); // d × P
                               // r_p = h − S X z, Σ h μ, max |r_p| and Xᵀ S_i μ_b (d × B) in one pass
        let (gaps, rpn, xsmu) = lp.residual(&h, &lam, &sxz, &mut rp, &mut dlp)?;
        let mut rd = Array2::<f64>::zeros((dm, nb));
        for b in 0..nb {
            let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
            rd[[0, b]] = beta - ysoc[[0, b]];
            for j in 0..d {
                rd[[j + 1, b]] = sig * gx[[j, i]] - ysoc[[j + 1, b]] - xsmu[[j, b]];
            }
        }
        let gap_lp: f64 = gaps.iter().sum();
        let mut gap_soc = 0.0;
        for b in 0..nb {
            gap_soc += t[b] * ysoc[[0, b]];
            for j in 0..d {
                gap_soc += z[[j, b]] * ysoc[[j + 1, b]];
            }
        }
        let mu = (gap_lp + gap_soc) / nu;
        let pobj = prob.loss_value(&pred) + beta * t.sum();
        let rdn = rd.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if settings.tracing() {
            settings.note(|| format!(
                "pdip it={iters} pobj={pobj:.12e} mu={mu:.3e} gap={:.3e} rd={rdn:.3e} rp={rpn:.3e} t={:.3}",
                mu * nu,
                t_start.elapsed().as_secs_f64()
            ));
        }
        phases.lap(0);
        // ---- certificate when the internal measures say we are close ----
        let scale = pobj.abs().max(1.0);
        if mu * nu <= settings.tol * scale {
            let zc = clean_feasible(prob, &z, gates);
            let lam_full = lp.scatter(&lam, n, 0.0);
            let cert = prob.certify(&zc, Some(&lam_full), None);
            let ub = cert.objective.max(cert.network_objective);
            if best_mu.as_ref().is_none_or(|bm| cert.dual > bm.0) {
                best_mu = Some((cert.dual, zc.clone(), lam_full.clone().into_owned()));
            }
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "pdip cert ub={ub:.12e} dual={:.12e} viol={:e}",
                        cert.dual, cert.violation
                    )
                });
            }
            if super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
                converged = true;
                return Ok(PdResult {
                    z: zc,
                    mu: lam_full.into_owned(),
                    iters,
                    converged,
                    stopped_early: false,
                    iterate: None,
                    all_rows_again: false,
                });
            }
            // a point beyond a row the method left out stays there: no iteration fixes that
            if lp.dropped_violations(prob, &z, DROPPED_ROW_TOL).0 > 0 {
                break;
            }
        }
        if mu * nu <= 1e-15 * scale || stall >= max_stall {
            break;
        }

        // ---- polish on the identified support once the iterate is close or progress stalls ----
        let rel_gap = mu * nu / scale;
        if stop_rel_gap.is_some_and(|g| rel_gap <= g) {
            ctl.set_done(iters as u64);
            let back = if hist.len() == 2 {
                hist.pop_front()
            } else {
                None
            };
            return Ok(PdResult {
                z: z.clone(),
                mu: lp.scatter(&lam, n, 0.0).into_owned(),
                iters,
                converged: false,
                stopped_early: true,
                all_rows_again: false,
                iterate: Some(Iterate {
                    z,
                    t,
                    h,
                    lam,
                    ysoc,
                    mu,
                    back,
                    lp_rows: lp.idx.clone(),
                }),
            });
        }
        if stop_rel_gap.is_some() {
            if hist.len() == 2 {
                hist.pop_front();
            }
            hist.push_back((mu, t.clone()));
        }
        if rel_gap <= polish_at || stall > 0 {
            let (hf, lf) = (lp.scatter(&h, n, f64::INFINITY), lp.scatter(&lam, n, 0.0));
            if let Some(done) =
                polish_from_indicators(prob, settings, &z, &hf, &lf, &ysoc, gates, stall > 0, ctl)?
            {
                if settings.tracing() {
                    settings.note(|| format!("pdip polished at it={iters}"));
                }
                return Ok(PdResult { iters, ..done });
            }
            polish_at = rel_gap * 1e-2;
        }
        phases.lap(1);
        // ---- scaling ----
        let mut numerics_failed = false;
        let mut wbar = Array2::<f64>::zeros((dm, nb));
        let mut eta = Array1::<f64>::zeros(nb);
        let mut lt = Array2::<f64>::zeros((dm, nb)); // λ̃ = W y = W⁻¹ s (SOC)
        let mut sv = vec![0.0; dm];
        let mut yv = vec![0.0; dm];
        let mut wb = vec![0.0; dm];
        let mut out = vec![0.0; dm];
        for b in 0..nb {
            sv[0] = t[b];
            for j in 0..d {
                sv[j + 1] = z[[j, b]];
            }
            for a in 0..dm {
                yv[a] = ysoc[[a, b]];
            }
            let Some(e) = soc_nt(&sv, &yv, &mut wb) else {
                // rounding put an iterate on the cone's boundary: stop with what we have
                numerics_failed = true;
                break;
            };
            eta[b] = e;
            soc_apply_w(&wb, e, &yv, &mut out, false);
            for a in 0..dm {
                wbar[[a, b]] = wb[a];
                lt[[a, b]] = out[a];
            }
        }
        if numerics_failed {
            break;
        }
        let delta = 1e-9 * xmax * xmax * prob.loss.curvature().min(1.0);
        let mut w2 = vec![0.0; nb * dm * dm]; // W⁻² of the cones
        for b in 0..nb {
            for a in 0..dm {
                wb[a] = wbar[[a, b]];
            }
            soc_w2inv(&wb, eta[b], &mut w2[b * dm * dm..(b + 1) * dm * dm]);
        }
        // ---- block matrices B_b = W_b⁻² + P_b and their inverses ----
        // P_b = Xᵀ diag(μ_b/h_b) X for every block at once: (X⊙X)ᵀ (μ/h), one GEMM
        let gram = lp.gram(&wood.xx, &dlp)?; // B × nt
        let (bmat, binv) = block_matrices(&gram, &w2, &wbar, &eta, delta, d, nb, par)?;
        ctl.check()?;
        phases.lap(2);
        // ---- M = I + diag(√w) Σ_i X_R (C_v + C_w) X_Rᵀ diag(√w) ----
        let kept = wood.schur_blocks(&binv, &sqw, schur_min_weight);
        if settings.tracing() {
            settings.note(|| format!("   schur blocks={}", kept.len()));
        }
        let mm = wood.assemble(&binv, &kept, &sqw, par, ctl)?;
        phases.lap(3);
        let (lm, schur) = wood.factorise(&mm, kept, &bmat, &sqw, par, ctl)?;
        phases.lap(4);
        let kkt = Kkt {
            prob,
            bmat,
            binv,
            sqw,
            lm,
            schur,
            // far from the optimum a direction needs less accuracy than near it (the residual
            // equations are exact whatever the solve's error; only the linearised
            // complementarity sees it): refine to 1e-6 of the relative gap, within
            // [REFINE_REL_RESIDUAL, REFINE_MAX_REL_RESIDUAL]
            refine_tol: (1e-6 * rel_gap).clamp(REFINE_REL_RESIDUAL, REFINE_MAX_REL_RESIDUAL),
            worst_residual: std::cell::Cell::new(0.0),
            par,
        };

        // ---- one Newton direction for a given complementarity target ----
        // LP target `tg` (Δh, Δμ written into `dh`, `dl`), rc_soc ((d+1) × B): targets of
        // λ̃ ∘ (W Δy + W⁻¹ Δs)
        let direction = |tg: LpTarget<'_>,
                         rc_soc: &Array2<f64>,
                         dh: &mut Array2<f64>,
                         dl: &mut Array2<f64>|
         -> Result<(Array2<f64>, Array2<f64>)> {
            // LP: W⁻¹ q = rc/h ; SOC: W⁻¹ q with q = λ̃ ⊘ rc
            let mut socq = Array2::<f64>::zeros((dm, nb)); // W⁻¹ q
            let mut qv = vec![0.0; dm];
            let mut out = vec![0.0; dm];
            let (mut l, mut r, mut wb) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
            for b in 0..nb {
                col_into(&lt, b, &mut l);
                col_into(rc_soc, b, &mut r);
                soc_jordan_div(&l, &r, &mut qv);
                col_into(&wbar, b, &mut wb);
                soc_apply_w(&wb, eta[b], &qv, &mut out, true);
                for a in 0..dm {
                    socq[[a, b]] = out[a];
                }
            }
            // rhs = −r_d + Gᵀ W⁻¹ q + Gᵀ W⁻² r_p
            let xl = lp.rhs(tg, &h, &lam, &rp)?; // d × B
            let mut rhs = -&rd + &socq;
            {
                let mut zpart = rhs.slice_mut(s![1.., ..]);
                zpart += &xl;
            }
            let dx = kkt.solve(&rhs);
            // Δh = S X Δz − r_p ; Δμ = W⁻¹q − W⁻²Δh ; SOC Δs = Δx, Δy = W⁻¹q − W⁻²Δx
            let dz = dx.slice(s![1.., ..]);
            let xsdl = lp.step(tg, dz, &h, &lam, &rp, dh, dl)?;
            // Δy from the dual-residual equation (Gᵀ Δλ = r_d + ∇²f Δx), so the dual residual
            // contracts by exactly (1 − α) whatever the accuracy of the reduced solve.
            let pd = prob.predict(dz);
            let hd: Array1<f64> = pd
                .iter()
                .zip(kkt.sqw.iter())
                .map(|(a, w)| a * w * w)
                .collect();
            let ghd = prob.at(&hd); // d × P
            let mut dy = rd.clone();
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                for j in 0..d {
                    dy[[j + 1, b]] += sig * ghd[[j, i]] - xsdl[[j, b]];
                }
            }
            Ok((dx, dy))
        };
        // step lengths
        let max_step =
            |dx: &Array2<f64>, dh: &Array2<f64>, dlam: &Array2<f64>, dy: &Array2<f64>| {
                let mut a = lp.max_step(LpStep::new(&h, dh, &lam, dlam), 1.0 / 0.99)?;
                let mut u = vec![0.0; dm];
                let (mut du, mut yv, mut dyv) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
                for b in 0..nb {
                    u[0] = t[b];
                    for j in 0..d {
                        u[j + 1] = z[[j, b]];
                    }
                    col_into(dx, b, &mut du);
                    a = soc_max_step(&u, &du, a);
                    col_into(&ysoc, b, &mut yv);
                    col_into(dy, b, &mut dyv);
                    a = soc_max_step(&yv, &dyv, a);
                }
                Ok::<f64, Error>(a)
            };
        // ---- predictor ----
        let mut rc_soc_aff = Array2::<f64>::zeros((dm, nb));
        let mut tmp = vec![0.0; dm];
        let mut l = vec![0.0; dm];
        for b in 0..nb {
            col_into(&lt, b, &mut l);
            soc_jordan(&l, &l, &mut tmp);
            for a in 0..dm {
                rc_soc_aff[[a, b]] = -tmp[a];
            }
        }
        // LP target −λ̃∘λ̃ = −hμ
        let (dxa, dya) = direction(LpTarget::Affine, &rc_soc_aff, &mut dh_a, &mut dl_a)?;
        let aa = max_step(&dxa, &dh_a, &dl_a, &dya)?.min(1.0);
        let mut gap_aff = lp.gap_after(LpStep::new(&h, &dh_a, &lam, &dl_a), aa)?;
        for b in 0..nb {
            let mut s1 = t[b] + aa * dxa[[0, b]];
            let mut acc = s1 * (ysoc[[0, b]] + aa * dya[[0, b]]);
            for j in 0..d {
                s1 = z[[j, b]] + aa * dxa[[j + 1, b]];
                acc += s1 * (ysoc[[j + 1, b]] + aa * dya[[j + 1, b]]);
            }
            gap_aff += acc;
        }
        let mu_aff = (gap_aff / nu).max(0.0);
        let sigma = (mu_aff / mu).powi(3).clamp(0.0, 1.0);
        phases.lap(5);
        ctl.check()?;
        // ---- corrector: σμe − λ̃∘λ̃ − (W⁻¹Δs_a)∘(WΔy_a) ----
        let mut rc_soc = rc_soc_aff.clone();
        let mut ws = vec![0.0; dm];
        let mut wy = vec![0.0; dm];
        // block b of a direction in the scaled space: W⁻¹Δs into `ws`, WΔy into `wy`
        let (mut wb, mut dsv, mut dyv) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
        let mut scaled =
            |b: usize, dxm: &Array2<f64>, dym: &Array2<f64>, ws: &mut [f64], wy: &mut [f64]| {
                col_into(&wbar, b, &mut wb);
                col_into(dxm, b, &mut dsv);
                col_into(dym, b, &mut dyv);
                soc_apply_w(&wb, eta[b], &dsv, ws, true);
                soc_apply_w(&wb, eta[b], &dyv, wy, false);
            };
        for b in 0..nb {
            scaled(b, &dxa, &dya, &mut ws, &mut wy);
            soc_jordan(&ws, &wy, &mut tmp);
            rc_soc[[0, b]] += sigma * mu;
            for a in 0..dm {
                rc_soc[[a, b]] -= tmp[a];
            }
        }
        let tg = LpTarget::Corrector {
            sigma_mu: sigma * mu,
            dh: fdata(&dh_a)?,
            dl: fdata(&dl_a)?,
            extra: None,
        };
        let (mut dx, mut dy) = direction(tg, &rc_soc, &mut dh, &mut dl)?;
        let amax = max_step(&dx, &dh, &dl, &dy)?;
        let mut alpha = (0.99 * amax).min(1.0);
        // ---- Gondzio's centrality correctors: aim at a longer step α̃ and push the trial
        // complementarity products that would leave [0.1, 10]·σμ back into it ----
        let mut n_corr = 0;
        while n_corr < GONDZIO_MAX && alpha < GONDZIO_BELOW && alpha > 0.0 {
            let at = (alpha + GONDZIO_STEP).min(1.0);
            let band = (GONDZIO_LO * sigma * mu, GONDZIO_HI * sigma * mu);
            lp.centrality(LpStep::new(&h, &dh, &lam, &dl), at, band, &mut lp_extra)?;
            let mut rc_c = rc_soc.clone();
            for b in 0..nb {
                // the scaled trial point's Jordan product, its spectral values moved into the band
                scaled(b, &dx, &dy, &mut ws, &mut wy);
                for a in 0..dm {
                    ws[a] = lt[[a, b]] + at * ws[a];
                    wy[a] = lt[[a, b]] + at * wy[a];
                }
                soc_jordan(&ws, &wy, &mut tmp);
                let v1 = tmp[1..].iter().map(|v| v * v).sum::<f64>().sqrt();
                let (t1, t2) = (
                    band_correction(tmp[0] + v1, band.0, band.1),
                    band_correction(tmp[0] - v1, band.0, band.1),
                );
                // t = t1 c₊ + t2 c₋ with c± = ½(1, ±v̂)
                rc_c[[0, b]] += 0.5 * (t1 + t2);
                if v1 > 0.0 {
                    for a in 1..dm {
                        rc_c[[a, b]] += 0.5 * (t1 - t2) * tmp[a] / v1;
                    }
                }
            }
            let tgc = LpTarget::Corrector {
                sigma_mu: sigma * mu,
                dh: fdata(&dh_a)?,
                dl: fdata(&dl_a)?,
                extra: Some(fdata(&lp_extra)?),
            };
            let (dxc, dyc) = direction(tgc, &rc_c, &mut dh_c, &mut dl_c)?;
            let ac = (0.99 * max_step(&dxc, &dh_c, &dl_c, &dyc)?).min(1.0);
            n_corr += 1;
            if settings.tracing() {
                settings.note(|| format!("   corrector {n_corr}: alpha {alpha:.3e} -> {ac:.3e}"));
            }
            if ac < alpha + GONDZIO_GAIN * GONDZIO_STEP {
                break;
            }
            alpha = ac;
            dx = dxc;
            dy = dyc;
            std::mem::swap(&mut dh, &mut dh_c);
            std::mem::swap(&mut dl, &mut dl_c);
        }
        if !alpha.is_finite() || alpha <= 0.0 {
            break;
        }
        if settings.tracing() {
            settings.note(|| format!("   alpha_aff={aa:.3e} sigma={sigma:.3e} alpha={alpha:.3e}"));
        }
        if kkt.worst_residual.get() > 1e3 * kkt.refine_tol {
            schur_min_weight = (0.1 * schur_min_weight).max(1.0);
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "   solve residual {:.1e}: Schur weight now {schur_min_weight:.0e}",
                        kkt.worst_residual.get()
                    )
                });
            }
        }
        if alpha < 1e-2 {
            stall += 1;
        } else {
            stall = 0;
        }
        phases.lap(6);
        // ---- update ----
        t.scaled_add(alpha, &dx.row(0));
        z.scaled_add(alpha, &dx.slice(s![1.., ..]));
        lp.update(alpha, &mut h, &mut lam, &mut sxz, &dh, &dl, &rp)?;
        ysoc.scaled_add(alpha, &dy);
    }
    ctl.set_done(iters as u64);
    let (beyond, worst) = lp.dropped_violations(prob, &z, DROPPED_ROW_TOL);
    if beyond > 0 {
        if settings.tracing() {
            settings.note(|| format!(
                "pdip: {beyond} blocks end beyond rows they did not keep (worst {worst:.2e}): all rows"
            ));
        }
        let again = solve_rows(
            prob,
            settings,
            gates,
            stop_rel_gap,
            None,
            Some(n),
            epigraph,
            ctl,
        )?;
        return Ok(PdResult {
            iters: iters + again.iters,
            all_rows_again: true,
            ..again
        });
    }
    let (z, mu) = match best_mu {
        Some((_, zb, mb)) => (zb, mb),
        None => (
            clean_feasible(prob, &z, gates),
            lp.scatter(&lam, n, 0.0).into_owned(),
        ),
    };
    Ok(PdResult {
        z,
        mu,
        iters,
        converged,
        stopped_early: false,
        iterate: None,
        all_rows_again: false,
    })
}

/// Gondzio's multiple centrality correctors: at most `GONDZIO_MAX` per iteration, tried while
/// the step is below `GONDZIO_BELOW`, each aiming at α + `GONDZIO_STEP` with the trial
/// complementarity products kept within [`GONDZIO_LO`, `GONDZIO_HI`]·σμ, kept when the step
/// grows by at least `GONDZIO_GAIN`·`GONDZIO_STEP`.
const GONDZIO_MAX: usize = 1;
const GONDZIO_BELOW: f64 = 0.9;
const GONDZIO_STEP: f64 = 0.2;
const GONDZIO_LO: f64 = 0.1;
const GONDZIO_HI: f64 = 10.0;
const GONDZIO_GAIN: f64 = 0.1;

/// Unknowns of the Newton polish above which it is only tried once the method stalls.
const POLISH_MAX_DIM: usize = 400;

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

/// Polish on the support the interior-point pairs identify — block b nonzero when its primal
/// size beats its dual slack (‖z_b‖/max‖z‖ > (y₀ − ‖ȳ‖)/y₀), row k of block b active when its
/// multiplier beats its slack (Tapia-style indicator in natural units) — and keep the result
/// when its sharp certificate closes the gap.
#[allow(clippy::too_many_arguments)]
fn polish_from_indicators(
    prob: &Problem,
    settings: &Settings,
    z: &Array2<f64>,
    h: &Array2<f64>,
    lam: &Array2<f64>,
    ysoc: &Array2<f64>,
    gates: Option<ArrayView2<f64>>,
    forced: bool,
    ctl: &Control,
) -> Result<Option<PdResult>> {
    let n = prob.n();
    let d = prob.d();
    let nb = prob.n_blocks();
    let beta = prob.beta.max(1e-300);
    let norms = super::block_norms(z);
    let zmax = norms.iter().cloned().fold(0.0, f64::max).max(1e-300);
    let row_norm: Vec<f64> = (0..n)
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    let dual_slack: Vec<f64> = (0..nb)
        .map(|b| {
            let y1 = (1..=d)
                .map(|j| ysoc[[j, b]] * ysoc[[j, b]])
                .sum::<f64>()
                .sqrt();
            (ysoc[[0, b]] - y1) / ysoc[[0, b]].max(1e-300)
        })
        .collect();
    let zc = clean_feasible(prob, z, gates);
    // rows count as active when their multiplier beats their slack by a wide margin (a
    // looser rule over-constrains the polish on these degenerate programs)
    let strict = 1e2;
    {
        let block_on = |b: usize| norms[b] / zmax > dual_slack[b];
        // the polish factorises a dense system of Σ_on dim(block) unknowns a few times: while
        // the method still progresses, only try it when that is cheaper than a few iterations
        let dim_on = (0..nb).filter(|&b| block_on(b)).count() * d;
        if !forced && dim_on > POLISH_MAX_DIM {
            return Ok(None);
        }
        let row_on = |k: usize, b: usize| {
            if h.nrows() == 0 {
                return false; // gated program: no cone rows
            }
            let rel_slack = h[[k, b]] / (row_norm[k] * norms[b]).max(1e-300);
            let rel_mult = lam[[k, b]] * row_norm[k] / beta;
            row_norm[k] > 0.0 && rel_mult > strict * rel_slack
        };
        if let Some(zp) = super::polish::polish_with(prob, &zc, &block_on, &row_on, ctl)? {
            let zp = clean_feasible(prob, &zp, gates);
            let (cert, mup) = super::polish::sharp_certificate(prob, &zp, ctl)?;
            let ub = cert.objective.max(cert.network_objective);
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "  polish: ub={ub:.12e} dual={:.12e} viol={:e}",
                        cert.dual, cert.violation
                    )
                });
            }
            if super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
                return Ok(Some(PdResult {
                    z: zp,
                    mu: mup,
                    iters: 0,
                    converged: true,
                    stopped_early: false,
                    iterate: None,
                    all_rows_again: false,
                }));
            }
        }
    }
    Ok(None)
}

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
