//! The iterate of the interior-point method: its start, residuals and step, and the
//! [`Iterate`] a screened solve hands on.

use ndarray::{s, Array1, Array2, ArrayView2, Axis, ShapeBuilder};

use super::super::Problem;
use super::cone::soc_det;
use super::lp_rows::{lp_zeros, LpData};
use super::step::{Directions, Step};
use crate::control::Control;
use crate::error::Result;

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
    /// The data rows of each pattern's LP rows (column-major nl × P, see [`super::lp_rows::nearest_rows`]);
    /// `None`: all n rows.
    pub lp_rows: Option<Vec<usize>>,
}

impl Iterate {
    /// The iterate restricted to the patterns `idx` of a program with `p` patterns and `reps`
    /// blocks per pattern (block r·p + i becomes r·|idx| + a for `idx[a] = i`).
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

/// The iterate of a solve — blocks z (d × B), epigraphs t (B), cone duals y ((d+1) × B), LP
/// slacks h and multipliers μ and S X z (nl × B column-major) — with the residual arrays of the
/// LP rows the current iteration writes: r_p = h − S X z and μ/h (W⁻² of the LP part).
pub(super) struct State {
    pub(super) z: Array2<f64>,
    pub(super) t: Array1<f64>,
    pub(super) h: Array2<f64>,
    pub(super) lam: Array2<f64>,
    pub(super) ysoc: Array2<f64>,
    pub(super) sxz: Array2<f64>,
    pub(super) rp: Array2<f64>,
    pub(super) dlp: Array2<f64>,
}

/// The residuals and measures of an iterate.
pub(super) struct Residuals {
    /// √ℓ'' per sample (the loss curvature of the reduced system).
    pub(super) sqw: Array1<f64>,
    /// r_d ((d+1) × B): r_d,z = σ_b Xᵀ D_i ℓ' − ȳ_b − Xᵀ S_i μ_b ; r_d,t = β − y₀.
    pub(super) rd: Array2<f64>,
    /// The complementarity measure μ = (Σ h μ + Σ sᵀy) / ν.
    pub(super) mu: f64,
    /// The primal objective f(z) + β Σ t.
    pub(super) pobj: f64,
    /// max |r_d| and max |r_p|.
    pub(super) rdn: f64,
    pub(super) rpn: f64,
}

/// max_k ‖x_k‖ (at least 1e-300): the scale of the start and of the blocks' regularisation.
pub(super) fn max_row_norm(prob: &Problem) -> f64 {
    (0..prob.n())
        .map(|k| prob.x.row(k).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max)
        .max(1e-300)
}

impl State {
    /// The starting point: blocks along the pattern witnesses (`gates`, when given), epigraphs
    /// `epigraph` × ‖z_b‖ inside their cones, LP slacks max(S X z, floor) — rows where the
    /// witness margin is small start infeasible (r_p ≠ 0), which keeps the start well centred —
    /// and duals centred at μ₀ (s ∘ y = μ₀ e); or `warm`, an interior iterate of this program.
    pub(super) fn start(
        prob: &Problem,
        lp: &LpData<'_>,
        gates: Option<ArrayView2<f64>>,
        warm: Option<&Iterate>,
        epigraph: f64,
        xmax: f64,
        ctl: &Control,
    ) -> Result<State> {
        let (d, p, nb, nl) = (prob.d(), prob.p(), prob.n_blocks(), lp.nl);
        let dm = d + 1;
        let beta = prob.beta;
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
        // S X z per block (LP rows), column-major like every LP array below
        ctl.check()?;
        let mut sxz = lp.signed_x(&z)?;
        ctl.check()?; // the start's nl × B arrays: tens of ms at n = P = 1000
        let hfloor = 0.1 * c0 * xmax;
        let mut h = sxz.mapv(|v| v.max(hfloor));
        let mut t = Array1::<f64>::from_elem(nb, 0.0);
        for b in 0..nb {
            let zn = z.column(b).iter().map(|v| v * v).sum::<f64>().sqrt();
            t[b] = (epigraph * zn).max(0.05 * epigraph * c0);
        }
        let mu0 = beta.max(1e-3 * ynorm) * 0.1 * c0;
        let mut lam = h.mapv(|v| mu0 / v);
        ctl.check()?;
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
                ctl.check()?;
                sxz = lp.signed_x(&z)?;
            }
        }
        ctl.check()?;
        Ok(State {
            z,
            t,
            h,
            lam,
            ysoc,
            sxz,
            rp: lp_zeros(nl, nb),
            dlp: lp_zeros(nl, nb),
        })
    }

    /// The residuals at this iterate (writing r_p and μ/h), ν = B (nl + 1) the barrier
    /// parameter's degree.
    pub(super) fn residuals(
        &mut self,
        prob: &Problem,
        lp: &LpData<'_>,
        nu: f64,
    ) -> Result<Residuals> {
        let (d, p, nb) = (prob.d(), prob.p(), prob.n_blocks());
        let dm = d + 1;
        let beta = prob.beta;
        let pred = prob.predict(self.z.view());
        let gl = prob.loss_grad(&pred);
        let sqw = prob.loss_second(&pred).mapv(|v| v.max(0.0).sqrt());
        // r_d,z = σ_b Xᵀ D_i ℓ' − ȳ_b − Xᵀ S_i μ_b ; r_d,t = β − y₀
        let gx = prob.at(&gl); // d × P
                               // r_p = h − S X z, Σ h μ, max |r_p| and Xᵀ S_i μ_b (d × B) in one pass
        let (gaps, rpn, xsmu) =
            lp.residual(&self.h, &self.lam, &self.sxz, &mut self.rp, &mut self.dlp)?;
        let (z, t, ysoc) = (&self.z, &self.t, &self.ysoc);
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
        Ok(Residuals {
            sqw,
            rd,
            mu,
            pobj,
            rdn,
            rpn,
        })
    }

    /// The step x += α Δx, (h, μ, S X z) along (Δh, Δμ), y += α Δy.
    pub(super) fn take_step(
        &mut self,
        lp: &LpData<'_>,
        alpha: f64,
        step: &Step,
        dirs: &Directions,
    ) -> Result<()> {
        let (dx, dy) = (&step.dx, &step.dy);
        self.t.scaled_add(alpha, &dx.row(0));
        self.z.scaled_add(alpha, &dx.slice(s![1.., ..]));
        lp.update(
            alpha,
            &mut self.h,
            &mut self.lam,
            &mut self.sxz,
            &dirs.dh,
            &dirs.dl,
            &self.rp,
        )?;
        self.ysoc.scaled_add(alpha, dy);
        Ok(())
    }

    /// The iterate, handed on as [`Iterate`] (μ at it, (μ, t) two iterations earlier).
    pub(super) fn into_iterate(
        self,
        mu: f64,
        back: Option<(f64, Array1<f64>)>,
        lp_rows: Option<Vec<usize>>,
    ) -> Iterate {
        Iterate {
            z: self.z,
            t: self.t,
            h: self.h,
            lam: self.lam,
            ysoc: self.ysoc,
            mu,
            back,
            lp_rows,
        }
    }
}
