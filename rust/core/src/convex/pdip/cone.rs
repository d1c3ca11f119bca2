//! Second-order cone algebra of the interior-point method. A cone vector is (u₀, u₁) with
//! u₀ ≥ ‖u₁‖; J = diag(1, −I).

use ndarray::{Array1, Array2};

use super::lp_rows::col_into;

/// u₀² − ‖u₁‖², computed as (u₀ − ‖u₁‖)(u₀ + ‖u₁‖).
#[inline]
pub(super) fn soc_det(u: &[f64]) -> f64 {
    let n1 = u[1..].iter().map(|v| v * v).sum::<f64>().sqrt();
    (u[0] - n1) * (u[0] + n1)
}

/// Nesterov–Todd scaling of the pair (s, y), both strictly inside the cone: writes the
/// normalised scaling point w̄ (w̄ᵀJw̄ = 1) and returns η, so that W = η W̄ with
/// W̄ = [[w̄₀, w̄₁ᵀ], [w̄₁, I + w̄₁w̄₁ᵀ/(1 + w̄₀)]] and W y = W⁻¹ s.
pub(super) fn soc_nt(s: &[f64], y: &[f64], wbar: &mut [f64]) -> Option<f64> {
    let sd = soc_det(s);
    let yd = soc_det(y);
    if !(sd > 0.0 && yd > 0.0 && s[0] > 0.0 && y[0] > 0.0) {
        return None;
    }
    let sn = sd.sqrt();
    let yn = yd.sqrt();
    let mut dot = 0.0;
    for a in 0..s.len() {
        dot += (s[a] / sn) * (y[a] / yn);
    }
    let gamma = ((1.0 + dot) / 2.0).sqrt();
    wbar[0] = (s[0] / sn + y[0] / yn) / (2.0 * gamma);
    for a in 1..s.len() {
        wbar[a] = (s[a] / sn - y[a] / yn) / (2.0 * gamma);
    }
    Some((sn / yn).sqrt())
}

/// out = W v (inverse = false) or W⁻¹ v (inverse = true).
pub(super) fn soc_apply_w(wbar: &[f64], eta: f64, v: &[f64], out: &mut [f64], inverse: bool) {
    let sg = if inverse { -1.0 } else { 1.0 };
    let w1v1: f64 = wbar[1..].iter().zip(&v[1..]).map(|(a, b)| a * b).sum();
    let f = if inverse { 1.0 / eta } else { eta };
    out[0] = f * (wbar[0] * v[0] + sg * w1v1);
    let c = w1v1 / (1.0 + wbar[0]);
    for a in 1..v.len() {
        out[a] = f * (sg * v[0] * wbar[a] + v[a] + c * wbar[a]);
    }
}

/// W⁻² = η⁻² (2 (Jw̄)(Jw̄)ᵀ − J), row-major into `out` (m²).
pub(super) fn soc_w2inv(wbar: &[f64], eta: f64, out: &mut [f64]) {
    let m = wbar.len();
    let e2 = 1.0 / (eta * eta);
    for a in 0..m {
        let ja = if a == 0 { wbar[0] } else { -wbar[a] };
        for c in 0..m {
            let jc = if c == 0 { wbar[0] } else { -wbar[c] };
            let jac = match (a == c, a == 0) {
                (true, true) => 1.0,
                (true, false) => -1.0,
                _ => 0.0,
            };
            out[a * m + c] = e2 * (2.0 * ja * jc - jac);
        }
    }
}

/// Jordan product u ∘ v = (uᵀv, u₀v₁ + v₀u₁).
pub(super) fn soc_jordan(u: &[f64], v: &[f64], out: &mut [f64]) {
    out[0] = u.iter().zip(v).map(|(a, b)| a * b).sum();
    for a in 1..u.len() {
        out[a] = u[0] * v[a] + v[0] * u[a];
    }
}

/// Solve l ∘ q = r for q (l strictly inside the cone).
pub(super) fn soc_jordan_div(l: &[f64], r: &[f64], q: &mut [f64]) {
    let l1r1: f64 = l[1..].iter().zip(&r[1..]).map(|(a, b)| a * b).sum();
    let det = soc_det(l);
    q[0] = (l[0] * r[0] - l1r1) / det;
    for a in 1..l.len() {
        q[a] = (r[a] - q[0] * l[a]) / l[0];
    }
}

/// Largest α ≥ 0 (capped at `cap`) with u + α δ in the cone (u strictly inside).
pub(super) fn soc_max_step(u: &[f64], du: &[f64], cap: f64) -> f64 {
    let c = soc_det(u);
    let a = du[0] * du[0] - du[1..].iter().map(|v| v * v).sum::<f64>();
    let b = u[0] * du[0] - u[1..].iter().zip(&du[1..]).map(|(x, y)| x * y).sum::<f64>();
    let mut alpha = cap;
    if du[0] < 0.0 {
        alpha = alpha.min(-u[0] / du[0]);
    }
    // q(α) = c + 2bα + aα², q(0) = c > 0: first positive root
    let disc = b * b - a * c;
    if disc >= 0.0 {
        let sq = disc.sqrt();
        let qq = -(b + b.signum() * sq);
        let mut roots = [f64::INFINITY; 2];
        if a != 0.0 {
            roots[0] = qq / a;
        }
        if qq != 0.0 {
            roots[1] = c / qq;
        }
        for r in roots {
            if r > 0.0 {
                alpha = alpha.min(r);
            }
        }
    }
    alpha.max(0.0)
}

/// The Nesterov–Todd scalings of every block's cone pair (s_b, y_b) = ((t_b, z_b), y_b): the
/// normalised scaling points w̄ and factors η (W_b = η_b W̄_b), and λ̃ = W y = W⁻¹ s.
pub(super) struct NtScalings {
    /// w̄ per block ((d+1) × B).
    pub(super) wbar: Array2<f64>,
    /// η per block.
    pub(super) eta: Array1<f64>,
    /// λ̃ per block ((d+1) × B).
    pub(super) lt: Array2<f64>,
}

impl NtScalings {
    /// The scalings at (t, z, y); `None` when rounding has put an iterate on its cone's boundary.
    pub(super) fn new(t: &Array1<f64>, z: &Array2<f64>, ysoc: &Array2<f64>) -> Option<Self> {
        let (d, nb) = z.dim();
        let dm = d + 1;
        let mut wbar = Array2::<f64>::zeros((dm, nb));
        let mut eta = Array1::<f64>::zeros(nb);
        let mut lt = Array2::<f64>::zeros((dm, nb));
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
            let e = soc_nt(&sv, &yv, &mut wb)?;
            eta[b] = e;
            soc_apply_w(&wb, e, &yv, &mut out, false);
            for a in 0..dm {
                wbar[[a, b]] = wb[a];
                lt[[a, b]] = out[a];
            }
        }
        Some(NtScalings { wbar, eta, lt })
    }

    /// W⁻² of every cone, row-major (d+1)² per block.
    pub(super) fn w2inv(&self) -> Vec<f64> {
        let (dm, nb) = self.wbar.dim();
        let mut wb = vec![0.0; dm];
        let mut w2 = vec![0.0; nb * dm * dm];
        for b in 0..nb {
            col_into(&self.wbar, b, &mut wb);
            soc_w2inv(&wb, self.eta[b], &mut w2[b * dm * dm..(b + 1) * dm * dm]);
        }
        w2
    }

    /// The predictor's complementarity targets of the cones: −λ̃ ∘ λ̃ per block.
    pub(super) fn affine_targets(&self) -> Array2<f64> {
        let (dm, nb) = self.lt.dim();
        let mut rc = Array2::<f64>::zeros((dm, nb));
        let mut tmp = vec![0.0; dm];
        let mut l = vec![0.0; dm];
        for b in 0..nb {
            col_into(&self.lt, b, &mut l);
            soc_jordan(&l, &l, &mut tmp);
            for a in 0..dm {
                rc[[a, b]] = -tmp[a];
            }
        }
        rc
    }

    /// W⁻¹ q with q = λ̃ ⊘ r_c per block: the cones' share of the reduced right-hand side for
    /// the complementarity targets `rc_soc` ((d+1) × B).
    pub(super) fn scaled_targets(&self, rc_soc: &Array2<f64>) -> Array2<f64> {
        let (dm, nb) = self.lt.dim();
        let mut socq = Array2::<f64>::zeros((dm, nb));
        let mut qv = vec![0.0; dm];
        let mut out = vec![0.0; dm];
        let (mut l, mut r, mut wb) = (vec![0.0; dm], vec![0.0; dm], vec![0.0; dm]);
        for b in 0..nb {
            col_into(&self.lt, b, &mut l);
            col_into(rc_soc, b, &mut r);
            soc_jordan_div(&l, &r, &mut qv);
            col_into(&self.wbar, b, &mut wb);
            soc_apply_w(&wb, self.eta[b], &qv, &mut out, true);
            for a in 0..dm {
                socq[[a, b]] = out[a];
            }
        }
        socq
    }
}

/// Block b of a direction (Δs, Δy) in the scaled space, W⁻¹Δs and WΔy, with reused buffers.
pub(super) struct ScaledBlocks<'a> {
    sc: &'a NtScalings,
    wb: Vec<f64>,
    ds: Vec<f64>,
    dy: Vec<f64>,
}

impl<'a> ScaledBlocks<'a> {
    pub(super) fn new(sc: &'a NtScalings) -> Self {
        let dm = sc.wbar.nrows();
        ScaledBlocks {
            sc,
            wb: vec![0.0; dm],
            ds: vec![0.0; dm],
            dy: vec![0.0; dm],
        }
    }

    /// W⁻¹Δs of block b into `ws`, WΔy into `wy` (Δs = column b of `dxm`, Δy of `dym`).
    pub(super) fn get(
        &mut self,
        b: usize,
        dxm: &Array2<f64>,
        dym: &Array2<f64>,
        ws: &mut [f64],
        wy: &mut [f64],
    ) {
        col_into(&self.sc.wbar, b, &mut self.wb);
        col_into(dxm, b, &mut self.ds);
        col_into(dym, b, &mut self.dy);
        soc_apply_w(&self.wb, self.sc.eta[b], &self.ds, ws, true);
        soc_apply_w(&self.wb, self.sc.eta[b], &self.dy, wy, false);
    }
}
