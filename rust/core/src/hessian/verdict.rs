//! Verdicts per point from a batch of estimated Hessians, their error estimates and spectra, and
//! the 1-D certificates of indefiniteness.
//!
//! Candidates: finite points with λ_min < −τ (τ = ‖E‖_F), and points whose stencil crossed a kink
//! with λ_min < 0. Along the λ_min eigenvector v of a candidate, the 1-D second difference
//! q(t) = f(θ + tv) + f(θ − tv) − 2 f(θ) is evaluated at t = t₀ · 2^k, k < [`CERT_STEPS`], with
//! t₀ = max(median_i h_i, √(16 · noise / |λ_min|)) and noise = 4 · [`CERT_ULPS`] · eps · |s₀|;
//! the point is certified indefinite at the first k where q is finite and below −tol at both t
//! and 2t, tol = [`CERT_ULPS`] · eps · (s₊ + s₋ + 2 s₀) (rounding scales of the three values;
//! |f| for objectives without scales). q(t) < 0 violates midpoint convexity at (θ − tv, θ + tv),
//! so the certificate holds at kinks too.
//!
//! Verdict: `Nonfinite` (an evaluation or an entry of H not finite), `Indefinite` (certified),
//! `Unreliable` (kinks crossed, or λ_min < −τ not confirmed by q), else `Psd` (λ_min ≥ −τ).
//!
//! The steps are evaluated in stages, one call of the caller's evaluator per stage for all
//! candidates still uncertified (rows ordered `[candidate][step][+, −]`): steps 0 and 1 first,
//! then one more step per stage, until the first pair of consecutive negative steps.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayView3};

use super::BlockValues;
use crate::error::{Error, Result};

/// Units of eps · (Σ scales) allowed as rounding noise in a certifying 1-D second difference.
pub const CERT_ULPS: f64 = 256.0;
/// Number of steps tried for the certificate (t₀ · 2^k).
pub const CERT_STEPS: usize = 5;

/// The verdict of one point (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// λ_min ≥ −τ: positive semidefinite within the estimated error.
    Psd,
    /// Certified by a negative 1-D second difference.
    Indefinite,
    /// Kinks crossed, or λ_min < −τ not confirmed.
    Unreliable,
    /// Some evaluation (or an entry of H) was not finite.
    Nonfinite,
}

impl Verdict {
    /// The name used by the Python package.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Psd => "psd",
            Verdict::Indefinite => "indefinite",
            Verdict::Unreliable => "unreliable",
            Verdict::Nonfinite => "nonfinite",
        }
    }
}

/// Certificates and verdicts of a batch.
#[derive(Clone, Debug)]
pub struct Certificates {
    /// (B,) the certifying step t (NaN where not certified).
    pub t: Array1<f64>,
    /// (B,) q(t) < 0 (NaN where not certified).
    pub gap: Array1<f64>,
    /// (B,) the rounding tolerance of q(t) (NaN where not certified).
    pub tol: Array1<f64>,
    /// (B,) verdicts.
    pub verdict: Vec<Verdict>,
    /// Number of candidates.
    pub n_candidates: usize,
    /// Evaluations of the objective made for the certificates (4 to 2 · [`CERT_STEPS`] per
    /// candidate).
    pub n_evaluations: usize,
}

/// What the verdicts are computed from, per point of a batch of B points in R^D.
#[derive(Clone, Copy, Debug)]
pub struct VerdictInput<'a> {
    /// (B, D) the points.
    pub points: ArrayView2<'a, f64>,
    /// (B, D) the steps h_i.
    pub steps: ArrayView2<'a, f64>,
    /// (B,) f(θ).
    pub f0: ArrayView1<'a, f64>,
    /// (B,) the rounding scale of f(θ).
    pub s0: ArrayView1<'a, f64>,
    /// (B, D, D) kink flags.
    pub kink: ArrayView3<'a, bool>,
    /// (B,) every evaluation and every entry of H finite.
    pub ok: &'a [bool],
    /// (B,) τ = ‖E‖_F.
    pub tol: ArrayView1<'a, f64>,
    /// (B,) λ_min.
    pub lam_min: ArrayView1<'a, f64>,
    /// (B, D) unit eigenvector of λ_min.
    pub vmin: ArrayView2<'a, f64>,
    /// Whether the evaluator's scales are rounding scales (native objectives) and `s0` too;
    /// otherwise |f| is the scale.
    pub native_scales: bool,
}

/// NumPy's `maximum`: NaN when either is NaN.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// NumPy's `median` of finite values: the middle value, or the mean of the two middle values.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Verdicts of a batch, certifying candidates with one call of `eval` (values and, optionally,
/// rounding scales at the rows of its argument).
pub fn certify(
    inp: &VerdictInput<'_>,
    eval: &mut dyn FnMut(ArrayView2<'_, f64>) -> Result<BlockValues>,
) -> Result<Certificates> {
    let (b, d) = inp.points.dim();
    let shapes_ok = inp.steps.dim() == (b, d)
        && inp.f0.len() == b
        && inp.s0.len() == b
        && inp.kink.dim() == (b, d, d)
        && inp.ok.len() == b
        && inp.tol.len() == b
        && inp.lam_min.len() == b
        && inp.vmin.dim() == (b, d);
    if !shapes_ok {
        return Err(Error::invalid(
            "points",
            "the points, steps, values, kink flags and spectra of the batch disagree in shape",
        ));
    }
    let kinked: Vec<bool> = inp
        .kink
        .outer_iter()
        .map(|k| k.iter().any(|&x| x))
        .collect();
    let below: Vec<bool> = (0..b).map(|p| inp.lam_min[p] < -inp.tol[p]).collect();
    let idx: Vec<usize> = (0..b)
        .filter(|&p| inp.ok[p] && (below[p] || (kinked[p] && inp.lam_min[p] < 0.0)))
        .collect();
    let mut t_out = Array1::from_elem(b, f64::NAN);
    let mut gap_out = Array1::from_elem(b, f64::NAN);
    let mut tol_out = Array1::from_elem(b, f64::NAN);
    let mut n_evaluations = 0;
    if !idx.is_empty() {
        let eps = f64::EPSILON;
        let nc = idx.len();
        // t0 per candidate (ts[c][k] = t0_c · 2^k)
        let mut buf = vec![0.0; d];
        let t0: Vec<f64> = idx
            .iter()
            .map(|&p| {
                let noise = CERT_ULPS * eps * 4.0 * inp.s0[p].abs();
                buf.iter_mut()
                    .zip(inp.steps.row(p))
                    .for_each(|(o, &h)| *o = h);
                let sqrt_term = (16.0 * noise / inp.lam_min[p].abs()).sqrt();
                nan_max(median(&mut buf), sqrt_term)
            })
            .collect();
        let step_t = |c: usize, k: usize| t0[c] * (1u32 << k) as f64;
        let mut q = vec![0.0; nc * CERT_STEPS];
        let mut tol = vec![0.0; nc * CERT_STEPS];
        let mut neg = vec![false; nc * CERT_STEPS];
        let mut active: Vec<usize> = (0..nc).collect();
        // Stage s tests the pair of steps (s, s + 1) for the candidates not yet certified,
        // evaluating step s + 1 (and step 0 at the first stage): the first pair found is the one
        // a single batch of all steps gives (every row's value is independent of its block), at
        // 4 evaluations for a candidate certified at once instead of 2 · CERT_STEPS.
        for s in 0..CERT_STEPS - 1 {
            if active.is_empty() {
                break;
            }
            let new_steps: &[usize] = if s == 0 { &[0, 1] } else { &[s + 1] };
            let per = new_steps.len() * 2;
            let mut rows = Array2::<f64>::zeros((active.len() * per, d));
            for (a, &c) in active.iter().enumerate() {
                let p = idx[c];
                let theta = inp.points.row(p);
                let v = inp.vmin.row(p);
                for (m, &k) in new_steps.iter().enumerate() {
                    let t = step_t(c, k);
                    let r = a * per + 2 * m;
                    for j in 0..d {
                        let tv = t * v[j];
                        rows[[r, j]] = theta[j] + tv;
                        rows[[r + 1, j]] = theta[j] - tv;
                    }
                }
            }
            let (vals, scales) = eval(rows.view())?;
            if vals.len() != rows.nrows() || scales.as_ref().is_some_and(|x| x.len() != vals.len())
            {
                return Err(Error::Numerical(format!(
                    "evaluator returned {} values for {} certification points",
                    vals.len(),
                    rows.nrows()
                )));
            }
            n_evaluations += rows.nrows();
            let scale = |r: usize| match (&scales, inp.native_scales) {
                (Some(x), true) => x[r].abs(),
                _ => vals[r].abs(),
            };
            for (a, &c) in active.iter().enumerate() {
                let p = idx[c];
                let s_ref = if inp.native_scales {
                    inp.s0[p].abs()
                } else {
                    inp.f0[p].abs()
                };
                for (m, &k) in new_steps.iter().enumerate() {
                    let r = a * per + 2 * m;
                    let i = c * CERT_STEPS + k;
                    q[i] = vals[r] + vals[r + 1] - 2.0 * inp.f0[p];
                    tol[i] = CERT_ULPS * eps * (scale(r) + scale(r + 1) + 2.0 * s_ref);
                    neg[i] = q[i].is_finite() && q[i] < -tol[i];
                }
            }
            // negative at two consecutive steps t and 2t
            active.retain(|&c| {
                let i = c * CERT_STEPS + s;
                if neg[i] && neg[i + 1] {
                    let p = idx[c];
                    t_out[p] = step_t(c, s);
                    gap_out[p] = q[i];
                    tol_out[p] = tol[i];
                    false
                } else {
                    true
                }
            });
        }
    }
    let verdict = (0..b)
        .map(|p| {
            if !inp.ok[p] {
                Verdict::Nonfinite
            } else if t_out[p].is_finite() {
                Verdict::Indefinite
            } else if kinked[p] || below[p] {
                Verdict::Unreliable
            } else {
                Verdict::Psd
            }
        })
        .collect();
    Ok(Certificates {
        t: t_out,
        gap: gap_out,
        tol: tol_out,
        verdict,
        n_candidates: idx.len(),
        n_evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    /// f(θ) = θ₀² − θ₁² + 0·θ₂ (H = diag(2, −2, 0)), with scales |f|.
    fn saddle(rows: ArrayView2<'_, f64>) -> Result<BlockValues> {
        let v: Vec<f64> = rows
            .outer_iter()
            .map(|r| r[0] * r[0] - r[1] * r[1])
            .collect();
        Ok((v, None))
    }

    #[test]
    fn saddle_is_certified_and_psd_point_is_not() {
        let points =
            Array2::from_shape_vec((3, 3), vec![0.5, 0.2, 1.0, 0.5, 0.2, 1.0, 0.0, 0.0, 0.0])
                .unwrap();
        let steps = Array2::from_elem((3, 3), 1.0 / 1024.0);
        let f0: Array1<f64> = points
            .outer_iter()
            .map(|r| r[0] * r[0] - r[1] * r[1])
            .collect();
        let s0 = f0.mapv(f64::abs);
        let kink = Array3::from_elem((3, 3, 3), false);
        let ok = [true, true, false];
        // point 0: λ_min = −2 along e₁ (a candidate); point 1: λ_min = 0 (psd); point 2: not ok
        let tol = Array1::from(vec![1e-6, 1e-6, f64::NAN]);
        let lam = Array1::from(vec![-2.0, 0.0, f64::NAN]);
        let vmin = Array2::from_shape_vec(
            (3, 3),
            vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0, f64::NAN, f64::NAN, f64::NAN],
        )
        .unwrap();
        let inp = VerdictInput {
            points: points.view(),
            steps: steps.view(),
            f0: f0.view(),
            s0: s0.view(),
            kink: kink.view(),
            ok: &ok,
            tol: tol.view(),
            lam_min: lam.view(),
            vmin: vmin.view(),
            native_scales: false,
        };
        let mut calls = 0;
        let c = certify(&inp, &mut |r| {
            calls += 1;
            assert_eq!(r.nrows(), 4); // steps 0 and 1: certified at once
            saddle(r)
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(c.n_candidates, 1);
        assert_eq!(c.n_evaluations, 4);
        assert_eq!(
            c.verdict,
            vec![Verdict::Indefinite, Verdict::Psd, Verdict::Nonfinite]
        );
        // q(t) = −2t² exactly at the first step t = median h
        assert_eq!(c.t[0], 1.0 / 1024.0);
        assert_eq!(c.gap[0], -2.0 * c.t[0] * c.t[0]);
        assert!(c.tol[0] > 0.0 && c.tol[0] < -c.gap[0]);
        assert!(c.t[1].is_nan() && c.gap[2].is_nan());
    }

    #[test]
    fn unconfirmed_and_kinked_points_are_unreliable() {
        let points = Array2::zeros((2, 2));
        let steps = Array2::from_elem((2, 2), 0.25);
        let f0 = Array1::zeros(2);
        let s0 = Array1::zeros(2);
        let mut kink = Array3::from_elem((2, 2, 2), false);
        kink[[1, 0, 1]] = true;
        let ok = [true, true];
        // point 0: λ_min = −1 below −τ, but f is 0 along v (q = 0, not confirmed);
        // point 1: λ_min ≥ 0 with a kink crossed
        let tol = Array1::from(vec![0.1, 0.1]);
        let lam = Array1::from(vec![-1.0, 0.5]);
        let vmin = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 1.0, 0.0]).unwrap();
        let inp = VerdictInput {
            points: points.view(),
            steps: steps.view(),
            f0: f0.view(),
            s0: s0.view(),
            kink: kink.view(),
            ok: &ok,
            tol: tol.view(),
            lam_min: lam.view(),
            vmin: vmin.view(),
            native_scales: true,
        };
        let zero = |r: ArrayView2<'_, f64>| -> Result<BlockValues> {
            Ok((vec![0.0; r.nrows()], Some(vec![0.0; r.nrows()])))
        };
        let c = certify(&inp, &mut { zero }).unwrap();
        assert_eq!(c.verdict, vec![Verdict::Unreliable, Verdict::Unreliable]);
        assert_eq!(c.n_candidates, 1);
        assert_eq!(c.n_evaluations, 2 * CERT_STEPS); // every step tried
        assert!(c.t.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn median_like_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut [0.5]), 0.5);
    }
}
