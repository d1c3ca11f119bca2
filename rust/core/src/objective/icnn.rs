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

use ndarray::{Array2, ArrayView2};

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

/// The forward pass of a block of inputs (rows of `x`, B × d) as matrix products: per layer the
/// activations Z_k (B × n_{k+1}), their derivatives and, when asked, the rounding bounds E_k.
struct BlockForward {
    z: Vec<Array2<f64>>,
    dg: Vec<Array2<f64>>,
    e: Option<Array2<f64>>,
}

/// `c = a · bᵀ + beta·c` (ndarray's matrixmultiply-backed product).
fn gemm_nt(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, beta: f64, c: &mut Array2<f64>) {
    ndarray::linalg::general_mat_mul(1.0, &a, &b.t(), beta, c);
}

impl IcnnArch {
    /// View of the `rows × cols` row-major block of `v` starting at `off`.
    fn mat(v: &[f64], off: usize, rows: usize, cols: usize) -> Result<ArrayView2<'_, f64>> {
        v.get(off..off + rows * cols)
            .and_then(|s| ArrayView2::from_shape((rows, cols), s).ok())
            .ok_or_else(|| Error::Numerical("icnn: parameter block out of range".into()))
    }

    /// Forward pass of the block `x` (B × d) with weights θ and effective W^z = `wz`: the
    /// batched twin of [`IcnnArch::run`] (same mathematics; the sums in a different order, so
    /// values agree to rounding).
    fn forward_block(
        &self,
        theta: &[f64],
        wz: &[f64],
        x: ArrayView2<'_, f64>,
        want_scale: bool,
    ) -> Result<BlockForward> {
        let b = x.nrows();
        let d = self.d;
        let nl = self.layers.len();
        let xabs = if want_scale {
            Some(x.mapv(f64::abs))
        } else {
            None
        };
        let mut zs: Vec<Array2<f64>> = Vec::with_capacity(nl);
        let mut dgs: Vec<Array2<f64>> = Vec::with_capacity(nl);
        let mut e: Option<Array2<f64>> = None;
        for (k, l) in self.layers.iter().enumerate() {
            let act = if k + 1 == nl {
                Activation::Identity
            } else {
                self.act
            };
            let wx = Self::mat(theta, l.x_off, l.n_out, d)?;
            let bias = ndarray::ArrayView1::from(&theta[l.b_off..l.b_off + l.n_out]);
            let mut u = Array2::<f64>::zeros((b, l.n_out));
            gemm_nt(x, wx, 0.0, &mut u);
            let mut m = xabs.as_ref().map(|xa| {
                let mut m = Array2::<f64>::zeros((b, l.n_out));
                gemm_nt(xa.view(), wx.mapv(f64::abs).view(), 0.0, &mut m);
                m
            });
            if k > 0 {
                let w = Self::mat(wz, l.v_off, l.n_out, l.n_z)?;
                gemm_nt(zs[k - 1].view(), w, 1.0, &mut u);
                if let (Some(m), Some(ep)) = (m.as_mut(), e.as_ref()) {
                    let a = zs[k - 1].mapv(f64::abs) + ep;
                    gemm_nt(a.view(), w.mapv(f64::abs).view(), 1.0, m);
                }
            }
            u += &bias;
            if let Some(m) = m.as_mut() {
                *m += &bias.mapv(f64::abs);
                let lip = act.lipschitz();
                if lip != 1.0 {
                    m.mapv_inplace(|v| lip * v);
                }
            }
            let mut dg = Array2::<f64>::zeros((b, l.n_out));
            match (u.as_slice_mut(), dg.as_slice_mut()) {
                (Some(us), Some(ds)) => super::loss::activation_slice(act, us, ds),
                _ => ndarray::Zip::from(&mut u).and(&mut dg).for_each(|uv, dv| {
                    let (a, da) = act.apply(*uv);
                    *uv = a;
                    *dv = da;
                }),
            }
            zs.push(u);
            dgs.push(dg);
            e = m;
        }
        Ok(BlockForward { z: zs, dg: dgs, e })
    }

    /// Backward pass of a block: with `delta` = ∂F/∂f per row (B), accumulate Σ_rows δ ∂f/∂θ into
    /// `gtheta` (if given) and write δ_b ∂f/∂x_b into the rows of `gx` (if given, B × d).
    #[allow(clippy::too_many_arguments)]
    fn backward_block(
        &self,
        theta: &[f64],
        wz: &[f64],
        dwz: &[f64],
        x: ArrayView2<'_, f64>,
        fwd: &BlockForward,
        delta: &[f64],
        mut gtheta: Option<&mut [f64]>,
        mut gx: Option<&mut Array2<f64>>,
    ) -> Result<()> {
        let b = x.nrows();
        let d = self.d;
        let nl = self.layers.len();
        let mut dl = Array2::<f64>::zeros((b, 1));
        dl.column_mut(0)
            .iter_mut()
            .zip(delta)
            .for_each(|(a, v)| *a = *v);
        for k in (0..nl).rev() {
            let l = &self.layers[k];
            dl *= &fwd.dg[k];
            if let Some(g) = gtheta.as_deref_mut() {
                let gb = dl.sum_axis(ndarray::Axis(0));
                g[l.b_off..l.b_off + l.n_out]
                    .iter_mut()
                    .zip(gb.iter())
                    .for_each(|(a, v)| *a += v);
                let mut gw = Array2::<f64>::zeros((l.n_out, d));
                ndarray::linalg::general_mat_mul(1.0, &dl.t(), &x, 0.0, &mut gw);
                g[l.x_off..l.x_off + l.n_out * d]
                    .iter_mut()
                    .zip(gw.iter())
                    .for_each(|(a, v)| *a += v);
                if k > 0 {
                    let mut gv = Array2::<f64>::zeros((l.n_out, l.n_z));
                    ndarray::linalg::general_mat_mul(1.0, &dl.t(), &fwd.z[k - 1], 0.0, &mut gv);
                    let t0 = l.v_off;
                    for (j, v) in gv.iter().enumerate() {
                        g[t0 + j] += v * dwz[t0 + j];
                    }
                }
            }
            if let Some(g) = gx.as_deref_mut() {
                let wx = Self::mat(theta, l.x_off, l.n_out, d)?;
                ndarray::linalg::general_mat_mul(1.0, &dl, &wx, 1.0, g);
            }
            if k > 0 {
                let w = Self::mat(wz, l.v_off, l.n_out, l.n_z)?;
                dl = dl.dot(&w);
            }
        }
        Ok(())
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

    /// ½·λ·Σ θ_t² over the decayed weights (0 without weight decay), adding λ·θ_t to `grad`.
    fn weight_decay_term(&self, theta: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        if self.weight_decay <= 0.0 {
            return 0.0;
        }
        let mut r = 0.0;
        for t in 0..theta.len() {
            if self.decayed(t) {
                r += theta[t] * theta[t];
                if let Some(g) = grad.as_deref_mut() {
                    g[t] += self.weight_decay * theta[t];
                }
            }
        }
        0.5 * self.weight_decay * r
    }

    /// The per-sample path (one forward/backward pass per sample): the reference the batched
    /// path ([`IcnnLoss::eval_block`]) is tested against.
    #[cfg_attr(not(test), allow(dead_code))]
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
        let wd = self.weight_decay_term(theta, grad);
        f += wd;
        s += wd;
        (f, s.max(f.abs()))
    }
}

impl IcnnLoss {
    /// Value, scale and (if asked) gradient at one θ with the samples as one block of matrix
    /// products (the batched path; [`IcnnLoss::eval`] is the per-sample reference).
    fn eval_block(
        &self,
        theta: &[f64],
        grad: Option<&mut [f64]>,
        want_scale: bool,
    ) -> Result<(f64, f64)> {
        let (wz, dwz) = self.arch.effective(theta);
        let fwd = self
            .arch
            .forward_block(theta, &wz, self.x.view(), want_scale)?;
        let out = &fwd.z[self.arch.layers.len() - 1];
        let n = self.x.nrows();
        let mut f = 0.0;
        let mut s = 0.0;
        let mut dls = vec![0.0; n];
        for i in 0..n {
            let p = out[[i, 0]];
            let (l, dl) = self.loss.eval(p, self.y[i]);
            f += l;
            if want_scale {
                let ep = fwd.e.as_ref().map_or(0.0, |e| e[[i, 0]]).max(p.abs());
                s += self.loss.term_scale(l, dl, ep, self.y[i]);
            }
            dls[i] = dl;
        }
        let mut grad = grad;
        if let Some(g) = grad.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
            self.arch
                .backward_block(theta, &wz, &dwz, self.x.view(), &fwd, &dls, Some(g), None)?;
        }
        let wd = self.weight_decay_term(theta, grad);
        f += wd;
        s += wd;
        Ok((f, s.max(f.abs())))
    }
}

impl Objective for IcnnLoss {
    fn dim(&self) -> usize {
        self.arch.dim
    }
    /// The batched path with one point ([`IcnnLoss::eval_block`]), so that the per-point and
    /// the block values agree bit for bit (the per-sample path is the tests' reference).
    fn value_and_scale(&self, theta: &[f64]) -> (f64, f64) {
        if theta.len() != self.arch.dim {
            return (f64::NAN, f64::NAN);
        }
        self.eval_block(theta, None, true)
            .unwrap_or((f64::NAN, f64::NAN))
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        if grad.len() != self.arch.dim || theta.len() != self.arch.dim {
            return Err(Error::invalid(
                "theta",
                format!("expected length {}", self.arch.dim),
            ));
        }
        Ok(self.eval_block(theta, Some(grad), false)?.0)
    }
    fn name(&self) -> String {
        format!(
            "ICNN loss ({} hidden layers, {} loss)",
            self.arch.layers.len() - 1,
            self.loss.as_str()
        )
    }
    fn work_per_point(&self) -> f64 {
        self.x.nrows() as f64 * self.arch.dim as f64
    }
    /// Per point, the samples as one block of matrix products ([`IcnnLoss::eval_block`]).
    fn values_scales_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        super::check_block(self.arch.dim, points, values.len(), scales.len(), None)?;
        let mut buf = Vec::with_capacity(self.arch.dim);
        for (i, row) in points.outer_iter().enumerate() {
            buf.clear();
            buf.extend(row.iter().copied());
            (values[i], scales[i]) = self.eval_block(&buf, None, true)?;
        }
        Ok(())
    }
    fn gradients_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        let d = self.arch.dim;
        super::check_block(d, points, values.len(), values.len(), Some(grads.len()))?;
        let mut buf = Vec::with_capacity(d);
        for (i, row) in points.outer_iter().enumerate() {
            buf.clear();
            buf.extend(row.iter().copied());
            values[i] = self
                .eval_block(&buf, Some(&mut grads[i * d..(i + 1) * d]), false)?
                .0;
        }
        Ok(())
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
    /// The block of inputs as one forward pass of matrix products.
    fn values_scales_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        super::check_block(self.arch.d, points, values.len(), scales.len(), None)?;
        let fwd = self
            .arch
            .forward_block(&self.theta, &self.wz, points, true)?;
        let out = &fwd.z[self.arch.layers.len() - 1];
        for i in 0..points.nrows() {
            let f = out[[i, 0]];
            values[i] = f;
            scales[i] = fwd.e.as_ref().map_or(0.0, |e| e[[i, 0]]).max(f.abs());
        }
        Ok(())
    }
    /// The block of inputs as one forward and one backward pass of matrix products.
    fn gradients_block(
        &self,
        points: ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        let d = self.arch.d;
        super::check_block(d, points, values.len(), values.len(), Some(grads.len()))?;
        let b = points.nrows();
        let fwd = self
            .arch
            .forward_block(&self.theta, &self.wz, points, false)?;
        let out = &fwd.z[self.arch.layers.len() - 1];
        for i in 0..b {
            values[i] = out[[i, 0]];
        }
        let mut gx = Array2::<f64>::zeros((b, d));
        self.arch.backward_block(
            &self.theta,
            &self.wz,
            &self.dwz,
            points,
            &fwd,
            &vec![1.0; b],
            None,
            Some(&mut gx),
        )?;
        grads.iter_mut().zip(gx.iter()).for_each(|(a, v)| *a = *v);
        Ok(())
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
    fn block_path_matches_per_point_path() {
        let x = Array2::from_shape_fn((9, 3), |(i, j)| ((i * 3 + j) as f64 * 0.61).cos());
        let y: Vec<f64> = (0..9).map(|i| (i as f64 * 0.4).sin()).collect();
        let close = |a: f64, b: f64, s: f64| (a - b).abs() <= 64.0 * f64::EPSILON * s;
        for (act, nn, wd) in [
            (Activation::Softplus, NonNeg::Softplus, 0.1),
            (Activation::Relu, NonNeg::Clip, 0.0),
        ] {
            let obj =
                IcnnLoss::new(x.clone(), y.clone(), &[5, 4], act, nn, Loss::Squared, wd).unwrap();
            let dd = obj.dim();
            let pts = Array2::from_shape_fn((6, dd), |(b, i)| {
                ((i * 7 + b * 13) as f64 * 0.53).sin() * 0.8
            });
            let (mut v, mut s) = (vec![0.0; 6], vec![0.0; 6]);
            obj.values_scales_block(pts.view(), &mut v, &mut s).unwrap();
            let (mut gv, mut g) = (vec![0.0; 6], vec![0.0; 6 * dd]);
            obj.gradients_block(pts.view(), &mut gv, &mut g).unwrap();
            for b in 0..6 {
                let th = pts.row(b).to_vec();
                let (f, sc) = obj.eval(&th, None, true);
                assert!(close(v[b], f, sc), "{} vs {f}", v[b]);
                assert!(close(s[b], sc, sc) && s[b] >= v[b].abs());
                assert!(close(gv[b], f, sc));
                let mut gr = vec![0.0; dd];
                obj.eval(&th, Some(&mut gr), false);
                let gs = gr.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for t in 0..dd {
                    assert!(close(g[b * dd + t], gr[t], 4.0 * gs * sc), "grad {t}");
                }
            }
            let th = pts.row(2).to_vec();
            let inp = IcnnInput::new(obj.arch().clone(), th).unwrap();
            let xs = Array2::from_shape_fn((7, 3), |(b, j)| ((b * 5 + j) as f64 * 0.9).sin() * 2.0);
            let (mut v, mut s) = (vec![0.0; 7], vec![0.0; 7]);
            inp.values_scales_block(xs.view(), &mut v, &mut s).unwrap();
            let (mut gv, mut g) = (vec![0.0; 7], vec![0.0; 21]);
            inp.gradients_block(xs.view(), &mut gv, &mut g).unwrap();
            for b in 0..7 {
                let xr = xs.row(b).to_vec();
                let (f, sc) = inp.value_and_scale(&xr);
                assert!(close(v[b], f, sc) && close(s[b], sc, sc) && close(gv[b], f, sc));
                let mut gr = vec![0.0; 3];
                inp.gradient(&xr, &mut gr).unwrap();
                for j in 0..3 {
                    assert!(close(g[b * 3 + j], gr[j], 4.0 * sc), "input grad {j}");
                }
            }
        }
    }

    #[test]
    fn rejects_non_convex_activation() {
        assert!(IcnnArch::new(2, &[3], Activation::Tanh, NonNeg::Clip).is_err());
        assert!(IcnnArch::new(2, &[], Activation::Relu, NonNeg::Clip).is_err());
    }
}
