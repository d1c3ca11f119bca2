//! Second-order cone algebra of the interior-point method. A cone vector is (u₀, u₁) with
//! u₀ ≥ ‖u₁‖; J = diag(1, −I).

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
