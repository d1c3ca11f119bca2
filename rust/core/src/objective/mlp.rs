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
//! returned is Σ_i Σ_o (|ℓ| + B (e_out + |other operand|)) + (λ/2) Σ W² ≥ |F|, with B ≥ |ℓ'|
//! ([`Loss::term_scale`]: |ℓ'| itself, or within a factor 2 of it for the logistic loss).

use ndarray::{Array2, ArrayView2, Axis};

use super::loss::{Activation, Loss};
use super::Objective;
use crate::control::Control;
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
    /// |X| (the rounding-scale products of the batched path).
    xabs: Array2<f64>,
    /// X and |X| column by column (`xt[j·n + i] = X_ij`) for the column paths
    /// ([`Mlp::column_values`], [`Mlp::column_gradients`]); empty when the network has no such
    /// path or X has more than [`COLUMN_PATH_MAX_FLOATS`] entries.
    xt: Vec<f64>,
    xat: Vec<f64>,
    y: Array2<f64>,
    layers: Vec<Layer>,
    loss: Loss,
    weight_decay: f64,
    dim: usize,
    name: String,
}

fn check_data(x: &Array2<f64>, y: &Array2<f64>, loss: Loss, ctl: &Control) -> Result<()> {
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
    // in blocks of rows with a cancellation check before each (X may be 10⁶ × 50)
    let rows = super::COPY_ROWS;
    for (b, block) in x.axis_chunks_iter(Axis(0), rows).enumerate() {
        ctl.check()?;
        if let Some(i) = block.iter().position(|v| !v.is_finite()) {
            let v = block.iter().nth(i).copied().unwrap_or(f64::NAN);
            let at = b * rows * x.ncols() + i;
            return Err(Error::invalid(
                "X",
                format!("contains a non-finite value ({v}) at flat index {at}"),
            ));
        }
    }
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
        let ctl = Control::new();
        Self::new_cancellable(x, y, widths, acts, bias, loss, weight_decay, name, &ctl)
    }

    /// [`Mlp::new`] with cancellation checks while a large X is checked and |X| formed.
    #[allow(clippy::too_many_arguments)]
    pub fn new_cancellable(
        x: Array2<f64>,
        y: Array2<f64>,
        widths: &[usize],
        acts: &[Activation],
        bias: &[bool],
        loss: Loss,
        weight_decay: f64,
        name: String,
        ctl: &Control,
    ) -> Result<Self> {
        check_data(&x, &y, loss, ctl)?;
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
        // no second copy of a large X that is already in row-major order
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().to_owned()
        };
        let mut xabs = Array2::<f64>::zeros(x.raw_dim());
        let rows = super::COPY_ROWS;
        for (src, mut dst) in x
            .axis_chunks_iter(Axis(0), rows)
            .zip(xabs.axis_chunks_iter_mut(Axis(0), rows))
        {
            ctl.check()?;
            ndarray::Zip::from(&mut dst)
                .and(&src)
                .for_each(|a, &v| *a = v.abs());
        }
        let mut obj = Mlp {
            xabs,
            x,
            xt: Vec::new(),
            xat: Vec::new(),
            y: y.as_standard_layout().to_owned(),
            layers,
            loss,
            weight_decay,
            dim: off,
            name,
        };
        let (n, k) = obj.x.dim();
        if obj.fused() && n.saturating_mul(k) <= COLUMN_PATH_MAX_FLOATS {
            ctl.check()?;
            let (mut xt, mut xat) = (vec![0.0; k * n], vec![0.0; k * n]);
            for (i, (row, arow)) in obj.x.outer_iter().zip(obj.xabs.outer_iter()).enumerate() {
                for (j, (&v, &a)) in row.iter().zip(arow.iter()).enumerate() {
                    xt[j * n + i] = v;
                    xat[j * n + i] = a;
                }
            }
            (obj.xt, obj.xat) = (xt, xat);
        }
        Ok(obj)
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

    /// Value, scale, and (if `grad` is given) the gradient, one point at a time with scalar
    /// loops and the platform's `exp`/`ln_1p`/`tanh`: the reference the batched path is tested
    /// against.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn eval_scalar(
        &self,
        theta: &[f64],
        mut grad: Option<&mut [f64]>,
        want_scale: bool,
    ) -> (f64, f64) {
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
pub(crate) const GEMM_GRADIENT_MIN_DIM: usize = 1 << 14;

impl Mlp {
    /// f(θ) and ∇f(θ) with one matrix product per layer and pass over all n samples
    /// (Z_k = H_{k−1} W_kᵀ forward; ∂W_k = Δ_kᵀ H_{k−1} and Δ_{k−1} = (Δ_k W_k) ⊙ g'(Z_{k−1})
    /// backward). Same mathematics as the per-sample path, different rounding; deterministic
    /// (single-threaded products with a fixed blocking).
    pub(crate) fn value_gradient_gemm(&self, theta: &[f64], grad: &mut [f64]) -> Result<f64> {
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
            match (z.as_slice_mut(), dz.as_slice_mut()) {
                // The vectorised activation kernels (the batched path's).
                (Some(zs), Some(ds)) => super::loss::activation_slice(l.act, zs, ds),
                _ => Zip::from(&mut z).and(&mut dz).for_each(|zv, dv| {
                    let (a, da) = l.act.apply(*zv);
                    *zv = a;
                    *dv = da;
                }),
            }
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

/// Floats of one work matrix (n × block·width) of the batched path (256 KiB): sets how many
/// points a sub-block holds.
const BLOCK_FLOATS: usize = 1 << 15;
/// Most points per sub-block of the batched path.
const MAX_BLOCK_POINTS: usize = 256;
/// Hidden values per group of samples of the fused path ([`Mlp::fused_values`]): one activation
/// call per group.
const FUSED_GROUP_FLOATS: usize = 1 << 10;

/// First-layer values per sample (units × points) up to which the fused path takes a
/// sub-block of midpoint pairs ([`Mlp::pair_values_block`]).
const FUSED_PAIR_FLOATS: usize = 1 << 10;

/// The forward pass of a sub-block of points: per layer the activations h_k (n × nb·n_{k+1},
/// point b in columns b·n_{k+1}..), their derivatives g'(z) (when asked) and, for the output,
/// the rounding-error bounds e (when asked).
struct Forward {
    h: Vec<Array2<f64>>,
    dg: Vec<Array2<f64>>,
    e_out: Option<Array2<f64>>,
}

/// `c = a · bᵀ` (or `c += …` with `beta = 1`) through ndarray's matrixmultiply-backed product.
#[inline]
fn gemm_nt(
    a: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    beta: f64,
    c: &mut ndarray::ArrayViewMut2<'_, f64>,
) {
    ndarray::linalg::general_mat_mul(1.0, &a, &b.t(), beta, c);
}

impl Mlp {
    /// Points per sub-block of the batched path.
    fn block_points(&self) -> usize {
        if self.fused() {
            // no n × block intermediate: the fused path holds a few rows of the block
            return MAX_BLOCK_POINTS;
        }
        let w = self.layers.iter().map(|l| l.n_out).max().unwrap_or(1);
        let bp = (BLOCK_FLOATS / (self.x.nrows() * w).max(1)).clamp(1, MAX_BLOCK_POINTS);
        // A multiple of 8 (two AVX2 vectors) when possible: the loss kernels run over rows of
        // one value per point and handle a ragged end with padded vectors.
        if bp >= 8 {
            bp / 8 * 8
        } else {
            bp
        }
    }

    /// Forward pass of the sub-block `p` (nb × D, standard layout).
    fn forward_block(&self, p: ArrayView2<'_, f64>, want_dg: bool, want_e: bool) -> Forward {
        let (z, e) = self.pre_activation(0, p, None, None, want_e);
        self.forward_from(p, z, e, want_dg, want_e)
    }

    /// The forward pass from the first layer's pre-activations `z` (n × nb·n_1, biases added)
    /// and their bounds `e` (before the Lipschitz factor) on.
    fn forward_from(
        &self,
        p: ArrayView2<'_, f64>,
        z: Array2<f64>,
        e: Option<Array2<f64>>,
        want_dg: bool,
        want_e: bool,
    ) -> Forward {
        let nl = self.layers.len();
        let mut hs: Vec<Array2<f64>> = Vec::with_capacity(nl);
        let mut dgs: Vec<Array2<f64>> = Vec::with_capacity(nl);
        let (mut z, mut e_next) = (z, e);
        let mut e: Option<Array2<f64>> = None;
        for (k, l) in self.layers.iter().enumerate() {
            if k > 0 {
                (z, e_next) = self.pre_activation(k, p, Some(&hs[k - 1]), e.as_ref(), want_e);
            }
            let lip = l.act.lipschitz();
            if let Some(en) = e_next.as_mut() {
                if lip != 1.0 {
                    en.mapv_inplace(|v| lip * v);
                }
            }
            let mut dg = if want_dg {
                Array2::<f64>::zeros(z.raw_dim())
            } else {
                Array2::<f64>::zeros((0, 0))
            };
            {
                let zs = z.as_slice_mut().unwrap_or(&mut []);
                let ds = dg.as_slice_mut().unwrap_or(&mut []);
                super::loss::activation_slice(l.act, zs, ds);
            }
            hs.push(std::mem::take(&mut z));
            dgs.push(dg);
            e = e_next.take();
        }
        Forward {
            h: hs,
            dg: dgs,
            e_out: e,
        }
    }

    /// Pre-activations of layer `k` for the sub-block `p` (nb × D): Z = H_{k−1} W_kᵀ + b_k
    /// (n × nb·n_out, point b in columns b·n_out..), with H_{−1} = X, and, when `want_e`, the
    /// bounds E = (|H_{k−1}| + E_{k−1}) |W_k|ᵀ + |b_k| (before the Lipschitz factor of g_k).
    fn pre_activation(
        &self,
        k: usize,
        p: ArrayView2<'_, f64>,
        hin: Option<&Array2<f64>>,
        ein: Option<&Array2<f64>>,
        want_e: bool,
    ) -> (Array2<f64>, Option<Array2<f64>>) {
        use ndarray::s;
        let n = self.x.nrows();
        let nb = p.nrows();
        let l = &self.layers[k];
        let (n_in, n_out) = (l.n_in, l.n_out);
        let mut z = Array2::<f64>::zeros((n, nb * n_out));
        let mut e_next = if want_e {
            Some(Array2::<f64>::zeros((n, nb * n_out)))
        } else {
            None
        };
        match hin {
            None => {
                // All points' first layers as one product X · [W_0(θ_1); …; W_0(θ_nb)]ᵀ.
                let mut w = Vec::with_capacity(nb * n_out * n_in);
                for row in p.outer_iter() {
                    w.extend(row.slice(s![l.w_off..l.w_off + n_out * n_in]).iter());
                }
                let w = Array2::from_shape_vec((nb * n_out, n_in), w)
                    .unwrap_or_else(|_| Array2::zeros((nb * n_out, n_in)));
                gemm_nt(self.x.view(), w.view(), 0.0, &mut z.view_mut());
                if let Some(en) = e_next.as_mut() {
                    let wa = w.mapv(f64::abs);
                    gemm_nt(self.xabs.view(), wa.view(), 0.0, &mut en.view_mut());
                }
            }
            Some(hin) => {
                let ain = if want_e {
                    Some(match ein {
                        // |h| + e in one pass
                        Some(ep) => ndarray::Zip::from(hin)
                            .and(ep)
                            .map_collect(|h, e| h.abs() + e),
                        None => hin.mapv(f64::abs),
                    })
                } else {
                    None
                };
                if n_out == 1 {
                    // One output unit (the usual last layer): per sample row, the dot product of
                    // each point's n_in activations with its weights, read contiguously.
                    let mut wflat: Vec<f64> = Vec::with_capacity(nb * n_in);
                    for row in p.outer_iter() {
                        wflat.extend(row.slice(s![l.w_off..l.w_off + n_in]).iter());
                    }
                    let wabs: Vec<f64> = wflat.iter().map(|v: &f64| v.abs()).collect();
                    row_dots(hin, &wflat, n_in, &mut z);
                    if let (Some(en), Some(a)) = (e_next.as_mut(), ain.as_ref()) {
                        row_dots(a, &wabs, n_in, en);
                    }
                } else {
                    for (b, row) in p.outer_iter().enumerate() {
                        let wsl = row.slice(s![l.w_off..l.w_off + n_out * n_in]);
                        let w = wsl
                            .to_shape((n_out, n_in))
                            .map(|c| c.to_owned())
                            .unwrap_or_else(|_| Array2::zeros((n_out, n_in)));
                        let cols_in = s![.., b * n_in..(b + 1) * n_in];
                        let cols_out = s![.., b * n_out..(b + 1) * n_out];
                        matmul_small(hin.slice(cols_in), w.view(), &mut z.slice_mut(cols_out));
                        if let (Some(en), Some(a)) = (e_next.as_mut(), ain.as_ref()) {
                            let wa = w.mapv(f64::abs);
                            matmul_small(a.slice(cols_in), wa.view(), &mut en.slice_mut(cols_out));
                        }
                    }
                }
            }
        }
        if l.bias {
            let mut brow = Vec::with_capacity(nb * n_out);
            for row in p.outer_iter() {
                brow.extend(row.slice(s![l.b_off..l.b_off + n_out]).iter());
            }
            let brow = ndarray::Array1::from(brow);
            z += &brow;
            if let Some(en) = e_next.as_mut() {
                *en += &brow.mapv(f64::abs);
            }
        }
        (z, e_next)
    }

    /// (λ/2)·Σ_k ‖W_k‖² of one point, summed layer by layer as the per-point path does.
    fn decay_sum(&self, theta: ndarray::ArrayView1<'_, f64>) -> f64 {
        let mut r = 0.0;
        for l in &self.layers {
            r += theta
                .slice(ndarray::s![l.w_off..l.w_off + l.n_in * l.n_out])
                .iter()
                .map(|v| v * v)
                .sum::<f64>();
        }
        r
    }

    /// Values and scales of a sub-block (standard layout).
    fn values_sub_block(
        &self,
        p: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
    ) {
        if self.fused() {
            self.fused_values(p, None, values, scales, want_scale);
            return;
        }
        let fwd = self.forward_block(p, false, want_scale);
        self.values_from_forward(p, &fwd, values, scales, want_scale);
    }

    /// Values and scales of a sub-block of midpoint pairs (standard layout, pair-major: rows
    /// r·i, r·i + 1 and r·i + 2 + j are a_i, b_i and m_ij = fl(t_j·a_i + (1 − t_j)·b_i), r = 2 + T).
    ///
    /// The first layer is affine in θ, so the t-points' pre-activations are taken as
    /// Z_m = t·Z_a + (1 − t)·Z_b from the a's and b's product (one product for 2 of the 2 + T
    /// points of a pair), with the bound E_m = 4·(t·E_a + (1 − t)·E_b): Z_m differs from the
    /// pre-activations X·W_0(fl(m))ᵀ + b_0(fl(m)) by at most the propagated errors of Z_a and Z_b
    /// (t·E_a + (1 − t)·E_b), the rounding of the combination (≤ u·(2|t·Z_a| + 2|(1 − t)·Z_b| +
    /// |Z_m|) ≤ 1.5·(t·E_a + (1 − t)·E_b) in units of eps, as |Z| ≤ E) and the rounding of forming
    /// fl(m) seen through |X| (the same bound), so E_m bounds the error of Z_m as E bounds that of
    /// a direct product and the rounding scale of f(m) stays valid. The later layers, the loss and
    /// the weight decay use the rows of `p` as the block path does.
    fn pair_values_sub_block(
        &self,
        p: ArrayView2<'_, f64>,
        ts: &[f64],
        values: &mut [f64],
        scales: &mut [f64],
    ) {
        let r = 2 + ts.len();
        let np = p.nrows() / r;
        let w = np * self.layers[0].n_out;
        // The points ordered by role (all a's, all b's, then the t-points of each weight), so
        // that every combination below runs over contiguous columns.
        let mut q = Array2::<f64>::zeros((r * np, self.dim));
        for i in 0..np {
            for j in 0..r {
                q.row_mut(j * np + i).assign(&p.row(r * i + j));
            }
        }
        if self.fused() {
            let (mut vq, mut sq) = (vec![0.0; r * np], vec![0.0; r * np]);
            self.fused_values(q.view(), Some((np, ts)), &mut vq, &mut sq, true);
            for i in 0..np {
                for j in 0..r {
                    values[r * i + j] = vq[j * np + i];
                    scales[r * i + j] = sq[j * np + i];
                }
            }
            return;
        }
        let ab = q.slice(ndarray::s![..2 * np, ..]);
        let (zab, eab) = self.pre_activation(0, ab, None, None, true);
        let n = self.x.nrows();
        let (mut zv, mut ev) = (Vec::with_capacity(n * r * w), Vec::with_capacity(n * r * w));
        for s in 0..n {
            let za = zab.row(s);
            let ea = eab.as_ref().map(|e| e.row(s));
            if let (Some(za), Some(ea)) = (za.as_slice(), ea.as_ref().and_then(|r| r.as_slice())) {
                combine_pair_row(za, ts, w, 1.0, &mut zv);
                combine_pair_row(ea, ts, w, 4.0, &mut ev);
            }
        }
        let shape = (n, r * w);
        let z = Array2::from_shape_vec(shape, zv).unwrap_or_else(|_| Array2::zeros(shape));
        let e = Array2::from_shape_vec(shape, ev).unwrap_or_else(|_| Array2::zeros(shape));
        let fwd = self.forward_from(q.view(), z, Some(e), false, true);
        let (mut vq, mut sq) = (vec![0.0; r * np], vec![0.0; r * np]);
        self.values_from_forward(q.view(), &fwd, &mut vq, &mut sq, true);
        for i in 0..np {
            for j in 0..r {
                values[r * i + j] = vq[j * np + i];
                scales[r * i + j] = sq[j * np + i];
            }
        }
    }

    /// Whether the fused path ([`Mlp::fused_values`]) evaluates this network: one or two layers,
    /// a linear output layer with one unit, one target column.
    fn fused(&self) -> bool {
        let last = &self.layers[self.layers.len() - 1];
        self.layers.len() <= 2
            && last.n_out == 1
            && last.act == Activation::Identity
            && self.y.ncols() == 1
    }

    /// Values and scales of the sub-block `q` (standard layout) of a network with one or two
    /// layers and one output ([`Mlp::fused`]), sample by sample with every intermediate in
    /// cache: per sample x_i, the first layer's pre-activations of every point
    /// (`z_ub = b_u + Σ_j x_ij W_uj`, j in order, as the per-point path sums them) and their
    /// bounds (`|b_u| + Σ_j |x_ij||W_uj|`) by [`first_layer_row2`] for two samples per pass
    /// over the per-point weights ([`first_layer_row`] for a last odd one), then per sample the
    /// activation, the output unit and the loss term
    /// ([`loss::loss_accumulate_row`](super::loss)). No product
    /// of the whole block and no n × B intermediate: the first layer has a small fan-in K = d,
    /// where a packed product spends its time packing.
    ///
    /// With `pairs = Some((np, ts))`, `q` is ordered by role (np a's, np b's, then np t-points
    /// per weight) and the t-points' pre-activations are combined from the a's and b's as in
    /// [`Mlp::pair_values_sub_block`] (same values and bounds, without the product).
    fn fused_values(
        &self,
        q: ArrayView2<'_, f64>,
        pairs: Option<(usize, &[f64])>,
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
    ) {
        let rr = q.nrows();
        let l0 = &self.layers[0];
        let (k, m) = (l0.n_in, l0.n_out);
        if pairs.is_none()
            && rr <= COLUMN_VALUES_MAX_POINTS
            && !self.xt.is_empty()
            && m.saturating_mul(self.x.nrows()) <= COLUMN_PATH_MAX_FLOATS
        {
            self.column_values(q, values, scales, want_scale);
            return;
        }
        // the points whose first layer is a product: all, or the a's and b's
        let n0 = pairs.map_or(rr, |(np, _)| 2 * np);
        // per-point weights with the point index fastest: w1[(u·K + j)·n0 + b] = W_uj(θ_b)
        let mut w1 = vec![0.0; m * k * n0];
        let mut b1 = vec![0.0; m * n0];
        for (b, row) in q.outer_iter().take(n0).enumerate() {
            for u in 0..m {
                for j in 0..k {
                    w1[(u * k + j) * n0 + b] = row[l0.w_off + u * k + j];
                }
                if l0.bias {
                    b1[u * n0 + b] = row[l0.b_off + u];
                }
            }
        }
        let b1a: Vec<f64> = b1.iter().map(|v| v.abs()).collect();
        // the output layer of a two-layer network: w2[u·rr + b], b2[b]
        let second = self.layers.get(1);
        let (mut w2, mut b2) = (Vec::new(), Vec::new());
        if let Some(l1) = second {
            w2 = vec![0.0; m * rr];
            b2 = vec![0.0; rr];
            for (b, row) in q.outer_iter().enumerate() {
                for u in 0..m {
                    w2[u * rr + b] = row[l1.w_off + u];
                }
                if l1.bias {
                    b2[b] = row[l1.b_off];
                }
            }
        }
        let b2a: Vec<f64> = b2.iter().map(|v| v.abs()).collect();
        // Samples in groups of `g`: the first layer of each sample of the group, then one
        // activation call over the whole group (a small block, e.g. one point, has a few values
        // per sample: the vectorised kernel's set-up and padded tail would dominate per sample),
        // then the output unit and the loss term sample by sample, in order. Every value sees the
        // same operations as sample by sample (the kernel's lanes are independent). At least two
        // samples per group, so that the first layer always runs two samples per pass over the
        // per-point weights (a wide block, e.g. the points of a midpoint piece of a network with
        // many units, would otherwise take them one sample at a time).
        let w = m * rr;
        let g = (FUSED_GROUP_FLOATS / w.max(1)).clamp(2, self.x.nrows().max(2));
        let (mut z, mut e) = (vec![0.0; g * w], vec![0.0; g * w]);
        let (mut out, mut eo) = (vec![0.0; rr], vec![0.0; rr]);
        values.iter_mut().for_each(|v| *v = 0.0);
        scales.iter_mut().for_each(|v| *v = 0.0);
        let lip = l0.act.lipschitz();
        // a ReLU hidden layer: its activations (and the t-points' combination) are taken inside
        // the output unit, with no pass over the group's pre-activations
        let relu_output = second.is_some() && l0.act == Activation::Relu;
        let mut prod = self.loss_products(rr);
        let n = self.x.nrows();
        let row = |i: usize| (self.x.row(i).to_slice(), self.xabs.row(i).to_slice());
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + g).min(n);
            // the group's first layer: two samples per pass over the per-point weights (each
            // load serves both), a last odd sample of the group alone
            let mut i = i0;
            while i < i1 {
                let (Some(x), Some(xa)) = row(i) else {
                    i += 1;
                    continue; // standard layout by construction
                };
                let next = if i + 1 < i1 {
                    let (x1, xa1) = row(i + 1);
                    x1.zip(xa1)
                } else {
                    None
                };
                let o = (i - i0) * w;
                let (za, zb) = z[o..].split_at_mut(w);
                let (ea, eb) = e[o..].split_at_mut(w);
                let wts = (&w1[..], &b1[..], &b1a[..]);
                match next {
                    Some((x1, xa1)) => first_layer_units2(
                        [x, x1],
                        [xa, xa1],
                        wts,
                        [m, k, n0, rr],
                        [za, zb],
                        [ea, eb],
                    ),
                    _ => first_layer_units(x, xa, wts, [m, k, n0, rr], za, ea),
                }
                i += if next.is_some() { 2 } else { 1 };
            }
            let used = (i1 - i0) * w;
            if !relu_output {
                if let Some((np, ts)) = pairs {
                    combine_pair_units(&mut z[..used], &mut e[..used], rr, np, ts);
                }
                if second.is_some() {
                    super::loss::activation_slice(l0.act, &mut z[..used], &mut []);
                    if lip != 1.0 {
                        e[..used].iter_mut().for_each(|v| *v *= lip);
                    }
                }
            }
            for i in i0..i1 {
                let o = (i - i0) * w;
                let (zs, es) = (&z[o..o + w], &e[o..o + w]);
                let (f, ef): (&[f64], &[f64]) = if relu_output {
                    let w2s = (&w2[..], &b2[..], &b2a[..]);
                    output_unit_relu_row(zs, es, w2s, pairs, &mut out, &mut eo);
                    (&out, &eo)
                } else if second.is_some() {
                    output_unit_row(zs, es, &w2, &b2, &b2a, &mut out, &mut eo);
                    (&out, &eo)
                } else {
                    (zs, es)
                };
                self.accumulate_sample(i, f, ef, values, scales, want_scale, &mut prod);
            }
            i0 = i1;
        }
        self.finish_values(q, values, scales, want_scale);
    }

    /// The loss and weight-decay part of [`Mlp::values_sub_block`] from a forward pass.
    fn values_from_forward(
        &self,
        p: ArrayView2<'_, f64>,
        fwd: &Forward,
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
    ) {
        let nb = p.nrows();
        let c = self.y.ncols();
        let out = &fwd.h[self.layers.len() - 1];
        values.iter_mut().for_each(|v| *v = 0.0);
        scales.iter_mut().for_each(|v| *v = 0.0);
        let mut prod = self.loss_products(if c == 1 { nb } else { 0 });
        let n = self.x.nrows();
        for i in 0..n {
            let row = out.row(i);
            let row = row.as_slice().unwrap_or(&[]);
            let erow = fwd.e_out.as_ref().map(|e| e.row(i));
            let erow = erow.as_ref().and_then(|r| r.as_slice()).unwrap_or(&[]);
            if c == 1 {
                self.accumulate_sample(i, row, erow, values, scales, want_scale, &mut prod);
            } else {
                for b in 0..nb {
                    for o in 0..c {
                        let yv = self.y[[i, o]];
                        let (lv, dl) = self.loss.eval(row[b * c + o], yv);
                        values[b] += lv;
                        if want_scale {
                            scales[b] += self.loss.term_scale(lv, dl, erow[b * c + o], yv);
                        }
                    }
                }
            }
        }
        self.finish_values(p, values, scales, want_scale);
    }

    /// Sample i's loss terms for a row of one-output predictions `f` (one per point, bounds
    /// `ef`) added to `values` and, with `want_scale`, to `scales` by
    /// [`loss::loss_accumulate_row`](super::loss), the logistic products folded on the shared
    /// schedule: every value path sums its terms through here, so all agree bit for bit.
    #[allow(clippy::too_many_arguments)]
    fn accumulate_sample(
        &self,
        i: usize,
        f: &[f64],
        ef: &[f64],
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
        prod: &mut [f64],
    ) {
        let acc_s: &mut [f64] = if want_scale { scales } else { &mut [] };
        super::loss::loss_accumulate_row(
            self.loss,
            f,
            ef,
            self.y[[i, 0]],
            values,
            acc_s,
            prod,
            super::loss::logistic_flush_after(i, self.x.nrows()),
        );
    }

    /// The targets of the first output over the samples (borrowed when contiguous: one output).
    fn y_column(&self) -> std::borrow::Cow<'_, [f64]> {
        let col = self.y.column(0);
        match col.to_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(col.to_vec()),
        }
    }

    /// The per-point products of [`loss::loss_accumulate_row`](super::loss) for `nb` points
    /// (zeros; only the logistic loss uses them).
    fn loss_products(&self, nb: usize) -> Vec<f64> {
        vec![0.0; if self.loss == Loss::Logistic { nb } else { 0 }]
    }

    /// Add the weight decay to `values` and `scales` and make each scale at least |value|.
    fn finish_values(
        &self,
        p: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
    ) {
        for (b, th) in p.outer_iter().enumerate() {
            let (f, s) = (&mut values[b], &mut scales[b]);
            if self.weight_decay > 0.0 {
                let r = self.decay_sum(th);
                *f += 0.5 * self.weight_decay * r;
                *s += 0.5 * self.weight_decay * r;
            }
            *s = if want_scale { s.max(f.abs()) } else { f.abs() };
        }
    }

    /// Values and gradients of a sub-block (standard layout); `grads` is nb × D row-major.
    fn gradients_sub_block(
        &self,
        p: ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        use ndarray::s;
        let fwd = self.forward_block(p, true, false);
        let (n, din) = self.x.dim();
        let nb = p.nrows();
        let c = self.y.ncols();
        let d = self.dim;
        let nl = self.layers.len();
        let out = &fwd.h[nl - 1];
        values.iter_mut().for_each(|v| *v = 0.0);
        grads.iter_mut().for_each(|v| *v = 0.0);
        // Δ = ∂F/∂h_L, n × nb·c.
        let mut delta = Array2::<f64>::zeros((n, nb * c));
        for i in 0..n {
            let row = out.row(i);
            let row = row.as_slice().unwrap_or(&[]);
            let mut drow = delta.row_mut(i);
            let drow = drow.as_slice_mut().unwrap_or(&mut []);
            if c == 1 {
                super::loss::loss_derivs_row(self.loss, row, self.y[[i, 0]], values, drow);
            } else {
                for b in 0..nb {
                    for o in 0..c {
                        let (lv, dl) = self.loss.eval(row[b * c + o], self.y[[i, o]]);
                        values[b] += lv;
                        drow[b * c + o] = dl;
                    }
                }
            }
        }
        for l in (0..nl).rev() {
            let lay = &self.layers[l];
            let (n_in, n_out) = (lay.n_in, lay.n_out);
            delta *= &fwd.dg[l];
            if lay.bias {
                let mut sums = vec![0.0; nb * n_out];
                for row in delta.outer_iter() {
                    for (sv, v) in sums.iter_mut().zip(row.iter()) {
                        *sv += v;
                    }
                }
                for b in 0..nb {
                    grads[b * d + lay.b_off..b * d + lay.b_off + n_out]
                        .copy_from_slice(&sums[b * n_out..(b + 1) * n_out]);
                }
            }
            if l > 0 && n_out == 1 {
                // One output unit (the usual last layer): per sample row, every point's
                // ∂F/∂w += δ·h_in and ∂F/∂h_in = δ·w, read contiguously (no product per point).
                let hin = &fwd.h[l - 1];
                let mut dprev = Array2::<f64>::zeros((n, nb * n_in));
                let mut wflat: Vec<f64> = Vec::with_capacity(nb * n_in);
                for row in p.outer_iter() {
                    wflat.extend(row.slice(s![lay.w_off..lay.w_off + n_in]).iter());
                }
                let mut gacc = vec![0.0; nb * n_in];
                for ((dr, hr), mut pr) in delta
                    .outer_iter()
                    .zip(hin.outer_iter())
                    .zip(dprev.outer_iter_mut())
                {
                    let (Some(hr), Some(pr)) = (hr.as_slice(), pr.as_slice_mut()) else {
                        return Err(Error::Numerical("mlp: non-contiguous activations".into()));
                    };
                    for (b, &dv) in dr.iter().enumerate() {
                        let r = b * n_in..(b + 1) * n_in;
                        for (((g, &h), p), &w) in gacc[r.clone()]
                            .iter_mut()
                            .zip(&hr[r.clone()])
                            .zip(pr[r.clone()].iter_mut())
                            .zip(&wflat[r])
                        {
                            *g += dv * h;
                            *p = dv * w;
                        }
                    }
                }
                for b in 0..nb {
                    grads[b * d + lay.w_off..b * d + lay.w_off + n_in]
                        .copy_from_slice(&gacc[b * n_in..(b + 1) * n_in]);
                }
                delta = dprev;
            } else if l > 0 {
                let hin = &fwd.h[l - 1];
                let mut dprev = Array2::<f64>::zeros((n, nb * n_in));
                for (b, row) in p.outer_iter().enumerate() {
                    let w = row
                        .slice(s![lay.w_off..lay.w_off + n_out * n_in])
                        .to_shape((n_out, n_in))
                        .map(|c| c.to_owned())
                        .unwrap_or_else(|_| Array2::zeros((n_out, n_in)));
                    let db = delta.slice(s![.., b * n_out..(b + 1) * n_out]);
                    let hb = hin.slice(s![.., b * n_in..(b + 1) * n_in]);
                    let g = &mut grads[b * d + lay.w_off..b * d + lay.w_off + n_out * n_in];
                    let mut gv = ndarray::ArrayViewMut2::from_shape((n_out, n_in), g)
                        .map_err(|e| Error::Numerical(format!("mlp shapes: {e}")))?;
                    // ∂F/∂W = Δᵀ h_in, ∂F/∂h_in = Δ W.
                    ndarray::linalg::general_mat_mul(1.0, &db.t(), &hb, 0.0, &mut gv);
                    let mut dp = dprev.slice_mut(s![.., b * n_in..(b + 1) * n_in]);
                    ndarray::linalg::general_mat_mul(1.0, &db, &w, 0.0, &mut dp);
                }
                delta = dprev;
            } else {
                // All points' first-layer gradients as one product Δᵀ X.
                let mut g0 = Array2::<f64>::zeros((nb * n_out, din));
                ndarray::linalg::general_mat_mul(1.0, &delta.t(), &self.x, 0.0, &mut g0);
                let g0 = g0.as_slice().unwrap_or(&[]);
                for b in 0..nb {
                    grads[b * d + lay.w_off..b * d + lay.w_off + n_out * din]
                        .copy_from_slice(&g0[b * n_out * din..(b + 1) * n_out * din]);
                }
            }
        }
        for (b, th) in p.outer_iter().enumerate() {
            if self.weight_decay > 0.0 {
                let lam = self.weight_decay;
                for lay in &self.layers {
                    for t in lay.w_off..lay.w_off + lay.n_in * lay.n_out {
                        grads[b * d + t] += lam * th[t];
                    }
                }
                values[b] += 0.5 * lam * self.decay_sum(th);
            }
        }
        Ok(())
    }

    /// Run `f` over sub-blocks of `points` (copied to standard layout when needed).
    fn for_sub_blocks(
        &self,
        points: ArrayView2<'_, f64>,
        mut f: impl FnMut(ArrayView2<'_, f64>, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let bp = self.block_points();
        let b = points.nrows();
        let mut lo = 0;
        while lo < b {
            let hi = (lo + bp).min(b);
            let sub = points.slice(ndarray::s![lo..hi, ..]);
            if sub.is_standard_layout() {
                f(sub, lo, hi)?;
            } else {
                let owned = sub.as_standard_layout().to_owned();
                f(owned.view(), lo, hi)?;
            }
            lo = hi;
        }
        Ok(())
    }
}

/// `c[i, b] = Σ_j a[i, b·k + j] · w[b·k + j]` (j in order) for every row i: the one-unit layer of
/// every point of a block at once.
fn row_dots(a: &Array2<f64>, w: &[f64], k: usize, c: &mut Array2<f64>) {
    for (ar, mut cr) in a.outer_iter().zip(c.outer_iter_mut()) {
        match (ar.as_slice(), cr.as_slice_mut()) {
            (Some(ar), Some(cr)) => {
                for ((ab, wb), cv) in ar.chunks_exact(k).zip(w.chunks_exact(k)).zip(cr.iter_mut()) {
                    let mut acc = 0.0;
                    for (x, y) in ab.iter().zip(wb) {
                        acc += x * y;
                    }
                    *cv = acc;
                }
            }
            _ => {
                for (b, cv) in cr.iter_mut().enumerate() {
                    let mut acc = 0.0;
                    for j in 0..k {
                        acc += ar[b * k + j] * w[b * k + j];
                    }
                    *cv = acc;
                }
            }
        }
    }
}

/// Floats of the loss-derivative differences held at once by
/// [`Mlp::linear_gradient_differences`] (2 MiB).
const DIFF_BLOCK_FLOATS: usize = 1 << 18;

/// `(Lip ℓ', range of ℓ'', sup |ℓ‴|)` of a loss as a function of the prediction (labels ±1):
/// the constants of the rounding bound of [`Mlp::linear_gradient_differences`]. `None` for the
/// third where ℓ'' jumps (squared hinge: the range bound is used instead). The hinge loss has
/// ℓ' piecewise constant: its constants are 0, valid away from its kink only.
fn loss_derivative_constants(loss: Loss) -> (f64, f64, Option<f64>) {
    match loss {
        Loss::Squared => (1.0, 0.0, Some(0.0)),
        // ℓ'' = σ(1 − σ) ∈ (0, 1/4]; |ℓ‴| = σ(1 − σ)|1 − 2σ| ≤ 1/(6√3) < 0.1
        Loss::Logistic => (0.25, 0.25, Some(0.1)),
        Loss::Hinge => (0.0, 0.0, Some(0.0)),
        Loss::SquaredHinge => (2.0, 2.0, None),
        // ℓ'' ∈ {0, 1}, jumping at |f − y| = δ
        Loss::Huber(_) => (1.0, 1.0, None),
    }
}

/// One sample row of the pair path: from the a-columns `za[..w]` and b-columns `za[w..2w]`,
/// append a, b and, per weight t, `c·(t·z_a + (1 − t)·z_b)` to `out` (columns role by role, `w`
/// each). With c = 1 these are the t-points' pre-activations (formed as the points are,
/// `t * a + (1 − t) * b`), with c = 4 their bounds (see [`Mlp::pair_values_sub_block`]).
fn combine_pair_row(za: &[f64], ts: &[f64], w: usize, c: f64, out: &mut Vec<f64>) {
    let (a, b) = za[..2 * w].split_at(w);
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    for &t in ts {
        let s = 1.0 - t;
        if c == 1.0 {
            out.extend(a.iter().zip(b).map(|(&x, &y)| t * x + s * y));
        } else {
            out.extend(a.iter().zip(b).map(|(&x, &y)| c * (t * x + s * y)));
        }
    }
}

/// One sample's first-layer unit for a block of points (point index fastest):
/// `z[b] = bias[b] + Σ_j x[j]·w[j·B + b]` and `e[b] = |bias[b]| + Σ_j |x[j]|·|w[j·B + b]|`
/// (`xa`, `babs` hold the absolute values; |w| is taken as the weights are read, which halves
/// the weights' footprint in cache), j in order, no fused multiply-add: the sums
/// of the per-point path ([`Mlp::eval_scalar`]) bit for bit, for any B and position in the
/// block. Sixteen points at a time in registers over j; compiled for AVX2 when the CPU has it
/// (the same operations in the same order: bit-identical to the portable build).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_layer_row<const L: usize>(
    x: &[f64],
    xa: &[f64],
    w: &[f64],
    bias: &[f64],
    babs: &[f64],
    z: &mut [f64],
    e: &mut [f64],
) {
    let nb = z.len();
    let k = x.len().min(xa.len());
    // L points per register block (32 with AVX-512, eight vectors for z and e; 16 otherwise),
    // then 8, then one at a time: the same operations per point in every case
    let mut b0 = first_layer_block::<L>(x, xa, w, bias, babs, z, e, k, 0);
    b0 = first_layer_block::<8>(x, xa, w, bias, babs, z, e, k, b0);
    for b in b0..nb {
        let (mut zz, mut ee) = (bias[b], babs[b]);
        for j in 0..k {
            zz += x[j] * w[j * nb + b];
            ee += xa[j] * w[j * nb + b].abs();
        }
        z[b] = zz;
        e[b] = ee;
    }
}

/// [`first_layer_row`] for two samples at once (`x2 = [x_i, x_{i+1}]`, `xa2` their absolute
/// values, outputs `z2`, `e2`): each load of the per-point weights serves both samples. The
/// same operations per sample and point as [`first_layer_row`] (bit for bit; tested).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_layer_row2<const L: usize>(
    x2: [&[f64]; 2],
    xa2: [&[f64]; 2],
    w: &[f64],
    bias: &[f64],
    babs: &[f64],
    z2: [&mut [f64]; 2],
    e2: [&mut [f64]; 2],
) {
    let [z0, z1] = z2;
    let [e0, e1] = e2;
    let nb = z0.len().min(z1.len()).min(e0.len()).min(e1.len());
    let k = x2[0]
        .len()
        .min(xa2[0].len())
        .min(x2[1].len())
        .min(xa2[1].len());
    let xs = [&x2[0][..k], &x2[1][..k], &xa2[0][..k], &xa2[1][..k]];
    // L points per register block (32 with AVX-512: sixteen vectors of sums), then 8, then
    // one at a time: the same operations per point in every case
    let mut b0 = first_layer_block2::<L>(xs, w, bias, babs, [z0, z1], [e0, e1], nb, 0);
    b0 = first_layer_block2::<8>(xs, w, bias, babs, [z0, z1], [e0, e1], nb, b0);
    for b in b0..nb {
        for (s, (z, e)) in [(0, (&mut *z0, &mut *e0)), (1, (&mut *z1, &mut *e1))] {
            let (mut zz, mut ee) = (bias[b], babs[b]);
            for j in 0..k {
                zz += x2[s][j] * w[j * nb + b];
                ee += xa2[s][j] * w[j * nb + b].abs();
            }
            z[b] = zz;
            e[b] = ee;
        }
    }
}

avx512_twin! {
    /// [`first_layer_row2`] for every unit of the first layer in one call (the per-point
    /// weights `w = (w1, b1, |b1|)` with the point index fastest, `w1[(u·K + j)·n0 + b]`;
    /// `dims = [units, K, n0, rr]`; unit u's values at `u·rr..u·rr + n0` of each output row).
    fn first_layer_units2 / first_layer_units2_avx512 / first_layer_units2_avx2 / first_layer_units2_portable [L = 32, 8, 8] (
        x2: [&[f64]; 2],
        xa2: [&[f64]; 2],
        w: (&[f64], &[f64], &[f64]),
        dims: [usize; 4],
        z2: [&mut [f64]; 2],
        e2: [&mut [f64]; 2],
    ) {
        let [m, k, n0, rr] = dims;
        let [z0, z1] = z2;
        let [e0, e1] = e2;
        for u in 0..m {
            let wr = u * k * n0..(u + 1) * k * n0;
            let br = u * n0..(u + 1) * n0;
            let o = u * rr..u * rr + n0;
            first_layer_row2::<L>(
                x2,
                xa2,
                &w.0[wr],
                &w.1[br.clone()],
                &w.2[br],
                [&mut z0[o.clone()], &mut z1[o.clone()]],
                [&mut e0[o.clone()], &mut e1[o]],
            );
        }
    }
}

avx512_twin! {
    /// [`first_layer_row`] for every unit of the first layer in one call (arguments as
    /// [`first_layer_units2`], one sample).
    fn first_layer_units / first_layer_units_avx512 / first_layer_units_avx2 / first_layer_units_portable [L = 32, 16, 16] (
        x: &[f64],
        xa: &[f64],
        w: (&[f64], &[f64], &[f64]),
        dims: [usize; 4],
        z: &mut [f64],
        e: &mut [f64],
    ) {
        let [m, k, n0, rr] = dims;
        for u in 0..m {
            let wr = u * k * n0..(u + 1) * k * n0;
            let br = u * n0..(u + 1) * n0;
            let o = u * rr..u * rr + n0;
            first_layer_row::<L>(
                x,
                xa,
                &w.0[wr],
                &w.1[br.clone()],
                &w.2[br],
                &mut z[o.clone()],
                &mut e[o],
            );
        }
    }
}

/// The register blocks of [`first_layer_row2`]: points `b0..` in blocks of `L` while whole
/// blocks remain (`xs` = x_i, x_{i+1}, |x_i|, |x_{i+1}|, each of the fan-in's length); returns
/// the first point not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_layer_block2<const L: usize>(
    xs: [&[f64]; 4],
    w: &[f64],
    bias: &[f64],
    babs: &[f64],
    z2: [&mut [f64]; 2],
    e2: [&mut [f64]; 2],
    nb: usize,
    mut b0: usize,
) -> usize {
    let [z0, z1] = z2;
    let [e0, e1] = e2;
    let [x0, x1, a0, a1] = xs;
    while b0 + L <= nb {
        let mut zz = [[0.0f64; L]; 2];
        let mut ee = [[0.0f64; L]; 2];
        for s in 0..2 {
            zz[s].copy_from_slice(&bias[b0..b0 + L]);
            ee[s].copy_from_slice(&babs[b0..b0 + L]);
        }
        for (wr, ((&xj0, &xj1), (&aj0, &aj1))) in w
            .chunks_exact(nb)
            .zip(x0.iter().zip(x1).zip(a0.iter().zip(a1)))
        {
            let wr = &wr[b0..b0 + L];
            for q in 0..L {
                let wq = wr[q];
                let aq = wq.abs();
                zz[0][q] += xj0 * wq;
                ee[0][q] += aj0 * aq;
                zz[1][q] += xj1 * wq;
                ee[1][q] += aj1 * aq;
            }
        }
        z0[b0..b0 + L].copy_from_slice(&zz[0]);
        z1[b0..b0 + L].copy_from_slice(&zz[1]);
        e0[b0..b0 + L].copy_from_slice(&ee[0]);
        e1[b0..b0 + L].copy_from_slice(&ee[1]);
        b0 += L;
    }
    b0
}

/// The register blocks of [`first_layer_row`]: points `b0..` in blocks of `L` while whole
/// blocks remain; returns the first point not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn first_layer_block<const L: usize>(
    x: &[f64],
    xa: &[f64],
    w: &[f64],
    bias: &[f64],
    babs: &[f64],
    z: &mut [f64],
    e: &mut [f64],
    k: usize,
    mut b0: usize,
) -> usize {
    let nb = z.len();
    while b0 + L <= nb {
        let mut zz = [0.0f64; L];
        let mut ee = [0.0f64; L];
        zz.copy_from_slice(&bias[b0..b0 + L]);
        ee.copy_from_slice(&babs[b0..b0 + L]);
        for (wr, (&xj, &aj)) in w.chunks_exact(nb).zip(x[..k].iter().zip(&xa[..k])) {
            let wr = &wr[b0..b0 + L];
            for q in 0..L {
                zz[q] += xj * wr[q];
                ee[q] += aj * wr[q].abs();
            }
        }
        z[b0..b0 + L].copy_from_slice(&zz);
        e[b0..b0 + L].copy_from_slice(&ee);
        b0 += L;
    }
    b0
}

avx512_twin! {
    /// One sample's output unit of a two-layer network for a block of B points: with the hidden
    /// activations `h[u·B + b]` and their bounds `e`, `out[b] = b2[b] + Σ_u w2[u·B + b]·h[u·B + b]`
    /// and `eo[b] = |b2[b]| + Σ_u |w2|·(|h| + e)` (u in order, as the per-point path).
    fn output_unit_row / output_unit_row_avx512 / output_unit_row_avx2 / output_unit_row_portable [L = 32, 16, 16] (
        h: &[f64],
        e: &[f64],
        w2: &[f64],
        b2: &[f64],
        b2a: &[f64],
        out: &mut [f64],
        eo: &mut [f64],
    ) {
        // L points at a time in registers over the units (32 with AVX-512, 16 otherwise), then
        // eight, then one at a time (the same operations per point in every case)
        let nb = out.len();
        let mut b0 = output_unit_block::<L>(h, e, w2, b2, b2a, out, eo, 0);
        b0 = output_unit_block::<8>(h, e, w2, b2, b2a, out, eo, b0);
        for b in b0..nb {
            let (mut o, mut so) = (b2[b], b2a[b]);
            for ((hu, eu), wu) in h
                .chunks_exact(nb)
                .zip(e.chunks_exact(nb))
                .zip(w2.chunks_exact(nb))
            {
                o += wu[b] * hu[b];
                so += wu[b].abs() * (hu[b].abs() + eu[b]);
            }
            out[b] = o;
            eo[b] = so;
        }
    }
}

/// The register blocks of [`output_unit_row`]: points `b0..` in blocks of `L` while whole
/// blocks remain; returns the first point not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_unit_block<const L: usize>(
    h: &[f64],
    e: &[f64],
    w2: &[f64],
    b2: &[f64],
    b2a: &[f64],
    out: &mut [f64],
    eo: &mut [f64],
    mut b0: usize,
) -> usize {
    let nb = out.len();
    while b0 + L <= nb {
        let mut o = [0.0f64; L];
        let mut so = [0.0f64; L];
        o.copy_from_slice(&b2[b0..b0 + L]);
        so.copy_from_slice(&b2a[b0..b0 + L]);
        for ((hu, eu), wu) in h
            .chunks_exact(nb)
            .zip(e.chunks_exact(nb))
            .zip(w2.chunks_exact(nb))
        {
            let (hu, eu) = (&hu[b0..b0 + L], &eu[b0..b0 + L]);
            let wu = &wu[b0..b0 + L];
            for q in 0..L {
                o[q] += wu[q] * hu[q];
                so[q] += wu[q].abs() * (hu[q].abs() + eu[q]);
            }
        }
        out[b0..b0 + L].copy_from_slice(&o);
        eo[b0..b0 + L].copy_from_slice(&so);
        b0 += L;
    }
    b0
}

avx512_twin! {
    /// [`output_unit_row`] of a ReLU first layer from its pre-activations: `z`, `e` hold the
    /// first layer's pre-activations and bounds (`z[u·B + b]`), and each point's activations are
    /// taken inside the output unit (`h = z` if `z > 0`, else 0, as the ReLU pass gives them, so
    /// `|h| = h`) with no separate activation pass. With `pairs = Some((np, ts))` the row is
    /// ordered by role (np a's, np b's, then np t-points per weight) and only the a's and b's
    /// columns are filled: the t-points' pre-activations and bounds are combined from them as
    /// the output unit reads them (`t·z_a + (1 − t)·z_b` and `4·(t·e_a + (1 − t)·e_b)`, as
    /// [`combine_pair_unit`] forms them), with no pass that stores them. The same operations
    /// per value as the combination, [`loss::activation_slice`](super::loss) and
    /// [`output_unit_row`] in turn (bit for bit; tested).
    fn output_unit_relu_row / output_unit_relu_row_avx512 / output_unit_relu_row_avx2 / output_unit_relu_row_portable [L = 32, 16, 16] (
        z: &[f64],
        e: &[f64],
        w2: (&[f64], &[f64], &[f64]),
        pairs: Option<(usize, &[f64])>,
        out: &mut [f64],
        eo: &mut [f64],
    ) {
        let rr = out.len();
        match pairs {
            None => output_relu_range::<L>(z, e, w2, out, eo, 0, rr, None),
            Some((np, ts)) => {
                output_relu_range::<L>(z, e, w2, out, eo, 0, 2 * np, None);
                for (j, &t) in ts.iter().enumerate() {
                    let lo = (2 + j) * np;
                    output_relu_range::<L>(z, e, w2, out, eo, lo, lo + np, Some((t, np)));
                }
            }
        }
    }
}

/// Points `lo..hi` of [`output_unit_relu_row`]: register blocks of `L`, then 8, then one at a
/// time; with `comb = Some((t, np))` point `lo + i` is combined from points `i` and `np + i`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_relu_range<const L: usize>(
    z: &[f64],
    e: &[f64],
    w2: (&[f64], &[f64], &[f64]),
    out: &mut [f64],
    eo: &mut [f64],
    lo: usize,
    hi: usize,
    comb: Option<(f64, usize)>,
) {
    let mut p = output_relu_block::<L>(z, e, w2, out, eo, lo, lo, hi, comb);
    p = output_relu_block::<8>(z, e, w2, out, eo, lo, p, hi, comb);
    output_relu_block::<1>(z, e, w2, out, eo, lo, p, hi, comb);
}

/// The register blocks of [`output_relu_range`]: points `p..hi` in blocks of `L` while whole
/// blocks remain; returns the first point not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_relu_block<const L: usize>(
    z: &[f64],
    e: &[f64],
    w2: (&[f64], &[f64], &[f64]),
    out: &mut [f64],
    eo: &mut [f64],
    lo: usize,
    mut p: usize,
    hi: usize,
    comb: Option<(f64, usize)>,
) -> usize {
    let rr = out.len();
    let (w2, b2, b2a) = w2;
    let units = z.len() / rr.max(1);
    let relu = |v: f64| if v > 0.0 { v } else { 0.0 };
    while p + L <= hi {
        let mut o = [0.0f64; L];
        let mut so = [0.0f64; L];
        o.copy_from_slice(&b2[p..p + L]);
        so.copy_from_slice(&b2a[p..p + L]);
        for u in 0..units {
            let c = u * rr + p;
            let wu = &w2[c..c + L];
            match comb {
                None => {
                    let (zu, eu) = (&z[c..c + L], &e[c..c + L]);
                    for q in 0..L {
                        let h = relu(zu[q]);
                        o[q] += wu[q] * h;
                        so[q] += wu[q].abs() * (h + eu[q]);
                    }
                }
                Some((t, np)) => {
                    let s = 1.0 - t;
                    let ca = u * rr + (p - lo);
                    let cb = ca + np;
                    let (za, zb) = (&z[ca..ca + L], &z[cb..cb + L]);
                    let (ea, eb) = (&e[ca..ca + L], &e[cb..cb + L]);
                    for q in 0..L {
                        let h = relu(t * za[q] + s * zb[q]);
                        let em = 4.0 * (t * ea[q] + s * eb[q]);
                        o[q] += wu[q] * h;
                        so[q] += wu[q].abs() * (h + em);
                    }
                }
            }
        }
        out[p..p + L].copy_from_slice(&o);
        eo[p..p + L].copy_from_slice(&so);
        p += L;
    }
    p
}

/// The t-points of one unit of the fused pair path, in place: `v` holds np a-values, np
/// b-values, then np values per weight; `v_t = c·(t·v_a + (1 − t)·v_b)` (as
/// [`combine_pair_row`]).
#[inline(always)]
fn combine_pair_unit(v: &mut [f64], np: usize, ts: &[f64], c: f64) {
    let (ab, rest) = v.split_at_mut(2 * np);
    let (a, b) = ab.split_at(np);
    for (&t, out) in ts.iter().zip(rest.chunks_exact_mut(np)) {
        let s = 1.0 - t;
        if c == 1.0 {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = t * x + s * y;
            }
        } else {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = c * (t * x + s * y);
            }
        }
    }
}

avx512_twin! {
    /// The t-points' pre-activations (`z`) and bounds (`e`, factor 4) of every unit of a group
    /// of samples of the fused pair path, in place ([`combine_pair_unit`] on each run of `rr`
    /// values), in one call: compiled for AVX-512F or AVX2 where the CPU has them (the same
    /// operations per value).
    fn combine_pair_units / combine_pair_units_avx512 / combine_pair_units_avx2 / combine_pair_units_portable(
        z: &mut [f64],
        e: &mut [f64],
        rr: usize,
        np: usize,
        ts: &[f64],
    ) {
        for (zu, eu) in z.chunks_exact_mut(rr.max(1)).zip(e.chunks_exact_mut(rr.max(1))) {
            combine_pair_unit(zu, np, ts, 1.0);
            combine_pair_unit(eu, np, ts, 4.0);
        }
    }
}

/// `c = a · wᵀ` for a small per-point layer: a direct loop when w has one row (a matrix–vector
/// product, where a packed product's set-up would dominate), else the packed product.
fn matmul_small(
    a: ArrayView2<'_, f64>,
    w: ArrayView2<'_, f64>,
    c: &mut ndarray::ArrayViewMut2<'_, f64>,
) {
    if w.nrows() == 1 {
        let wr = w.row(0);
        for (i, ar) in a.outer_iter().enumerate() {
            let mut acc = 0.0;
            for (x, y) in ar.iter().zip(wr.iter()) {
                acc += x * y;
            }
            c[[i, 0]] = acc;
        }
    } else {
        gemm_nt(a, w, 0.0, c);
    }
}

avx512_twin! {
    /// One hidden unit's pre-activations over the samples, from X stored column by column
    /// (`xt[j·n + i] = X_ij`): `z[i] = bias + Σ_j X_ij·w[j]`, j in order, no fused multiply-add
    /// (the sums of [`first_layer_row`] and of the per-point path, bit for bit).
    fn unit_column / unit_column_avx512 / unit_column_avx2 / unit_column_portable(
        xt: &[f64],
        w: &[f64],
        bias: f64,
        z: &mut [f64],
    ) {
        let n = z.len();
        z.iter_mut().for_each(|v| *v = bias);
        for (&wj, xj) in w.iter().zip(xt.chunks_exact(n.max(1))) {
            for (zv, &xv) in z.iter_mut().zip(xj) {
                *zv += xv * wj;
            }
        }
    }
}

/// `out[c] = Σ_i s[i]·cols[c·n + i]` (n = `s.len()`) for every column c of `cols`, each in
/// one fixed order: sixteen partial sums over the samples i ≡ q (mod 16) of the first
/// 16⌊n/16⌋, added pairwise (8 + 8, 4 + 4, 2 + 2, 1 + 1), then the last samples one by one.
/// No fused multiply-add: the portable, AVX2 ([`column_dots_twin`]) and AVX-512
/// ([`dots512::column_dots`], where the CPU has AVX-512F) builds agree bit for bit.
fn column_dots(s: &[f64], cols: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::avx512_available() {
        // SAFETY: the CPU supports the feature the function was compiled for.
        unsafe { dots512::column_dots(s, cols, out) };
        return;
    }
    column_dots_twin(s, cols, out)
}

/// [`column_dots`] with the sixteen partial sums of a column in two AVX-512 registers, the
/// columns in fours (then a pair, then one) through one pass over `s`: a column's sums are a
/// chain of dependent additions, a group's are independent chains the core overlaps, and the
/// pairwise reduction is three vector additions and one scalar one on registers. The same
/// operations in the same order per column as the portable body, so the same bits.
#[rustversion::since(1.89)]
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod dots512 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn column_dots(s: &[f64], cols: &[f64], out: &mut [f64]) {
        let n = s.len();
        let nc = cols.len().checked_div(n).map_or(0, |c| c.min(out.len()));
        let mut c = 0;
        while c < nc {
            let (cs, os) = (&cols[c * n..], &mut out[c..]);
            c += if nc - c >= 4 {
                group::<4>(s, cs, os)
            } else if nc - c >= 2 {
                group::<2>(s, cs, os)
            } else {
                group::<1>(s, cs, os)
            };
        }
    }

    /// The first `C` columns of `cols` into `out[..C]`: `C`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn group<const C: usize>(s: &[f64], cols: &[f64], out: &mut [f64]) -> usize {
        let n = s.len();
        let n16 = n / 16 * 16;
        assert!(cols.len() >= C * n && out.len() >= C);
        let (mut lo, mut hi) = ([_mm512_setzero_pd(); C], [_mm512_setzero_pd(); C]);
        let mut i = 0;
        while i < n16 {
            // SAFETY: i + 16 ≤ n16 ≤ n, and column c's samples c·n + i .. c·n + i + 16 lie
            // within `cols` (C·n ≤ cols.len()).
            unsafe {
                let s0 = _mm512_loadu_pd(s.as_ptr().add(i));
                let s1 = _mm512_loadu_pd(s.as_ptr().add(i + 8));
                for c in 0..C {
                    let p = cols.as_ptr().add(c * n + i);
                    lo[c] = _mm512_add_pd(lo[c], _mm512_mul_pd(s0, _mm512_loadu_pd(p)));
                    hi[c] = _mm512_add_pd(hi[c], _mm512_mul_pd(s1, _mm512_loadu_pd(p.add(8))));
                }
            }
            i += 16;
        }
        for c in 0..C {
            // a[q] += a[q + 8], a[q] += a[q + 4], a[q] += a[q + 2], a[0] += a[1]
            let a8 = _mm512_add_pd(lo[c], hi[c]);
            let a4 = _mm256_add_pd(_mm512_castpd512_pd256(a8), _mm512_extractf64x4_pd::<1>(a8));
            let a2 = _mm_add_pd(_mm256_castpd256_pd128(a4), _mm256_extractf128_pd::<1>(a4));
            let a1 = _mm_add_sd(a2, _mm_unpackhi_pd(a2, a2));
            let mut t = _mm_cvtsd_f64(a1);
            for (&sv, &xv) in s[n16..].iter().zip(&cols[c * n + n16..(c + 1) * n]) {
                t += sv * xv;
            }
            out[c] = t;
        }
        C
    }
}

/// Never called: `avx512_available` is false before Rust 1.89.
#[rustversion::before(1.89)]
#[cfg(target_arch = "x86_64")]
mod dots512 {
    pub(super) unsafe fn column_dots(s: &[f64], cols: &[f64], out: &mut [f64]) {
        super::column_dots_twin(s, cols, out)
    }
}

avx2_twin! {
    /// The portable and AVX2 builds of [`column_dots`]. Columns go in pairs through one pass
    /// over `s` (each pair's two sums are independent chains the core overlaps; the sums of a
    /// column are the same operations in the same order as alone).
    fn column_dots_twin / column_dots_avx2 / column_dots_portable(
        s: &[f64],
        cols: &[f64],
        out: &mut [f64],
    ) {
        let n = s.len();
        let n16 = n / 16 * 16;
        let pairs = cols.len().checked_div(n).map_or(0, |c| c.min(out.len()) / 2);
        for (o, cc) in out.chunks_exact_mut(2).zip(cols.chunks_exact(2 * n.max(1))).take(pairs) {
            let (c0, c1) = cc.split_at(n);
            let (mut a0, mut a1) = ([0.0f64; 16], [0.0f64; 16]);
            for ((sv, x0), x1) in s[..n16]
                .chunks_exact(16)
                .zip(c0[..n16].chunks_exact(16))
                .zip(c1[..n16].chunks_exact(16))
            {
                for q in 0..16 {
                    a0[q] += sv[q] * x0[q];
                    a1[q] += sv[q] * x1[q];
                }
            }
            for w in [8, 4, 2, 1] {
                for q in 0..w {
                    a0[q] += a0[q + w];
                    a1[q] += a1[q + w];
                }
            }
            let (mut t0, mut t1) = (a0[0], a1[0]);
            for ((&sv, &x0), &x1) in s[n16..].iter().zip(&c0[n16..n]).zip(&c1[n16..n]) {
                t0 += sv * x0;
                t1 += sv * x1;
            }
            o[0] = t0;
            o[1] = t1;
        }
        let done = 2 * pairs;
        let rest = cols.get(done * n..).unwrap_or(&[]);
        for (o, col) in out[done..].iter_mut().zip(rest.chunks_exact(n.max(1))) {
            let mut acc = [0.0f64; 16];
            for (sv, cv) in s[..n16].chunks_exact(16).zip(col[..n16].chunks_exact(16)) {
                for q in 0..16 {
                    acc[q] += sv[q] * cv[q];
                }
            }
            for w in [8, 4, 2, 1] {
                for q in 0..w {
                    acc[q] += acc[q + w];
                }
            }
            let mut t = acc[0];
            for (&sv, &cv) in s[n16..].iter().zip(&col[n16..n]) {
                t += sv * cv;
            }
            *o = t;
        }
    }
}

avx512_twin! {
    /// `y[i] += a·x[i]` (no fused multiply-add): the output unit's sum of
    /// [`Mlp::column_gradients`], vectorised over the samples at the CPU's width.
    fn add_scaled / add_scaled_avx512 / add_scaled_avx2 / add_scaled_portable(
        a: f64,
        x: &[f64],
        y: &mut [f64],
    ) {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv += a * xv;
        }
    }
}

avx512_twin! {
    /// `f[i] += w·h[i]` and `ef[i] += |w|·(|h[i]| + e[i])` (`wa` = |w|): one hidden unit's term
    /// of the output and of its rounding bound in [`Mlp::column_values`], vectorised over the
    /// samples at the CPU's width.
    fn add_unit_column / add_unit_column_avx512 / add_unit_column_avx2 / add_unit_column_portable(
        w: f64,
        wa: f64,
        h: &[f64],
        e: &[f64],
        f: &mut [f64],
        ef: &mut [f64],
    ) {
        for (((o, so), &hv), &ev) in f.iter_mut().zip(ef.iter_mut()).zip(h).zip(e) {
            *o += w * hv;
            *so += wa * (hv.abs() + ev);
        }
    }
}

avx512_twin! {
    /// `s[i] = (d[i]·a)·g[i]`: the back-propagated loss derivatives of one unit in
    /// [`Mlp::column_gradients`], vectorised over the samples at the CPU's width.
    fn scaled_products / scaled_products_avx512 / scaled_products_avx2 / scaled_products_portable(
        d: &[f64],
        a: f64,
        g: &[f64],
        s: &mut [f64],
    ) {
        for ((sv, &dv), &gv) in s.iter_mut().zip(d).zip(g) {
            *sv = dv * a * gv;
        }
    }
}

/// Points up to which [`Mlp::fused_values`] evaluates a block one point at a time over the
/// samples ([`Mlp::column_values`]).
const COLUMN_VALUES_MAX_POINTS: usize = 4;

/// Moves of [`Mlp::column_gradients`] whose moved unit columns are held and activated at once
/// (two small work arrays reused, in cache, instead of two of all moves' columns).
const MOVE_CHUNK: usize = 8;

/// The move of [`Mlp::column_gradients`] that moves nothing (the gradient at θ itself).
const NO_MOVE: usize = usize::MAX;

/// Entries of X and hidden values (units × samples) up to which a network with one or two layers
/// and one output keeps X and |X| column by column and takes the column paths
/// ([`Mlp::column_values`], [`Mlp::column_gradients`], which hold a point's activations and
/// their derivatives as two units × samples arrays): 8 MiB per array.
const COLUMN_PATH_MAX_FLOATS: usize = 1 << 20;

impl Mlp {
    /// Whether the gradients of this network go through [`Mlp::column_gradients`]: two layers,
    /// a linear output layer with one unit, one target column, at most
    /// [`COLUMN_PATH_MAX_FLOATS`] hidden values and fewer than [`GEMM_GRADIENT_MIN_DIM`]
    /// parameters.
    fn column_path(&self) -> bool {
        self.layers.len() == 2
            && !self.xt.is_empty()
            && self.layers[0].n_out.saturating_mul(self.x.nrows()) <= COLUMN_PATH_MAX_FLOATS
            && self.dim < GEMM_GRADIENT_MIN_DIM
    }

    /// [`Mlp::fused_values`] of a few points (at most [`COLUMN_VALUES_MAX_POINTS`]: the value
    /// at a Hessian's centre, a certificate's points), one point at a time by arrays over the
    /// samples (the sample index in the vector lanes) instead of one row of a few values per
    /// sample. The same operations per value: the first layer's sums and bounds as
    /// [`first_layer_row`] forms them ([`unit_column`]), the activation, the output unit as
    /// [`output_unit_row`] and the loss terms as [`loss::loss_accumulate_row`](super::loss) forms
    /// them, accumulated over the samples in order — bit for bit the values and scales of a larger
    /// block's row (tested).
    fn column_values(
        &self,
        q: ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
        want_scale: bool,
    ) {
        let l0 = &self.layers[0];
        let (n, k) = self.x.dim();
        let m = l0.n_out;
        let second = self.layers.get(1);
        let (xt, xat) = (&self.xt, &self.xat);
        let lip = l0.act.lipschitz();
        let (mut z, mut e) = (vec![0.0; m * n], vec![0.0; m * n]);
        let (mut f, mut ef) = (vec![0.0; n], vec![0.0; n]);
        let y = self.y_column();
        let mut wa = vec![0.0; k];
        for (b, th) in q.outer_iter().enumerate() {
            for u in 0..m {
                let w = th.slice(ndarray::s![l0.w_off + u * k..l0.w_off + (u + 1) * k]);
                let w = w.to_vec();
                wa.iter_mut().zip(&w).for_each(|(a, v)| *a = v.abs());
                let bias = if l0.bias { th[l0.b_off + u] } else { 0.0 };
                unit_column(xt, &w, bias, &mut z[u * n..(u + 1) * n]);
                unit_column(xat, &wa, bias.abs(), &mut e[u * n..(u + 1) * n]);
            }
            let (fo, eo): (&[f64], &[f64]) = if let Some(l1) = second {
                super::loss::activation_slice(l0.act, &mut z, &mut []);
                if lip != 1.0 {
                    e.iter_mut().for_each(|v| *v *= lip);
                }
                let b2 = if l1.bias { th[l1.b_off] } else { 0.0 };
                f.iter_mut().for_each(|v| *v = b2);
                ef.iter_mut().for_each(|v| *v = b2.abs());
                for u in 0..m {
                    let wu = th[l1.w_off + u];
                    let wau = wu.abs();
                    let (hu, eu) = (&z[u * n..(u + 1) * n], &e[u * n..(u + 1) * n]);
                    add_unit_column(wu, wau, hu, eu, &mut f, &mut ef);
                }
                (&f, &ef)
            } else {
                (&z[..n], &e[..n])
            };
            // the loss terms as the block path accumulates them (a block of one point: the same
            // bits, the logistic loss's products folded on the same samples), in one call
            let mut vs = [0.0; 2];
            super::loss::loss_accumulate_col(self.loss, fo, eo, &y, want_scale, &mut vs);
            values[b] = vs[0];
            scales[b] = vs[1];
        }
        self.finish_values(q, values, scales, want_scale);
    }

    /// Gradients of a two-layer network with one output ([`Mlp::column_path`]) at θ + t_k e_{i_k}
    /// for each move `(i_k, t_k)` (K × D into `out`; `(NO_MOVE, 0.0)` gives ∇f(θ)), optionally with
    /// the values, by one point's arrays over the samples (columns of length n, sample index in the
    /// vector lanes).
    ///
    /// θ's hidden units are evaluated once (pre-activations `b_u + Σ_j X_ij W_uj` as the
    /// per-point path sums them, activations and derivatives); a move of a first-layer weight
    /// W_uj or bias b_u changes unit u only, whose column is computed again from the moved
    /// parameters (the same sums), and a move of an output weight or bias changes no unit. Every
    /// other column is θ's, which is bit for bit what the moved point's own evaluation gives, so
    /// each row equals the gradient of the moved point computed alone (`(NO_MOVE, 0.0)` at it:
    /// [`Objective::gradient`]). Per
    /// move: the output `b₂ + Σ_u a_u h_u` (u in order), the loss derivatives δ, and the
    /// gradient as fixed-order sums over the samples ([`column_dots`]): ∂a_u = Σ δ h_u,
    /// ∂b₂ = Σ δ, with s_u = (δ a_u) g'(z_u): ∂W_uj = Σ s_u X_·j, ∂b_u = Σ s_u, plus the weight
    /// decay λW. One unit's n activations per first-layer move instead of all m units'.
    fn column_gradients(
        &self,
        theta: &[f64],
        moves: &[(usize, f64)],
        out: &mut [f64],
        mut values: Option<&mut [f64]>,
    ) -> Result<()> {
        let d = self.dim;
        let (l0, l1) = (&self.layers[0], &self.layers[1]);
        let (n, k) = self.x.dim();
        let m = l0.n_out;
        let bad_move = |mv: &(usize, f64)| mv.0 >= d && mv.0 != NO_MOVE;
        if theta.len() != d || out.len() != moves.len() * d || moves.iter().any(bad_move) {
            return Err(Error::invalid(
                "theta",
                format!("expected a vector of length {d} and moves inside it"),
            ));
        }
        let y = self.y_column();
        let xt = &self.xt;
        let w0 = &theta[l0.w_off..l0.w_off + m * k];
        let bias0 = |u: usize| if l0.bias { theta[l0.b_off + u] } else { 0.0 };
        // θ's units: pre-activations, then activations and derivatives in one call
        let (mut hb, mut gb) = (vec![0.0; m * n], vec![0.0; m * n]);
        for (u, z) in hb.chunks_exact_mut(n.max(1)).enumerate().take(m) {
            unit_column(xt, &w0[u * k..(u + 1) * k], bias0(u), z);
        }
        super::loss::activation_slice(l0.act, &mut hb, &mut gb);
        // the unit each move changes (none for the output layer's parameters)
        let w0_range = l0.w_off..l0.w_off + m * k;
        let unit_of = |i: usize| {
            if w0_range.contains(&i) {
                Some((i - l0.w_off) / k)
            } else if l0.bias && (l0.b_off..l0.b_off + m).contains(&i) {
                Some(i - l0.b_off)
            } else {
                None
            }
        };
        // the moved units' columns, in move order, activated in one call per MOVE_CHUNK moves
        let moved: Vec<Option<usize>> = moves.iter().map(|mv| unit_of(mv.0)).collect();
        let nm = moved.iter().filter(|u| u.is_some()).count().min(MOVE_CHUNK);
        let (mut hm, mut gm) = (vec![0.0; nm * n], vec![0.0; nm * n]);
        let mut slot = vec![0usize; moves.len()];
        let mut wbuf = vec![0.0; k];
        let ones = vec![1.0; n];
        let (mut f, mut delta, mut s) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut a = vec![0.0; m];
        let lam = self.weight_decay;
        for c0 in (0..moves.len()).step_by(MOVE_CHUNK) {
            let c1 = (c0 + MOVE_CHUNK).min(moves.len());
            let mut next = 0;
            for (c, (&(i, t), u)) in moves.iter().zip(&moved).enumerate().take(c1).skip(c0) {
                let Some(u) = *u else { continue };
                wbuf.copy_from_slice(&w0[u * k..(u + 1) * k]);
                let mut b = bias0(u);
                let v = theta[i] + t;
                if w0_range.contains(&i) {
                    wbuf[i - l0.w_off - u * k] = v;
                } else {
                    b = v;
                }
                unit_column(xt, &wbuf, b, &mut hm[next * n..(next + 1) * n]);
                slot[c] = next;
                next += 1;
            }
            super::loss::activation_slice(l0.act, &mut hm[..next * n], &mut gm[..next * n]);
            for (c, (&(i, t), &u_moved)) in moves.iter().zip(&moved).enumerate().take(c1).skip(c0) {
                let v = if i < d { theta[i] + t } else { 0.0 };
                a.copy_from_slice(&theta[l1.w_off..l1.w_off + m]);
                let mut cb = if l1.bias { theta[l1.b_off] } else { 0.0 };
                if (l1.w_off..l1.w_off + m).contains(&i) {
                    a[i - l1.w_off] = v;
                } else if l1.bias && i == l1.b_off {
                    cb = v;
                }
                let col = |u: usize| -> (&[f64], &[f64]) {
                    if u_moved == Some(u) {
                        let o = slot[c] * n;
                        (&hm[o..o + n], &gm[o..o + n])
                    } else {
                        (&hb[u * n..(u + 1) * n], &gb[u * n..(u + 1) * n])
                    }
                };
                // the output b₂ + Σ_u a_u h_u, u in order (as the per-point path)
                f.iter_mut().for_each(|x| *x = cb);
                for (u, &au) in a.iter().enumerate() {
                    add_scaled(au, col(u).0, &mut f);
                }
                if let Some(vals) = values.as_deref_mut() {
                    let mut acc = [0.0; 2];
                    super::loss::loss_accumulate_col(self.loss, &f, &[], &y, false, &mut acc);
                    vals[c] = acc[0];
                }
                super::loss::loss_derivs_col(self.loss, &f, &y, &mut delta);
                let g = &mut out[c * d..(c + 1) * d];
                for (u, &au) in a.iter().enumerate() {
                    let (h, gd) = col(u);
                    column_dots(&delta, h, &mut g[l1.w_off + u..l1.w_off + u + 1]);
                    scaled_products(&delta, au, gd, &mut s);
                    if l0.bias {
                        column_dots(&s, &ones, &mut g[l0.b_off + u..l0.b_off + u + 1]);
                    }
                    column_dots(&s, xt, &mut g[l0.w_off + u * k..l0.w_off + (u + 1) * k]);
                }
                if l1.bias {
                    column_dots(&delta, &ones, &mut g[l1.b_off..l1.b_off + 1]);
                }
                if lam > 0.0 {
                    // the decay's gradient, and its value summed as `Mlp::decay_sum` sums it
                    let mut r = 0.0;
                    for lay in &self.layers {
                        let at = |p: usize| if p == i { v } else { theta[p] };
                        let range = lay.w_off..lay.w_off + lay.n_in * lay.n_out;
                        for p in range.clone() {
                            g[p] += lam * at(p);
                        }
                        r += range.map(|p| at(p) * at(p)).sum::<f64>();
                    }
                    if let Some(vals) = values.as_deref_mut() {
                        vals[c] += 0.5 * lam * r;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Mlp {
    /// [`Objective::gradient_differences`] of a linear model (one layer, one output), for a block
    /// of K points: the predictions z_p = Xw_p + b_p of all points as one product XWᵀ (faer,
    /// serial) and their bounds |X||W|ᵀ likewise; the moved points' predictions are
    /// z_p ± h_pj X_{·j} (no product per moved point); the loss-derivative differences
    /// Q_p,ij = ℓ'(z_pi + h_pj X_ij) − ℓ'(z_pi − h_pj X_ij) of all points form one n × KD matrix
    /// (one vectorised pass per sample and point, both exponentials of a pair interleaved, or the
    /// logistic sinh form), and every difference of the block is one product Xᵀ[Q_1 … Q_K] (faer,
    /// serial; the bias row: the column sums of Q, as X with a column of ones), plus
    /// λ(h⁺_j + h⁻_j) on the diagonal of the decayed weights.
    ///
    /// Rounding bound, per sample i and move j, in units of eps (the error of Q_ij as computed):
    /// Lip(ℓ')·(|ẑ⁺| + |ẑ⁻| + 2h_j|X_ij|) (rounding of the shifted predictions); the error of z
    /// itself, (d + 1)·E_i with E = |X||w| + |b|, seen through ℓ'(· + h X_ij) − ℓ'(· − h X_ij),
    /// whose Lipschitz constant is at most min(range ℓ'', 2h_j|X_ij| sup|ℓ‴|) (z's error is
    /// shared by both sides and cancels to O(h)); (KERNEL_ULP + 1)·(|ℓ'⁺| + |ℓ'⁻|) (the
    /// vectorised kernel); and (n + 1)·|Q_ij| (the subtraction and the product's sum over n).
    /// With β_i the sum of each term's largest value over j (a bound on their sum's largest
    /// value, from the four maxima the row kernel `loss_deriv_diffs_row` returns), the difference
    /// (k, j) is off by at most eps·Σ_i |X_ik| β_i (one product |X|ᵀ[β_1 … β_K]), plus
    /// eps·(|diff| + λ(h⁺ + h⁻)) for the decay term's additions.
    ///
    /// The samples go in blocks of a number of rows that depends on D only (Q of a block of
    /// [`crate::objective::diff_block_points`] points at most `DIFF_BLOCK_FLOATS` floats), the
    /// products accumulated block after block in a fixed order.
    fn linear_gradient_differences(
        &self,
        points: ArrayView2<'_, f64>,
        steps: ArrayView2<'_, f64>,
        diff: &mut [f64],
        bound: &mut [f64],
    ) -> Result<bool> {
        use faer::{Accum, MatMut, MatRef, Par};
        let d = self.dim;
        let kp = points.nrows();
        let dd = d * d;
        if points.ncols() != d
            || steps.dim() != (kp, d)
            || diff.len() != kp * dd
            || bound.len() != kp * dd
        {
            return Err(Error::invalid(
                "points",
                format!("expected rows of length {d}, their steps and K x D x D buffers"),
            ));
        }
        if kp == 0 {
            return Ok(true);
        }
        let eps = f64::EPSILON;
        let l = &self.layers[0];
        let (n, din) = self.x.dim();
        let x = self.x.as_standard_layout();
        let xabs = self.xabs.as_standard_layout();
        let (xs, xas) = (x.as_slice().unwrap_or(&[]), xabs.as_slice().unwrap_or(&[]));
        // W (K × din), |W|, the biases
        let mut wbuf = Vec::with_capacity(kp * din);
        let mut wabs = Vec::with_capacity(kp * din);
        let mut bias = vec![0.0; kp];
        for (p, row) in points.outer_iter().enumerate() {
            for j in 0..din {
                let v = row[l.w_off + j];
                wbuf.push(v);
                wabs.push(v.abs());
            }
            if l.bias {
                bias[p] = row[l.b_off];
            }
        }
        // z (n × K, column p of point p) = X Wᵀ + b, e = |X||W|ᵀ + |b|
        let mut z = vec![0.0; n * kp];
        let mut e = vec![0.0; n * kp];
        let xm = MatRef::from_row_major_slice(xs, n, din);
        let xam = MatRef::from_row_major_slice(xas, n, din);
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(&mut z, n, kp),
            Accum::Replace,
            xm,
            MatRef::from_row_major_slice(&wbuf, kp, din).transpose(),
            1.0,
            Par::Seq,
        );
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(&mut e, n, kp),
            Accum::Replace,
            xam,
            MatRef::from_row_major_slice(&wabs, kp, din).transpose(),
            1.0,
            Par::Seq,
        );
        if l.bias {
            for p in 0..kp {
                let (bp, ba) = (bias[p], bias[p].abs());
                z[p * n..(p + 1) * n].iter_mut().for_each(|v| *v += bp);
                e[p * n..(p + 1) * n].iter_mut().for_each(|v| *v += ba);
            }
        }
        // The moves as formed by `gradients_along_axes`: θ_j + h_j and θ_j − h_j, rounded.
        let mut tp = vec![0.0; kp * d];
        let mut tm = vec![0.0; kp * d];
        for p in 0..kp {
            for j in 0..d {
                let (t, h) = (points[[p, j]], steps[[p, j]]);
                tp[p * d + j] = (t + h) - t;
                tm[p * d + j] = t - (t - h);
            }
        }
        // Logistic loss with equal moves (θ_j + h_j − θ_j = θ_j − (θ_j − h_j) for every j, the
        // rule unless a move crosses a binade): the rows of labels ±1 whose shifts are all
        // small go through the sinh form (no cancellation, one exponential per sample).
        let sinh_form: Vec<bool> = (0..kp)
            .map(|p| {
                self.loss == Loss::Logistic && tp[p * d..(p + 1) * d] == tm[p * d..(p + 1) * d]
            })
            .collect();
        let (lip1, range2, l3) = loss_derivative_constants(self.loss);
        let k_ulp = super::loss::KERNEL_ULP + 1.0;
        let z_err = (din + 1) as f64;
        let sum_err = (n + 1) as f64;
        // X with the bias column of ones (X itself without a bias): row i holds the features of
        // sample i, one per coordinate.
        let xa_owned;
        let xa: &[f64] = if l.bias {
            let mut a = vec![1.0; n * d];
            for (i, row) in a.chunks_exact_mut(d).enumerate() {
                row[..din].copy_from_slice(&xs[i * din..(i + 1) * din]);
            }
            xa_owned = a;
            &xa_owned
        } else {
            xs
        };
        let width = kp * d;
        let rows = (DIFF_BLOCK_FLOATS / (super::diff_block_points(d) * d)).clamp(1, n);
        let mut q = vec![0.0; rows.min(n) * width];
        // β (n × K, column p of point p)
        let mut beta = vec![0.0; n * kp];
        let mut lo = 0;
        while lo < n {
            let hi = (lo + rows).min(n);
            for i in lo..hi {
                let xrow = &xa[i * d..(i + 1) * d];
                let yi = self.y[[i, 0]];
                for p in 0..kp {
                    let qrow = &mut q[(i - lo) * width + p * d..(i - lo) * width + (p + 1) * d];
                    let (zi, ei) = (z[p * n + i], e[p * n + i]);
                    let (tpp, tmp) = (&tp[p * d..(p + 1) * d], &tm[p * d..(p + 1) * d]);
                    if sinh_form[p] && yi * yi == 1.0 {
                        // maxima over j of |Q_ij| and |δ_ij| = h_j|X_ij|
                        let mut mx = [0.0f64; 2];
                        super::loss::logistic_sinh_diffs_row(zi, xrow, tpp, qrow, &mut mx);
                        let [m_q, m_d] = mx;
                        if m_d <= super::loss::SINH_FORM_MAX_SHIFT {
                            // the kernel's relative error, the error of δ (relative eps/2, seen
                            // through ℓ'' ≤ Lip ℓ' on both sides), z's error as below, the sum
                            let span = 2.0 * m_d;
                            let shared = match l3 {
                                Some(c) => (span * c).min(range2),
                                None => range2,
                            };
                            beta[p * n + i] = lip1 * span
                                + z_err * ei * shared
                                + (super::loss::SINH_FORM_ULP + sum_err) * m_q;
                            continue;
                        }
                    }
                    // maxima over j of |ẑ⁺| + |ẑ⁻|, |ℓ'⁺| + |ℓ'⁻|, |Q_ij| and 2h_j|X_ij| (each
                    // term of the bound is monotone in them: their sum bounds the largest over j)
                    let mut mx = [0.0f64; 4];
                    super::loss::loss_deriv_diffs_row(
                        self.loss,
                        [zi, yi],
                        xrow,
                        tpp,
                        tmp,
                        qrow,
                        &mut mx,
                    );
                    let [m_z, m_dl, m_q, m_span] = mx;
                    let shared = match l3 {
                        Some(c) => (m_span * c).min(range2),
                        None => range2,
                    };
                    beta[p * n + i] =
                        lip1 * (m_z + m_span) + z_err * ei * shared + k_ulp * m_dl + sum_err * m_q;
                }
            }
            // diff, as a D × KD matrix with column p·D + j at offset (p·D + j)·D: Xᵀ Q
            let xb = MatRef::from_row_major_slice(&xa[lo * d..hi * d], hi - lo, d);
            let qb = MatRef::from_row_major_slice(&q[..(hi - lo) * width], hi - lo, width);
            let acc = if lo == 0 { Accum::Replace } else { Accum::Add };
            faer::linalg::matmul::matmul(
                MatMut::from_column_major_slice_mut(&mut *diff, d, width),
                acc,
                xb.transpose(),
                qb,
                1.0,
                Par::Seq,
            );
            lo = hi;
        }
        // rw = |X|ᵀβ (din × K, column p of point p)
        let mut rw = vec![0.0; din * kp];
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(&mut rw, din, kp),
            Accum::Replace,
            xam.transpose(),
            MatRef::from_column_major_slice(&beta, n, kp),
            1.0,
            Par::Seq,
        );
        // the sums of non-negative terms above are computed with a relative error below n·eps
        let margin = eps * (1.0 + sum_err * eps);
        let lam = self.weight_decay;
        // the bound of one row (one move) before the decay and |diff| terms: margin·rw, then the
        // bias's margin·Σβ
        let mut base = vec![0.0; d];
        for p in 0..kp {
            for (k, v) in base[l.w_off..l.w_off + din].iter_mut().enumerate() {
                *v = margin * rw[p * din + k];
            }
            if l.bias {
                base[l.b_off] = margin * beta[p * n..(p + 1) * n].iter().sum::<f64>();
            }
            let dp = &mut diff[p * dd..(p + 1) * dd];
            let bp = &mut bound[p * dd..(p + 1) * dd];
            for j in 0..d {
                let (drow, brow) = (&mut dp[j * d..(j + 1) * d], &mut bp[j * d..(j + 1) * d]);
                brow.copy_from_slice(&base);
                if lam > 0.0 && j >= l.w_off && j < l.w_off + din {
                    let t = lam * (tp[p * d + j] + tm[p * d + j]);
                    drow[j] += t;
                    brow[j] += eps * t;
                }
                for (b, &v) in brow.iter_mut().zip(drow.iter()) {
                    *b += eps * v.abs();
                }
            }
        }
        Ok(true)
    }
}

impl Objective for Mlp {
    fn dim(&self) -> usize {
        self.dim
    }
    /// A block of one point, so that `value_and_scale(θ)` equals row θ of any block evaluation
    /// bit for bit (the per-point scalar path, `Mlp::eval_scalar`, is the tests' reference).
    fn value_and_scale(&self, theta: &[f64]) -> (f64, f64) {
        let (mut v, mut s) = ([f64::NAN], [f64::NAN]);
        match ArrayView2::from_shape((1, theta.len()), theta) {
            Ok(p) if theta.len() == self.dim => {
                self.values_sub_block(p, &mut v, &mut s, true);
                (v[0], s[0])
            }
            _ => (f64::NAN, f64::NAN),
        }
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
        if self.column_path() {
            let mut v = [0.0];
            self.column_gradients(theta, &[(NO_MOVE, 0.0)], grad, Some(&mut v))?;
            return Ok(v[0]);
        }
        let p = ArrayView2::from_shape((1, self.dim), theta)
            .map_err(|e| Error::Numerical(format!("mlp shapes: {e}")))?;
        let mut v = [0.0];
        self.gradients_sub_block(p, &mut v, grad)?;
        Ok(v[0])
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn work_per_point(&self) -> f64 {
        self.x.nrows() as f64 * self.dim as f64
    }

    fn values_scales_block(
        &self,
        points: ndarray::ArrayView2<'_, f64>,
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        super::check_block(self.dim, points, values.len(), scales.len(), None)?;
        self.for_sub_blocks(points, |p, lo, hi| {
            self.values_sub_block(p, &mut values[lo..hi], &mut scales[lo..hi], true);
            Ok(())
        })
    }

    fn pair_values_block(
        &self,
        points: ndarray::ArrayView2<'_, f64>,
        ts: &[f64],
        values: &mut [f64],
        scales: &mut [f64],
    ) -> Result<()> {
        super::check_block(self.dim, points, values.len(), scales.len(), None)?;
        let r = 2 + ts.len();
        if points.nrows() % r != 0 {
            return Err(Error::invalid(
                "points",
                format!(
                    "expected (2 + {}) rows per pair, got {} rows",
                    ts.len(),
                    points.nrows()
                ),
            ));
        }
        // Sub-blocks of whole pairs, as many points as the block path's sub-blocks hold; on the
        // fused path at most FUSED_PAIR_FLOATS first-layer values per sample (the group's
        // pre-activations and bounds stay in L1: a network with many units takes fewer pairs),
        // a multiple of 8 pairs when that many fit.
        let mut pairs = (self.block_points() / r).max(1);
        if self.fused() {
            let units = self.layers[0].n_out.max(1);
            pairs = pairs.min((FUSED_PAIR_FLOATS / (units * r)).max(1));
            if pairs >= 16 {
                pairs = pairs / 16 * 16;
            } else if pairs >= 8 {
                pairs = pairs / 8 * 8;
            }
        }
        let mut lo = 0;
        while lo < points.nrows() {
            let hi = (lo + pairs * r).min(points.nrows());
            let sub = points.slice(ndarray::s![lo..hi, ..]);
            let owned;
            let sub = if sub.is_standard_layout() {
                sub
            } else {
                owned = sub.as_standard_layout().to_owned();
                owned.view()
            };
            self.pair_values_sub_block(sub, ts, &mut values[lo..hi], &mut scales[lo..hi]);
            lo = hi;
        }
        Ok(())
    }

    fn gradients_block(
        &self,
        points: ndarray::ArrayView2<'_, f64>,
        values: &mut [f64],
        grads: &mut [f64],
    ) -> Result<()> {
        let d = self.dim;
        super::check_block(d, points, values.len(), values.len(), Some(grads.len()))?;
        if d >= GEMM_GRADIENT_MIN_DIM {
            // Large networks: per point, the products over the samples (as `gradient`).
            let mut buf = Vec::with_capacity(d);
            for (i, row) in points.outer_iter().enumerate() {
                buf.clear();
                buf.extend(row.iter().copied());
                values[i] = self.value_gradient_gemm(&buf, &mut grads[i * d..(i + 1) * d])?;
            }
            return Ok(());
        }
        if self.column_path() {
            // per point, as `gradient`
            let mut buf = Vec::with_capacity(d);
            for (i, row) in points.outer_iter().enumerate() {
                buf.clear();
                buf.extend(row.iter().copied());
                let (g, v) = (&mut grads[i * d..(i + 1) * d], &mut values[i..i + 1]);
                self.column_gradients(&buf, &[(NO_MOVE, 0.0)], g, Some(v))?;
            }
            return Ok(());
        }
        self.for_sub_blocks(points, |p, lo, hi| {
            self.gradients_sub_block(p, &mut values[lo..hi], &mut grads[lo * d..hi * d])
        })
    }

    fn gradient_differences(
        &self,
        points: ArrayView2<'_, f64>,
        steps: ArrayView2<'_, f64>,
        diff: &mut [f64],
        bound: &mut [f64],
    ) -> Result<bool> {
        if self.layers.len() != 1 || self.layers[0].n_out != 1 || self.y.ncols() != 1 {
            return Ok(false);
        }
        self.linear_gradient_differences(points, steps, diff, bound)
    }

    fn gradients_along_axes(
        &self,
        theta: &[f64],
        moves: &[(usize, f64)],
        out: &mut [f64],
    ) -> Result<()> {
        let d = self.dim;
        if out.len() != moves.len() * d || theta.len() != d || moves.iter().any(|m| m.0 >= d) {
            return Err(Error::invalid(
                "theta",
                format!("expected a vector of length {d} and moves inside it"),
            ));
        }
        if self.column_path() {
            return self.column_gradients(theta, moves, out, None);
        }
        let k_n = moves.len();
        if self.layers.len() != 1 || self.layers[0].n_out != 1 {
            // The moved points as one block.
            let mut pts = Array2::<f64>::zeros((k_n, d));
            for (mut row, &(i, t)) in pts.outer_iter_mut().zip(moves) {
                row.iter_mut().zip(theta).for_each(|(r, v)| *r = *v);
                row[i] = theta[i] + t;
            }
            let mut vals = vec![0.0; k_n];
            return self.gradients_block(pts.view(), &mut vals, out);
        }
        // Linear model: z = Xw + b once; the moved predictions z + step·x_{·i} of all moves as an
        // n × K matrix, their loss derivatives row by row (vectorised kernels), and all gradients
        // as one product Δᵀ X.
        let l = &self.layers[0];
        let (n, din) = self.x.dim();
        let w = &theta[l.w_off..l.w_off + din];
        let b = if l.bias { theta[l.b_off] } else { 0.0 };
        let mut z = self.x.dot(&ndarray::ArrayView1::from(w));
        z += b;
        let mut zm = Array2::<f64>::zeros((n, k_n));
        for (k, &(i, t)) in moves.iter().enumerate() {
            let step = theta[i] + t - theta[i];
            let mut col = zm.column_mut(k);
            if i < l.w_off + din {
                let xc = self.x.column(i - l.w_off);
                for ((c, &zv), &xv) in col.iter_mut().zip(z.iter()).zip(xc.iter()) {
                    *c = zv + step * xv;
                }
            } else {
                for (c, &zv) in col.iter_mut().zip(z.iter()) {
                    *c = zv + step;
                }
            }
        }
        let mut delta = Array2::<f64>::zeros((n, k_n));
        for s in 0..n {
            let zr = zm.row(s);
            let mut dr = delta.row_mut(s);
            super::loss::loss_derivs_row(
                self.loss,
                zr.as_slice().unwrap_or(&[]),
                self.y[[s, 0]],
                &mut [],
                dr.as_slice_mut().unwrap_or(&mut []),
            );
        }
        let mut gw = Array2::<f64>::zeros((k_n, din));
        ndarray::linalg::general_mat_mul(1.0, &delta.t(), &self.x, 0.0, &mut gw);
        let mut gb = vec![0.0; k_n];
        for row in delta.outer_iter() {
            for (g, v) in gb.iter_mut().zip(row.iter()) {
                *g += v;
            }
        }
        for (k, &(i, t)) in moves.iter().enumerate() {
            let o = &mut out[k * d..(k + 1) * d];
            o[l.w_off..l.w_off + din].copy_from_slice(gw.row(k).as_slice().unwrap_or(&[]));
            if l.bias {
                o[l.b_off] = gb[k];
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
    fn the_constructor_checks_for_cancellation_and_keeps_its_errors() {
        let (x, y) = data(20, 3, 1, false);
        let build = |x: Array2<f64>, ctl: &Control| {
            Mlp::new_cancellable(
                x,
                y.clone(),
                &[3, 4, 1],
                &[Activation::Tanh, Activation::Identity],
                &[true, true],
                Loss::Squared,
                0.0,
                "net".into(),
                ctl,
            )
        };
        let ctl = Control::new();
        let a = build(x.clone(), &ctl).unwrap();
        assert_eq!(a.xabs, x.mapv(f64::abs));
        let mut bad = x.clone();
        bad[[4, 2]] = f64::NAN;
        let e = build(bad, &ctl).unwrap_err();
        assert!(format!("{e}").contains("flat index 14"), "{e}");
        ctl.cancel();
        assert!(matches!(build(x, &ctl), Err(Error::Interrupted)));
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
        let f1 = obj.eval_scalar(&theta, Some(&mut g1), false).0;
        let f2 = obj.value_gradient_gemm(&theta, &mut g2).unwrap();
        assert!((f1 - f2).abs() <= 1e-13 * f1.abs().max(1.0));
        for j in 0..d {
            assert!((g1[j] - g2[j]).abs() <= 1e-12 * (1.0 + g1[j].abs()), "{j}");
        }
        let (x, y) = data(9, 4, 1, true);
        let lin = Mlp::linear(x, y, true, Loss::Logistic, 0.0).unwrap();
        let th = vec![0.1, -0.2, 0.3, 0.05, 0.7];
        let (mut g1, mut g2) = (vec![0.0; 5], vec![0.0; 5]);
        lin.eval_scalar(&th, Some(&mut g1), false);
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

    /// A network 4 → 3 → 1 with hidden activation `act` and identity output.
    fn two_layer(
        x: &Array2<f64>,
        y: &Array2<f64>,
        act: Activation,
        bias: [bool; 2],
        loss: Loss,
        wd: f64,
    ) -> Mlp {
        Mlp::new(
            x.clone(),
            y.clone(),
            &[4, 3, 1],
            &[act, Activation::Identity],
            &bias,
            loss,
            wd,
            "two-layer".into(),
        )
        .unwrap()
    }

    #[test]
    fn column_path_rows_are_the_moved_points_gradients_bit_for_bit() {
        // Two-layer networks with one output (the column path): each row of gradients_along_axes
        // (θ's units reused, the moved unit recomputed) is bit for bit the gradient of the moved
        // point evaluated alone, whose value is bit for bit value_and_scale's; both agree with
        // the per-sample reference and the product path to rounding.
        let eps = f64::EPSILON;
        let mut objs: Vec<Mlp> = Vec::new();
        for (n, loss) in [
            (37, Loss::Squared),
            (16, Loss::Logistic),
            // more samples than one fold of the logistic products
            (150, Loss::Logistic),
            (5, Loss::Squared),
            (50, Loss::SquaredHinge),
        ] {
            let (x, y) = data(n, 4, 1, loss.is_classification());
            for (act, bias, wd) in [
                (Activation::Tanh, [false, false], 0.0),
                (Activation::Tanh, [true, true], 0.3),
                (Activation::Relu, [true, false], 0.1),
                (Activation::Softplus, [false, true], 0.0),
                (Activation::Sigmoid, [true, true], 0.0),
            ] {
                let obj = two_layer(&x, &y, act, bias, loss, wd);
                assert!(obj.column_path());
                objs.push(obj);
            }
        }
        for obj in &objs {
            let d = obj.dim();
            let theta: Vec<f64> = (0..d).map(|i| ((i * 7 + 2) as f64 * 0.53).sin()).collect();
            let moves: Vec<(usize, f64)> = (0..d)
                .flat_map(|i| [(i, 1.0 / 1024.0), (i, -3.0 / 512.0)])
                .collect();
            let mut out = vec![f64::NAN; moves.len() * d];
            obj.gradients_along_axes(&theta, &moves, &mut out).unwrap();
            for (k, &(i, t)) in moves.iter().enumerate() {
                let mut th = theta.clone();
                th[i] = theta[i] + t;
                let mut g = vec![0.0; d];
                let v = obj.gradient(&th, &mut g).unwrap();
                let row = &out[k * d..(k + 1) * d];
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(row), bits(&g), "{} move {k}", obj.name());
                let (f, sc) = obj.value_and_scale(&th);
                assert_eq!(v.to_bits(), f.to_bits(), "{} value {k}", obj.name());
                // the product path and the per-sample reference
                let p = ArrayView2::from_shape((1, d), &th).unwrap();
                let (mut vb, mut gb) = ([0.0], vec![0.0; d]);
                obj.gradients_sub_block(p, &mut vb, &mut gb).unwrap();
                let mut gs = vec![0.0; d];
                let (fs, _) = obj.eval_scalar(&th, Some(&mut gs), false);
                assert!((v - fs).abs() <= 64.0 * eps * sc && (vb[0] - fs).abs() <= 64.0 * eps * sc);
                let gmax = gs.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                for j in 0..d {
                    let tol = 1e-12 * gmax;
                    assert!((g[j] - gs[j]).abs() <= tol, "{} {k} {j}", obj.name());
                    assert!((gb[j] - gs[j]).abs() <= tol, "{} {k} {j}", obj.name());
                }
            }
            // gradients_block is the same kernel, point by point
            let pts = Array2::from_shape_fn((3, d), |(b, j)| theta[j] + 0.1 * b as f64);
            let (mut vb, mut gb) = (vec![0.0; 3], vec![0.0; 3 * d]);
            obj.gradients_block(pts.view(), &mut vb, &mut gb).unwrap();
            for b in 0..3 {
                let mut g = vec![0.0; d];
                let v = obj.gradient(&pts.row(b).to_vec(), &mut g).unwrap();
                assert_eq!(v.to_bits(), vb[b].to_bits());
                assert!(g
                    .iter()
                    .zip(&gb[b * d..(b + 1) * d])
                    .all(|(a, c)| a.to_bits() == c.to_bits()));
            }
        }
    }

    #[test]
    fn small_blocks_by_columns_equal_a_large_blocks_rows_bit_for_bit() {
        // fused networks (one or two layers, one output): blocks of up to
        // COLUMN_VALUES_MAX_POINTS points go one point at a time over the samples; their values
        // and scales are the rows of a 12-point block (lanes path), with and without scales
        let mut objs: Vec<Mlp> = Vec::new();
        for (n, loss) in [
            (37, Loss::Squared),
            (16, Loss::Logistic),
            // more samples than one fold of the logistic products
            (150, Loss::Logistic),
            (5, Loss::Hinge),
            (41, Loss::SquaredHinge),
        ] {
            let (x, y) = data(n, 4, 1, loss.is_classification());
            objs.push(Mlp::linear(x.clone(), y.clone(), true, loss, 0.3).unwrap());
            objs.push(Mlp::linear(x.clone(), y.clone(), false, loss, 0.0).unwrap());
            objs.push(Mlp::two_layer_relu(x.clone(), y.clone(), 3, true, loss, 0.2).unwrap());
            for (act, bias) in [
                (Activation::Tanh, [false, false]),
                (Activation::Softplus, [true, true]),
                (Activation::Sigmoid, [false, true]),
            ] {
                objs.push(two_layer(&x, &y, act, bias, loss, 0.1));
            }
        }
        for obj in &objs {
            assert!(obj.fused());
            let d = obj.dim();
            let big = Array2::from_shape_fn((12, d), |(b, j)| {
                (((b * 13 + j * 5) as f64) * 0.31).sin() * 1.4
            });
            for want in [true, false] {
                let (mut vb, mut sb) = (vec![0.0; 12], vec![0.0; 12]);
                obj.values_sub_block(big.view(), &mut vb, &mut sb, want);
                for nb in 1..=COLUMN_VALUES_MAX_POINTS {
                    let sub = big.slice(ndarray::s![12 - nb.., ..]);
                    let (mut v, mut sc) = (vec![0.0; nb], vec![0.0; nb]);
                    obj.values_sub_block(sub, &mut v, &mut sc, want);
                    for b in 0..nb {
                        let r = 12 - nb + b;
                        assert_eq!(v[b].to_bits(), vb[r].to_bits(), "{} {nb} {b}", obj.name());
                        assert_eq!(sc[b].to_bits(), sb[r].to_bits(), "{} {nb} {b}", obj.name());
                    }
                }
            }
        }
    }

    #[test]
    fn column_dots_and_unit_columns_are_fixed_order_sums() {
        // the documented order of one column: 16 partial sums, pairwise, then the tail
        let one_column = |s: &[f64], col: &[f64]| {
            let n = s.len();
            let n16 = n / 16 * 16;
            let mut acc = [0.0f64; 16];
            for i in 0..n16 {
                acc[i % 16] += s[i] * col[i];
            }
            for w in [8, 4, 2, 1] {
                for q in 0..w {
                    acc[q] += acc[q + w];
                }
            }
            let mut t = acc[0];
            for i in n16..n {
                t += s[i] * col[i];
            }
            t
        };
        for n in [0usize, 1, 15, 16, 17, 33, 200] {
            let s: Vec<f64> = (0..n).map(|i| (i as f64 * 0.71).sin()).collect();
            let cols: Vec<f64> = (0..5 * n).map(|i| (i as f64 * 0.29).cos()).collect();
            // (no samples: nothing is written, as before)
            for nc in (1..=5).filter(|_| n > 0) {
                let mut o = vec![f64::NAN; nc];
                column_dots(&s, &cols[..nc * n], &mut o);
                for c in 0..nc {
                    let want = one_column(&s, &cols[c * n..(c + 1) * n]);
                    assert_eq!(
                        o[c].to_bits(),
                        want.to_bits(),
                        "n={n} {nc} columns, column {c}"
                    );
                }
            }
            let cols = &cols[..3 * n];
            let mut o1 = [0.0; 3];
            column_dots(&s, cols, &mut o1);
            let mut o2 = [0.0; 3];
            column_dots_portable(&s, cols, &mut o2);
            assert_eq!(o1, o2);
            for c in 0..3 {
                let exact: f64 = (0..n).map(|i| s[i] * cols[c * n + i]).sum();
                let mag: f64 = (0..n).map(|i| (s[i] * cols[c * n + i]).abs()).sum();
                assert!((o1[c] - exact).abs() <= 32.0 * f64::EPSILON * mag);
            }
            // unit_column: the sums of first_layer_row (one point), bit for bit
            let w = [0.3, -1.7, 0.9];
            let mut z = vec![0.0; n];
            unit_column(cols, &w, 0.25, &mut z);
            for i in 0..n {
                let x: Vec<f64> = (0..3).map(|j| cols[j * n + i]).collect();
                let xa: Vec<f64> = x.iter().map(|v| v.abs()).collect();
                let (mut zr, mut er) = ([0.0], [0.0]);
                let wts = (&w[..], &[0.25][..], &[0.25][..]);
                first_layer_units(&x, &xa, wts, [1, 3, 1, 1], &mut zr, &mut er);
                assert_eq!(z[i].to_bits(), zr[0].to_bits());
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

    /// The batched path against the per-point path: values, scales, gradients, for every loss,
    /// activation and layer shape, odd block sizes, strided input, and block-composition
    /// independence.
    #[test]
    fn block_path_matches_per_point_path() {
        let eps = f64::EPSILON;
        let mut objs: Vec<Mlp> = Vec::new();
        for loss in [
            Loss::Squared,
            Loss::Logistic,
            Loss::Hinge,
            Loss::SquaredHinge,
        ] {
            let cls = loss.is_classification();
            let (x, y) = data(37, 5, 1, cls);
            objs.push(Mlp::linear(x.clone(), y.clone(), true, loss, 0.3).unwrap());
            objs.push(Mlp::linear(x.clone(), y.clone(), false, loss, 0.0).unwrap());
            objs.push(Mlp::two_layer_relu(x.clone(), y.clone(), 7, true, loss, 0.2).unwrap());
            for act in [Activation::Tanh, Activation::Softplus, Activation::Sigmoid] {
                objs.push(
                    Mlp::new(
                        x.clone(),
                        y.clone(),
                        &[5, 6, 3, 1],
                        &[act, Activation::Relu, Activation::Identity],
                        &[true, false, true],
                        loss,
                        0.1,
                        "t".into(),
                    )
                    .unwrap(),
                );
            }
        }
        let (x, y) = data(29, 3, 2, false);
        objs.push(
            Mlp::new(
                x,
                y,
                &[3, 4, 5, 2],
                &[Activation::Tanh, Activation::Tanh, Activation::Identity],
                &[true, true, false],
                Loss::Squared,
                0.05,
                "multi-output".into(),
            )
            .unwrap(),
        );
        for obj in &objs {
            let d = obj.dim();
            for &nb in &[1usize, 3, 17, 300] {
                // Wide storage, every other column: a strided view.
                let wide = Array2::from_shape_fn((nb, 2 * d), |(b, j)| {
                    (((b * 31 + j * 7) as f64) * 0.173).sin() * 1.3
                });
                let pts = wide.slice(ndarray::s![.., ..;2]);
                let mut v = vec![0.0; nb];
                let mut sc = vec![0.0; nb];
                obj.values_scales_block(pts, &mut v, &mut sc).unwrap();
                let mut gv = vec![0.0; nb];
                let mut g = vec![0.0; nb * d];
                obj.gradients_block(pts, &mut gv, &mut g).unwrap();
                for b in 0..nb {
                    let th = pts.row(b).to_vec();
                    let (f, s) = obj.eval_scalar(&th, None, true);
                    let tol = 64.0 * eps * s;
                    assert!(
                        (v[b] - f).abs() <= tol,
                        "{} {nb} {b}: {} vs {f}",
                        obj.name(),
                        v[b]
                    );
                    assert!((gv[b] - f).abs() <= tol, "{} grad value", obj.name());
                    assert!(
                        sc[b] >= v[b].abs() && (sc[b] - s).abs() <= 1e-6 * s,
                        "{} scale {} vs {s}",
                        obj.name(),
                        sc[b]
                    );
                    let mut g1 = vec![0.0; d];
                    obj.eval_scalar(&th, Some(&mut g1), false);
                    let gs = g1.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                    for j in 0..d {
                        assert!(
                            (g[b * d + j] - g1[j]).abs() <= 1e-12 * gs * (1.0 + s),
                            "{} grad {b} {j}: {} vs {}",
                            obj.name(),
                            g[b * d + j],
                            g1[j]
                        );
                    }
                }
                // The per-point methods are blocks of one point.
                assert_eq!(obj.value_and_scale(&pts.row(0).to_vec()), (v[0], sc[0]));
                // A point's result does not depend on the block it is in.
                if nb == 17 {
                    let mut v1 = vec![0.0; 1];
                    let mut s1 = vec![0.0; 1];
                    obj.values_scales_block(pts.slice(ndarray::s![5..6, ..]), &mut v1, &mut s1)
                        .unwrap();
                    assert_eq!(v1[0], v[5]);
                    assert_eq!(s1[0], sc[5]);
                }
            }
            let mut v = vec![0.0; 2];
            assert!(obj
                .values_scales_block(Array2::zeros((2, d + 1)).view(), &mut v, &mut [0.0; 2])
                .is_err());
        }
    }

    #[test]
    fn first_layer_rows_match_the_per_point_sums_bit_for_bit() {
        // the dispatched kernel (AVX-512 where the CPU has it), the AVX2 build, the portable body
        // at every register-block width and the per-point path's sums, at block sizes around the
        // 8-, 16- and 32-point register blocks
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        for k in [1usize, 3, 10, 17] {
            let x: Vec<f64> = (0..k)
                .map(|j| ((j * 13) as f64 * 0.71).sin() * 1e3)
                .collect();
            let xa: Vec<f64> = x.iter().map(|v| v.abs()).collect();
            for nb in [1usize, 7, 8, 9, 31, 33, 47, 64, 100] {
                let w: Vec<f64> = (0..k * nb)
                    .map(|i| ((i * 29) as f64 * 0.37).cos())
                    .collect();
                let bias: Vec<f64> = (0..nb).map(|b| (b as f64 * 0.3).sin()).collect();
                let babs: Vec<f64> = bias.iter().map(|v| v.abs()).collect();
                let (mut z1, mut e1) = (vec![0.0; nb], vec![0.0; nb]);
                let (mut z2, mut e2) = (vec![0.0; nb], vec![0.0; nb]);
                let wts = (&w[..], &bias[..], &babs[..]);
                let dims = [1, k, nb, nb];
                first_layer_units(&x, &xa, wts, dims, &mut z1, &mut e1);
                for build in 0..4 {
                    match build {
                        0 => first_layer_row::<8>(&x, &xa, &w, &bias, &babs, &mut z2, &mut e2),
                        1 => first_layer_row::<16>(&x, &xa, &w, &bias, &babs, &mut z2, &mut e2),
                        2 => first_layer_row::<32>(&x, &xa, &w, &bias, &babs, &mut z2, &mut e2),
                        #[cfg(target_arch = "x86_64")]
                        _ if avx2 => unsafe {
                            // SAFETY: the CPU has AVX2.
                            first_layer_units_avx2(&x, &xa, wts, dims, &mut z2, &mut e2)
                        },
                        _ => {}
                    }
                    assert_eq!(z1, z2, "build {build}");
                    assert_eq!(e1, e2, "build {build}");
                }
                for b in 0..nb {
                    let (mut z, mut e) = (bias[b], bias[b].abs());
                    for j in 0..k {
                        z += w[j * nb + b] * x[j];
                        e += w[j * nb + b].abs() * x[j].abs();
                    }
                    assert_eq!((z1[b], e1[b]), (z, e), "k={k} nb={nb} b={b}");
                }
                // two samples per pass: each sample as first_layer_row computes it alone
                let x1: Vec<f64> = x.iter().map(|v| -0.37 * v + 0.5).collect();
                let xa1: Vec<f64> = x1.iter().map(|v| v.abs()).collect();
                let (mut z3, mut e3) = (vec![0.0; nb], vec![0.0; nb]);
                first_layer_units(&x1, &xa1, wts, dims, &mut z3, &mut e3);
                for build in 0..5 {
                    let (mut za, mut ea) = (vec![0.0; nb], vec![0.0; nb]);
                    let (mut zb, mut eb) = (vec![0.0; nb], vec![0.0; nb]);
                    let args = (
                        [&x[..], &x1[..]],
                        [&xa[..], &xa1[..]],
                        [&mut za[..], &mut zb[..]],
                        [&mut ea[..], &mut eb[..]],
                    );
                    let br = (&bias[..], &babs[..]);
                    match build {
                        0 => first_layer_units2(args.0, args.1, wts, dims, args.2, args.3),
                        1 => first_layer_row2::<8>(args.0, args.1, &w, br.0, br.1, args.2, args.3),
                        2 => first_layer_row2::<16>(args.0, args.1, &w, br.0, br.1, args.2, args.3),
                        3 => first_layer_row2::<32>(args.0, args.1, &w, br.0, br.1, args.2, args.3),
                        #[cfg(target_arch = "x86_64")]
                        _ if avx2 => unsafe {
                            // SAFETY: the CPU has AVX2.
                            first_layer_units2_avx2(args.0, args.1, wts, dims, args.2, args.3)
                        },
                        _ => first_layer_units2(args.0, args.1, wts, dims, args.2, args.3),
                    }
                    assert_eq!((&za, &ea), (&z1, &e1), "k={k} nb={nb} build {build}");
                    assert_eq!((&zb, &eb), (&z3, &e3), "k={k} nb={nb} build {build}");
                }
            }
        }
    }

    #[test]
    fn relu_output_unit_matches_combination_activation_and_output_bit_for_bit() {
        // the output unit that takes the ReLU (and, for pairs, the t-points' combination) as it
        // reads the pre-activations, dispatched and portable at every register-block width,
        // against the combination, the activation pass and the output unit in turn; values
        // around zero (the kink), NaN, ±0 and block sizes around the 8-, 16- and 32-point blocks
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let ts = [0.5, 0.3, 0.77];
        for m in [1usize, 3, 8] {
            for (np, nt) in [
                (1usize, 1usize),
                (5, 1),
                (8, 1),
                (16, 2),
                (33, 1),
                (40, 3),
                (67, 1),
            ] {
                for pairs in [false, true] {
                    let ts = &ts[..nt];
                    let rr = if pairs { (2 + nt) * np } else { np };
                    let w = m * rr;
                    let mut z: Vec<f64> = (0..w).map(|i| ((i * 37) as f64 * 0.61).sin()).collect();
                    z[0] = f64::NAN;
                    if w > 3 {
                        z[1] = -0.0;
                        z[2] = 0.0;
                    }
                    let e: Vec<f64> = (0..w)
                        .map(|i| ((i * 11) as f64 * 0.23).cos().abs() * 1e-15)
                        .collect();
                    let w2: Vec<f64> = (0..w).map(|i| ((i * 7) as f64 * 0.41).cos()).collect();
                    let b2: Vec<f64> = (0..rr).map(|b| (b as f64 * 0.9).sin()).collect();
                    let b2a: Vec<f64> = b2.iter().map(|v| v.abs()).collect();
                    // the reference: combination, activation, output unit
                    let (mut zr, mut er) = (z.clone(), e.clone());
                    if pairs {
                        combine_pair_units(&mut zr, &mut er, rr, np, ts);
                    }
                    super::super::loss::activation_slice(Activation::Relu, &mut zr, &mut []);
                    let (mut o1, mut eo1) = (vec![0.0; rr], vec![0.0; rr]);
                    output_unit_row(&zr, &er, &w2, &b2, &b2a, &mut o1, &mut eo1);
                    let pr = if pairs { Some((np, ts)) } else { None };
                    let wts = (&w2[..], &b2[..], &b2a[..]);
                    for build in 0..5 {
                        let (mut o2, mut eo2) = (vec![0.0; rr], vec![0.0; rr]);
                        match build {
                            0 => output_unit_relu_row(&z, &e, wts, pr, &mut o2, &mut eo2),
                            1 => output_unit_relu_row_portable::<8>(
                                &z, &e, wts, pr, &mut o2, &mut eo2,
                            ),
                            2 => output_unit_relu_row_portable::<16>(
                                &z, &e, wts, pr, &mut o2, &mut eo2,
                            ),
                            3 => output_unit_relu_row_portable::<32>(
                                &z, &e, wts, pr, &mut o2, &mut eo2,
                            ),
                            #[cfg(target_arch = "x86_64")]
                            _ if avx2 => unsafe {
                                // SAFETY: the CPU has AVX2.
                                output_unit_relu_row_avx2(&z, &e, wts, pr, &mut o2, &mut eo2)
                            },
                            _ => continue,
                        }
                        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(&o1),
                            bits(&o2),
                            "m {m} np {np} pairs {pairs} build {build}"
                        );
                        assert_eq!(
                            bits(&eo1),
                            bits(&eo2),
                            "m {m} np {np} pairs {pairs} build {build}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fused_path_matches_the_product_path() {
        // linear models and two-layer networks (the fused path) against the forward pass through
        // the packed products: values within the rounding scale, scales equal up to the order of
        // their sums
        let eps = f64::EPSILON;
        let mut objs: Vec<Mlp> = Vec::new();
        for loss in [Loss::Squared, Loss::Logistic, Loss::SquaredHinge] {
            let (x, y) = data(41, 6, 1, loss.is_classification());
            objs.push(Mlp::linear(x.clone(), y.clone(), true, loss, 0.2).unwrap());
            objs.push(Mlp::linear(x.clone(), y.clone(), false, loss, 0.0).unwrap());
            objs.push(Mlp::two_layer_relu(x.clone(), y.clone(), 5, true, loss, 0.1).unwrap());
            objs.push(
                Mlp::new(
                    x,
                    y,
                    &[6, 3, 1],
                    &[Activation::Tanh, Activation::Identity],
                    &[true, true],
                    loss,
                    0.0,
                    "tanh".into(),
                )
                .unwrap(),
            );
        }
        for obj in &objs {
            assert!(obj.fused(), "{}", obj.name());
            let d = obj.dim();
            for nb in [1usize, 9, 40] {
                let p = Array2::from_shape_fn((nb, d), |(b, j)| {
                    (((b * 11 + j * 5) as f64) * 0.41).sin() * 3.0
                });
                let (mut v1, mut s1) = (vec![0.0; nb], vec![0.0; nb]);
                obj.fused_values(p.view(), None, &mut v1, &mut s1, true);
                let fwd = obj.forward_block(p.view(), false, true);
                let (mut v2, mut s2) = (vec![0.0; nb], vec![0.0; nb]);
                obj.values_from_forward(p.view(), &fwd, &mut v2, &mut s2, true);
                for b in 0..nb {
                    assert!(
                        (v1[b] - v2[b]).abs() <= 16.0 * eps * s2[b],
                        "{}",
                        obj.name()
                    );
                    assert!((s1[b] - s2[b]).abs() <= 1e-12 * s2[b], "{}", obj.name());
                }
            }
        }
    }

    #[test]
    fn pair_path_matches_block_path() {
        // a and b rows bit for bit; t-points within the rounding scale, whose bound is larger.
        let eps = f64::EPSILON;
        let mut objs: Vec<Mlp> = Vec::new();
        for loss in [Loss::Squared, Loss::Logistic, Loss::Hinge] {
            let (x, y) = data(37, 5, 1, loss.is_classification());
            objs.push(Mlp::linear(x.clone(), y.clone(), true, loss, 0.3).unwrap());
            objs.push(Mlp::linear(x.clone(), y.clone(), false, loss, 0.0).unwrap());
            objs.push(Mlp::two_layer_relu(x.clone(), y.clone(), 7, true, loss, 0.2).unwrap());
            objs.push(
                Mlp::new(
                    x,
                    y,
                    &[5, 6, 3, 1],
                    &[Activation::Sigmoid, Activation::Tanh, Activation::Identity],
                    &[true, false, true],
                    loss,
                    0.1,
                    "t".into(),
                )
                .unwrap(),
            );
        }
        let ts = [0.5, 0.3];
        let r = 2 + ts.len();
        for obj in &objs {
            let d = obj.dim();
            for np_ in [1usize, 5, 67] {
                let mut pts = Array2::<f64>::zeros((np_ * r, d));
                for i in 0..np_ {
                    for j in 0..d {
                        pts[[r * i, j]] = ((i * 31 + j * 7) as f64 * 0.13).sin() * 2.0;
                        pts[[r * i + 1, j]] = ((i * 17 + j * 5) as f64 * 0.29).cos() * 2.0;
                    }
                    for (k, &t) in ts.iter().enumerate() {
                        for j in 0..d {
                            pts[[r * i + 2 + k, j]] =
                                t * pts[[r * i, j]] + (1.0 - t) * pts[[r * i + 1, j]];
                        }
                    }
                }
                let nb = np_ * r;
                let (mut v1, mut s1) = (vec![0.0; nb], vec![0.0; nb]);
                obj.values_scales_block(pts.view(), &mut v1, &mut s1)
                    .unwrap();
                let (mut v2, mut s2) = (vec![0.0; nb], vec![0.0; nb]);
                obj.pair_values_block(pts.view(), &ts, &mut v2, &mut s2)
                    .unwrap();
                for i in 0..np_ {
                    for q in 0..2 {
                        assert_eq!(v1[r * i + q], v2[r * i + q], "{}", obj.name());
                        assert_eq!(s1[r * i + q], s2[r * i + q], "{}", obj.name());
                    }
                    for q in 2..r {
                        let k = r * i + q;
                        assert!(s2[k] >= s1[k] * (1.0 - 1e-12), "{} scale", obj.name());
                        let sab = s1[r * i] + s1[r * i + 1];
                        assert!(
                            s2[k] <= 8.0 * (s1[k] + sab),
                            "{} scale {}",
                            obj.name(),
                            s2[k]
                        );
                        assert!(
                            (v2[k] - v1[k]).abs() <= 16.0 * eps * s2[k],
                            "{}: {} vs {}",
                            obj.name(),
                            v2[k],
                            v1[k]
                        );
                    }
                }
            }
            let mut v = vec![0.0; 3];
            assert!(obj
                .pair_values_block(Array2::zeros((3, d)).view(), &ts, &mut v, &mut [0.0; 3])
                .is_err());
        }
    }
}
