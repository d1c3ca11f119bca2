//! Vertex method for arrangements in general position (simple arrangements).
//!
//! Chambers with y_0·u > 0 are the chambers of the affine chart {c·u = 1}, c = y_0/|y_0|, of the
//! other hyperplanes; the others are their negatives (complementary patterns). In the chart
//! (coordinates v ∈ R^{q-1}, u = c + B v) take a generic linear functional g:
//! - a chamber bounded below in g has a unique lowest vertex, the intersection of q−1 hyperplanes
//!   S; writing g = Σ_{j∈S} λ_j a_j, it is the chamber on side sign(λ_j) of every j ∈ S. So every
//!   (q−1)-subset gives exactly one chamber (trivially parallel over subsets);
//! - the chambers unbounded below correspond to the chambers of the central arrangement restricted
//!   to c^⊥ that meet {g·x < 0}: the same problem one dimension lower (chart direction −g).
//!
//! Anything not simple (a singular subset, a vertex on another hyperplane) is reported as
//! [`Fail::Degenerate`] and the caller falls back on deletion–restriction.

// Index loops over small lanes / coordinates read better than iterator chains here.
#![allow(clippy::needless_range_loop)]

use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::enumerate::{words_for, TIE_TOL};
use super::lines::{dot, norm};
use crate::error::{Error, Result};
use crate::Control;

/// Relative pivot / margin under which the arrangement is treated as not simple.
const SIMPLE_TOL: f64 = 1e-9;

/// Outcome when the data is not in general position.
pub enum Fail {
    Degenerate,
    Err(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Err(e)
    }
}

type FResult<T> = std::result::Result<T, Fail>;

/// Chambers with their patterns (P × nw words, over the m lines) and witnesses (P × q).
pub struct Part {
    pub pats: Vec<u64>,
    pub wit: Vec<f64>,
}

/// Orthonormal basis of c^⊥ (q−1 vectors of R^q, row-major), c a unit vector.
fn complement_basis(c: &[f64]) -> Vec<f64> {
    let q = c.len();
    let p = (0..q)
        .max_by(|&a, &b| c[a].abs().total_cmp(&c[b].abs()))
        .unwrap_or(0);
    let mut basis: Vec<f64> = Vec::with_capacity((q - 1) * q);
    for l in (0..q).filter(|&l| l != p) {
        let mut v = vec![0.0; q];
        v[l] = 1.0;
        for _ in 0..2 {
            let cc = dot(&v, c);
            for (x, y) in v.iter_mut().zip(c) {
                *x -= cc * y;
            }
            for b in 0..basis.len() / q {
                let bb = &basis[b * q..(b + 1) * q];
                let cb = dot(&v, bb);
                for (x, y) in v.iter_mut().zip(bb) {
                    *x -= cb * y;
                }
            }
        }
        let nv = norm(&v);
        basis.extend(v.iter().map(|x| x / nv));
    }
    basis
}

/// Inverse of a small dense matrix (row-major, s × s; `m` is destroyed) into `inv`, by
/// Gauss–Jordan with partial pivoting; false when a pivot is below `SIMPLE_TOL` times the largest
/// row norm (the subset is not independent: the arrangement is not simple).
fn inverse_into(m: &mut [f64], s: usize, inv: &mut [f64]) -> bool {
    let mut scale = 0.0f64;
    for i in 0..s {
        scale = scale.max(norm(&m[i * s..(i + 1) * s]));
    }
    inv.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..s {
        inv[i * s + i] = 1.0;
    }
    for col in 0..s {
        let mut piv = col;
        for rr in col + 1..s {
            if m[rr * s + col].abs() > m[piv * s + col].abs() {
                piv = rr;
            }
        }
        if m[piv * s + col].abs() <= SIMPLE_TOL * scale {
            return false;
        }
        if piv != col {
            for l in 0..s {
                m.swap(piv * s + l, col * s + l);
                inv.swap(piv * s + l, col * s + l);
            }
        }
        let p = 1.0 / m[col * s + col];
        for l in 0..s {
            m[col * s + l] *= p;
            inv[col * s + l] *= p;
        }
        for r in 0..s {
            if r != col {
                let f = m[r * s + col];
                if f != 0.0 {
                    for l in 0..s {
                        m[r * s + l] -= f * m[col * s + l];
                        inv[r * s + l] -= f * inv[col * s + l];
                    }
                }
            }
        }
    }
    true
}

/// Lines in column-major layout for vectorised products.
struct Cols {
    q: usize,
    m: usize,
    cols: Vec<f64>,
    norms: Vec<f64>,
    inv_norms: Vec<f64>,
}

impl Cols {
    fn new(lines: &[f64], q: usize) -> Self {
        let m = lines.len() / q;
        let mut cols = vec![0.0; q * m];
        for i in 0..m {
            for c in 0..q {
                cols[c * m + i] = lines[i * q + c];
            }
        }
        let norms: Vec<f64> = (0..m).map(|i| norm(&lines[i * q..(i + 1) * q])).collect();
        let inv_norms = norms
            .iter()
            .map(|v| if *v > 0.0 { 1.0 / v } else { f64::INFINITY })
            .collect();
        Self {
            q,
            m,
            cols,
            norms,
            inv_norms,
        }
    }

    #[inline]
    fn products(&self, u: &[f64], out: &mut [f64]) {
        let m = self.m;
        out.iter_mut().for_each(|v| *v = 0.0);
        for c in 0..self.q {
            let uc = u[c];
            for (o, y) in out.iter_mut().zip(&self.cols[c * m..(c + 1) * m]) {
                *o += uc * y;
            }
        }
    }
}

/// One pass over the lines for a point u: pushes the sign bits of y_i·u (MSB-first words) and
/// returns min_i |y_i·u| / |y_i| + inf_mask_i.
#[inline(always)]
fn fused<const Q: usize>(cols: &Cols, u: &[f64], inf_mask: &[f64], out: &mut Vec<u64>) -> f64 {
    let m = cols.m;
    let col: [&[f64]; Q] = std::array::from_fn(|c| &cols.cols[c * m..(c + 1) * m]);
    let uu: [f64; Q] = std::array::from_fn(|c| u[c]);
    let invn = &cols.inv_norms[..m];
    let mask = &inf_mask[..m];
    let mut ml = [f64::INFINITY; 4];
    let mut start = 0;
    while start < m {
        let end = (start + 64).min(m);
        let mut word = 0u64;
        let mut i = start;
        while i + 4 <= end {
            let mut pos = [0u64; 4];
            for l in 0..4 {
                let j = i + l;
                let mut s = 0.0;
                for c in 0..Q {
                    s += uu[c] * col[c][j];
                }
                let qv = s.abs() * invn[j] + mask[j];
                ml[l] = if qv < ml[l] { qv } else { ml[l] };
                pos[l] = (s > 0.0) as u64;
            }
            word = (word << 4) | (pos[0] << 3) | (pos[1] << 2) | (pos[2] << 1) | pos[3];
            i += 4;
        }
        while i < end {
            let mut s = 0.0;
            for c in 0..Q {
                s += uu[c] * col[c][i];
            }
            let qv = s.abs() * invn[i] + mask[i];
            ml[0] = if qv < ml[0] { qv } else { ml[0] };
            word = (word << 1) | (s > 0.0) as u64;
            i += 1;
        }
        // MSB-first: bit (j - start) of the block is bit 63 - (j - start) of the word
        out.push(word << (64 - (end - start)));
        start = end;
    }
    ml[0].min(ml[1]).min(ml[2].min(ml[3]))
}

fn pack(s: &[f64], skip: Option<usize>, out: &mut Vec<u64>) {
    let start = out.len();
    for block in s.chunks(64) {
        let mut word = 0u64;
        for (bit, v) in block.iter().enumerate() {
            word |= ((*v > 0.0) as u64) << (63 - bit);
        }
        out.push(word);
    }
    if let Some(k) = skip {
        out[start + k / 64] |= 1u64 << (63 - (k % 64));
    }
}

/// One level of the chart recursion: the chambers of the central arrangement of `lines`
/// (m × q) meeting {c·u > 0}, in the chart u = c + B v, with the generic functional `g`.
/// Level L + 1 is the restriction of level L to c^⊥ (lines `a`, direction −g).
pub(crate) struct ChartLevel {
    q: usize,
    m: usize,
    c: Vec<f64>,
    skip: Option<usize>,
    /// (q−1) × q orthonormal basis of c^⊥ (empty when q = 1).
    basis: Vec<f64>,
    /// m × (q−1): a_i = Bᵀ y_i.
    a: Vec<f64>,
    /// β_i = −y_i·c.
    beta: Vec<f64>,
    g: Vec<f64>,
    cols: Cols,
    /// Lines other than `skip`: the (q−1)-subsets are taken over these positions.
    idx: Vec<usize>,
}

impl ChartLevel {
    fn new(lines: &[f64], q: usize, c: &[f64], skip: Option<usize>, level: u64) -> Self {
        let m = lines.len() / q;
        let cols = Cols::new(lines, q);
        let idx: Vec<usize> = (0..m).filter(|&i| Some(i) != skip).collect();
        if q == 1 {
            return Self {
                q,
                m,
                c: c.to_vec(),
                skip,
                basis: Vec::new(),
                a: Vec::new(),
                beta: Vec::new(),
                g: Vec::new(),
                cols,
                idx,
            };
        }
        let basis = complement_basis(c); // (q-1) × q
        let qq = q - 1;
        let mut a = vec![0.0; m * qq];
        let mut beta = vec![0.0; m];
        for i in 0..m {
            let y = &lines[i * q..(i + 1) * q];
            for b in 0..qq {
                a[i * qq + b] = dot(&basis[b * q..(b + 1) * q], y);
            }
            beta[i] = -dot(y, c);
        }
        // a generic functional, fixed per level (deterministic output)
        let mut rng = crate::rng::stream_rng(0x6a09_e667_f3bc_c908, level);
        let mut g: Vec<f64> = (0..qq).map(|_| StandardNormal.sample(&mut rng)).collect();
        let gn = norm(&g);
        g.iter_mut().for_each(|v| *v /= gn);
        Self {
            q,
            m,
            c: c.to_vec(),
            skip,
            basis,
            a,
            beta,
            g,
            cols,
            idx,
        }
    }

    /// Number of work items of this level: the (q−1)-subsets of `idx` (1 for q = 1).
    pub(crate) fn total(&self) -> u128 {
        if self.q == 1 {
            1
        } else {
            binom(self.idx.len() as u128, (self.q - 1) as u128)
        }
    }

    /// The chamber of a q = 1 level (a half-line).
    fn base(&self, out: &mut Part) -> FResult<()> {
        let mut s = vec![0.0; self.m];
        self.cols.products(&self.c, &mut s);
        for (i, v) in s.iter().enumerate() {
            if Some(i) != self.skip && v.abs() <= SIMPLE_TOL * self.cols.norms[i] {
                return Err(Fail::Degenerate);
            }
        }
        pack(&s, self.skip, &mut out.pats);
        out.wit.extend_from_slice(&self.c);
        Ok(())
    }

    /// Lift a witness x of the next level (q−1 coordinates in c^⊥) to this level:
    /// X = B x, u = X + τ c with τ = ½ min |y_i·X| / |y_i·c| (and ≤ |X|).
    fn lift(&self, x: &[f64], prod: &mut [f64], out: &mut [f64]) {
        let (q, qq) = (self.q, self.q - 1);
        let xx = out;
        xx.iter_mut().for_each(|v| *v = 0.0);
        for b in 0..qq {
            for l in 0..q {
                xx[l] += x[b] * self.basis[b * q + l];
            }
        }
        self.cols.products(xx, prod);
        let mut tau = norm(xx);
        for i in 0..self.m {
            if Some(i) != self.skip && self.beta[i] != 0.0 {
                tau = tau.min(0.5 * prod[i].abs() / self.beta[i].abs());
            }
        }
        for (p, cc) in xx.iter_mut().zip(&self.c) {
            *p += tau * cc;
        }
    }

    /// The chambers of `count` consecutive (q−1)-subsets (lexicographic order of positions in
    /// `idx`) starting at `comb`: each subset is the lowest vertex (in g) of one chamber.
    fn subsets(&self, mut comb: Vec<usize>, count: usize, ctl: &Control) -> FResult<Part> {
        let (q, m) = (self.q, self.m);
        let qq = q - 1;
        let (a, beta, g, basis, cols, idx) = (
            &self.a,
            &self.beta,
            &self.g,
            &self.basis,
            &self.cols,
            &self.idx,
        );
        let c = &self.c;
        let skip = self.skip;
        let nw = words_for(m);
        let mut out = Part {
            pats: Vec::with_capacity(count * nw),
            wit: Vec::with_capacity(count * q),
        };
        let mut mat = vec![0.0; qq * qq];
        let mut inv = vec![0.0; qq * qq];
        let mut v = vec![0.0; qq];
        let mut sl = vec![0.0; qq];
        let mut p = vec![0.0; m];
        let mut u = vec![0.0; q];
        let mut bd = vec![0.0; q];
        // excluded lines (the subset and `skip`): no constraint on δ, no degeneracy test
        let mut inf_mask = vec![0.0f64; m];
        if let Some(k) = skip {
            inf_mask[k] = f64::INFINITY;
        }
        for done in 0..count {
            if done % 1024 == 1023 {
                ctl.check()?;
            }
            for (row, &pos) in comb.iter().enumerate() {
                let i = idx[pos];
                mat[row * qq..(row + 1) * qq].copy_from_slice(&a[i * qq..(i + 1) * qq]);
                inf_mask[i] = f64::INFINITY;
            }
            if !inverse_into(&mut mat, qq, &mut inv) {
                return Err(Fail::Degenerate);
            }
            // v = M^{-1} β_S ; λ = M^{-T} g ; d = M^{-1} sign(λ)
            for rr in 0..qq {
                let mut acc = 0.0;
                let mut lam = 0.0;
                for (cc, &pos) in comb.iter().enumerate() {
                    acc += inv[rr * qq + cc] * beta[idx[pos]];
                    lam += inv[cc * qq + rr] * g[cc];
                }
                v[rr] = acc;
                if lam.abs() <= SIMPLE_TOL {
                    return Err(Fail::Degenerate);
                }
                sl[rr] = lam.signum();
            }
            // u_v = c + B v ; B d
            u.copy_from_slice(c);
            bd.iter_mut().for_each(|x| *x = 0.0);
            for b in 0..qq {
                let mut db = 0.0;
                for cc in 0..qq {
                    db += inv[b * qq + cc] * sl[cc];
                }
                for l in 0..q {
                    u[l] += v[b] * basis[b * q + l];
                    bd[l] += db * basis[b * q + l];
                }
            }
            let un = norm(&u);
            // μ = min_{i ∉ S} |p_i| / |y_i| (p_i = y_i·u_v): the distance of the vertex to the
            // other hyperplanes; the signs of p_i are the pattern off S. One fused pass.
            let start = out.pats.len();
            let mu = match q {
                2 => fused::<2>(cols, &u, &inf_mask, &mut out.pats),
                3 => fused::<3>(cols, &u, &inf_mask, &mut out.pats),
                4 => fused::<4>(cols, &u, &inf_mask, &mut out.pats),
                5 => fused::<5>(cols, &u, &inf_mask, &mut out.pats),
                6 => fused::<6>(cols, &u, &inf_mask, &mut out.pats),
                7 => fused::<7>(cols, &u, &inf_mask, &mut out.pats),
                8 => fused::<8>(cols, &u, &inf_mask, &mut out.pats),
                _ => {
                    cols.products(&u, &mut p);
                    pack(&p, None, &mut out.pats);
                    p.iter()
                        .zip(&cols.inv_norms)
                        .zip(&inf_mask)
                        .map(|((pv, nv), iv)| pv.abs() * nv + iv)
                        .fold(f64::INFINITY, |a, b| if b < a { b } else { a })
                }
            };
            if let Some(k) = skip {
                out.pats[start + k / 64] |= 1u64 << (63 - (k % 64));
            }
            if mu <= SIMPLE_TOL * un {
                return Err(Fail::Degenerate); // the vertex lies on another hyperplane
            }
            // δ = ½ μ / |B d| moves every other y_i·u by at most ½|p_i|: their signs stay, and
            // y_j·u = δ a_j·d = δ sign(λ_j) on the lines of S.
            let delta = 0.5 * mu / norm(&bd);
            let mut wn2 = 0.0;
            for l in 0..q {
                u[l] += delta * bd[l];
                wn2 += u[l] * u[l];
            }
            let wn = wn2.sqrt();
            for (row, &pos) in comb.iter().enumerate() {
                let i = idx[pos];
                if delta <= TIE_TOL * cols.norms[i] * wn {
                    return Err(Fail::Degenerate);
                }
                let w = &mut out.pats[start + i / 64];
                let bit = 1u64 << (63 - (i % 64));
                if sl[row] > 0.0 {
                    *w |= bit;
                } else {
                    *w &= !bit;
                }
                inf_mask[i] = 0.0;
            }
            out.wit.extend_from_slice(&u);
            if done + 1 < count && !next_comb(&mut comb, idx.len()) {
                break;
            }
        }
        Ok(out)
    }
}

/// Binomial coefficient C(n, k) (saturating).
fn binom(n: u128, k: u128) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
    }
    r
}

/// The k-subset of {0, …, n−1} of lexicographic rank `r`.
fn unrank(mut r: u128, n: usize, k: usize) -> Vec<usize> {
    let mut comb = Vec::with_capacity(k);
    let mut x = 0usize;
    for i in 0..k {
        loop {
            let c = binom((n - x - 1) as u128, (k - i - 1) as u128);
            if r < c {
                comb.push(x);
                x += 1;
                break;
            }
            r -= c;
            x += 1;
        }
    }
    comb
}

/// Advance to the next k-subset in lexicographic order; false after the last one.
fn next_comb(comb: &mut [usize], n: usize) -> bool {
    let k = comb.len();
    let mut t = k;
    while t > 0 {
        t -= 1;
        if comb[t] < n - (k - t) {
            comb[t] += 1;
            for l in t + 1..k {
                comb[l] = comb[l - 1] + 1;
            }
            return true;
        }
    }
    false
}

/// Subsets per parallel work item (fixed: the output never depends on the thread count).
const PIECE: u128 = 2048;

/// Streaming vertex method for a simple arrangement: the chambers with y_0·u > 0 come in a fixed
/// order — the deepest level's single chamber, then level by level towards the top, the
/// (q−1)-subsets of each level in lexicographic order — and every block is completed by the
/// antipodal chambers. Memory is bounded by the block size.
pub struct SimpleStream {
    pub(crate) levels: Vec<ChartLevel>,
    k: usize,
    m: usize,
    /// Position: index into the emission order of levels (deepest first) and rank inside it.
    level_pos: usize,
    rank: u128,
    /// Progress: with `Some(units)`, `ctl.set_done` goes from 0 to `units` over the top level.
    pub progress_units: Option<u64>,
    /// Top-level subsets done (for progress).
    top_done: std::sync::atomic::AtomicU64,
}

impl SimpleStream {
    /// The levels of the vertex method for `lines` (m × k, m > k ≥ 2, distinct, spanning R^k).
    pub fn new(lines: &[f64], k: usize) -> Self {
        let m = lines.len() / k;
        let y0 = &lines[..k];
        let n0 = norm(y0);
        let c: Vec<f64> = y0.iter().map(|v| v / n0).collect();
        let mut levels = vec![ChartLevel::new(lines, k, &c, Some(0), 0)];
        while levels.last().is_some_and(|l| l.q > 1) {
            let top = levels.last().expect("non-empty");
            let neg_g: Vec<f64> = top.g.iter().map(|v| -v).collect();
            let next = ChartLevel::new(&top.a, top.q - 1, &neg_g, top.skip, levels.len() as u64);
            levels.push(next);
        }
        Self {
            levels,
            k,
            m,
            level_pos: 0,
            rank: 0,
            progress_units: None,
            top_done: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Number of chambers with y_0·u > 0 (half of all).
    pub fn half_total(&self) -> u128 {
        self.levels.iter().map(|l| l.total()).sum()
    }

    /// Restart from the first block.
    pub fn reset(&mut self) {
        self.level_pos = 0;
        self.rank = 0;
        self.top_done.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// The next at most `max_half` chambers with y_0·u > 0, in stream order: (line patterns,
    /// witnesses in R^k, not normalised). `Ok(None)` at the end; `Err(Fail::Degenerate)` when
    /// the arrangement turns out not to be simple.
    pub fn next_half(&mut self, max_half: usize, ctl: &Control) -> FResult<Option<Part>> {
        let nl = self.levels.len();
        let mut out = Part {
            pats: Vec::new(),
            wit: Vec::new(),
        };
        let mut left = max_half.max(1) as u128;
        let mut any = false;
        while left > 0 && self.level_pos < nl {
            let li = nl - 1 - self.level_pos; // deepest level first
            let lv = &self.levels[li];
            let total = lv.total();
            if self.rank >= total {
                self.level_pos += 1;
                self.rank = 0;
                continue;
            }
            let take = left.min(total - self.rank);
            let parts: Vec<Part> = if lv.q == 1 {
                let mut p = Part {
                    pats: Vec::new(),
                    wit: Vec::new(),
                };
                lv.base(&mut p)?;
                vec![p]
            } else {
                let start = self.rank;
                let pieces = take.div_ceil(PIECE) as usize;
                let run = |j: usize| -> FResult<Part> {
                    ctl.check()?;
                    let s = start + j as u128 * PIECE;
                    let cnt = PIECE.min(start + take - s) as usize;
                    let comb = unrank(s, lv.idx.len(), lv.q - 1);
                    let part = lv.subsets(comb, cnt, ctl)?;
                    if let (0, Some(units)) = (li, self.progress_units) {
                        let done = self
                            .top_done
                            .fetch_add(cnt as u64, std::sync::atomic::Ordering::Relaxed)
                            + cnt as u64;
                        let scaled = done as u128 * units as u128 / total.max(1);
                        ctl.set_done(scaled as u64);
                    }
                    Ok(part)
                };
                if pieces > 1 {
                    (0..pieces)
                        .into_par_iter()
                        .map(run)
                        .collect::<FResult<_>>()?
                } else {
                    vec![run(0)?]
                }
            };
            let q = lv.q;
            // the level's chambers at once: one reallocation of the output, not a doubling
            // (and a copy of everything so far) every few parts
            let n_new: usize = parts.iter().map(|p| p.wit.len() / q).sum();
            let n_pats: usize = parts.iter().map(|p| p.pats.len()).sum();
            ctl.check()?;
            out.pats.reserve(n_pats);
            out.wit.reserve(n_new * self.k);
            for part in parts {
                ctl.check()?;
                out.pats.extend_from_slice(&part.pats);
                if li == 0 {
                    out.wit.extend_from_slice(&part.wit);
                } else {
                    // lift through the levels above (chunks of witnesses in parallel, a
                    // cancellation check before each: a level can hold 10⁷ chambers)
                    let lifted: Vec<Vec<f64>> = part
                        .wit
                        .par_chunks(q * 256)
                        .map(|ch| -> FResult<Vec<f64>> {
                            ctl.check()?;
                            let mut res = Vec::with_capacity(ch.len() / q * self.k);
                            let mut prod = vec![0.0; self.m];
                            for x in ch.chunks_exact(q) {
                                let mut cur = x.to_vec();
                                for up in (0..li).rev() {
                                    let l = &self.levels[up];
                                    let mut nx = vec![0.0; l.q];
                                    l.lift(&cur, &mut prod, &mut nx);
                                    cur = nx;
                                }
                                res.extend_from_slice(&cur);
                            }
                            Ok(res)
                        })
                        .collect::<FResult<_>>()?;
                    for ch in lifted {
                        out.wit.extend_from_slice(&ch);
                    }
                }
            }
            ctl.check()?;
            self.rank += take;
            left -= take;
            any = true;
        }
        Ok(if any { Some(out) } else { None })
    }

    /// The next block of at most `2 * max_half` chambers: the half block followed by its
    /// antipodes (complementary patterns over the m lines), witnesses unit-norm.
    pub fn next_block(
        &mut self,
        max_half: usize,
        ctl: &Control,
    ) -> FResult<Option<(Vec<u64>, Vec<f64>)>> {
        let Some(part) = self.next_half(max_half, ctl)? else {
            return Ok(None);
        };
        let (p, w) =
            super::enumerate::antipodal_complete(&part.pats, &part.wit, None, self.m, self.k);
        Ok(Some((p, w)))
    }
}

/// All chambers of `lines` (m distinct lines spanning R^k) by the vertex method, sorted by
/// pattern, witnesses unit-norm; `Ok(None)` when the arrangement is not simple.
pub fn chambers_simple(
    lines: &[f64],
    k: usize,
    ctl: &Control,
) -> Result<Option<(Vec<u64>, Vec<f64>)>> {
    let m = lines.len() / k;
    let nw = words_for(m);
    let mut stream = SimpleStream::new(lines, k);
    let total = stream.half_total();
    ctl.set_total(m as u64);
    ctl.set_done(0);
    stream.progress_units = Some(m as u64);
    let part = match stream.next_half(usize::try_from(total).unwrap_or(usize::MAX), ctl) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        Err(Fail::Degenerate) => return Ok(None),
        Err(Fail::Err(e)) => return Err(e),
    };
    let half = part.wit.len() / k;
    ctl.check()?;
    let pats = &part.pats;
    let order: Vec<u32> = if nw <= 2 {
        let keys: Vec<u128> = pats
            .chunks_exact(nw)
            .map(super::enumerate::key128)
            .collect();
        super::enumerate::radix_order(&keys)
    } else {
        let mut order: Vec<u32> = (0..half as u32).collect();
        order.par_sort_unstable_by(|&x, &y| {
            let (x, y) = (x as usize, y as usize);
            pats[x * nw..(x + 1) * nw].cmp(&pats[y * nw..(y + 1) * nw])
        });
        order
    };
    ctl.check()?;
    // distinct patterns, else not simple after all
    for w in order.windows(2) {
        let (x, y) = (w[0] as usize, w[1] as usize);
        if pats[x * nw..(x + 1) * nw] == pats[y * nw..(y + 1) * nw] {
            return Ok(None);
        }
    }
    let (out_p, out_w) =
        super::enumerate::antipodal_complete(&part.pats, &part.wit, Some(&order), m, k);
    Ok(Some((out_p, out_w)))
}
