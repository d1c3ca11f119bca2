//! The convex reformulation of two-layer ReLU training and its solvers. (Issue: hidden convexity.)
//!
//! With data X (n × d), targets y (n), activation patterns D_1..D_P (0/1 diagonals, stored as the
//! columns of `mask`, n × P) and a convex per-sample loss ℓ, the two programs are
//!
//! - **ReLU** (Pilanci & Ergen 2020, Thm 1 of Zeger & Pilanci): blocks v_i, w_i ∈ ℝ^d,
//!   min Σ_k ℓ((Σ_i D_i X (v_i − w_i))_k; y_k) + β Σ_i (‖v_i‖ + ‖w_i‖)
//!   s.t. (2D_i − I) X v_i ≥ 0, (2D_i − I) X w_i ≥ 0;
//! - **gated** (Mishkin et al. 2022): blocks w_i, min Σ_k ℓ((Σ_i D_i X w_i)_k; y_k) + β Σ_i ‖w_i‖.
//!
//! Blocks are the columns of one d × B matrix: columns 0..P are the v_i (sign +1), columns
//! P..2P the w_i (sign −1, ReLU only). Both solvers return a primal point, its objective, a
//! rigorous dual lower bound (from a dual-feasible point built from the residual, see
//! [`Problem::certify`]) and the constraint violation.

// The public surface: [`fit`] (the driver), the problem, its settings and results. The
// solvers are internal pieces of the driver's chain.
pub(crate) mod admm;
pub(crate) mod conic;
pub mod driver;
pub(crate) mod fista;
pub(crate) mod ipm;
pub(crate) mod linalg;
pub mod loss;
pub(crate) mod newton;
pub(crate) mod pdip;
pub(crate) mod polish;
pub(crate) mod prune;

pub use driver::{check_memory, fit, memory_estimate, Fit, SOLVERS};
pub use polish::sharp_certificate;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::control::Control;
use crate::error::{Error, Result};

/// Rows of the pattern masks built between two checks by [`Problem::new_ctl`].
const MASK_ROWS: usize = 256;
pub use loss::Loss;

/// Which convex program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cone-constrained program, equivalent to the ReLU network (2P blocks).
    Relu,
    /// Gated relaxation, unconstrained group Lasso (P blocks).
    Gated,
}

/// A problem instance (data copied into contiguous arrays).
#[derive(Debug, Clone)]
pub struct Problem {
    pub x: Array2<f64>,
    /// n × P, entries 0.0 / 1.0.
    pub mask: Array2<f64>,
    /// n × P, 2·mask − 1 (±1).
    pub sign: Array2<f64>,
    pub y: Array1<f64>,
    pub loss: Loss,
    pub beta: f64,
    pub kind: Kind,
    /// Go parallel over column chunks of the products.
    pub par: bool,
}

/// Work (n·d·P) above which the products go parallel (when the pool has more than one thread).
pub const DEFAULT_PAR_THRESHOLD: usize = 200_000;

impl Problem {
    /// Build and validate a problem. `patterns` is P × n (true = active).
    pub fn new(
        x: ArrayView2<f64>,
        y: ArrayView1<f64>,
        patterns: ArrayView2<bool>,
        loss: Loss,
        beta: f64,
        kind: Kind,
        par_threshold: usize,
    ) -> Result<Self> {
        Self::new_ctl(
            x,
            y,
            patterns,
            loss,
            beta,
            kind,
            par_threshold,
            &Control::new(),
        )
    }

    /// [`Problem::new`] checking `ctl` while it builds the n × P masks.
    #[allow(clippy::too_many_arguments)]
    pub fn new_ctl(
        x: ArrayView2<f64>,
        y: ArrayView1<f64>,
        patterns: ArrayView2<bool>,
        loss: Loss,
        beta: f64,
        kind: Kind,
        par_threshold: usize,
        ctl: &Control,
    ) -> Result<Self> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(Error::invalid(
                "X",
                format!("must not be empty, got shape ({n}, {d})"),
            ));
        }
        crate::error::ensure_finite_iter("X", x.iter())?;
        crate::error::ensure_finite_iter("y", y.iter())?;
        if y.len() != n {
            return Err(Error::invalid(
                "y",
                format!("has {} entries but X has {n} rows", y.len()),
            ));
        }
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(Error::invalid(
                "beta",
                format!("must be finite and >= 0, got {beta}"),
            ));
        }
        let (p, pn) = patterns.dim();
        if p == 0 {
            return Err(Error::invalid(
                "patterns",
                "at least one activation pattern is needed",
            ));
        }
        if pn != n {
            return Err(Error::invalid(
                "patterns",
                format!("has {pn} columns but X has {n} rows (expected shape (P, {n}))"),
            ));
        }
        if !Loss::CONVEX_NAMES.contains(&loss.as_str()) {
            return Err(Error::invalid(
                "loss",
                format!(
                    "the convex solvers take the losses {:?}, got {:?}",
                    Loss::CONVEX_NAMES,
                    loss.as_str()
                ),
            ));
        }
        if loss.is_classification() {
            if let Some(k) = y.iter().position(|&v| v != 1.0 && v != -1.0) {
                return Err(Error::invalid(
                    "y",
                    format!(
                        "the {loss:?} loss needs labels in {{-1, +1}}, got {} at {k}",
                        y[k]
                    ),
                ));
            }
        }
        // the n × P masks by blocks of rows, a check each (tens of ms for large P)
        let mut mask = Array2::<f64>::zeros((n, p));
        let mut sign = Array2::<f64>::zeros((n, p));
        for ((b, mut mb), mut sb) in mask
            .axis_chunks_iter_mut(Axis(0), MASK_ROWS)
            .enumerate()
            .zip(sign.axis_chunks_iter_mut(Axis(0), MASK_ROWS))
        {
            ctl.check()?;
            for ((q, mut mr), mut sr) in mb.outer_iter_mut().enumerate().zip(sb.outer_iter_mut()) {
                let k = b * MASK_ROWS + q;
                for i in 0..p {
                    let m = if patterns[[i, k]] { 1.0 } else { 0.0 };
                    mr[i] = m;
                    sr[i] = 2.0 * m - 1.0;
                }
            }
        }
        ctl.check()?;
        let par = crate::parallel::should_parallelize(n * d * p, par_threshold);
        Ok(Problem {
            x: x.to_owned(),
            mask,
            sign,
            y: y.to_owned(),
            loss,
            beta,
            kind,
            par,
        })
    }

    /// The same problem restricted to the patterns `idx` (in that order).
    pub fn subset(&self, idx: &[usize], par_threshold: usize) -> Problem {
        let n = self.n();
        let mask = Array2::from_shape_fn((n, idx.len()), |(k, j)| self.mask[[k, idx[j]]]);
        let sign = mask.mapv(|m| 2.0 * m - 1.0);
        let par = crate::parallel::should_parallelize(n * self.d() * idx.len(), par_threshold);
        Problem {
            x: self.x.clone(),
            mask,
            sign,
            y: self.y.clone(),
            loss: self.loss,
            beta: self.beta,
            kind: self.kind,
            par,
        }
    }

    pub fn n(&self) -> usize {
        self.x.nrows()
    }
    pub fn d(&self) -> usize {
        self.x.ncols()
    }
    pub fn p(&self) -> usize {
        self.mask.ncols()
    }
    /// Number of blocks: 2P (ReLU) or P (gated).
    pub fn n_blocks(&self) -> usize {
        match self.kind {
            Kind::Relu => 2 * self.p(),
            Kind::Gated => self.p(),
        }
    }

    /// X · U for U of shape d × B.
    pub fn xu(&self, u: ArrayView2<f64>) -> Array2<f64> {
        linalg::matmul(self.x.view(), u, self.par)
    }

    /// [`Problem::xu`] checking `ctl` between its fixed parts (the same result).
    pub fn xu_ctl(&self, u: ArrayView2<f64>, ctl: &Control) -> Result<Array2<f64>> {
        linalg::matmul_ctl(self.x.view(), u, self.par, ctl)
    }

    /// Model output Σ_i D_i X (v_i − w_i) from XU (n × B).
    pub fn predict_from_xu(&self, xu: &Array2<f64>) -> Array1<f64> {
        let p = self.p();
        let n = self.n();
        let mut out = Array1::<f64>::zeros(n);
        for k in 0..n {
            let m = self.mask.row(k);
            let r = xu.row(k);
            let mut s = 0.0;
            match self.kind {
                Kind::Relu => {
                    for i in 0..p {
                        s += m[i] * (r[i] - r[p + i]);
                    }
                }
                Kind::Gated => {
                    for i in 0..p {
                        s += m[i] * r[i];
                    }
                }
            }
            out[k] = s;
        }
        out
    }

    /// Model output Σ_i D_i X (v_i − w_i) straight from the blocks z (d × B): with U = V − W
    /// (d × P) it is rowsum(X ⊙ (mask · Uᵀ)), one product of inner dimension P instead of the
    /// n × B matrix X Z.
    pub fn predict(&self, z: ArrayView2<f64>) -> Array1<f64> {
        let p = self.p();
        let u = match self.kind {
            Kind::Relu => &z.slice(s![.., ..p]) - &z.slice(s![.., p..]),
            Kind::Gated => z.to_owned(),
        };
        let mu = linalg::matmul(self.mask.view(), u.t(), self.par); // n × d
        (&self.x * &mu).sum_axis(Axis(1))
    }

    /// Xᵀ (D_i r) for every pattern i: the d × P matrix of (D_i X)ᵀ r, as (X ⊙ r)ᵀ · mask.
    pub fn at(&self, r: &Array1<f64>) -> Array2<f64> {
        let xr = &self.x * &r.view().insert_axis(Axis(1));
        linalg::matmul(xr.t(), self.mask.view(), self.par)
    }

    /// The check every smooth solver starts with: `solver` (its name in the message) needs a
    /// smooth loss; hinge goes to ADMM.
    pub fn require_smooth(&self, solver: &str) -> Result<()> {
        if self.loss.is_smooth() {
            Ok(())
        } else {
            Err(Error::invalid(
                "solver",
                format!("{solver} needs a smooth loss; use ADMM for hinge"),
            ))
        }
    }

    /// ℓ'(z_k; y_k) for every sample.
    pub fn loss_grad(&self, z: &Array1<f64>) -> Array1<f64> {
        z.iter()
            .zip(self.y.iter())
            .map(|(&a, &b)| self.loss.grad(a, b))
            .collect()
    }

    /// ℓ''(z_k; y_k) for every sample.
    pub fn loss_second(&self, z: &Array1<f64>) -> Array1<f64> {
        z.iter()
            .zip(self.y.iter())
            .map(|(&a, &b)| self.loss.second_derivative(a, b))
            .collect()
    }

    /// Σ_k ℓ(z_k; y_k).
    pub fn loss_value(&self, z: &Array1<f64>) -> f64 {
        z.iter()
            .zip(self.y.iter())
            .map(|(&a, &b)| self.loss.value(a, b))
            .sum()
    }

    /// β Σ_b ‖u_b‖.
    pub fn penalty(&self, u: &Array2<f64>) -> f64 {
        self.beta * block_norms(u).sum()
    }

    /// −Σ_k ℓ*(λ_k; y_k), the dual objective at λ (−∞ outside the conjugate's domain).
    pub fn dual_value(&self, lam: &Array1<f64>) -> f64 {
        -lam.iter()
            .zip(self.y.iter())
            .map(|(&u, &yy)| self.loss.conjugate(u, yy))
            .sum::<f64>()
    }

    /// The best multiple of a dual candidate: λ (inside the conjugate's domain) whose largest
    /// dual-constraint residual is `worst` (‖A_bᵀλ − S_bᵀμ_b‖ over the blocks, with μ_b scaling
    /// along) gives the dual-feasible points sλ for 0 ≤ s ≤ β / worst (the losses' conjugate
    /// domains are star-shaped around 0; s is also kept inside the domain). The dual objective
    /// D(s) = −Σ_k ℓ*(sλ_k) is concave in s: maximised over that interval in closed form for the
    /// squared, Huber and squared-hinge losses (D quadratic in s) and the hinge loss (linear), by
    /// Newton's method for the logistic loss ([`Self::logistic_dual_scale`]); never
    /// below the value at min(1, β / worst). Returns (D(s*), s*).
    pub fn best_dual_scale(&self, lam: &Array1<f64>, worst: f64) -> (f64, f64) {
        let mut smax = if worst > 0.0 {
            self.beta / worst
        } else {
            f64::INFINITY
        };
        // the conjugate's domain: y·u ∈ [−1, 0] (logistic, hinge), |u| ≤ δ (Huber)
        let dom = lam
            .iter()
            .zip(self.y.iter())
            .map(|(&u, &yy)| match self.loss {
                Loss::Logistic | Loss::Hinge => (-u * yy).max(0.0),
                Loss::Huber(dl) => u.abs() / dl,
                Loss::Squared | Loss::SquaredHinge => 0.0,
            })
            .fold(0.0f64, f64::max);
        if dom > 0.0 {
            smax = smax.min(1.0 / dom);
        }
        let at = |s: f64| -> f64 {
            let v = self.dual_value(&lam.mapv(|u| u * s));
            if v.is_nan() {
                f64::NEG_INFINITY
            } else {
                v
            }
        };
        let s0 = smax.min(1.0);
        let mut best = (at(s0), s0);
        let hi = if smax.is_finite() {
            smax
        } else {
            2.0 * s0.max(1.0)
        };
        let cand = match self.loss {
            // D(s) = −(A s + ½ B s²) on the feasible multiples: the conjugates are quadratic
            // (squared, Huber, squared hinge) or linear (hinge) there
            Loss::Squared | Loss::Huber(_) | Loss::Hinge | Loss::SquaredHinge => {
                let (mut a, mut b) = (0.0f64, 0.0f64);
                for (&u, &yy) in lam.iter().zip(self.y.iter()) {
                    match self.loss {
                        Loss::Squared | Loss::Huber(_) => {
                            a += u * yy;
                            b += u * u;
                        }
                        Loss::Hinge => a += u * yy,
                        _ => {
                            let v = (u * yy).min(0.0);
                            a += v;
                            b += 0.5 * v * v;
                        }
                    }
                }
                let top = if smax.is_finite() { smax } else { f64::MAX };
                if b > 0.0 {
                    (-a / b).clamp(0.0, top)
                } else if a < 0.0 {
                    hi
                } else {
                    0.0
                }
            }
            Loss::Logistic => self.logistic_dual_scale(lam, hi, s0),
        };
        let v = at(cand);
        if v > best.0 {
            best = (v, cand);
        }
        best
    }

    /// The maximiser over [0, `hi`] of the logistic loss's D(s) = −Σ_k φ(s t_k), t_k = −y_k λ_k
    /// clamped to [0, 1], φ(t) = t ln t + (1 − t) ln(1 − t): concave, with
    /// D'(s) = −Σ t_k ln(s t_k / (1 − s t_k)) (+∞ as s → 0) and D''(s) = −Σ t_k / (s (1 − s t_k)).
    /// Newton's method on D' = 0 from `s0`, kept inside a bracket that every evaluation of
    /// D' shrinks (bisection when a step leaves it): 5–10 evaluations of D' to 1e-14 relative.
    fn logistic_dual_scale(&self, lam: &Array1<f64>, hi: f64, s0: f64) -> f64 {
        let slope = |s: f64| -> (f64, f64) {
            let (mut g, mut h) = (0.0f64, 0.0f64);
            for (&u, &yy) in lam.iter().zip(self.y.iter()) {
                let t = (-u * yy).clamp(0.0, 1.0);
                if t > 0.0 {
                    let st = (s * t).min(1.0);
                    g -= t * (st / (1.0 - st)).ln();
                    h -= t / (s * (1.0 - st));
                }
            }
            (g, h)
        };
        if !(hi > 0.0 && hi.is_finite()) {
            return s0;
        }
        let (ghi, _) = slope(hi);
        if ghi.is_nan() || ghi >= 0.0 {
            return hi; // increasing up to hi (or no sample with t > 0: D ≡ 0)
        }
        let (mut lo, mut up) = (0.0f64, hi);
        let mut s = if s0 > 0.0 && s0 < hi { s0 } else { 0.5 * hi };
        for _ in 0..100 {
            let (g, h) = slope(s);
            if g.is_nan() {
                break;
            }
            if g > 0.0 {
                lo = s;
            } else {
                up = s;
            }
            let mut next = if h < 0.0 { s - g / h } else { f64::NAN };
            if !(next > lo && next < up) {
                next = 0.5 * (lo + up);
            }
            let done = (next - s).abs() <= 1e-14 * s || up - lo <= 1e-14 * up;
            s = next;
            if done {
                break;
            }
        }
        s
    }

    /// Certificate at the primal point `z` (d × B) with dual candidates built from the residual.
    ///
    /// Dual of the program (Fenchel): max_λ −Σ_k ℓ*(λ_k; y_k) subject to, for every block b with
    /// data matrix A_b = σ_b D_i X, ‖A_bᵀλ − S_bᵀμ_b‖ ≤ β for some μ_b ≥ 0 (S_b = (2D_i − I)X;
    /// ReLU only — the gated program has no μ). Any λ, μ ≥ 0 rescaled by
    /// s = min(1, β / max_b ‖A_bᵀλ − S_bᵀμ_b‖) is feasible (the losses' conjugate domains are
    /// star-shaped around 0), so −Σ ℓ*(sλ) is a valid lower bound on the optimum. Candidates for
    /// λ: ℓ'(prediction) (smooth losses) and `lambda_extra` (the solver's multiplier); μ: `mu`.
    pub fn certify(
        &self,
        z: &Array2<f64>,
        mu: Option<&Array2<f64>>,
        lambda_extra: Option<&Array1<f64>>,
    ) -> Certificate {
        let xz = self.xu(z.view());
        let pred = self.predict_from_xu(&xz);
        let objective = self.loss_value(&pred) + self.penalty(z);
        let p = self.p();
        let n = self.n();
        // Network objective of the recovered ReLU network: Σ_b σ_b (X z_b)_+ (same penalty).
        let (network_objective, violation) = match self.kind {
            Kind::Relu => {
                let mut out = Array1::<f64>::zeros(n);
                let mut viol: f64 = 0.0;
                for k in 0..n {
                    let r = xz.row(k);
                    let sg = self.sign.row(k);
                    let mut s = 0.0;
                    for i in 0..p {
                        s += r[i].max(0.0) - r[p + i].max(0.0);
                        viol = viol.max(-sg[i] * r[i]).max(-sg[i] * r[p + i]);
                    }
                    out[k] = s;
                }
                (self.loss_value(&out) + self.penalty(z), viol.max(0.0))
            }
            Kind::Gated => (objective, 0.0),
        };
        // Cone terms S_bᵀ μ_b (d × B), fixed for every λ candidate.
        let smu = match (self.kind, mu) {
            (Kind::Relu, Some(mu)) => {
                let mut w = mu.clone();
                for k in 0..n {
                    let sg = self.sign.row(k);
                    let mut row = w.row_mut(k);
                    for i in 0..p {
                        row[i] *= sg[i];
                        row[p + i] *= sg[i];
                    }
                }
                Some(linalg::matmul(self.x.t(), w.view(), self.par))
            }
            _ => None,
        };
        let mut candidates: Vec<Array1<f64>> = Vec::new();
        if self.loss.is_smooth() {
            candidates.push(self.loss_grad(&pred));
        }
        if let Some(l) = lambda_extra {
            candidates.push(
                l.iter()
                    .zip(self.y.iter())
                    .map(|(&a, &b)| self.loss.project_dual(a, b))
                    .collect(),
            );
        }
        if candidates.is_empty() {
            candidates.push(Array1::zeros(n));
        }
        let mut best = (f64::NEG_INFINITY, Array1::<f64>::zeros(n));
        for lam in candidates {
            let g = self.at(&lam);
            let mut worst: f64 = 0.0;
            let nb = self.n_blocks();
            for b in 0..nb {
                let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
                let mut s2 = 0.0;
                for j in 0..self.d() {
                    let mut v = sig * g[[j, i]];
                    if let Some(smu) = smu.as_ref() {
                        v -= smu[[j, b]];
                    }
                    s2 += v * v;
                }
                worst = worst.max(s2.sqrt());
            }
            let (dual, scale) = self.best_dual_scale(&lam, worst);
            let lam_s = lam.mapv(|v| v * scale);
            if dual > best.0 {
                best = (dual, lam_s);
            }
        }
        Certificate {
            objective,
            network_objective,
            dual: best.0,
            dual_point: best.1,
            violation,
        }
    }
}

/// What [`Problem::certify`] computes.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Convex objective at the primal point.
    pub objective: f64,
    /// Objective of the ReLU network recovered from the primal point (ReLU program), else `objective`.
    pub network_objective: f64,
    /// A valid lower bound on the convex optimum (dual objective at `dual_point`).
    pub dual: f64,
    /// The dual-feasible point λ (n).
    pub dual_point: Array1<f64>,
    /// max over blocks and samples of the cone constraint violation (0 for the gated program).
    pub violation: f64,
}

/// Euclidean norm of each column.
pub fn block_norms(u: &Array2<f64>) -> Array1<f64> {
    u.axis_iter(Axis(1))
        .map(|c| c.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect()
}

/// The blocks (columns of `u`) whose norm exceeds `rel` times the largest block norm, in
/// order; none when every block is zero (with `rel = 0`: every nonzero block).
pub(crate) fn large_blocks(u: &Array2<f64>, rel: f64) -> Vec<usize> {
    let norms = block_norms(u);
    let max = norms.iter().cloned().fold(0.0f64, f64::max);
    (0..norms.len())
        .filter(|&b| norms[b] > 0.0 && norms[b] > rel * max)
        .collect()
}

/// Solver settings shared by the solvers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Relative tolerance on the certified gap: stop when ub − lb ≤ tol · max(|ub|, tiny).
    pub tol: f64,
    pub max_iter: usize,
    /// Iterations between certificate evaluations.
    pub check_every: usize,
    /// Detailed iteration log (`verbose`): the interior-point method's per-iteration lines and
    /// phase timings are collected here (shared by the clones of these settings) and handed to
    /// [`driver::Fit::log`]; `None` collects nothing.
    pub trace: Option<Trace>,
    /// Memory budget of the optional dense stages (the face-Newton polish, the conic
    /// endgame), shared by the clones of these settings: a stage whose dense system would
    /// exceed it is skipped and recorded (see [`Budget`]).
    pub budget: Budget,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tol: 1e-6,
            max_iter: 10_000,
            check_every: 10,
            trace: None,
            budget: Budget::default(),
        }
    }
}

/// Bytes the optional dense stages of a fit may allocate, and a record of the ones skipped
/// for lack of it. The fit's own working memory is checked against `memory_limit` before
/// anything is allocated ([`driver::check_memory`]); an optional stage gets what the limit
/// leaves after that estimate ([`Budget::after_fit`]): the face-Newton polish (an n × kk matrix
/// and a dense kk × kk Hessian, kk = the face's dimension, up to d per active block, see
/// [`polish::face_bytes`]) and the conic endgame (Clarabel's sparse KKT system, about
/// [`driver::CONIC_BYTES_PER_NNZ`] bytes per nonzero of the working set's constraint matrix).
/// A skipped stage changes no certificate: the polish is accepted only when the sharp
/// certificate of its point closes the gap, and without the endgame the solver chain goes on
/// to its first-order finish (or stops honestly uncertified).
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Bytes available (None: unbounded).
    pub limit: Option<usize>,
    /// Per stage skipped: (stage, times, largest need in bytes), shared by the clones.
    skipped: std::sync::Arc<std::sync::Mutex<Vec<Skipped>>>,
}

/// A stage skipped for memory: (stage, times, largest need in bytes).
pub type Skipped = (&'static str, usize, usize);

impl Budget {
    /// A budget of `limit` bytes (None: unbounded).
    pub fn new(limit: Option<usize>) -> Self {
        Budget {
            limit,
            ..Budget::default()
        }
    }

    /// The budget `memory_limit` leaves after the fit's own [`driver::memory_estimate`] (None:
    /// unbounded).
    pub fn after_fit(
        memory_limit: Option<usize>,
        choice: &str,
        kind: Kind,
        n: usize,
        d: usize,
        n_patterns: usize,
    ) -> Self {
        Budget::new(
            memory_limit
                .map(|l| l.saturating_sub(driver::memory_estimate(choice, kind, n, d, n_patterns))),
        )
    }

    /// Whether `need` bytes for the optional stage `what` fit; when they do not, the refusal
    /// is recorded.
    pub fn admit(&self, what: &'static str, need: usize) -> bool {
        match self.limit {
            Some(l) if need > l => {
                if let Ok(mut v) = self.skipped.lock() {
                    match v.iter_mut().find(|e| e.0 == what) {
                        Some(e) => {
                            e.1 += 1;
                            e.2 = e.2.max(need);
                        }
                        None => v.push((what, 1, need)),
                    }
                }
                false
            }
            _ => true,
        }
    }

    /// The stages skipped: (stage, times, largest need in bytes), in the order first skipped.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.skipped.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Settings {
    /// Whether detailed lines are collected.
    pub(crate) fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Record one detailed line (no-op unless tracing).
    pub(crate) fn note(&self, line: impl FnOnce() -> String) {
        if let Some(t) = &self.trace {
            t.push(line());
        }
    }
}

/// A shared sink of log lines (see [`Settings::trace`]).
#[derive(Debug, Clone, Default)]
pub struct Trace(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Trace {
    pub fn push(&self, line: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(line);
        }
    }

    /// Take the lines collected so far.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// The result of a solve.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Blocks, d × B (ReLU: v blocks then w blocks).
    pub z: Array2<f64>,
    pub objective: f64,
    pub network_objective: f64,
    /// Best (largest) dual lower bound seen.
    pub dual: f64,
    pub dual_point: Array1<f64>,
    /// Cone multipliers μ (n × B) of the ReLU program (empty for gated).
    pub cone_multipliers: Array2<f64>,
    pub violation: f64,
    pub n_iter: usize,
    pub converged: bool,
    /// Final penalty parameter (ADMM) or step size (FISTA), for warm starts.
    pub rho: f64,
    /// Solver state for warm starts (ADMM: a (n), b (d × B), c (n × B)).
    pub warm: WarmStart,
}

impl Solution {
    /// A solver's point `z` with its certificate `cert` (objective, network objective, dual
    /// bound and point, violation) and cone multipliers `mu`; `converged` as decided by the
    /// caller, the warm start holding `z` alone.
    pub fn from_certificate(
        z: Array2<f64>,
        cert: Certificate,
        mu: Array2<f64>,
        n_iter: usize,
        converged: bool,
    ) -> Self {
        Solution {
            z: z.clone(),
            objective: cert.objective,
            network_objective: cert.network_objective,
            dual: cert.dual,
            dual_point: cert.dual_point,
            cone_multipliers: mu,
            violation: cert.violation,
            n_iter,
            converged,
            rho: 0.0,
            warm: WarmStart {
                z: Some(z),
                ..Default::default()
            },
        }
    }
}

/// State carried between solves on a regularisation path.
#[derive(Debug, Clone, Default)]
pub struct WarmStart {
    pub z: Option<Array2<f64>>,
    pub a: Option<Array1<f64>>,
    pub b: Option<Array2<f64>>,
    pub c: Option<Array2<f64>>,
    pub rho: Option<f64>,
}

/// Cone-constraint violation (absolute) accepted in a certified solution: rounding in the
/// projections leaves ~1e-17; the certificate's upper bound is the larger of the convex and the
/// recovered network's objective, so it stays a valid bound either way.
pub const VIOLATION_TOL: f64 = 1e-12;

/// Smallest |upper bound| the relative certificate scales by: objectives below 1e-20 (zero
/// targets fitted exactly) are certified by an absolute gap of tol · 1e-20.
pub const GAP_TINY: f64 = 1e-20;

/// The certificate rule: the gap relative to the upper bound, ub − lb ≤ tol · max(|ub|, tiny).
pub fn gap_ok(cert_ub: f64, dual: f64, tol: f64) -> bool {
    (cert_ub - dual) <= tol * cert_ub.abs().max(GAP_TINY)
}

/// The certificate a first-order solver ends with: the sharp one (cone multipliers by NNLS) for the
/// ReLU program, else the last certificate computed (or a fresh one) with no cone multipliers.
pub(crate) fn final_certificate(
    prob: &Problem,
    z: &Array2<f64>,
    relu: bool,
    last: Option<Certificate>,
    ctl: &Control,
) -> Result<(Certificate, Array2<f64>)> {
    if relu {
        polish::sharp_certificate(prob, z, ctl)
    } else {
        let cert = last.unwrap_or_else(|| prob.certify(z, None, None));
        let n = cert.dual_point.len();
        Ok((cert, Array2::zeros((n, 0))))
    }
}

/// The best dual bound seen (the final certificate's or an earlier one) and its dual point.
pub(crate) fn best_dual_of(
    cert_dual: f64,
    cert_point: Array1<f64>,
    best_dual: f64,
    best_point: Array1<f64>,
) -> (f64, Array1<f64>) {
    if cert_dual > best_dual {
        (cert_dual, cert_point)
    } else {
        (best_dual, best_point)
    }
}

/// Tests: the ReLU program of `pats` on (x, y) with the squared loss, β = 0.1, one thread.
#[cfg(test)]
pub(crate) fn squared_relu_problem(
    x: ndarray::ArrayView2<f64>,
    y: ndarray::ArrayView1<f64>,
    pats: ndarray::ArrayView2<bool>,
) -> Problem {
    Problem::new(x, y, pats, Loss::Squared, 0.1, Kind::Relu, 1).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use ndarray::array;

    /// X = I, one all-ones pattern: the group Lasso has the closed form w = (1 − β/‖y‖)₊ y,
    /// objective ½β² + β(‖y‖ − β) = 4.5 for y = (3, 4), β = 1 (the w-blocks of the ReLU program
    /// stay 0 and the v-block lies in its cone {v ≥ 0}).
    #[test]
    fn every_solver_finds_the_closed_form_optimum() {
        let x = array![[1.0, 0.0], [0.0, 1.0]];
        let y = array![3.0, 4.0];
        let pats = array![[true, true]];
        let settings = Settings {
            tol: 1e-10,
            max_iter: 200_000,
            check_every: 10,
            ..Default::default()
        };
        let ctl = Control::new();
        for kind in [Kind::Gated, Kind::Relu] {
            let prob = Problem::new(
                x.view(),
                y.view(),
                pats.view(),
                Loss::Squared,
                1.0,
                kind,
                usize::MAX,
            )
            .unwrap();
            let mut sols = vec![
                fista::solve(&prob, &settings, &WarmStart::default(), &ctl).unwrap(),
                admm::solve(&prob, &settings, &WarmStart::default(), &ctl).unwrap(),
            ];
            if kind == Kind::Gated {
                sols.push(newton::solve(&prob, &settings, &WarmStart::default(), &ctl).unwrap());
            }
            for (i, s) in sols.into_iter().enumerate() {
                assert!(
                    (s.objective - 4.5).abs() < 1e-7,
                    "{kind:?} #{i} {}",
                    s.objective
                );
                assert!(s.dual <= 4.5 + 1e-12 && s.dual > 4.5 - 1e-6);
                assert!((s.z[[0, 0]] - 2.4).abs() < 1e-3 && (s.z[[1, 0]] - 3.2).abs() < 1e-3);
            }
        }
    }

    /// `best_dual_scale` against a dense search: for every loss and dual candidates inside the
    /// conjugate's domain (random, near its boundary, all-zero), the value returned is D at the
    /// scale returned, that scale is feasible, and no scale of a 20,001-point grid over the
    /// feasible interval (refined by a 2,001-point grid around the grid's best) does better
    /// than rounding.
    #[test]
    fn the_best_dual_scale_is_the_maximum_of_the_dual_along_the_candidate() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 30;
        let x = Array2::from_shape_fn((n, 2), |_| rng.random_range(-1.0..1.0));
        let pats = Array2::from_elem((1, n), true);
        for loss in [Loss::Squared, Loss::Logistic, Loss::Hinge, Loss::Huber(0.7)] {
            let y: Array1<f64> = (0..n)
                .map(|_| {
                    let v: f64 = rng.random_range(-2.0..2.0);
                    match loss {
                        Loss::Logistic | Loss::Hinge => v.signum(),
                        _ => v,
                    }
                })
                .collect();
            let prob = Problem::new(
                x.view(),
                y.view(),
                pats.view(),
                loss,
                0.3,
                Kind::Relu,
                usize::MAX,
            )
            .unwrap();
            for case in 0..12 {
                // t = −yλ in [0, 1] (some at the boundary) for the classification losses
                let lam: Array1<f64> = (0..n)
                    .map(|k| {
                        let t: f64 = match case % 3 {
                            0 => rng.random_range(0.0..1.0),
                            1 => {
                                if rng.random_bool(0.3) {
                                    1.0
                                } else {
                                    rng.random_range(0.0..0.05)
                                }
                            }
                            _ => rng.random_range(0.0..1e-3),
                        };
                        let u = match loss {
                            Loss::Logistic | Loss::Hinge => -t * y[k],
                            Loss::Huber(dl) => dl * rng.random_range(-1.0..1.0),
                            _ => rng.random_range(-3.0..3.0),
                        };
                        if case == 11 {
                            0.0
                        } else {
                            loss.project_dual(u, y[k])
                        }
                    })
                    .collect();
                let worst = [0.05, 0.3, 1.0, 4.0][case % 4];
                let (v, s) = prob.best_dual_scale(&lam, worst);
                let dval = |s: f64| prob.dual_value(&lam.mapv(|u| u * s));
                assert_eq!(v, dval(s), "{loss:?} case {case}");
                // feasible: inside β / worst and the conjugate's domain
                assert!(
                    s >= 0.0 && s <= 0.3 / worst * (1.0 + 1e-15),
                    "{loss:?} {case} {s}"
                );
                assert!(v.is_finite(), "{loss:?} {case}");
                let mut top = 0.3 / worst;
                for (&u, &yy) in lam.iter().zip(y.iter()) {
                    let dom = match loss {
                        Loss::Logistic | Loss::Hinge => (-u * yy).max(0.0),
                        Loss::Huber(dl) => u.abs() / dl,
                        _ => 0.0,
                    };
                    if dom > 0.0 {
                        top = top.min(1.0 / dom);
                    }
                }
                let grid = |a: f64, b: f64, m: usize| {
                    (0..=m)
                        .map(|i| a + (b - a) * i as f64 / m as f64)
                        .map(|t| (dval(t), t))
                        .filter(|p| p.0.is_finite())
                        .fold(
                            (f64::NEG_INFINITY, 0.0),
                            |acc, p| if p.0 > acc.0 { p } else { acc },
                        )
                };
                let (gv, gs) = grid(0.0, top, 20_000);
                let w = top / 20_000.0;
                let (fv, _) = grid((gs - w).max(0.0), (gs + w).min(top), 2_000);
                let best = gv.max(fv);
                assert!(
                    v >= best - 1e-13 * best.abs().max(1.0),
                    "{loss:?} case {case}: {v} < grid {best} (s {s}, grid s {gs})"
                );
            }
        }
    }

    #[test]
    fn problem_rejects_bad_inputs() {
        let x = array![[1.0, 0.0], [0.0, 1.0]];
        let y = array![3.0, 4.0];
        let pats = array![[true, true]];
        let mk = |y: ndarray::ArrayView1<f64>, p: ndarray::ArrayView2<bool>, beta: f64| {
            Problem::new(x.view(), y, p, Loss::Squared, beta, Kind::Relu, 1)
        };
        assert!(mk(y.view(), pats.view(), -1.0).is_err());
        assert!(mk(array![1.0].view(), pats.view(), 1.0).is_err());
        assert!(mk(
            y.view(),
            ndarray::Array2::<bool>::default((0, 2)).view(),
            1.0
        )
        .is_err());
        assert!(mk(array![f64::NAN, 1.0].view(), pats.view(), 1.0).is_err());
        let lab = Problem::new(
            x.view(),
            y.view(),
            pats.view(),
            Loss::Logistic,
            1.0,
            Kind::Gated,
            1,
        );
        assert!(lab.is_err());
        // a loss of the objectives that the convex solvers do not take
        let sh = Problem::new(
            x.view(),
            array![1.0, -1.0].view(),
            pats.view(),
            Loss::SquaredHinge,
            1.0,
            Kind::Relu,
            1,
        );
        assert!(sh.unwrap_err().to_string().contains("squared_hinge"));
    }
}
