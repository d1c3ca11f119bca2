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

use rayon::prelude::*;

use super::lines::{dedupe, dot, lift, norm, restrict};
use crate::error::Result;
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
    witnesses_impl(lines, k, opts, ctl, false)
}

/// [`witnesses_of_lines`] reporting one unit of progress per top-level restriction.
pub fn witnesses_of_lines_top(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Vec<f64>> {
    witnesses_impl(lines, k, opts, ctl, true)
}

fn witnesses_impl(
    lines: &[f64],
    k: usize,
    opts: &RecOptions,
    ctl: &Control,
    report: bool,
) -> Result<Vec<f64>> {
    ctl.check()?;
    if k == 0 {
        return Ok(Vec::new());
    }
    let m = lines.len() / k;
    if m == 0 {
        let mut w = vec![0.0; k];
        w[0] = 1.0;
        return Ok(w);
    }
    match k {
        1 => return Ok(vec![1.0, -1.0]),
        2 => return Ok(planar(lines, m)),
        _ => {}
    }
    let norms: Vec<f64> = (0..m).map(|i| norm(&lines[i * k..(i + 1) * k])).collect();
    let nw = words_for(m);
    let per_t = |t: usize| -> Result<Cands> {
        let c = candidates(lines, k, m, t, &norms, nw, opts, ctl)?;
        if report {
            ctl.advance(1);
        }
        Ok(c)
    };
    let parts: Vec<Cands> = if m >= opts.par_threshold {
        (0..m).into_par_iter().map(per_t).collect::<Result<_>>()?
    } else {
        (0..m).map(per_t).collect::<Result<_>>()?
    };
    ctl.check()?;
    let mut all = Cands::new(nw, k);
    for p in parts {
        all.append(p);
    }
    Ok(all.best_per_pattern(ctl)?.1)
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

    pub fn append(&mut self, mut o: Cands) {
        self.pats.append(&mut o.pats);
        self.margins.append(&mut o.margins);
        self.points.append(&mut o.points);
    }

    /// Sort by pattern; keep, for every pattern, the point of largest margin (ties: first).
    /// Returns (patterns, unit-norm points, margins), in lexicographic pattern order.
    pub fn best_per_pattern(&self, ctl: &Control) -> Result<(Vec<u64>, Vec<f64>, Vec<f64>)> {
        let nw = self.nw;
        let k = self.k;
        let c = self.len();
        let mut idx: Vec<u32> = (0..c as u32).collect();
        let pats = &self.pats;
        let margins = &self.margins;
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
        ctl.check()?;
        let mut out_p = Vec::new();
        let mut out_w = Vec::new();
        let mut out_m = Vec::new();
        let mut last: Option<usize> = None;
        for &i in &idx {
            let i = i as usize;
            let p = &pats[i * nw..(i + 1) * nw];
            if let Some(l) = last {
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

/// Candidates u±(R, t) for every chamber R of the restriction of lines 0..t to y_t^⊥.
#[allow(clippy::too_many_arguments)]
fn candidates(
    lines: &[f64],
    k: usize,
    m: usize,
    t: usize,
    norms: &[f64],
    nw: usize,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Cands> {
    ctl.check()?;
    let y = &lines[t * k..(t + 1) * k];
    let z = restrict(&lines[..t * k], k, y);
    let sub = chamber_witnesses(&z, k - 1, opts, ctl)?;
    let yn = norms[t];
    let n: Vec<f64> = y.iter().map(|v| v / yn).collect();
    let b: Vec<f64> = (0..m)
        .map(|i| dot(&lines[i * k..(i + 1) * k], &n))
        .collect();
    let nsub = sub.len() / (k - 1);
    let mut out = Cands::new(nw, k);
    out.pats.reserve(2 * nsub * nw);
    out.margins.reserve(2 * nsub);
    out.points.reserve(2 * nsub * k);
    let mut u0 = vec![0.0; k];
    let mut a = vec![0.0; m];
    for (r, w) in sub.chunks_exact(k - 1).enumerate() {
        if r % 256 == 255 {
            ctl.check()?;
        }
        lift(w, y, &mut u0);
        let u0n = norm(&u0);
        let mut eps = u0n;
        for i in 0..m {
            a[i] = dot(&lines[i * k..(i + 1) * k], &u0);
            if i < t && b[i] != 0.0 {
                eps = eps.min(0.5 * a[i].abs() / b[i].abs());
            }
        }
        let un = (u0n * u0n + eps * eps).sqrt();
        for sign in [1.0f64, -1.0] {
            let mut pat = vec![0u64; nw];
            let mut margin = f64::INFINITY;
            let mut tie = false;
            for i in 0..m {
                let s = a[i] + sign * eps * b[i];
                let rel = s.abs() / (norms[i] * un);
                if rel <= TIE_TOL {
                    tie = true;
                    break;
                }
                margin = margin.min(rel);
                if s > 0.0 {
                    set_bit(&mut pat, i);
                }
            }
            if tie {
                continue;
            }
            out.pats.extend_from_slice(&pat);
            out.margins.push(margin);
            out.points
                .extend(u0.iter().zip(&n).map(|(p, q)| p + sign * eps * q));
        }
    }
    Ok(out)
}

/// Chambers of m distinct lines in R^2: 2m sectors, witnesses on the bisectors.
fn planar(lines: &[f64], m: usize) -> Vec<f64> {
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

fn count_lines(lines: &[f64], k: usize, opts: &RecOptions, ctl: &Control) -> Result<u128> {
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
