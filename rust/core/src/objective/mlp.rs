//! Fully connected networks on data (X, Y): linear models, the two-layer ReLU network of the
//! convex-training issue, and deep MLPs — one engine, different configurations.
//!
//! Model: h_0 = x, h_{k+1} = g_k(W_k h_k + b_k) for k = 0..L−1, prediction f(x) = h_L (the last
//! layer's activation is the identity). W_k has shape (n_{k+1}, n_k) (PyTorch's convention).
//!
//! Objective (sum convention): F(θ) = Σ_i Σ_o ℓ(f_o(x_i), y_io) + (λ/2) Σ_k ‖W_k‖²_F
//! (biases are not decayed).
//!
//! Flat layout of θ: for k = 0..L−1, W_k row-major (n_{k+1}·n_k entries), then b_k (n_{k+1}) when
//! layer k has a bias. For the two-layer ReLU network f(x) = Σ_j (x·u_j + b_j)₊ α_j this is
//! θ = [u_1, …, u_m, b_1..b_m (if biases), α_1..α_m], i.e. `U.T.ravel()` for U of shape (d, m).
//!
//! Rounding scale: alongside the forward pass we propagate, in units of eps, a bound e on the
//! rounding error of each activation: e_{k+1} = Lip(g_k) (|W_k| (|h_k| + e_k) + |b_k|) (the
//! magnitudes of the summands of each pre-activation plus the propagated input error). The scale
//! returned is Σ_i Σ_o (|ℓ| + |ℓ'| (e_out + |other operand|)) + (λ/2) Σ W² ≥ |F|.

use ndarray::Array2;

use super::loss::{Activation, Loss};
use super::Objective;
use crate::error::{Error, Result};

/// One dense layer: shape, bias, activation and where its parameters start in θ.
#[derive(Clone, Debug)]
pub struct Layer {
    pub n_in: usize,
    pub n_out: usize,
    pub bias: bool,
    pub act: Activation,
    w_off: usize,
    b_off: usize,
}

/// A fully connected network with a pointwise loss on data (X, Y).
#[derive(Clone, Debug)]
pub struct Mlp {
    x: Array2<f64>,
    y: Array2<f64>,
    layers: Vec<Layer>,
    loss: Loss,
    weight_decay: f64,
    dim: usize,
    name: String,
}

fn check_data(x: &Array2<f64>, y: &Array2<f64>, loss: Loss) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(Error::invalid("X", "must be a non-empty (n, d) matrix"));
    }
    if y.nrows() != x.nrows() {
        return Err(Error::invalid(
            "y",
            format!(
                "expected {} rows (one per sample of X), got {}",
                x.nrows(),
                y.nrows()
            ),
        ));
    }
    if y.ncols() == 0 {
        return Err(Error::invalid("y", "must have at least one output column"));
    }
    crate::error::ensure_finite_iter("X", x.iter())?;
    crate::error::ensure_finite_iter("y", y.iter())?;
    if loss.is_classification() {
        if y.ncols() != 1 {
            return Err(Error::invalid(
                "y",
                format!(
                    "the {} loss needs one output, got {}",
                    loss.as_str(),
                    y.ncols()
                ),
            ));
        }
        if y.iter().any(|&v| v != 1.0 && v != -1.0) {
            return Err(Error::invalid(
                "y",
                "classification labels must be -1 or +1 (or 0/1 in the Python layer)",
            ));
        }
    }
    Ok(())
}

impl Mlp {
    /// A network with layer widths `widths = [d, n_1, …, n_{L−1}, c]`, hidden activation `act`
    /// (the output layer is linear), per-layer bias flags `bias` (length L).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        x: Array2<f64>,
        y: Array2<f64>,
        widths: &[usize],
        acts: &[Activation],
        bias: &[bool],
        loss: Loss,
        weight_decay: f64,
        name: String,
    ) -> Result<Self> {
        check_data(&x, &y, loss)?;
        if widths.len() < 2 {
            return Err(Error::invalid(
                "widths",
                "need at least input and output widths",
            ));
        }
        let nl = widths.len() - 1;
        if acts.len() != nl || bias.len() != nl {
            return Err(Error::invalid(
                "widths",
                format!(
                    "{} layers need {} activations and bias flags, got {} and {}",
                    nl,
                    nl,
                    acts.len(),
                    bias.len()
                ),
            ));
        }
        if widths.contains(&0) {
            return Err(Error::invalid("widths", "every width must be at least 1"));
        }
        if widths[0] != x.ncols() {
            return Err(Error::invalid(
                "X",
                format!("expected {} columns, got {}", widths[0], x.ncols()),
            ));
        }
        if widths[nl] != y.ncols() {
            return Err(Error::invalid(
                "y",
                format!("expected {} output columns, got {}", widths[nl], y.ncols()),
            ));
        }
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                "must be a finite number >= 0",
            ));
        }
        let mut layers = Vec::with_capacity(nl);
        let mut off = 0usize;
        for k in 0..nl {
            let (n_in, n_out) = (widths[k], widths[k + 1]);
            let w_off = off;
            off += n_in * n_out;
            let b_off = off;
            if bias[k] {
                off += n_out;
            }
            layers.push(Layer {
                n_in,
                n_out,
                bias: bias[k],
                act: acts[k],
                w_off,
                b_off,
            });
        }
        Ok(Mlp {
            x: x.as_standard_layout().to_owned(),
            y: y.as_standard_layout().to_owned(),
            layers,
            loss,
            weight_decay,
            dim: off,
            name,
        })
    }

    /// Linear model f(x) = x·w (+ b): F = Σ_i ℓ(f(x_i), y_i) + (l2/2)‖w‖². θ = [w, b?].
    pub fn linear(x: Array2<f64>, y: Array2<f64>, bias: bool, loss: Loss, l2: f64) -> Result<Self> {
        let d = x.ncols();
        let name = format!("linear model ({} loss, d={d})", loss.as_str());
        Mlp::new(
            x,
            y,
            &[d, 1],
            &[Activation::Identity],
            &[bias],
            loss,
            l2,
            name,
        )
    }

    /// Two-layer ReLU network f(x) = Σ_j (x·u_j + b_j)₊ α_j, loss + (β/2)(‖U‖²_F + ‖α‖²).
    pub fn two_layer_relu(
        x: Array2<f64>,
        y: Array2<f64>,
        m: usize,
        bias: bool,
        loss: Loss,
        beta: f64,
    ) -> Result<Self> {
        let d = x.ncols();
        let name = format!("two-layer ReLU (m={m}, {} loss)", loss.as_str());
        Mlp::new(
            x,
            y,
            &[d, m, 1],
            &[Activation::Relu, Activation::Identity],
            &[bias, false],
            loss,
            beta,
            name,
        )
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Gradients at θ + t_k e_{i_k} for each move, with matrix products over the samples. The
    /// first layer is evaluated once at θ; a move of a first-layer parameter of unit j only
    /// recomputes unit j's column (z_j + t x_c, one activation per sample instead of n_1), and the
    /// first-layer weight gradients of all moves are one product [Δ^(1) … Δ^(K)]ᵀ X. Same
    /// mathematics as [`Objective::gradient`], different rounding.
    pub fn gradients_moves(
        &self,
        theta: &[f64],
        moves: &[(usize, f64)],
        out: &mut [f64],
    ) -> Result<()> {
        use ndarray::{s, Array1, ArrayView1, ArrayView2};
        let k_n = moves.len();
        let d = self.dim;
        if out.len() != k_n * d || theta.len() != d || moves.iter().any(|m| m.0 >= d) {
            return Err(Error::invalid(
                "theta",
                format!("expected a vector of length {d} and moves inside it"),
            ));
        }
        let nl = self.layers.len();
        let n = self.x.nrows();
        let bad = |e: ndarray::ShapeError| Error::Numerical(format!("mlp shapes: {e}"));
        let wview = |th: &'_ [f64], l: &Layer| -> Result<Array2<f64>> {
            Ok(
                ArrayView2::from_shape((l.n_out, l.n_in), &th[l.w_off..l.w_off + l.n_in * l.n_out])
                    .map_err(bad)?
                    .to_owned(),
            )
        };
        let l0 = &self.layers[0];
        let n1 = l0.n_out;
        // First layer at θ.
        let mut z0 = self.x.dot(&wview(theta, l0)?.t());
        if l0.bias {
            z0 += &ArrayView1::from(&theta[l0.b_off..l0.b_off + n1]);
        }
        let mut h0 = z0.clone();
        let mut d0 = z0.clone();
        ndarray::Zip::from(&mut h0).and(&mut d0).for_each(|hv, dv| {
            let (a, da) = l0.act.apply(*hv);
            *hv = a;
            *dv = da;
        });
        let mut delta0 = Array2::<f64>::zeros((n, k_n * n1));
        let mut th = theta.to_vec();
        for (k, &(i, t)) in moves.iter().enumerate() {
            th[i] = theta[i] + t;
            let step = th[i] - theta[i];
            let g = &mut out[k * d..(k + 1) * d];
            g.iter_mut().for_each(|v| *v = 0.0);
            let mut hs: Vec<Array2<f64>> = Vec::with_capacity(nl);
            let mut ds: Vec<Array2<f64>> = Vec::with_capacity(nl);
            let mut hk = h0.clone();
            let mut dk = d0.clone();
            let w_end = l0.w_off + n1 * l0.n_in;
            let col = if i >= l0.w_off && i < w_end {
                Some(((i - l0.w_off) / l0.n_in, Some((i - l0.w_off) % l0.n_in)))
            } else if l0.bias && i >= l0.b_off && i < l0.b_off + n1 {
                Some((i - l0.b_off, None))
            } else {
                None
            };
            if let Some((j, c)) = col {
                for r in 0..n {
                    let dz = match c {
                        Some(c) => step * self.x[[r, c]],
                        None => step,
                    };
                    let (a, da) = l0.act.apply(z0[[r, j]] + dz);
                    hk[[r, j]] = a;
                    dk[[r, j]] = da;
                }
            }
            hs.push(hk);
            ds.push(dk);
            for (l, lay) in self.layers.iter().enumerate().skip(1) {
                let mut z = hs[l - 1].dot(&wview(&th, lay)?.t());
                if lay.bias {
                    z += &ArrayView1::from(&th[lay.b_off..lay.b_off + lay.n_out]);
                }
                let mut dz = z.clone();
                ndarray::Zip::from(&mut z).and(&mut dz).for_each(|zv, dv| {
                    let (a, da) = lay.act.apply(*zv);
                    *zv = a;
                    *dv = da;
                });
                hs.push(z);
                ds.push(dz);
            }
            let pred = &hs[nl - 1];
            let mut delta = Array2::<f64>::zeros(pred.raw_dim());
            ndarray::Zip::from(&mut delta)
                .and(pred)
                .and(&self.y)
                .for_each(|dv, &f, &yv| *dv = self.loss.eval(f, yv).1);
            for l in (0..nl).rev() {
                let lay = &self.layers[l];
                delta *= &ds[l];
                if lay.bias {
                    let gb: Array1<f64> = delta.sum_axis(ndarray::Axis(0));
                    for (o, v) in gb.iter().enumerate() {
                        g[lay.b_off + o] += v;
                    }
                }
                if l > 0 {
                    let gw = delta.t().dot(&hs[l - 1]);
                    for (t, v) in g[lay.w_off..lay.w_off + lay.n_in * lay.n_out]
                        .iter_mut()
                        .zip(gw.iter())
                    {
                        *t += v;
                    }
                    delta = delta.dot(&wview(&th, lay)?);
                } else {
                    delta0
                        .slice_mut(s![.., k * n1..(k + 1) * n1])
                        .assign(&delta);
                }
            }
            if self.weight_decay > 0.0 {
                for lay in &self.layers {
                    for t in lay.w_off..lay.w_off + lay.n_in * lay.n_out {
                        g[t] += self.weight_decay * th[t];
                    }
                }
            }
            th[i] = theta[i];
        }
        let gw0 = delta0.t().dot(&self.x);
        for k in 0..k_n {
            let g = &mut out[k * d + l0.w_off..k * d + l0.w_off + n1 * l0.n_in];
            for (t, v) in g
                .iter_mut()
                .zip(gw0.slice(s![k * n1..(k + 1) * n1, ..]).iter())
            {
                *t += v;
            }
        }
        Ok(())
    }

    /// Value, scale, and (if `grad` is given) the gradient.
    fn eval(&self, theta: &[f64], mut grad: Option<&mut [f64]>, want_scale: bool) -> (f64, f64) {
        let nl = self.layers.len();
        let maxw = self
            .layers
            .iter()
            .map(|l| l.n_out.max(l.n_in))
            .max()
            .unwrap_or(1);
        // Activations h_k (k = 0..L), derivatives g'(z) per layer, error bounds.
        let mut h: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.n_out]).collect();
        let mut dg: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; l.n_out]).collect();
        let mut e_prev = vec![0.0; maxw];
        let mut e_next = vec![0.0; maxw];
        let mut delta = vec![0.0; maxw];
        let mut delta_prev = vec![0.0; maxw];
        if let Some(g) = grad.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut f = 0.0;
        let mut s = 0.0;
        let c = self.y.ncols();
        for i in 0..self.x.nrows() {
            let xi = self.x.row(i);
            let xi = xi.as_slice().unwrap_or(&[]);
            // Forward.
            for k in 0..nl {
                let l = &self.layers[k];
                let w = &theta[l.w_off..l.w_off + l.n_in * l.n_out];
                let (hk, rest) = h.split_at_mut(k);
                let input: &[f64] = if k == 0 { xi } else { &hk[k - 1] };
                let out = &mut rest[0];
                for o in 0..l.n_out {
                    let row = &w[o * l.n_in..(o + 1) * l.n_in];
                    let mut z = if l.bias { theta[l.b_off + o] } else { 0.0 };
                    for (a, b) in row.iter().zip(input) {
                        z += a * b;
                    }
                    let (a, d) = l.act.apply(z);
                    out[o] = a;
                    dg[k][o] = d;
                    if want_scale {
                        let mut m = if l.bias {
                            theta[l.b_off + o].abs()
                        } else {
                            0.0
                        };
                        for (j, (a, b)) in row.iter().zip(input).enumerate() {
                            let ej = if k == 0 { 0.0 } else { e_prev[j] };
                            m += a.abs() * (b.abs() + ej);
                        }
                        e_next[o] = l.act.lipschitz() * m;
                    }
                }
                if want_scale {
                    std::mem::swap(&mut e_prev, &mut e_next);
                }
            }
            // Loss.
            let out = &h[nl - 1];
            for o in 0..c {
                let yv = self.y[[i, o]];
                let (lv, dl) = self.loss.eval(out[o], yv);
                f += lv;
                if want_scale {
                    s += self.loss.term_scale(lv, dl, e_prev[o], yv);
                }
                delta[o] = dl;
            }
            // Backward.
            if let Some(g) = grad.as_deref_mut() {
                for k in (0..nl).rev() {
                    let l = &self.layers[k];
                    // delta currently holds ∂F/∂h_{k+1}; multiply by g'(z).
                    for o in 0..l.n_out {
                        delta[o] *= dg[k][o];
                    }
                    let input: &[f64] = if k == 0 { xi } else { &h[k - 1] };
                    let w = &theta[l.w_off..l.w_off + l.n_in * l.n_out];
                    if k > 0 {
                        delta_prev[..l.n_in].iter_mut().for_each(|v| *v = 0.0);
                    }
                    for o in 0..l.n_out {
                        let d = delta[o];
                        if d == 0.0 {
                            continue;
                        }
                        let gw = &mut g[l.w_off + o * l.n_in..l.w_off + (o + 1) * l.n_in];
                        for (gv, iv) in gw.iter_mut().zip(input) {
                            *gv += d * iv;
                        }
                        if l.bias {
                            g[l.b_off + o] += d;
                        }
                        if k > 0 {
                            let row = &w[o * l.n_in..(o + 1) * l.n_in];
                            for (dp, wv) in delta_prev[..l.n_in].iter_mut().zip(row) {
                                *dp += d * wv;
                            }
                        }
                    }
                    if k > 0 {
                        delta[..l.n_in].copy_from_slice(&delta_prev[..l.n_in]);
                    }
                }
            }
        }
        if self.weight_decay > 0.0 {
            let lam = self.weight_decay;
            let mut r = 0.0;
            for l in &self.layers {
                let w = &theta[l.w_off..l.w_off + l.n_in * l.n_out];
                r += w.iter().map(|v| v * v).sum::<f64>();
                if let Some(g) = grad.as_deref_mut() {
                    for (gv, wv) in g[l.w_off..l.w_off + l.n_in * l.n_out].iter_mut().zip(w) {
                        *gv += lam * wv;
                    }
                }
            }
            f += 0.5 * lam * r;
            s += 0.5 * lam * r;
        }
        (f, if want_scale { s.max(f.abs()) } else { f.abs() })
    }
}

/// Parameter count from which [`Objective::gradient`] of an [`Mlp`] uses
/// [`Mlp::value_gradient_gemm`] (matrix products over the samples) instead of the per-sample
/// loops: large networks (Hessian-vector products and spectra at D = 10⁴–10⁶), where the loops'
/// dot products run at a fraction of the machine's speed. Below it the per-sample path (and its
/// rounding) is kept.
pub const GEMM_GRADIENT_MIN_DIM: usize = 1 << 14;

impl Mlp {
    /// f(θ) and ∇f(θ) with one matrix product per layer and pass over all n samples
    /// (Z_k = H_{k−1} W_kᵀ forward; ∂W_k = Δ_kᵀ H_{k−1} and Δ_{k−1} = (Δ_k W_k) ⊙ g'(Z_{k−1})
    /// backward). Same mathematics as the per-sample path, different rounding; deterministic
    /// (single-threaded products with a fixed blocking).
    pub fn value_gradient_gemm(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        use ndarray::{ArrayView1, ArrayView2, Axis, Zip};
        if grad.len() != self.dim || theta.len() != self.dim {
            return Err(Error::invalid(
                "theta",
                format!("expected length {}", self.dim),
            ));
        }
        let bad = |e: ndarray::ShapeError| Error::Numerical(format!("mlp shapes: {e}"));
        let nl = self.layers.len();
        let mut hs: Vec<Array2<f64>> = Vec::with_capacity(nl);
        let mut ds: Vec<Array2<f64>> = Vec::with_capacity(nl);
        for (k, l) in self.layers.iter().enumerate() {
            let w = ArrayView2::from_shape(
                (l.n_out, l.n_in),
                &theta[l.w_off..l.w_off + l.n_in * l.n_out],
            )
            .map_err(bad)?;
            let mut z = if k == 0 {
                self.x.dot(&w.t())
            } else {
                hs[k - 1].dot(&w.t())
            };
            if l.bias {
                z += &ArrayView1::from(&theta[l.b_off..l.b_off + l.n_out]);
            }
            let mut dz = Array2::<f64>::zeros(z.raw_dim());
            Zip::from(&mut z).and(&mut dz).for_each(|zv, dv| {
                let (a, da) = l.act.apply(*zv);
                *zv = a;
                *dv = da;
            });
            hs.push(z);
            ds.push(dz);
        }
        let mut f = 0.0;
        let mut delta = Array2::<f64>::zeros(hs[nl - 1].raw_dim());
        for ((dv, &p), &yv) in delta.iter_mut().zip(hs[nl - 1].iter()).zip(self.y.iter()) {
            let (lv, dl) = self.loss.eval(p, yv);
            f += lv;
            *dv = dl;
        }
        grad.iter_mut().for_each(|v| *v = 0.0);
        for k in (0..nl).rev() {
            let l = &self.layers[k];
            delta *= &ds[k];
            let gw = if k == 0 {
                delta.t().dot(&self.x)
            } else {
                delta.t().dot(&hs[k - 1])
            };
            for (g, v) in grad[l.w_off..l.w_off + l.n_in * l.n_out]
                .iter_mut()
                .zip(gw.iter())
            {
                *g = *v;
            }
            if l.bias {
                let gb = delta.sum_axis(Axis(0));
                for (g, v) in grad[l.b_off..l.b_off + l.n_out].iter_mut().zip(gb.iter()) {
                    *g = *v;
                }
            }
            if k > 0 {
                let w = ArrayView2::from_shape(
                    (l.n_out, l.n_in),
                    &theta[l.w_off..l.w_off + l.n_in * l.n_out],
                )
                .map_err(bad)?;
                delta = delta.dot(&w);
            }
        }
        if self.weight_decay > 0.0 {
            let lam = self.weight_decay;
            let mut r = 0.0;
            for l in &self.layers {
                let w = &theta[l.w_off..l.w_off + l.n_in * l.n_out];
                r += w.iter().map(|v| v * v).sum::<f64>();
                for (g, wv) in grad[l.w_off..l.w_off + l.n_in * l.n_out].iter_mut().zip(w) {
                    *g += lam * wv;
                }
            }
            f += 0.5 * lam * r;
        }
        Ok(f)
    }
}

impl Objective for Mlp {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value_and_scale(&self, theta: &[f64]) -> (f64, f64) {
        self.eval(theta, None, true)
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.eval(theta, None, false).0
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
        if grad.len() != self.dim || theta.len() != self.dim {
            return Err(Error::invalid(
                "theta",
                format!("expected length {}", self.dim),
            ));
        }
        if self.dim >= GEMM_GRADIENT_MIN_DIM {
            return self.value_gradient_gemm(theta, grad);
        }
        Ok(self.eval(theta, Some(grad), false).0)
    }
    fn name(&self) -> String {
        self.name.clone()
    }

    fn gradients_along_axes(
        &self,
        theta: &[f64],
        moves: &[(usize, f64)],
        out: &mut [f64],
    ) -> Result<()> {
        if self.layers.len() != 1 || self.layers[0].n_out != 1 {
            return self.gradients_moves(theta, moves, out);
        }
        // Linear model: z = Xw + b once, then z + t x_i per move, and all gradients as one
        // matrix product Δᵀ X (Δ: the loss derivatives, one row per move).
        let l = &self.layers[0];
        let (n, din) = self.x.dim();
        let w = &theta[l.w_off..l.w_off + din];
        let b = if l.bias { theta[l.b_off] } else { 0.0 };
        let mut z = self.x.dot(&ndarray::ArrayView1::from(w));
        z += b;
        let k_n = moves.len();
        let mut delta = Array2::<f64>::zeros((k_n, n));
        for (k, &(i, t)) in moves.iter().enumerate() {
            let step = theta[i] + t - theta[i];
            let mut row = delta.row_mut(k);
            for s in 0..n {
                let xi = if i < l.w_off + din {
                    self.x[[s, i - l.w_off]]
                } else {
                    1.0
                };
                let zz = z[s] + step * xi;
                row[s] = self.loss.eval(zz, self.y[[s, 0]]).1;
            }
        }
        let gw = delta.dot(&self.x);
        let d = self.dim;
        for (k, &(i, t)) in moves.iter().enumerate() {
            let o = &mut out[k * d..(k + 1) * d];
            o[l.w_off..l.w_off + din].copy_from_slice(gw.row(k).as_slice().unwrap_or(&[]));
            if l.bias {
                o[l.b_off] = delta.row(k).sum();
            }
            if self.weight_decay > 0.0 {
                for j in 0..din {
                    let wj = if l.w_off + j == i { theta[i] + t } else { w[j] };
                    o[l.w_off + j] += self.weight_decay * wj;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::check_gradient;
    use ndarray::Array2;

    fn data(n: usize, d: usize, c: usize, labels: bool) -> (Array2<f64>, Array2<f64>) {
        let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) as f64 * 0.37).sin());
        let y = Array2::from_shape_fn((n, c), |(i, o)| {
            let v = ((i * 5 + o) as f64 * 0.61).cos();
            if labels {
                if v > 0.0 {
                    1.0
                } else {
                    -1.0
                }
            } else {
                v
            }
        });
        (x, y)
    }

    #[test]
    fn least_squares_closed_form() {
        let (x, y) = data(9, 3, 1, false);
        let obj = Mlp::linear(x.clone(), y.clone(), false, Loss::Squared, 0.5).unwrap();
        let w = [0.2, -0.4, 1.1];
        let r = x.dot(&ndarray::arr1(&w)) - y.column(0);
        let want = 0.5 * r.dot(&r) + 0.25 * w.iter().map(|v| v * v).sum::<f64>();
        let (f, s) = obj.value_and_scale(&w);
        assert!((f - want).abs() < 1e-12 * want.abs());
        assert!(s >= f.abs());
    }

    #[test]
    fn gradients_match_differences() {
        let acts = [
            Activation::Tanh,
            Activation::Softplus,
            Activation::Sigmoid,
            Activation::Relu,
        ];
        for (t, act) in acts.iter().enumerate() {
            let (x, y) = data(11, 3, 2, false);
            let obj = Mlp::new(
                x,
                y,
                &[3, 4, 3, 2],
                &[*act, *act, Activation::Identity],
                &[true, false, true],
                Loss::Squared,
                0.1,
                "t".into(),
            )
            .unwrap();
            let theta: Vec<f64> = (0..obj.dim())
                .map(|i| ((i * 13 + t) as f64 * 0.71).sin())
                .collect();
            check_gradient(&obj, &theta, 1e-6);
        }
        for loss in [Loss::Logistic, Loss::Hinge, Loss::SquaredHinge] {
            let (x, y) = data(13, 4, 1, true);
            let obj = Mlp::linear(x, y, true, loss, 0.3).unwrap();
            let theta: Vec<f64> = (0..obj.dim())
                .map(|i| (i as f64 * 0.3).cos() * 0.1)
                .collect();
            check_gradient(&obj, &theta, 1e-6);
        }
        let (x, y) = data(10, 2, 1, true);
        let obj = Mlp::two_layer_relu(x, y, 3, true, Loss::Logistic, 0.2).unwrap();
        let theta: Vec<f64> = (0..obj.dim()).map(|i| (i as f64 * 0.9).sin()).collect();
        check_gradient(&obj, &theta, 1e-6);
    }

    #[test]
    fn gemm_gradient_matches_per_sample_path() {
        let (x, y) = data(31, 3, 2, false);
        let obj = Mlp::new(
            x,
            y,
            &[3, 7, 5, 2],
            &[Activation::Tanh, Activation::Softplus, Activation::Identity],
            &[true, false, true],
            Loss::Squared,
            0.2,
            "t".into(),
        )
        .unwrap();
        let d = obj.dim();
        let theta: Vec<f64> = (0..d).map(|i| ((i * 3) as f64 * 0.37).cos()).collect();
        let (mut g1, mut g2) = (vec![0.0; d], vec![0.0; d]);
        let f1 = obj.eval(&theta, Some(&mut g1), false).0;
        let f2 = obj.value_gradient_gemm(&theta, &mut g2).unwrap();
        assert!((f1 - f2).abs() <= 1e-13 * f1.abs().max(1.0));
        for j in 0..d {
            assert!((g1[j] - g2[j]).abs() <= 1e-12 * (1.0 + g1[j].abs()), "{j}");
        }
        let (x, y) = data(9, 4, 1, true);
        let lin = Mlp::linear(x, y, true, Loss::Logistic, 0.0).unwrap();
        let th = vec![0.1, -0.2, 0.3, 0.05, 0.7];
        let (mut g1, mut g2) = (vec![0.0; 5], vec![0.0; 5]);
        lin.eval(&th, Some(&mut g1), false);
        lin.value_gradient_gemm(&th, &mut g2).unwrap();
        for j in 0..5 {
            assert!((g1[j] - g2[j]).abs() <= 1e-13 * (1.0 + g1[j].abs()));
        }
        assert!(lin.value_gradient_gemm(&th[..4], &mut g2).is_err());
    }

    #[test]
    fn batched_gradients_match_single() {
        let (x, y) = data(23, 3, 2, false);
        let obj = Mlp::new(
            x,
            y,
            &[3, 5, 4, 2],
            &[Activation::Tanh, Activation::Relu, Activation::Identity],
            &[true, false, true],
            Loss::Squared,
            0.3,
            "t".into(),
        )
        .unwrap();
        let d = obj.dim();
        let theta: Vec<f64> = (0..d).map(|i| ((i * 5) as f64 * 0.41).sin()).collect();
        let moves: Vec<(usize, f64)> = (0..d)
            .step_by(3)
            .map(|i| (i, 1e-3 * (i as f64 - 7.0)))
            .collect();
        let mut out = vec![0.0; moves.len() * d];
        obj.gradients_along_axes(&theta, &moves, &mut out).unwrap();
        for (k, &(i, t)) in moves.iter().enumerate() {
            let mut th = theta.clone();
            th[i] += t;
            let mut g = vec![0.0; d];
            obj.gradient(&th, &mut g).unwrap();
            for j in 0..d {
                assert!(
                    (g[j] - out[k * d + j]).abs() <= 1e-12 * (1.0 + g[j].abs()),
                    "{k} {j}"
                );
            }
        }
        // Linear models take the matrix-product path.
        let (x, y) = data(17, 4, 1, true);
        let lin = Mlp::linear(x, y, true, Loss::Logistic, 0.2).unwrap();
        let th = vec![0.1, -0.2, 0.3, 0.05, 0.7];
        let moves = [(0, 1e-3), (4, -2e-3), (2, 4e-3)];
        let mut out = vec![0.0; 15];
        lin.gradients_along_axes(&th, &moves, &mut out).unwrap();
        for (k, &(i, t)) in moves.iter().enumerate() {
            let mut t2 = th.clone();
            t2[i] += t;
            let mut g = vec![0.0; 5];
            lin.gradient(&t2, &mut g).unwrap();
            for j in 0..5 {
                assert!((g[j] - out[k * 5 + j]).abs() <= 1e-12 * (1.0 + g[j].abs()));
            }
        }
    }

    #[test]
    fn bad_inputs() {
        let (x, y) = data(5, 2, 1, false);
        assert!(Mlp::linear(x.clone(), y.clone(), false, Loss::Logistic, 0.0).is_err());
        assert!(Mlp::linear(x.clone(), y.clone(), false, Loss::Squared, -1.0).is_err());
        let (x2, _) = data(4, 2, 1, false);
        assert!(Mlp::linear(x2, y.clone(), false, Loss::Squared, 0.0).is_err());
        assert!(Mlp::two_layer_relu(x, y, 0, false, Loss::Squared, 0.0).is_err());
    }
}
