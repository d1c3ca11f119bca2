//! Exact chamber enumeration by deletion–restriction, LP-free.
//!
//! Let A_t = {y_0, …, y_{t-1}} (distinct lines in R^k). Adding y_t splits exactly the chambers of
//! A_t that meet y_t^⊥, and those are in bijection with the chambers R of the restriction
//! A_t^{y_t} (an arrangement in dimension k-1, enumerated recursively). For a witness w of R
//! lifted to u0 ∈ y_t^⊥, the two points u± = u0 ± ε n (n = y_t/|y_t|, 0 < ε < min_{i<t}
//! |y_i·u0| / |y_i·n|) are strictly inside the two halves. By induction the candidate set
//! {u±(R, t) : t, R} (about 2P points) meets every chamber of the full arrangement at least once
//! with a strictly interior point (a chamber that is never cut again keeps its interior point,
//! and its margin to later hyperplanes is at least its margin at birth). So we generate all
//! candidates (in parallel over t), compute their sign vectors against all lines, drop the few
//! that fall on a later hyperplane, and keep one witness per sign vector — the one with the
//! largest relative margin ("recentring": margins do not shrink with depth beyond what the
//! geometry forces). Base cases: dimension 1 (two half-lines) and 2 (sort the lines by angle).
//!
//! Exactness check, free: every level verifies r(A) = 1 + Σ_t r(A_t^{y_t}) with the numbers of
//! restriction chambers it has just enumerated (themselves checked one level down; the planar
//! base case is exact). Every pattern found is realised by a point, so a lost chamber (thinner
//! than the tie tolerance) is reported as [`crate::Error::Numerical`] instead of going unnoticed.

// Index loops over small lanes / coordinates read better than iterator chains here.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::lines::{dedupe, dot, norm, restrict};
use crate::error::{Error, Result};
use crate::Control;

/// Relative margin |y·u| / (|y| |u|) under which a candidate counts as lying on a hyperplane.
pub const TIE_TOL: f64 = 1e-11;

/// Default number of lines above which a level goes parallel over its restrictions.
pub const DEFAULT_PAR_THRESHOLD: usize = 24;

/// Words of a bit-packed pattern of `m` bits.
#[inline]
pub fn words_for(m: usize) -> usize {
    m.div_ceil(64).max(1)
}

/// Set bit `i` of a pattern (MSB-first within each u64, so word order = lexicographic order).
#[inline]
pub fn set_bit(p: &mut [u64], i: usize) {
    p[i / 64] |= 1u64 << (63 - (i % 64));
}

/// Read bit `i` of a pattern.
#[inline]
pub fn get_bit(p: &[u64], i: usize) -> bool {
    (p[i / 64] >> (63 - (i % 64))) & 1 == 1
}

/// Key of a pattern of at most two words for [`radix_order`] (first word most significant).
#[inline]
pub fn key128(p: &[u64]) -> u128 {
    let hi = (p[0] as u128) << 64;
    let lo = if p.len() > 1 { p[1] as u128 } else { 0 };
    hi | lo
}

/// Below this many keys a comparison sort beats [`radix_order`] (histogram set-up).
pub const RADIX_MIN: usize = 8192;

macro_rules! radix_order_impl {
    ($name:ident, $ty:ty, $bits:expr) => {
        /// Stable sorting order of `keys` (LSD radix sort, 11-bit digits; digits on which all
        /// keys agree are skipped). Linear time: much faster than a comparison sort for the
        /// millions of packed patterns of an enumeration.
        pub fn $name(keys: &[$ty]) -> Vec<u32> {
            const BITS: usize = 11;
            const B: usize = 1 << BITS;
            const PASSES: usize = ($bits as usize).div_ceil(BITS);
            let n = keys.len();
            let digit = |k: $ty, p: usize| ((k >> (p * BITS)) as usize) & (B - 1);
            // digits that are zero in every key (e.g. the unused low word) need no pass
            let any = keys.iter().fold(0, |acc: $ty, &k| acc | k);
            let live: Vec<usize> = (0..PASSES).filter(|&p| digit(any, p) != 0).collect();
            let mut hist = vec![[0u32; B]; PASSES];
            for &k in keys {
                for &p in &live {
                    hist[p][digit(k, p)] += 1;
                }
            }
            let mut order: Vec<u32> = (0..n as u32).collect();
            let mut cur: Vec<$ty> = keys.to_vec();
            let mut tmp_o = vec![0u32; n];
            let mut tmp_k: Vec<$ty> = vec![0; n];
            for &p in &live {
                let h = &hist[p];
                if h.iter().any(|&c| c as usize == n) {
                    continue; // every key has the same digit here
                }
                let mut pos = [0u32; B];
                let mut acc = 0u32;
                for (b, &c) in h.iter().enumerate() {
                    pos[b] = acc;
                    acc += c;
                }
                for (&k, &o) in cur.iter().zip(&order) {
                    let b = digit(k, p);
                    let t = pos[b] as usize;
                    tmp_k[t] = k;
                    tmp_o[t] = o;
                    pos[b] += 1;
                }
                std::mem::swap(&mut cur, &mut tmp_k);
                std::mem::swap(&mut order, &mut tmp_o);
            }
            order
        }
    };
}

radix_order_impl!(radix_order, u128, 128);
radix_order_impl!(radix_order64, u64, 64);

/// Stable sorting order of `keys`: radix sort above [`RADIX_MIN`] keys, else a comparison sort of
/// (key, index) pairs.
fn key_order<K: Copy + Ord>(keys: &[K], radix: impl Fn(&[K]) -> Vec<u32>) -> Vec<u32> {
    if keys.len() > RADIX_MIN {
        radix(keys)
    } else {
        let mut pairs: Vec<(K, u32)> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        pairs.sort_unstable();
        pairs.into_iter().map(|p| p.1).collect()
    }
}

/// [`Cands::best_per_pattern`] over the concatenation of `parts`, without concatenating them.
pub fn best_of_parts(parts: &[Cands], ctl: &Control) -> Result<(Vec<u64>, Vec<f64>, Vec<f64>)> {
    let Some(first) = parts.first() else {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    };
    let (nw, k) = (first.nw, first.k);
    if nw > 2 {
        let mut all = Cands::new(nw, k);
        all.reserve(parts.iter().map(|p| p.len()).sum());
        for p in parts {
            all.pats.extend_from_slice(&p.pats);
            all.margins.extend_from_slice(&p.margins);
            all.points.extend_from_slice(&p.points);
        }
        return all.best_per_pattern(ctl);
    }
    let mut offs = Vec::with_capacity(parts.len() + 1);
    offs.push(0usize);
    for p in parts {
        offs.push(offs[offs.len() - 1] + p.len());
    }
    let point = |g: usize| -> &[f64] {
        let part = offs.partition_point(|&o| o <= g) - 1;
        let l = g - offs[part];
        &parts[part].points[l * k..(l + 1) * k]
    };
    let joined: Vec<f64>;
    let margins: &[f64] = if parts.len() == 1 {
        &first.margins
    } else {
        joined = parts
            .iter()
            .flat_map(|p| p.margins.iter().copied())
            .collect();
        &joined
    };
    if nw == 1 {
        let keys: Vec<u64> = parts.iter().flat_map(|p| p.pats.iter().copied()).collect();
        let push = |key: u64, out: &mut Vec<u64>| out.push(key);
        if keys.len() >= PAR_DEDUPE_MIN {
            let top = |key: u64| (key >> (64 - TOP_BITS)) as usize;
            return best_by_buckets(&keys, top, margins, point, push, ctl);
        }
        let idx = key_order(&keys, radix_order64);
        ctl.check()?;
        Ok(best_in_runs(&keys, &idx, margins, &point, &push))
    } else {
        let keys: Vec<u128> = parts
            .iter()
            .flat_map(|p| p.pats.chunks_exact(2).map(key128))
            .collect();
        let push = |key: u128, out: &mut Vec<u64>| {
            out.push((key >> 64) as u64);
            out.push(key as u64);
        };
        if keys.len() >= PAR_DEDUPE_MIN {
            let top = |key: u128| (key >> (128 - TOP_BITS)) as usize;
            return best_by_buckets(&keys, top, margins, point, push, ctl);
        }
        let idx = key_order(&keys, radix_order);
        ctl.check()?;
        Ok(best_in_runs(&keys, &idx, margins, &point, &push))
    }
}

/// Above this many candidates the deduplication runs in parallel ([`best_by_buckets`]).
const PAR_DEDUPE_MIN: usize = 1 << 16;

/// Leading pattern bits that choose the bucket of [`best_by_buckets`].
const TOP_BITS: usize = 11;

/// Parallel [`best_in_runs`]: a stable counting pass distributes the candidates into buckets by
/// their leading `TOP_BITS` pattern bits (MSD radix), the buckets are sorted by (key, index) and
/// reduced independently in parallel (in groups of consecutive buckets) and concatenated in
/// bucket order — the same output as the serial path, whatever the thread count.
fn best_by_buckets<'a, K: Copy + Ord + Send + Sync>(
    keys: &[K],
    top: impl Fn(K) -> usize + Sync,
    margins: &[f64],
    point: impl Fn(usize) -> &'a [f64] + Sync,
    push_key: impl Fn(K, &mut Vec<u64>) + Sync,
    ctl: &Control,
) -> Result<(Vec<u64>, Vec<f64>, Vec<f64>)> {
    const NB: usize = 1 << TOP_BITS;
    let mut start = vec![0usize; NB + 1];
    for &key in keys {
        start[top(key) + 1] += 1;
    }
    for b in 0..NB {
        start[b + 1] += start[b];
    }
    let mut pos = start.clone();
    let mut order = vec![0u32; keys.len()];
    for (i, &key) in keys.iter().enumerate() {
        let b = top(key);
        order[pos[b]] = i as u32;
        pos[b] += 1;
    }
    ctl.check()?;
    // groups of consecutive buckets holding about 1/64 of the candidates each
    let target = keys.len().div_ceil(64).max(1);
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut g0 = 0;
    for b in 1..=NB {
        if start[b] - start[g0] >= target || b == NB {
            if start[b] > start[g0] {
                groups.push((g0, b));
            }
            g0 = b;
        }
    }
    let outs: Vec<(Vec<u64>, Vec<f64>, Vec<f64>)> = groups
        .par_iter()
        .map(|&(b0, b1)| -> Result<(Vec<u64>, Vec<f64>, Vec<f64>)> {
            ctl.check()?;
            let mut out = (Vec::new(), Vec::new(), Vec::new());
            for b in b0..b1 {
                let slice = &order[start[b]..start[b + 1]];
                if slice.is_empty() {
                    continue;
                }
                let mut pairs: Vec<(K, u32)> =
                    slice.iter().map(|&i| (keys[i as usize], i)).collect();
                pairs.sort_unstable();
                let idx: Vec<u32> = pairs.iter().map(|p| p.1).collect();
                let (p, w, m) = best_in_runs(keys, &idx, margins, &point, &push_key);
                out.0.extend_from_slice(&p);
                out.1.extend_from_slice(&w);
                out.2.extend_from_slice(&m);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let total_p: usize = outs.iter().map(|o| o.0.len()).sum();
    let total_w: usize = outs.iter().map(|o| o.1.len()).sum();
    let total_m: usize = outs.iter().map(|o| o.2.len()).sum();
    let (mut p, mut w, mut m) = (
        Vec::with_capacity(total_p),
        Vec::with_capacity(total_w),
        Vec::with_capacity(total_m),
    );
    for o in outs {
        p.extend_from_slice(&o.0);
        w.extend_from_slice(&o.1);
        m.extend_from_slice(&o.2);
    }
    Ok((p, w, m))
}

/// Walk the runs of equal keys in sorting order `idx`; keep the largest margin of each run
/// (first on ties): (patterns, unit points, margins).
fn best_in_runs<'a, K: Copy + Eq>(
    keys: &[K],
    idx: &[u32],
    margins: &[f64],
    point: &impl Fn(usize) -> &'a [f64],
    push_key: &impl Fn(K, &mut Vec<u64>),
) -> (Vec<u64>, Vec<f64>, Vec<f64>) {
    let mut out_p = Vec::new();
    let mut out_w = Vec::new();
    let mut out_m = Vec::new();
    let mut j = 0;
    while j < idx.len() {
        let mut i = idx[j] as usize;
        let key = keys[i];
        j += 1;
        while j < idx.len() {
            let o = idx[j] as usize;
            if keys[o] != key {
                break;
            }
            if margins[o].max(0.0) > margins[i].max(0.0) {
                i = o;
            }
            j += 1;
        }
        push_key(key, &mut out_p);
        out_m.push(margins[i]);
        let u = point(i);
        let un = norm(u);
        out_w.extend(u.iter().map(|v| v / un));
    }
    (out_p, out_w, out_m)
}

/// Options of the recursion.
#[derive(Clone, Copy, Debug)]
pub struct RecOptions {
    /// Lines per level above which restrictions are enumerated in parallel.
    pub par_threshold: usize,
}

impl Default for RecOptions {
    fn default() -> Self {
        Self {
            par_threshold: DEFAULT_PAR_THRESHOLD,
        }
    }
}

/// One unit-norm witness per chamber of the arrangement of `rows` (m × k, any rows: duplicates,
/// zero rows and antiparallel rows are merged first). Deterministic (independent of threads).
pub fn chamber_witnesses(
    rows: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let (lines, _) = dedupe(rows, k);
    witnesses_of_lines(&lines, k, opts, ctl)
}

/// Same as [`chamber_witnesses`] for lines that are already distinct and nonzero.
pub fn witnesses_of_lines(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Vec<f64>> {
    // Chambers come in antipodal pairs: enumerate those with y_0·u > 0, then negate.
    let half = k >= 3 && lines.len() >= k;
    let (p, mut w) = witnesses_impl(lines, k, opts, ctl, false, half)?;
    if half && p.is_some() {
        let neg: Vec<f64> = w.iter().map(|v| -v).collect();
        w.extend_from_slice(&neg);
    }
    Ok(w)
}

/// [`witnesses_of_lines`] reporting one unit of progress per top-level restriction, also returning
/// the patterns over the lines (P × words_for(m), sorted; witnesses in the same order).
pub fn witnesses_of_lines_top(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<(Vec<u64>, Vec<f64>)> {
    let m = lines.len() / k.max(1);
    match witnesses_impl(lines, k, opts, ctl, true, k >= 3)? {
        (Some(p), w) => Ok(antipodal_complete(&p, &w, None, m, k)),
        (None, w) => {
            // base cases: few chambers, compute and sort the patterns directly
            let nw = words_for(m);
            let mut rows: Vec<(Vec<u64>, &[f64])> = w
                .chunks_exact(k)
                .map(|u| {
                    let mut p = vec![0u64; nw];
                    for i in 0..m {
                        if dot(&lines[i * k..(i + 1) * k], u) > 0.0 {
                            set_bit(&mut p, i);
                        }
                    }
                    (p, u)
                })
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let mut pats = Vec::with_capacity(rows.len() * nw);
            let mut wit = Vec::with_capacity(w.len());
            for (p, u) in rows {
                pats.extend_from_slice(&p);
                wit.extend_from_slice(u);
            }
            Ok((pats, wit))
        }
    }
}

/// Column-major copy of a level's lines with per-line constants, shared by its restrictions.
pub(super) struct Level {
    k: usize,
    m: usize,
    /// `cols[c * m + i] = y_i[c]`
    cols: Vec<f64>,
    /// TIE_TOL * |y_i|
    tie: Vec<f64>,
    /// 1 / |y_i|
    inv_norm: Vec<f64>,
}

impl Level {
    pub(super) fn new(lines: &[f64], k: usize) -> Self {
        let m = lines.len() / k;
        let mut cols = vec![0.0; k * m];
        let mut tie = vec![0.0; m];
        let mut inv_norm = vec![0.0; m];
        for i in 0..m {
            let y = &lines[i * k..(i + 1) * k];
            for c in 0..k {
                cols[c * m + i] = y[c];
            }
            let nr = norm(y);
            tie[i] = TIE_TOL * nr;
            inv_norm[i] = 1.0 / nr;
        }
        Self {
            k,
            m,
            cols,
            tie,
            inv_norm,
        }
    }

    /// `out[i]` = y_i · u for every line (one pass, dimension known at compile time).
    #[inline(always)]
    fn products_fixed<const Q: usize>(&self, u: &[f64], out: &mut [f64]) {
        let m = self.m;
        let col: [&[f64]; Q] = std::array::from_fn(|c| &self.cols[c * m..(c + 1) * m]);
        let uu: [f64; Q] = std::array::from_fn(|c| u[c]);
        for (i, o) in out[..m].iter_mut().enumerate() {
            let mut s = 0.0;
            for c in 0..Q {
                s += uu[c] * col[c][i];
            }
            *o = s;
        }
    }

    /// `out[i]` = y_i · u for every line (vectorised over i).
    #[inline]
    fn products(&self, u: &[f64], out: &mut [f64]) {
        match self.k {
            3 => return self.products_fixed::<3>(u, out),
            4 => return self.products_fixed::<4>(u, out),
            5 => return self.products_fixed::<5>(u, out),
            6 => return self.products_fixed::<6>(u, out),
            7 => return self.products_fixed::<7>(u, out),
            8 => return self.products_fixed::<8>(u, out),
            _ => {}
        }
        let m = self.m;
        out.iter_mut().for_each(|v| *v = 0.0);
        for c in 0..self.k {
            let uc = u[c];
            let col = &self.cols[c * m..(c + 1) * m];
            for (o, y) in out.iter_mut().zip(col) {
                *o += uc * y;
            }
        }
    }
}

fn witnesses_impl(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
    report: bool,
    half: bool,
) -> Result<(Option<Vec<u64>>, Vec<f64>)> {
    ctl.check()?;
    if k == 0 {
        return Ok((None, Vec::new()));
    }
    let m = lines.len() / k;
    if m == 0 {
        let mut w = vec![0.0; k];
        w[0] = 1.0;
        return Ok((None, w));
    }
    match k {
        1 => return Ok((None, vec![1.0, -1.0])),
        2 => return Ok((None, planar(lines, m))),
        _ => {}
    }
    let level = Level::new(lines, k);
    let nw = words_for(m);
    let per_t = |t: usize| -> Result<(Cands, usize)> {
        let c = candidates(lines, &level, t, nw, half, opts, ctl)?;
        if report {
            ctl.advance(1);
        }
        Ok(c)
    };
    let parts: Vec<(Cands, usize)> = if m >= opts.par_threshold {
        (0..m).into_par_iter().map(per_t).collect::<Result<_>>()?
    } else {
        (0..m).map(per_t).collect::<Result<_>>()?
    };
    ctl.check()?;
    // r(A) = 1 + Σ_t r(A_t^{y_t}): the restrictions' chambers found (checked the same way one
    // level down, exact in the planar base case) give the exact count of this level.
    let expected: usize = 1 + parts.iter().map(|p| p.1).sum::<usize>();
    let parts: Vec<Cands> = parts.into_iter().map(|p| p.0).collect();
    let (p, w, _) = best_of_parts(&parts, ctl)?;
    let found = if half { 2 * w.len() / k } else { w.len() / k };
    if found != expected {
        return Err(Error::Numerical(format!(
            "the enumeration found {found} chambers of {m} lines in R^{k} but the \
             deletion-restriction count is {expected}: the data is too close to degenerate for \
             the tie tolerance"
        )));
    }
    Ok((Some(p), w))
}

/// Candidate points with their patterns and margins (struct of arrays).
pub struct Cands {
    pub nw: usize,
    pub k: usize,
    pub pats: Vec<u64>,
    pub margins: Vec<f64>,
    pub points: Vec<f64>,
}

impl Cands {
    pub fn new(nw: usize, k: usize) -> Self {
        Self {
            nw,
            k,
            pats: Vec::new(),
            margins: Vec::new(),
            points: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.margins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.margins.is_empty()
    }

    pub fn reserve(&mut self, c: usize) {
        self.pats.reserve(c * self.nw);
        self.margins.reserve(c);
        self.points.reserve(c * self.k);
    }

    pub fn append(&mut self, mut o: Cands) {
        self.pats.append(&mut o.pats);
        self.margins.append(&mut o.margins);
        self.points.append(&mut o.points);
    }

    /// Sort by pattern; keep, for every pattern, the point of largest margin (ties: first).
    /// Returns (patterns, unit-norm points, margins), in lexicographic pattern order.
    pub fn best_per_pattern(&self, ctl: &Control) -> Result<(Vec<u64>, Vec<f64>, Vec<f64>)> {
        if self.nw <= 2 {
            return best_of_parts(std::slice::from_ref(self), ctl);
        }
        let nw = self.nw;
        let k = self.k;
        let c = self.len();
        let pats = &self.pats;
        let margins = &self.margins;
        // Patterns of at most two words: stable radix sort on the pattern alone; the best
        // margin of each run of equal patterns is picked below (ties: first index).
        let radix = nw <= 2;
        let idx: Vec<u32> = if radix && c > RADIX_MIN {
            let keys: Vec<u128> = pats.chunks_exact(nw).map(key128).collect();
            radix_order(&keys)
        } else if radix {
            // small: (key, index) pairs, the index makes the unstable sort stable
            let mut keys: Vec<(u128, u32)> = pats
                .chunks_exact(nw)
                .enumerate()
                .map(|(i, p)| (key128(p), i as u32))
                .collect();
            keys.sort_unstable();
            keys.into_iter().map(|k| k.1).collect()
        } else {
            let mut idx: Vec<u32> = (0..c as u32).collect();
            let cmp = |a: &u32, b: &u32| {
                let (a, b) = (*a as usize, *b as usize);
                pats[a * nw..(a + 1) * nw]
                    .cmp(&pats[b * nw..(b + 1) * nw])
                    .then_with(|| margins[b].total_cmp(&margins[a]))
                    .then(a.cmp(&b))
            };
            if c > 50_000 {
                idx.par_sort_unstable_by(cmp);
            } else {
                idx.sort_unstable_by(cmp);
            }
            idx
        };
        ctl.check()?;
        let mut out_p = Vec::new();
        let mut out_w = Vec::new();
        let mut out_m = Vec::new();
        let mut last: Option<usize> = None;
        let mut j = 0;
        while j < idx.len() {
            let mut i = idx[j] as usize;
            let p = &pats[i * nw..(i + 1) * nw];
            j += 1;
            if radix {
                // the run of equal patterns: keep the largest margin (first on ties)
                while j < idx.len() {
                    let o = idx[j] as usize;
                    if &pats[o * nw..(o + 1) * nw] != p {
                        break;
                    }
                    if margins[o].max(0.0) > margins[i].max(0.0) {
                        i = o;
                    }
                    j += 1;
                }
            } else if let Some(l) = last {
                if &pats[l * nw..(l + 1) * nw] == p {
                    continue;
                }
            }
            last = Some(i);
            out_p.extend_from_slice(p);
            out_m.push(margins[i]);
            let u = &self.points[i * k..(i + 1) * k];
            let un = norm(u);
            out_w.extend(u.iter().map(|v| v / un));
        }
        Ok((out_p, out_w, out_m))
    }
}

/// Candidates u±(R, t) for every chamber R of the restriction of lines 0..t to y_t^⊥ and the
/// number of those chambers. With `half`, only candidates with y_0·u > 0 (the other chambers
/// are their negatives).
#[allow(clippy::too_many_arguments)]
fn candidates(
    lines: &[f64],
    lv: &Level,
    t: usize,
    nw: usize,
    half: bool,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<(Cands, usize)> {
    ctl.check()?;
    let k = lv.k;
    let y = &lines[t * k..(t + 1) * k];
    let z = restrict(&lines[..t * k], k, y);
    let sub = if k == 3 {
        planar_rows(&z)
    } else {
        chamber_witnesses(&z, k - 1, opts, ctl)?
    };
    Ok((
        candidates_from(&sub, lines, lv, t, nw, half, ctl)?,
        sub.len() / (k - 1),
    ))
}

/// Candidates u±(R, t) for the restriction witnesses `sub` (P' × (k−1), coordinates of
/// [`restrict`] with y_t) of lines 0..t: u0 = lift(w), u± = u0 ± ε y_t/|y_t| with
/// ε = min(|u0|, ½ min_{i<t} |y_i·u0| / |y_i·n|), so both keep the signs of u0 on lines < t.
/// Candidates within the tie tolerance of a later line are dropped.
pub(super) fn candidates_from(
    sub: &[f64],
    lines: &[f64],
    lv: &Level,
    t: usize,
    nw: usize,
    half: bool,
    ctl: &Control,
) -> Result<Cands> {
    let (k, m) = (lv.k, lv.m);
    let y = &lines[t * k..(t + 1) * k];
    let yn = norm(y);
    // one scratch allocation: n (k) | b (m) | 1/|b_i|, i < t | u0 (k) | a (m)
    let mut scratch = vec![0.0; 2 * k + 2 * m + t];
    let (n, rest) = scratch.split_at_mut(k);
    let (b, rest) = rest.split_at_mut(m);
    let (inv_b, rest) = rest.split_at_mut(t);
    let (u0, a) = rest.split_at_mut(k);
    for (nv, yv) in n.iter_mut().zip(y) {
        *nv = yv / yn;
    }
    lv.products(n, b);
    // 1/|b_i| for the lines before t (infinite when b_i = 0: no constraint on ε)
    for (ib, v) in inv_b.iter_mut().zip(b.iter()) {
        *ib = if *v == 0.0 {
            f64::INFINITY
        } else {
            1.0 / v.abs()
        };
    }
    let (n, b, inv_b) = (&*n, &*b, &*inv_b);
    let nsub = sub.len() / (k - 1);
    let mut out = Cands::new(nw, k);
    out.reserve(if half { nsub } else { 2 * nsub });
    // lift w ∈ y^⊥ (coordinates of `restrict`: coordinate j = pivot(y) eliminated)
    let j = super::lines::pivot(y);
    let yj = y[j];
    let mut pats = vec![0u64; 2 * nw];
    let (pat_p, pat_m) = pats.split_at_mut(nw);
    let y0 = &lines[..k];
    let (tie, inv_norm) = (&lv.tie[..m], &lv.inv_norm[..m]);
    for (r, w) in sub.chunks_exact(k - 1).enumerate() {
        if r % 256 == 255 {
            ctl.check()?;
        }
        let mut acc = 0.0;
        let mut c = 0;
        for l in 0..k {
            if l != j {
                u0[l] = w[c];
                acc += y[l] * w[c];
                c += 1;
            }
        }
        u0[j] = -acc / yj;
        // for t >= 1, ε <= ½|a_0|/|b_0| so both candidates have the sign of a_0 on line 0
        if half && t >= 1 && dot(y0, u0) < 0.0 {
            continue;
        }
        let u0n = norm(u0);
        lv.products(u0, a);
        // ε = min(|u0|, ½ min_{i<t} |a_i| / |b_i|)  (a_i ≠ 0 for i < t)
        let mut rl = [f64::INFINITY; 4];
        let ac = a[..t].chunks_exact(4);
        let bc = inv_b.chunks_exact(4);
        let (at, bt) = (ac.remainder(), bc.remainder());
        for (a4, b4) in ac.zip(bc) {
            for l in 0..4 {
                let q = a4[l].abs() * b4[l];
                rl[l] = if q < rl[l] { q } else { rl[l] };
            }
        }
        for (ai, ib) in at.iter().zip(bt) {
            let q = ai.abs() * ib;
            rl[0] = if q < rl[0] { q } else { rl[0] };
        }
        let ratio = rl[0].min(rl[1]).min(rl[2].min(rl[3]));
        let eps = u0n.min(0.5 * ratio);
        let un = (u0n * u0n + eps * eps).sqrt();
        // One pass for both candidates u0 ± ε n: s± = a ± ε b; ties, smallest relative margin
        // (4 lanes, branchless) and the sign words.
        let mut tie_p = [false; 4];
        let mut tie_m = [false; 4];
        let mut mg_p = [f64::INFINITY; 4];
        let mut mg_m = [f64::INFINITY; 4];
        let blocks = a
            .chunks(64)
            .zip(b.chunks(64))
            .zip(tie.chunks(64))
            .zip(inv_norm.chunks(64));
        for (wi, (((a64, b64), t64), i64)) in blocks.enumerate() {
            let mut wp = 0u64;
            let mut wm = 0u64;
            let a4 = a64.chunks_exact(4);
            let b4 = b64.chunks_exact(4);
            let t4 = t64.chunks_exact(4);
            let i4 = i64.chunks_exact(4);
            let (ar, br, tr, ir) = (
                a4.remainder(),
                b4.remainder(),
                t4.remainder(),
                i4.remainder(),
            );
            for (((av, bv), tv), iv) in a4.zip(b4).zip(t4).zip(i4) {
                let mut bp = [0u64; 4];
                let mut bm = [0u64; 4];
                for l in 0..4 {
                    let eb = eps * bv[l];
                    let (sp, sm) = (av[l] + eb, av[l] - eb);
                    let (ap, am) = (sp.abs(), sm.abs());
                    let th = tv[l] * un;
                    tie_p[l] |= ap <= th;
                    tie_m[l] |= am <= th;
                    let (qp, qm) = (ap * iv[l], am * iv[l]);
                    mg_p[l] = if qp < mg_p[l] { qp } else { mg_p[l] };
                    mg_m[l] = if qm < mg_m[l] { qm } else { mg_m[l] };
                    bp[l] = (sp > 0.0) as u64;
                    bm[l] = (sm > 0.0) as u64;
                }
                wp = (wp << 4) | (bp[0] << 3) | (bp[1] << 2) | (bp[2] << 1) | bp[3];
                wm = (wm << 4) | (bm[0] << 3) | (bm[1] << 2) | (bm[2] << 1) | bm[3];
            }
            for (((av, bv), tv), iv) in ar.iter().zip(br).zip(tr).zip(ir) {
                let eb = eps * bv;
                let (sp, sm) = (av + eb, av - eb);
                let (ap, am) = (sp.abs(), sm.abs());
                let th = tv * un;
                tie_p[0] |= ap <= th;
                tie_m[0] |= am <= th;
                mg_p[0] = mg_p[0].min(ap * iv);
                mg_m[0] = mg_m[0].min(am * iv);
                wp = (wp << 1) | (sp > 0.0) as u64;
                wm = (wm << 1) | (sm > 0.0) as u64;
            }
            let shift = 64 - a64.len();
            pat_p[wi] = wp << shift;
            pat_m[wi] = wm << shift;
        }
        for (sign, ties, mg, pat) in [(1.0f64, tie_p, mg_p, &*pat_p), (-1.0, tie_m, mg_m, &*pat_m)]
        {
            if (half && t == 0 && sign < 0.0) || ties.iter().any(|v| *v) {
                continue;
            }
            let se = sign * eps;
            let margin = mg[0].min(mg[1]).min(mg[2].min(mg[3]));
            out.pats.extend_from_slice(pat);
            out.margins.push(margin / un);
            out.points.extend(u0.iter().zip(n).map(|(p, q)| p + se * q));
        }
    }
    Ok(out)
}

/// Pattern (nw words) and relative margin min_i |y_i·u| / (|y_i| |u|) of one point, or None when
/// it lies within the tie tolerance of a line.
pub(super) fn point_candidate(lv: &Level, u: &[f64], nw: usize) -> Option<(Vec<u64>, f64)> {
    let mut s = vec![0.0; lv.m];
    lv.products(u, &mut s);
    let un = norm(u);
    let mut margin = f64::INFINITY;
    for ((sv, tv), iv) in s.iter().zip(&lv.tie).zip(&lv.inv_norm) {
        let abs = sv.abs();
        if abs <= tv * un {
            return None;
        }
        margin = margin.min(abs * iv);
    }
    let mut pat = Vec::with_capacity(nw);
    for block in s.chunks(64) {
        pat.push(sign_word(block));
    }
    pat.resize(nw, 0);
    Some((pat, margin / un))
}

/// The sign bits `1[v > 0]` of at most 64 values as an MSB-first word (nibble by nibble).
#[inline]
fn sign_word(block: &[f64]) -> u64 {
    let mut word = 0u64;
    let c4 = block.chunks_exact(4);
    let rest = c4.remainder();
    for v in c4 {
        word = (word << 4)
            | ((v[0] > 0.0) as u64) << 3
            | ((v[1] > 0.0) as u64) << 2
            | ((v[2] > 0.0) as u64) << 1
            | (v[3] > 0.0) as u64;
    }
    for v in rest {
        word = (word << 1) | (*v > 0.0) as u64;
    }
    word << (64 - block.len())
}

/// Complete the chambers with y_0·u > 0 (`pats` sorted, P × nw, over m lines; witnesses P × k)
/// by their negatives: complementary patterns, which sort first (bit 0 = 0) in reverse order.
pub fn antipodal_complete(
    pats: &[u64],
    wit: &[f64],
    order: Option<&[u32]>,
    m: usize,
    k: usize,
) -> (Vec<u64>, Vec<f64>) {
    let nw = words_for(m);
    let half = wit.len() / k;
    let src = |j: usize| -> usize {
        match order {
            Some(o) => o[j] as usize,
            None => j,
        }
    };
    let mut out_p = vec![0u64; 2 * half * nw];
    let mut out_w = vec![0.0; 2 * half * k];
    let tail_mask = if m % 64 == 0 {
        u64::MAX
    } else {
        !0u64 << (64 - m % 64)
    };
    let (neg_p, pos_p) = out_p.split_at_mut(half * nw);
    let (neg_w, pos_w) = out_w.split_at_mut(half * k);
    neg_p
        .par_chunks_mut(nw)
        .zip(neg_w.par_chunks_mut(k))
        .with_min_len(1024)
        .enumerate()
        .for_each(|(j, (pp, ww))| {
            let s = src(half - 1 - j);
            for wi in 0..nw {
                let mask = if wi == nw - 1 { tail_mask } else { u64::MAX };
                pp[wi] = !pats[s * nw + wi] & mask;
            }
            let u = &wit[s * k..(s + 1) * k];
            let un = norm(u);
            for (o, v) in ww.iter_mut().zip(u) {
                *o = -v / un;
            }
        });
    pos_p
        .par_chunks_mut(nw)
        .zip(pos_w.par_chunks_mut(k))
        .with_min_len(1024)
        .enumerate()
        .for_each(|(j, (pp, ww))| {
            let s = src(j);
            pp.copy_from_slice(&pats[s * nw..(s + 1) * nw]);
            let u = &wit[s * k..(s + 1) * k];
            let un = norm(u);
            for (o, v) in ww.iter_mut().zip(u) {
                *o = v / un;
            }
        });
    (out_p, out_w)
}

/// Chambers of m distinct lines in R^2: 2m sectors, witnesses on the bisectors.
pub(super) fn planar(lines: &[f64], m: usize) -> Vec<f64> {
    let pi = std::f64::consts::PI;
    let mut th: Vec<f64> = (0..m)
        .map(|i| {
            let (a, b) = (lines[2 * i], lines[2 * i + 1]);
            // direction of the line {u : a u0 + b u1 = 0} is (-b, a)
            let mut t = a.atan2(-b);
            if t < 0.0 {
                t += pi;
            }
            if t >= pi {
                t -= pi;
            }
            t
        })
        .collect();
    th.sort_by(f64::total_cmp);
    let mut out = Vec::with_capacity(4 * m);
    for j in 0..m {
        let next = if j + 1 < m { th[j + 1] } else { th[0] + pi };
        let mid = 0.5 * (th[j] + next);
        let (s, c) = mid.sin_cos();
        out.extend_from_slice(&[c, s, -c, -s]);
    }
    out
}

/// Number of chambers of the arrangement of `rows` (m × k): 1 + Σ_t #chambers(A_t^{y_t}).
pub fn count_chambers(rows: &[f64], k: usize, opts: &RecOptions, ctl: &Control) -> Result<u128> {
    let (lines, _) = dedupe(rows, k);
    count_lines(&lines, k, opts, ctl)
}

pub(super) fn count_lines(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<u128> {
    ctl.check()?;
    if k == 0 {
        return Ok(1);
    }
    let m = lines.len() / k;
    if m == 0 {
        return Ok(1);
    }
    match k {
        1 => return Ok(2),
        2 => return Ok(2 * m as u128),
        _ => {}
    }
    let per_t = |t: usize| -> Result<u128> {
        let y = &lines[t * k..(t + 1) * k];
        let z = restrict(&lines[..t * k], k, y);
        if k == 3 {
            // the restriction lives in R^2: 2 × (number of distinct lines), 1 if none
            let l = distinct_planar(&z);
            let c = if l == 0 { 1 } else { 2 * l as u128 };
            // leaves sum to at most the count: a budget on them bounds the count and the work
            if let Some(b) = ctl.spend(c as u64) {
                return Err(crate::error::Error::too_large(
                    "chamber_count",
                    format!("more than {b} chambers (counting stopped there)"),
                    format!("max_chambers={b}"),
                    "Raise max_chambers (counting visits about every chamber once).",
                ));
            }
            return Ok(c);
        }
        count_chambers(&z, k - 1, opts, ctl)
    };
    let total: u128 = if m >= opts.par_threshold {
        (0..m)
            .into_par_iter()
            .map(per_t)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .sum()
    } else {
        let mut s = 0u128;
        for t in 0..m {
            s += per_t(t)?;
        }
        s
    };
    Ok(total + 1)
}

/// Chamber witnesses of arbitrary rows of R^2 (zero and parallel rows merged by the rule of
/// [`distinct_planar`], without the general `dedupe`).
pub(super) fn planar_rows(z: &[f64]) -> Vec<f64> {
    let mut keys: Vec<(u8, f64, u32)> = z
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, v)| v[0] != 0.0 || v[1] != 0.0)
        .map(|(i, v)| {
            let p = super::lines::pivot(v);
            (p as u8, v[1 - p] / v[p] + 0.0, i as u32)
        })
        .collect();
    if keys.is_empty() {
        return vec![1.0, 0.0];
    }
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut reps: Vec<f64> = Vec::with_capacity(2 * keys.len());
    for (i, key) in keys.iter().enumerate() {
        let same = i > 0
            && keys[i - 1].0 == key.0
            && (keys[i - 1].1 - key.1).abs() <= super::lines::PARALLEL_TOL;
        if !same {
            let r = key.2 as usize;
            reps.extend_from_slice(&z[2 * r..2 * r + 2]);
        }
    }
    planar(&reps, reps.len() / 2)
}

/// Number of distinct lines among vectors of R^2 (same merging rule as `lines::dedupe`: keys
/// `v / v[pivot]`, near-equal keys within `PARALLEL_TOL` merged; zero vectors ignored).
fn distinct_planar(z: &[f64]) -> usize {
    let mut keys: Vec<(u8, f64)> = z
        .chunks_exact(2)
        .filter(|v| v[0] != 0.0 || v[1] != 0.0)
        .map(|v| {
            let p = super::lines::pivot(v);
            (p as u8, v[1 - p] / v[p] + 0.0)
        })
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut count = 0;
    for (i, key) in keys.iter().enumerate() {
        let same = i > 0
            && keys[i - 1].0 == key.0
            && (keys[i - 1].1 - key.1).abs() <= super::lines::PARALLEL_TOL;
        if !same {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_of(rows: &[f64], k: usize) -> usize {
        let ctl = Control::new();
        let w = chamber_witnesses(rows, k, &RecOptions::default(), &ctl).unwrap();
        let c = count_chambers(rows, k, &RecOptions::default(), &ctl).unwrap();
        assert_eq!(w.len() / k, c as usize);
        c as usize
    }

    /// The parallel bucketed deduplication equals the serial radix path (and a naive reference):
    /// same patterns in sorted order, the largest margin of each pattern, first index on ties.
    #[test]
    fn bucketed_dedupe_equals_serial() {
        let ctl = Control::new();
        let mut lcg = crate::rng::Lcg(7);
        let mut next = || lcg.next_u64() >> 11;
        for nw in [1usize, 2] {
            let c = 3 * PAR_DEDUPE_MIN / 2;
            let mut parts = Vec::new();
            for _ in 0..5 {
                let mut p = Cands::new(nw, 2);
                for _ in 0..c / 5 {
                    // few distinct patterns spread over all leading bits, many repeats
                    let v = next() % 20_000;
                    let word = v.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !0xFF;
                    p.pats.push(word);
                    if nw == 2 {
                        p.pats.push(v & 3);
                    }
                    p.margins.push((next() % 7) as f64);
                    p.points
                        .extend_from_slice(&[1.0 + (next() % 100) as f64, 1.0]);
                }
                parts.push(p);
            }
            let par = best_of_parts(&parts, &ctl).unwrap();
            // serial reference: concatenate, sort (pattern, -margin, index)
            let mut all: Vec<(Vec<u64>, f64, usize, [f64; 2])> = Vec::new();
            for p in &parts {
                for i in 0..p.len() {
                    let g = all.len();
                    let u = [p.points[2 * i], p.points[2 * i + 1]];
                    all.push((p.pats[i * nw..(i + 1) * nw].to_vec(), p.margins[i], g, u));
                }
            }
            all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
            all.dedup_by(|a, b| a.0 == b.0);
            let want_p: Vec<u64> = all.iter().flat_map(|a| a.0.clone()).collect();
            let want_m: Vec<f64> = all.iter().map(|a| a.1).collect();
            let want_w: Vec<f64> = all
                .iter()
                .flat_map(|a| {
                    let n = norm(&a.3);
                    [a.3[0] / n, a.3[1] / n]
                })
                .collect();
            assert_eq!(par.0, want_p);
            assert_eq!(par.2, want_m);
            assert_eq!(par.1, want_w);
        }
    }

    #[test]
    fn coordinate_and_small_cases() {
        let eye3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(count_of(&eye3, 3), 8);
        // resonance R^3: all nonzero 0/1 vectors -> 32
        let mut res = Vec::new();
        for mask in 1..8u32 {
            for j in 0..3 {
                res.push(((mask >> j) & 1) as f64);
            }
        }
        assert_eq!(count_of(&res, 3), 32);
    }
}
