//! The Newton step of the interior-point method: the direction for a complementarity target
//! (one solve with the factorised reduced system), the step length to the cones' boundaries,
//! Mehrotra's predictor and corrector, and Gondzio's centrality correctors.

use ndarray::{s, Array1, Array2};

use super::super::{Problem, Settings};
use super::cone::{soc_jordan, soc_max_step, NtScalings, ScaledBlocks};
use super::iterate::State;
use super::kkt::Kkt;
use super::lp_rows::{band_correction, col_into, fdata, lp_zeros, LpData, LpStep, LpTarget};
use crate::error::Result;

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

/// The LP rows' steps (Δh, Δμ) of the predictor, the corrector and a trial centrality
/// corrector, and the centrality correction itself (nl × B column-major each, allocated once
/// per solve).
pub(super) struct Directions {
    pub(super) dh_a: Array2<f64>,
    pub(super) dl_a: Array2<f64>,
    pub(super) dh: Array2<f64>,
    pub(super) dl: Array2<f64>,
    pub(super) dh_c: Array2<f64>,
    pub(super) dl_c: Array2<f64>,
    pub(super) extra: Array2<f64>,
}

impl Directions {
    pub(super) fn new(nl: usize, nb: usize) -> Self {
        Directions {
            dh_a: lp_zeros(nl, nb),
            dl_a: lp_zeros(nl, nb),
            dh: lp_zeros(nl, nb),
            dl: lp_zeros(nl, nb),
            dh_c: lp_zeros(nl, nb),
            dl_c: lp_zeros(nl, nb),
            extra: lp_zeros(nl, nb),
        }
    }
}

/// A direction of the primal blocks Δx = (Δt, Δz) ((d+1) × B) and cone duals Δy, with its step
/// length α.
pub(super) struct Step {
    pub(super) dx: Array2<f64>,
    pub(super) dy: Array2<f64>,
    pub(super) alpha: f64,
}

/// Mehrotra's predictor: the affine-scaling step, its cone targets −λ̃∘λ̃ and the centring
/// parameter σ = (μ_aff/μ)³ it gives.
pub(super) struct Predictor {
    pub(super) step: Step,
    pub(super) rc_soc: Array2<f64>,
    pub(super) sigma: f64,
}

/// One iteration's Newton system: the factorised reduced matrix, the cones' scalings, the dual
/// residual and the iterate.
pub(super) struct Newton<'a, 'd> {
    pub(super) prob: &'a Problem,
    pub(super) lp: &'a LpData<'d>,
    pub(super) kkt: &'a Kkt<'d>,
    pub(super) sc: &'a NtScalings,
    pub(super) rd: &'a Array2<f64>,
    pub(super) st: &'a State,
}

impl Newton<'_, '_> {
    /// The Newton direction for the LP target `tg` (Δh, Δμ written into `dh`, `dl`) and the
    /// cone targets `rc_soc` ((d+1) × B) of λ̃ ∘ (W Δy + W⁻¹ Δs): (Δx, Δy).
    pub(super) fn direction(
        &self,
        tg: LpTarget<'_>,
        rc_soc: &Array2<f64>,
        dh: &mut Array2<f64>,
        dl: &mut Array2<f64>,
    ) -> Result<(Array2<f64>, Array2<f64>)> {
        let (prob, lp, st) = (self.prob, self.lp, self.st);
        let (d, p, nb) = (prob.d(), prob.p(), prob.n_blocks());
        // LP: W⁻¹ q = rc/h ; SOC: W⁻¹ q with q = λ̃ ⊘ rc
        let socq = self.sc.scaled_targets(rc_soc);
        // rhs = −r_d + Gᵀ W⁻¹ q + Gᵀ W⁻² r_p
        let xl = lp.rhs(tg, &st.h, &st.lam, &st.rp)?; // d × B
        let mut rhs = -self.rd + &socq;
        {
            let mut zpart = rhs.slice_mut(s![1.., ..]);
            zpart += &xl;
        }
        let dx = self.kkt.solve(&rhs)?;
        // Δh = S X Δz − r_p ; Δμ = W⁻¹q − W⁻²Δh ; SOC Δs = Δx, Δy = W⁻¹q − W⁻²Δx
        let dz = dx.slice(s![1.., ..]);
        let xsdl = lp.step(tg, dz, &st.h, &st.lam, &st.rp, dh, dl)?;
        // Δy from the dual-residual equation (Gᵀ Δλ = r_d + ∇²f Δx), so the dual residual
        // contracts by exactly (1 − α) whatever the accuracy of the reduced solve.
        let pd = prob.predict(dz);
        let hd: Array1<f64> = pd
            .iter()
            .zip(self.kkt.sqw.iter())
            .map(|(a, w)| a * w * w)
            .collect();
        let ghd = prob.at(&hd); // d × P
        let mut dy = self.rd.clone();
        for b in 0..nb {
            let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
            for j in 0..d {
                dy[[j + 1, b]] += sig * ghd[[j, i]] - xsdl[[j, b]];
            }
        }
        Ok((dx, dy))
    }

    /// The largest step (≤ 1/0.99) along (Δx, Δh, Δμ, Δy) that keeps every LP pair and cone
    /// inside.
    pub(super) fn max_step(
        &self,
        dx: &Array2<f64>,
        dh: &Array2<f64>,
        dlam: &Array2<f64>,
        dy: &Array2<f64>,
    ) -> Result<f64> {
        let st = self.st;
        let (d, nb) = st.z.dim();
        let dm = d + 1;
        let mut a = self
            .lp
            .max_step(LpStep::new(&st.h, dh, &st.lam, dlam), 1.0 / 0.99)?;
        let mut u = vec![0.0; dm];
        let (mut du, mut yv, mut dyv) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
        for b in 0..nb {
            u[0] = st.t[b];
            for j in 0..d {
                u[j + 1] = st.z[[j, b]];
            }
            col_into(dx, b, &mut du);
            a = soc_max_step(&u, &du, a);
            col_into(&st.ysoc, b, &mut yv);
            col_into(dy, b, &mut dyv);
            a = soc_max_step(&yv, &dyv, a);
        }
        Ok(a)
    }

    /// Mehrotra's predictor (LP target −hμ, cone targets −λ̃∘λ̃) at complementarity `mu`.
    pub(super) fn predictor(&self, dirs: &mut Directions, mu: f64, nu: f64) -> Result<Predictor> {
        let st = self.st;
        let (d, nb) = st.z.dim();
        let rc_soc = self.sc.affine_targets();
        // LP target −λ̃∘λ̃ = −hμ
        let (dxa, dya) =
            self.direction(LpTarget::Affine, &rc_soc, &mut dirs.dh_a, &mut dirs.dl_a)?;
        let aa = self.max_step(&dxa, &dirs.dh_a, &dirs.dl_a, &dya)?.min(1.0);
        let mut gap_aff = self
            .lp
            .gap_after(LpStep::new(&st.h, &dirs.dh_a, &st.lam, &dirs.dl_a), aa)?;
        let (t, z, ysoc) = (&st.t, &st.z, &st.ysoc);
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
        Ok(Predictor {
            step: Step {
                dx: dxa,
                dy: dya,
                alpha: aa,
            },
            rc_soc,
            sigma,
        })
    }

    /// Mehrotra's corrector (targets σμe − λ̃∘λ̃ − (W⁻¹Δs_a)∘(WΔy_a)), followed by Gondzio's
    /// centrality correctors while the step is short; the step keeps 1% to the boundary.
    pub(super) fn corrector(
        &self,
        pr: &Predictor,
        dirs: &mut Directions,
        mu: f64,
        settings: &Settings,
    ) -> Result<Step> {
        let (dm, nb) = self.sc.lt.dim();
        let sigma = pr.sigma;
        let mut rc_soc = pr.rc_soc.clone();
        let mut ws = vec![0.0; dm];
        let mut wy = vec![0.0; dm];
        let mut tmp = vec![0.0; dm];
        let mut scaled = ScaledBlocks::new(self.sc);
        for b in 0..nb {
            scaled.get(b, &pr.step.dx, &pr.step.dy, &mut ws, &mut wy);
            soc_jordan(&ws, &wy, &mut tmp);
            rc_soc[[0, b]] += sigma * mu;
            for a in 0..dm {
                rc_soc[[a, b]] -= tmp[a];
            }
        }
        let tg = LpTarget::Corrector {
            sigma_mu: sigma * mu,
            dh: fdata(&dirs.dh_a)?,
            dl: fdata(&dirs.dl_a)?,
            extra: None,
        };
        let (dx, dy) = self.direction(tg, &rc_soc, &mut dirs.dh, &mut dirs.dl)?;
        let amax = self.max_step(&dx, &dirs.dh, &dirs.dl, &dy)?;
        let alpha = (0.99 * amax).min(1.0);
        self.centrality_correctors(Step { dx, dy, alpha }, &rc_soc, dirs, sigma, mu, settings)
    }

    /// Gondzio's centrality correctors: aim at a longer step α̃ and push the trial
    /// complementarity products that would leave [0.1, 10]·σμ back into it; a corrected step
    /// replaces `step` (and its Δh, Δμ in `dirs`) when it is longer by enough.
    fn centrality_correctors(
        &self,
        step: Step,
        rc_soc: &Array2<f64>,
        dirs: &mut Directions,
        sigma: f64,
        mu: f64,
        settings: &Settings,
    ) -> Result<Step> {
        let (st, lt) = (self.st, &self.sc.lt);
        let (dm, nb) = lt.dim();
        let Step {
            mut dx,
            mut dy,
            mut alpha,
        } = step;
        let mut ws = vec![0.0; dm];
        let mut wy = vec![0.0; dm];
        let mut tmp = vec![0.0; dm];
        let mut scaled = ScaledBlocks::new(self.sc);
        let mut n_corr = 0;
        while n_corr < GONDZIO_MAX && alpha < GONDZIO_BELOW && alpha > 0.0 {
            let at = (alpha + GONDZIO_STEP).min(1.0);
            let band = (GONDZIO_LO * sigma * mu, GONDZIO_HI * sigma * mu);
            self.lp.centrality(
                LpStep::new(&st.h, &dirs.dh, &st.lam, &dirs.dl),
                at,
                band,
                &mut dirs.extra,
            )?;
            let mut rc_c = rc_soc.clone();
            for b in 0..nb {
                // the scaled trial point's Jordan product, its spectral values moved into the band
                scaled.get(b, &dx, &dy, &mut ws, &mut wy);
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
                dh: fdata(&dirs.dh_a)?,
                dl: fdata(&dirs.dl_a)?,
                extra: Some(fdata(&dirs.extra)?),
            };
            let (dxc, dyc) = self.direction(tgc, &rc_c, &mut dirs.dh_c, &mut dirs.dl_c)?;
            let ac = (0.99 * self.max_step(&dxc, &dirs.dh_c, &dirs.dl_c, &dyc)?).min(1.0);
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
            std::mem::swap(&mut dirs.dh, &mut dirs.dh_c);
            std::mem::swap(&mut dirs.dl, &mut dirs.dl_c);
        }
        Ok(Step { dx, dy, alpha })
    }
}
