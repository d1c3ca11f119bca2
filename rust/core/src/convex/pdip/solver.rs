//! The interior-point method's main loop: each iteration computes the residuals, tries the
//! certificate (or a polish on the identified support) when close, scales the cones, factorises
//! the reduced Newton system, takes Mehrotra's predictor–corrector step and updates the iterate;
//! every phase is a call to a named piece (cone algebra in `cone`, the KKT system in `kkt`, the
//! LP rows in `lp_rows`, the iterate in `iterate`, the step in `step`), and wall time per phase
//! goes into the trace (`verbose`).

use std::collections::VecDeque;

use ndarray::{Array1, Array2, ArrayView2};

use super::super::{Problem, Settings};
use super::cone::NtScalings;
use super::iterate::{max_row_norm, State};
use super::kkt::{block_matrices, Kkt, Woodbury, SCHUR_MIN_WEIGHT};
use super::lp_rows::{LpData, DROPPED_ROW_TOL};
use super::step::{Directions, Newton};
use super::{clean_feasible, Iterate, PdResult};
use crate::control::Control;
use crate::error::{Error, Result};

/// Wall time per stage of the iterations, one line of [`Settings::trace`] when the solve ends
/// (collected only while tracing).
struct Phases {
    on: Option<super::super::Trace>,
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

    fn new(on: Option<super::super::Trace>) -> Self {
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
/// How a certificate attempt at an iterate ended.
enum Certificate {
    /// The gap closed: the certified result.
    Closed(Box<PdResult>),
    /// The gap is open and the point lies beyond a row the method left out: stop iterating.
    Beyond,
    /// The gap is open: iterate on.
    Open,
}

/// The solve's progress between iterations.
struct Run {
    iters: usize,
    /// The best certified dual bound so far with its point: (dual, z, μ).
    best: Option<(f64, Array2<f64>, Array2<f64>)>,
    /// Short steps (α < 0.01) in a row.
    stall: usize,
    /// The relative gap below which the next polish is tried.
    polish_at: f64,
    /// The weight above which a block goes to the Schur complement (see `SCHUR_MIN_WEIGHT`):
    /// lowered (×0.1, down to 1) each time a solve stops short of its refinement tolerance by
    /// far, i.e. when the Woodbury update has lost the accuracy the direction needs.
    schur_min_weight: f64,
    /// (μ, t) of the last two iterations, oldest first (for the screening indicator).
    hist: VecDeque<(f64, Array1<f64>)>,
}

/// Stop at the second short step in a row (α < 0.01): past that point the reduced solve has
/// lost the accuracy it needs and the caller finishes from this iterate.
const MAX_STALL: usize = 2;

/// [`solve_until`](super::solve_until) keeping `lp_rows` LP rows per pattern on a cold start
/// ([`nearest_rows`](super::lp_rows::nearest_rows); `None`:
/// [`lp_row_count`](super::lp_rows::lp_row_count)), whose epigraphs start at `epigraph` ×
/// ‖z_b‖. When the method ends uncertified at a point beyond a row it did not keep (a facet of
/// that pattern's cone was left out, and the relaxed program's optimum lies past it), it solves
/// again with every row.
#[allow(clippy::too_many_arguments)]
pub(super) fn solve_rows(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    warm: Option<&Iterate>,
    lp_rows: Option<usize>,
    epigraph: f64,
    ctl: &Control,
) -> Result<PdResult> {
    let (n, nb) = (prob.n(), prob.n_blocks());
    let t_start = std::time::Instant::now();
    let xs = prob.x.as_standard_layout().into_owned();
    let Some(xsl) = xs.as_slice() else {
        return Err(Error::Numerical("data matrix is not contiguous".into()));
    };
    let mut wood = Woodbury::new(prob, xsl, ctl)?;
    ctl.check()?;
    let lp = LpData::new(
        prob,
        &xs,
        xsl,
        &wood.rows,
        &wood.row_norm2,
        gates,
        warm,
        lp_rows,
        ctl,
    );
    ctl.check()?;
    let par = lp.par;
    let xmax = max_row_norm(prob);
    let mut st = State::start(prob, &lp, gates, warm, epigraph, xmax, ctl)?;
    let nu = (nb * (lp.nl + 1)) as f64;
    let mut dirs = Directions::new(lp.nl, nb);
    let max_iter = settings.max_iter.min(200);
    ctl.begin_stage();
    ctl.set_total(max_iter as u64);
    let mut phases = Phases::new(settings.trace.clone());
    let mut run = Run {
        iters: 0,
        best: None,
        stall: 0,
        polish_at: 1e-4,
        schur_min_weight: SCHUR_MIN_WEIGHT,
        hist: VecDeque::with_capacity(3),
    };
    while run.iters < max_iter {
        phases.lap(7);
        ctl.check()?;
        run.iters += 1;
        let iters = run.iters;
        ctl.advance(1);
        // ---- residuals ----
        let res = st.residuals(prob, &lp, nu)?;
        let mu = res.mu;
        if settings.tracing() {
            settings.note(|| {
                format!(
                "pdip it={iters} pobj={:.12e} mu={mu:.3e} gap={:.3e} rd={:.3e} rp={:.3e} t={:.3}",
                res.pobj,
                mu * nu,
                res.rdn,
                res.rpn,
                t_start.elapsed().as_secs_f64()
            )
            });
        }
        phases.lap(0);
        // ---- certificate when the internal measures say we are close ----
        let scale = res.pobj.abs().max(1.0);
        if mu * nu <= settings.tol * scale {
            match certify_iterate(prob, settings, &lp, &st, gates, &mut run) {
                Certificate::Closed(done) => return Ok(*done),
                Certificate::Beyond => break,
                Certificate::Open => {}
            }
        }
        if mu * nu <= 1e-15 * scale || run.stall >= MAX_STALL {
            break;
        }
        // ---- stop for screening, or polish on the identified support once the iterate is
        // close or progress stalls ----
        let rel_gap = mu * nu / scale;
        if stop_rel_gap.is_some_and(|g| rel_gap <= g) {
            ctl.set_done(iters as u64);
            return Ok(stopped_early(st, &lp, run, mu, n));
        }
        if stop_rel_gap.is_some() {
            if run.hist.len() == 2 {
                run.hist.pop_front();
            }
            run.hist.push_back((mu, st.t.clone()));
        }
        if rel_gap <= run.polish_at || run.stall > 0 {
            let (hf, lf) = (
                lp.scatter(&st.h, n, f64::INFINITY),
                lp.scatter(&st.lam, n, 0.0),
            );
            let forced = run.stall > 0;
            let (z, ysoc) = (&st.z, &st.ysoc);
            let polished =
                polish_from_indicators(prob, settings, z, &hf, &lf, ysoc, gates, forced, ctl)?;
            if let Some(done) = polished {
                if settings.tracing() {
                    settings.note(|| format!("pdip polished at it={iters}"));
                }
                return Ok(PdResult { iters, ..done });
            }
            run.polish_at = rel_gap * 1e-2;
        }
        phases.lap(1);
        // ---- scaling and block matrices B_b = W_b⁻² + P_b ----
        let Some(sc) = NtScalings::new(&st.t, &st.z, &st.ysoc) else {
            // rounding put an iterate on the cone's boundary: stop with what we have
            break;
        };
        let delta = 1e-9 * xmax * xmax * prob.loss.curvature().min(1.0);
        let w2 = sc.w2inv();
        // P_b = Xᵀ diag(μ_b/h_b) X for every block at once: (X⊙X)ᵀ (μ/h), one GEMM
        ctl.check()?;
        let gram = lp.gram(&wood.xx, &st.dlp, ctl)?; // B × nt
        let (bmat, binv) = block_matrices(&gram, &w2, &sc.wbar, &sc.eta, delta, prob.d(), nb, par)?;
        ctl.check()?;
        phases.lap(2);
        // ---- M = I + diag(√w) Σ_i X_R (C_v + C_w) X_Rᵀ diag(√w), the Schur blocks apart ----
        let sqw = res.sqw;
        let kept = wood.schur_blocks(&binv, &sqw, run.schur_min_weight);
        if settings.tracing() {
            settings.note(|| format!("   schur blocks={}", kept.len()));
        }
        wood.assemble(&binv, &kept, &sqw, par, ctl)?;
        phases.lap(3);
        let (lm, schur) = wood.factorise(kept, &bmat, &sqw, par, ctl)?;
        phases.lap(4);
        let kkt = Kkt::new(prob, bmat, binv, sqw, lm, schur, rel_gap, par, ctl);
        let newton = Newton {
            prob,
            lp: &lp,
            kkt: &kkt,
            sc: &sc,
            rd: &res.rd,
            st: &st,
        };
        // ---- predictor ----
        let pred = newton.predictor(&mut dirs, mu, nu)?;
        phases.lap(5);
        ctl.check()?;
        // ---- corrector (and centrality correctors) ----
        let step = newton.corrector(&pred, &mut dirs, mu, settings)?;
        let alpha = step.alpha;
        if !alpha.is_finite() || alpha <= 0.0 {
            break;
        }
        if settings.tracing() {
            let (aa, sigma) = (pred.step.alpha, pred.sigma);
            settings.note(|| format!("   alpha_aff={aa:.3e} sigma={sigma:.3e} alpha={alpha:.3e}"));
        }
        adapt_to_solve_accuracy(&kkt, &mut run, settings);
        if alpha < 1e-2 {
            run.stall += 1;
        } else {
            run.stall = 0;
        }
        phases.lap(6);
        // ---- update ----
        st.take_step(&lp, alpha, &step, &dirs)?;
    }
    ctl.set_done(run.iters as u64);
    finish(
        prob,
        settings,
        gates,
        stop_rel_gap,
        epigraph,
        &lp,
        st,
        run,
        ctl,
    )
}

/// The rigorous certificate of the iterate (cleaned to exact feasibility, with its LP
/// multipliers as the dual point), remembering the best dual bound in `run`.
fn certify_iterate(
    prob: &Problem,
    settings: &Settings,
    lp: &LpData<'_>,
    st: &State,
    gates: Option<ArrayView2<f64>>,
    run: &mut Run,
) -> Certificate {
    let zc = clean_feasible(prob, &st.z, gates);
    let lam_full = lp.scatter(&st.lam, prob.n(), 0.0);
    let cert = prob.certify(&zc, Some(&lam_full), None);
    let ub = cert.objective.max(cert.network_objective);
    if run.best.as_ref().is_none_or(|bm| cert.dual > bm.0) {
        run.best = Some((cert.dual, zc.clone(), lam_full.clone().into_owned()));
    }
    if settings.tracing() {
        settings.note(|| {
            format!(
                "pdip cert ub={ub:.12e} dual={:.12e} viol={:e}",
                cert.dual, cert.violation
            )
        });
    }
    if super::super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
        return Certificate::Closed(Box::new(PdResult {
            z: zc,
            mu: lam_full.into_owned(),
            iters: run.iters,
            converged: true,
            stopped_early: false,
            iterate: None,
            all_rows_again: false,
        }));
    }
    // a point beyond a row the method left out stays there: no iteration fixes that
    if lp.dropped_violations(prob, &st.z, DROPPED_ROW_TOL).0 > 0 {
        Certificate::Beyond
    } else {
        Certificate::Open
    }
}

/// The result of a solve stopped at the relative gap [`solve_until`](super::solve_until) asked for: the point,
/// and the iterate (with (μ, t) two iterations back when the run made them) for screening.
fn stopped_early(st: State, lp: &LpData<'_>, mut run: Run, mu: f64, n: usize) -> PdResult {
    let back = if run.hist.len() == 2 {
        run.hist.pop_front()
    } else {
        None
    };
    PdResult {
        z: st.z.clone(),
        mu: lp.scatter(&st.lam, n, 0.0).into_owned(),
        iters: run.iters,
        converged: false,
        stopped_early: true,
        all_rows_again: false,
        iterate: Some(st.into_iterate(mu, back, lp.idx.clone())),
    }
}

/// After a direction: when its solve stopped far short of the refinement tolerance, send more
/// blocks to the Schur complement from the next iteration on.
fn adapt_to_solve_accuracy(kkt: &Kkt<'_>, run: &mut Run, settings: &Settings) {
    if kkt.worst_residual.get() > 1e3 * kkt.refine_tol {
        run.schur_min_weight = (0.1 * run.schur_min_weight).max(1.0);
        if settings.tracing() {
            let w = run.schur_min_weight;
            settings.note(|| {
                format!(
                    "   solve residual {:.1e}: Schur weight now {w:.0e}",
                    kkt.worst_residual.get()
                )
            });
        }
    }
}

/// The end of a solve that did not certify within its iterations: solve again with every row
/// when the point lies beyond rows the method left out, else the best certified point (or the
/// cleaned last iterate).
#[allow(clippy::too_many_arguments)]
fn finish(
    prob: &Problem,
    settings: &Settings,
    gates: Option<ArrayView2<f64>>,
    stop_rel_gap: Option<f64>,
    epigraph: f64,
    lp: &LpData<'_>,
    st: State,
    run: Run,
    ctl: &Control,
) -> Result<PdResult> {
    let n = prob.n();
    let iters = run.iters;
    let (beyond, worst) = lp.dropped_violations(prob, &st.z, DROPPED_ROW_TOL);
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
    let (z, mu) = match run.best {
        Some((_, zb, mb)) => (zb, mb),
        None => (
            clean_feasible(prob, &st.z, gates),
            lp.scatter(&st.lam, n, 0.0).into_owned(),
        ),
    };
    Ok(PdResult {
        z,
        mu,
        iters,
        converged: false,
        stopped_early: false,
        iterate: None,
        all_rows_again: false,
    })
}

/// Unknowns of the Newton polish above which it is only tried once the method stalls.
const POLISH_MAX_DIM: usize = 400;
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
    let norms = super::super::block_norms(z);
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
        if let Some(zp) =
            super::super::polish::polish_with(prob, &zc, &block_on, &row_on, &settings.budget, ctl)?
        {
            let zp = clean_feasible(prob, &zp, gates);
            let (cert, mup) = super::super::polish::sharp_certificate(prob, &zp, ctl)?;
            let ub = cert.objective.max(cert.network_objective);
            if settings.tracing() {
                settings.note(|| {
                    format!(
                        "  polish: ub={ub:.12e} dual={:.12e} viol={:e}",
                        cert.dual, cert.violation
                    )
                });
            }
            if super::super::gap_ok(ub, cert.dual, settings.tol) && cert.violation == 0.0 {
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
