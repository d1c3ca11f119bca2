//! Input-convex neural networks (Amos, Xu & Kolter, ICML 2017, fully input-convex variant).
//!
//! z_1 = g(W_0^x x + b_0), z_{k+1} = g(W_k^z z_k + W_k^x x + b_k) for k = 1..L−1, and the output
//! f(x) = W_L^z z_L + W_L^x x + b_L (scalar, linear). With W_k^z ≥ 0 elementwise and g convex and
//! non-decreasing (ReLU, softplus), f is convex in x. Non-negativity is parametrised: the
//! parameters hold unconstrained V_k and W_k^z = softplus(V_k) ("softplus", smooth) or
//! W_k^z = max(V_k, 0) ("clip").
//!
//! Flat layout of θ, layer by layer k = 0..L: V_k (n_{k+1}×n_k, row-major; absent for k = 0),
//! W_k^x (n_{k+1}×d, row-major), b_k (n_{k+1}), with n_{L+1} = 1.
//!
//! Training loss (sum convention): F(θ) = Σ_i ℓ(f(x_i; θ), y_i) + (λ/2)(Σ‖V_k‖² + Σ‖W_k^x‖²).
//! [`IcnnInput`] is x ↦ f(x; θ) for fixed θ (an objective of dimension d).

use std::sync::Arc;

use ndarray::Array2;

use super::loss::{sigmoid, softplus, Activation, Loss};
use super::Objective;
use crate::error::{Error, Result};

/// How the non-negative hidden-path weights are parametrised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonNeg {
    /// W = softplus(V).
    Softplus,
    /// W = max(V, 0).
    Clip,
}

impl NonNeg {
    /// Parse "softplus" | "clip".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "softplus" => Ok(NonNeg::Softplus),
            "clip" => Ok(NonNeg::Clip),
            _ => Err(Error::invalid(
                "nonneg",
                format!("expected 'softplus' or 'clip', got {s:?}"),
            )),
        }
    }
    #[inline]
    fn apply(self, v: f64) -> (f64, f64) {
        match self {
            NonNeg::Softplus => (softplus(v), sigmoid(v)),
            NonNeg::Clip => {
                if v > 0.0 {
                    (v, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct IcLayer {
    n_z: usize,
    n_out: usize,
    v_off: usize,
    x_off: usize,
    b_off: usize,
}

/// The ICNN architecture (no data).
#[derive(Clone, Debug)]
pub struct IcnnArch {
    d: usize,
    layers: Vec<IcLayer>,
    act: Activation,
    nonneg: NonNeg,
    dim: usize,
}

impl IcnnArch {
    /// Input dimension `d`, hidden widths, activation (relu | softplus), parametrisation.
    pub fn new(d: usize, hidden: &[usize], act: Activation, nonneg: NonNeg) -> Result<Self> {
        if d == 0 {
            return Err(Error::invalid(
                "d",
                "the input dimension must be at least 1",
            ));
        }
        if hidden.is_empty() || hidden.contains(&0) {
            return Err(Error::invalid(
                "hidden",
                "need at least one hidden layer, every width >= 1",
            ));
        }
        if !matches!(act, Activation::Relu | Activation::Softplus) {
            return Err(Error::invalid(
                "activation",
                format!(
                    "an ICNN needs a convex non-decreasing activation ('relu' or 'softplus'), got {:?}",
                    act.as_str()
                ),
            ));
        }
        let mut layers = Vec::new();
        let mut off = 0;
        let mut n_z = 0;
        for k in 0..=hidden.len() {
            let n_out = if k < hidden.len() { hidden[k] } else { 1 };
            let v_off = off;
            off += n_out * n_z;
            let x_off = off;
            off += n_out * d;
            let b_off = off;
            off += n_out;
            layers.push(IcLayer {
                n_z,
                n_out,
                v_off,
                x_off,
                b_off,
            });
            n_z = n_out;
        }
        Ok(IcnnArch {
            d,
            layers,
            act,
            nonneg,
            dim: off,
        })
    }

    /// Number of parameters.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The effective hidden-path weights W^z = p(V) and their derivatives p'(V), laid out like θ
    /// (zero outside the V blocks).
    fn effective(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut w = vec![0.0; self.dim];
        let mut dw = vec![0.0; self.dim];
        for l in &self.layers {
            for t in l.v_off..l.v_off + l.n_out * l.n_z {
                let (a, b) = self.nonneg.apply(theta[t]);
                w[t] = a;
                dw[t] = b;
            }
        }
        (w, dw)
    }

    /// Forward + optional backward for one input x with effective weights `wz`.
    /// Returns (f, error bound of f in units of eps). With `delta_out = Some(δ)` accumulates
    /// δ ∂f/∂θ into `gtheta` (if given) and δ ∂f/∂x into `gx` (if given).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        theta: &[f64],
        wz: &[f64],
        dwz: &[f64],
        x: &[f64],
        want_scale: bool,
        delta_out: Option<f64>,
        mut gtheta: Option<&mut [f64]>,
        mut gx: Option<&mut [f64]>,
    ) -> (f64, f64) {
        let nl = self.layers.len();
        let mut z: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.n_out]).collect();
        let mut dg: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.n_out]).collect();
        let mut e: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.n_out]).collect();
        for k in 0..nl {
            let l = &self.layers[k];
            let act = if k + 1 == nl {
                Activation::Identity
            } else {
                self.act
            };
            for o in 0..l.n_out {
                let mut u = theta[l.b_off + o];
                let mut m = u.abs();
                let wx = &theta[l.x_off + o * self.d..l.x_off + (o + 1) * self.d];
                for (a, b) in wx.iter().zip(x) {
                    u += a * b;
                    if want_scale {
                        m += (a * b).abs();
                    }
                }
                if k > 0 {
                    let row = &wz[l.v_off + o * l.n_z..l.v_off + (o + 1) * l.n_z];
                    for (j, a) in row.iter().enumerate() {
                        u += a * z[k - 1][j];
                        if want_scale {
                            m += a.abs() * (z[k - 1][j].abs() + e[k - 1][j]);
                        }
                    }
                }
                let (a, d) = act.apply(u);
                z[k][o] = a;
                dg[k][o] = d;
                e[k][o] = act.lipschitz() * m;
            }
        }
        let f = z[nl - 1][0];
        let ef = e[nl - 1][0];
        if let Some(dout) = delta_out {
            let mut delta = vec![dout];
            for k in (0..nl).rev() {
                let l = &self.layers[k];
                for o in 0..l.n_out {
                    delta[o] *= dg[k][o];
                }
                let mut prev = vec![0.0; l.n_z];
                for o in 0..l.n_out {
                    let dlt = delta[o];
                    if dlt == 0.0 {
                        continue;
                    }
                    if let Some(g) = gtheta.as_deref_mut() {
                        g[l.b_off + o] += dlt;
                        let gw = &mut g[l.x_off + o * self.d..l.x_off + (o + 1) * self.d];
                        for (gv, xv) in gw.iter_mut().zip(x) {
                            *gv += dlt * xv;
                        }
                        if k > 0 {
                            let t0 = l.v_off + o * l.n_z;
                            for (j, zj) in z[k - 1].iter().enumerate() {
                                g[t0 + j] += dlt * zj * dwz[t0 + j];
                            }
                        }
                    }
                    if let Some(g) = gx.as_deref_mut() {
                        let wx = &theta[l.x_off + o * self.d..l.x_off + (o + 1) * self.d];
                        for (gv, wv) in g.iter_mut().zip(wx) {
                            *gv += dlt * wv;
                        }
                    }
                    if k > 0 {
                        for (j, p) in prev.iter_mut().enumerate() {
                            *p += dlt * wz[l.v_off + o * l.n_z + j];
                        }
                    }
                }
                delta = prev;
            }
        }
        (f, ef.max(f.abs()))
    }
}

/// ICNN training loss on data (X, y): an objective of the weights θ.
#[derive(Clone, Debug)]
pub struct IcnnLoss {
    arch: IcnnArch,
    x: Array2<f64>,
    y: Vec<f64>,
    loss: Loss,
    weight_decay: f64,
}

impl IcnnLoss {
    /// Build from data (n × d), targets (n), hidden widths and options.
    pub fn new(
        x: Array2<f64>,
        y: Vec<f64>,
        hidden: &[usize],
        act: Activation,
        nonneg: NonNeg,
        loss: Loss,
        weight_decay: f64,
    ) -> Result<Self> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::invalid("X", "must be a non-empty (n, d) matrix"));
        }
        if y.len() != x.nrows() {
            return Err(Error::invalid(
                "y",
                format!("expected length {}, got {}", x.nrows(), y.len()),
            ));
        }
        crate::error::ensure_finite_iter("X", x.iter())?;
        crate::error::ensure_finite("y", &y)?;
        if loss.is_classification() && y.iter().any(|&v| v != 1.0 && v != -1.0) {
            return Err(Error::invalid(
                "y",
                "classification labels must be -1 or +1",
            ));
        }
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                "must be a finite number >= 0",
            ));
        }
        let arch = IcnnArch::new(x.ncols(), hidden, act, nonneg)?;
        Ok(IcnnLoss {
            arch,
            x: x.as_standard_layout().to_owned(),
            y,
            loss,
            weight_decay,
        })
    }

    /// The architecture.
    pub fn arch(&self) -> &IcnnArch {
        &self.arch
    }

    fn decayed(&self, t: usize) -> bool {
        self.arch.layers.iter().any(|l| t >= l.v_off && t < l.b_off)
    }

    fn eval(&self, theta: &[f64], mut grad: Option<&mut [f64]>, want_scale: bool) -> (f64, f64) {
        let (wz, dwz) = self.arch.effective(theta);
        if let Some(g) = grad.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut f = 0.0;
        let mut s = 0.0;
        for i in 0..self.x.nrows() {
            let xr = self.x.row(i);
            let xi = xr.as_slice().unwrap_or(&[]);
            let (p, ep) = self
                .arch
                .run(theta, &wz, &dwz, xi, want_scale, None, None, None);
            let (l, dl) = self.loss.eval(p, self.y[i]);
            f += l;
            if want_scale {
                s += self.loss.term_scale(l, dl, ep, self.y[i]);
            }
            if let Some(g) = grad.as_deref_mut() {
                if dl != 0.0 {
                    self.arch
                        .run(theta, &wz, &dwz, xi, false, Some(dl), Some(g), None);
                }
            }
        }
        if self.weight_decay > 0.0 {
            let mut r = 0.0;
            for t in 0..theta.len() {
                if self.decayed(t) {
                    r += theta[t] * theta[t];
                    if let Some(g) = grad.as_deref_mut() {
                        g[t] += self.weight_decay * theta[t];
                    }
                }
            }
            f += 0.5 * self.weight_decay * r;
            s += 0.5 * self.weight_decay * r;
        }
        (f, s.max(f.abs()))
    }
}

impl Objective for IcnnLoss {
    fn dim(&self) -> usize {
        self.arch.dim
    }
    fn value_and_scale(&self, theta: &[f64]) -> (f64, f64) {
        self.eval(theta, None, true)
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.eval(theta, None, false).0
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        if grad.len() != self.arch.dim || theta.len() != self.arch.dim {
            return Err(Error::invalid(
                "theta",
                format!("expected length {}", self.arch.dim),
            ));
        }
        Ok(self.eval(theta, Some(grad), false).0)
    }
    fn name(&self) -> String {
        format!(
            "ICNN loss ({} hidden layers, {} loss)",
            self.arch.layers.len() - 1,
            self.loss.as_str()
        )
    }
}

/// x ↦ f(x; θ) for fixed weights θ: convex in x.
#[derive(Clone, Debug)]
pub struct IcnnInput {
    arch: Arc<IcnnArch>,
    theta: Vec<f64>,
    wz: Vec<f64>,
    dwz: Vec<f64>,
}

impl IcnnInput {
    /// Fix the weights θ of `arch`.
    pub fn new(arch: IcnnArch, theta: Vec<f64>) -> Result<Self> {
        if theta.len() != arch.dim {
            return Err(Error::invalid(
                "theta",
                format!(
                    "expected length {} (the ICNN's parameter count), got {}",
                    arch.dim,
                    theta.len()
                ),
            ));
        }
        crate::error::ensure_finite("theta", &theta)?;
        let (wz, dwz) = arch.effective(&theta);
        Ok(IcnnInput {
            arch: Arc::new(arch),
            theta,
            wz,
            dwz,
        })
    }
}

impl Objective for IcnnInput {
    #[allow(clippy::misnamed_getters)]
    fn dim(&self) -> usize {
        self.arch.d
    }
    fn value_and_scale(&self, x: &[f64]) -> (f64, f64) {
        self.arch
            .run(&self.theta, &self.wz, &self.dwz, x, true, None, None, None)
    }
    fn gradient(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        if grad.len() != self.arch.d || x.len() != self.arch.d {
            return Err(Error::invalid(
                "x",
                format!("expected length {}", self.arch.d),
            ));
        }
        grad.iter_mut().for_each(|v| *v = 0.0);
        let (f, _) = self.arch.run(
            &self.theta,
            &self.wz,
            &self.dwz,
            x,
            false,
            Some(1.0),
            None,
            Some(grad),
        );
        Ok(f)
    }
    fn name(&self) -> String {
        format!("ICNN of its input (d={})", self.arch.d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::check_gradient;

    #[test]
    fn gradients_match_differences() {
        let x = Array2::from_shape_fn((7, 3), |(i, j)| ((i * 3 + j) as f64 * 0.77).sin());
        let y: Vec<f64> = (0..7).map(|i| (i as f64).cos()).collect();
        for (act, nn) in [
            (Activation::Softplus, NonNeg::Softplus),
            (Activation::Relu, NonNeg::Clip),
        ] {
            let obj =
                IcnnLoss::new(x.clone(), y.clone(), &[4, 3], act, nn, Loss::Squared, 0.1).unwrap();
            let theta: Vec<f64> = (0..obj.dim())
                .map(|i| ((i * 7) as f64 * 0.53).sin() * 0.8)
                .collect();
            check_gradient(&obj, &theta, 1e-6);
            let inp = IcnnInput::new(obj.arch().clone(), theta.clone()).unwrap();
            check_gradient(&inp, &[0.3, -0.2, 0.9], 1e-6);
        }
    }

    #[test]
    fn convex_in_input_along_a_line() {
        let arch = IcnnArch::new(2, &[5, 5], Activation::Relu, NonNeg::Softplus).unwrap();
        let theta: Vec<f64> = (0..arch.dim())
            .map(|i| ((i * 11) as f64 * 0.37).sin() * 2.0)
            .collect();
        let f = IcnnInput::new(arch, theta).unwrap();
        for k in 0..200 {
            let a = [(k as f64 * 0.1).sin() * 3.0, (k as f64 * 0.3).cos() * 3.0];
            let b = [(k as f64 * 0.7).cos() * 3.0, (k as f64 * 0.2).sin() * 3.0];
            let m = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
            let (fa, sa) = f.value_and_scale(&a);
            let (fb, sb) = f.value_and_scale(&b);
            let (fm, sm) = f.value_and_scale(&m);
            assert!(fm <= (fa + fb) / 2.0 + 1e-13 * (sa + sb + sm));
        }
    }

    #[test]
    fn rejects_non_convex_activation() {
        assert!(IcnnArch::new(2, &[3], Activation::Tanh, NonNeg::Clip).is_err());
        assert!(IcnnArch::new(2, &[], Activation::Relu, NonNeg::Clip).is_err());
    }
}
