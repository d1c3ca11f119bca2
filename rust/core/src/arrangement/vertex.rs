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
            for l in 0..4 {
                let j = i + l;
                let mut s = 0.0;
                for c in 0..Q {
                    s += uu[c] * col[c][j];
                }
                let qv = s.abs() * invn[j] + mask[j];
                ml[l] = if qv < ml[l] { qv } else { ml[l] };
                word |= ((s > 0.0) as u64) << (63 - (j - start));
            }
            i += 4;
        }
        while i < end {
            let mut s = 0.0;
            for c in 0..Q {
                s += uu[c] * col[c][i];
            }
            let qv = s.abs() * invn[i] + mask[i];
            ml[0] = if qv < ml[0] { qv } else { ml[0] };
            word |= ((s > 0.0) as u64) << (63 - (i - start));
            i += 1;
        }
        out.push(word);
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

/// Chambers of the central arrangement of `lines` (m × q) meeting {c·u > 0}, c a unit vector.
/// `skip` is a line parallel to c (excluded from the geometry; its bit is 1).
pub fn chart(
    lines: &[f64],
    q: usize,
    c: &[f64],
    skip: Option<usize>,
    level: u64,
    ctl: &Control,
) -> FResult<Part> {
    ctl.check()?;
    let m = lines.len() / q;
    let nw = words_for(m);
    let cols = Cols::new(lines, q);
    if q == 1 {
        let mut s = vec![0.0; m];
        cols.products(c, &mut s);
        for (i, v) in s.iter().enumerate() {
            if Some(i) != skip && v.abs() <= SIMPLE_TOL * cols.norms[i] {
                return Err(Fail::Degenerate);
            }
        }
        let mut pats = Vec::with_capacity(nw);
        pack(&s, skip, &mut pats);
        return Ok(Part {
            pats,
            wit: c.to_vec(),
        });
    }
    let basis = complement_basis(c); // (q-1) × q
    let qq = q - 1;
    // chart coordinates: a_i = Bᵀ y_i (q-1), β_i = -y_i·c
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

    // 1. unbounded-below chambers: the restriction to c^⊥ in direction -g
    let neg_g: Vec<f64> = g.iter().map(|v| -v).collect();
    let sub = chart(&a, qq, &neg_g, skip, level + 1, ctl)?;
    let mut pats = sub.pats;
    let mut wit = Vec::with_capacity(sub.wit.len() / qq * q);
    let mut prod = vec![0.0; m];
    for x in sub.wit.chunks_exact(qq) {
        // X = B x (in c^⊥), u = X + τ c with τ = ½ min |y_i·X| / |y_i·c|
        let mut xx = vec![0.0; q];
        for b in 0..qq {
            for l in 0..q {
                xx[l] += x[b] * basis[b * q + l];
            }
        }
        cols.products(&xx, &mut prod);
        let mut tau = norm(&xx);
        for i in 0..m {
            if Some(i) != skip && beta[i] != 0.0 {
                tau = tau.min(0.5 * prod[i].abs() / beta[i].abs());
            }
        }
        wit.extend(xx.iter().zip(c).map(|(p, cc)| p + tau * cc));
    }

    // 2. one chamber per (q-1)-subset of the lines (lowest vertex in g)
    let idx: Vec<usize> = (0..m).filter(|&i| Some(i) != skip).collect();
    let per_first = |f: usize| -> FResult<Part> {
        ctl.check()?;
        let mut out = Part {
            pats: Vec::new(),
            wit: Vec::new(),
        };
        let mut comb: Vec<usize> = (f..f + qq).collect(); // positions in idx
        if *comb.last().unwrap_or(&f) >= idx.len() {
            return Ok(out);
        }
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
        let mut count = 0usize;
        loop {
            count += 1;
            if count % 1024 == 0 {
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
                2 => fused::<2>(&cols, &u, &inf_mask, &mut out.pats),
                3 => fused::<3>(&cols, &u, &inf_mask, &mut out.pats),
                4 => fused::<4>(&cols, &u, &inf_mask, &mut out.pats),
                5 => fused::<5>(&cols, &u, &inf_mask, &mut out.pats),
                6 => fused::<6>(&cols, &u, &inf_mask, &mut out.pats),
                7 => fused::<7>(&cols, &u, &inf_mask, &mut out.pats),
                8 => fused::<8>(&cols, &u, &inf_mask, &mut out.pats),
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
            // next combination with the same first element
            let mut t = qq;
            loop {
                if t <= 1 {
                    return Ok(out);
                }
                t -= 1;
                if comb[t] < idx.len() - (qq - t) {
                    comb[t] += 1;
                    for l in t + 1..qq {
                        comb[l] = comb[l - 1] + 1;
                    }
                    break;
                }
            }
        }
    };
    let per_first = |f: usize| -> FResult<Part> {
        let r = per_first(f);
        if level == 0 {
            ctl.advance(1);
        }
        r
    };
    let parts: Vec<Part> = if idx.len() >= 16 {
        (0..idx.len())
            .into_par_iter()
            .map(per_first)
            .collect::<FResult<_>>()?
    } else {
        (0..idx.len()).map(per_first).collect::<FResult<_>>()?
    };
    for part in parts {
        pats.extend_from_slice(&part.pats);
        wit.extend_from_slice(&part.wit);
    }
    Ok(Part { pats, wit })
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
    let y0 = &lines[..k];
    let n0 = norm(y0);
    let c: Vec<f64> = y0.iter().map(|v| v / n0).collect();
    let part = match chart(lines, k, &c, Some(0), 0, ctl) {
        Ok(p) => p,
        Err(Fail::Degenerate) => return Ok(None),
        Err(Fail::Err(e)) => return Err(e),
    };
    let half = part.wit.len() / k;
    ctl.check()?;
    let pats = &part.pats;
    let order: Vec<u32> = if nw <= 2 {
        // plain 128-bit keys sort much faster than slice comparisons
        let mut keys: Vec<(u128, u32)> = (0..half)
            .map(|i| {
                let hi = (pats[i * nw] as u128) << 64;
                let lo = if nw == 2 { pats[i * nw + 1] as u128 } else { 0 };
                (hi | lo, i as u32)
            })
            .collect();
        keys.par_sort_unstable();
        keys.into_iter().map(|k| k.1).collect()
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
