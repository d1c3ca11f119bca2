//! Chambers inside a *prefix cone*: the building block of bounded-memory streaming on arbitrary
//! (degenerate) central arrangements.
//!
//! For distinct lines y_0, …, y_{m−1} of R^k and signs σ ∈ {0,1}^j (j ≤ m) the prefix cone is
//! C(σ) = {u : 1[y_i·u > 0] = σ_i, i < j}, an open polyhedral cone (possibly empty). The
//! chambers of the arrangement whose pattern starts with σ are exactly the chambers inside
//! C(σ), so the cones of all σ of one length partition the chambers, and splitting C(σ) into
//! C(σ0), C(σ1) refines the partition in lexicographic order.
//!
//! - **Feasibility, LP-free** ([`cone_point`], [`extend_point`]): Seidel's incremental scheme.
//!   Given p ∈ C(σ), either p is already on side b of y_j, or C(σb) ≠ ∅ iff C(σ) ∩ y_j^⊥ ≠ ∅,
//!   a cone of the same kind one dimension lower (the restriction of the constraint lines to
//!   y_j^⊥; two constraints on one restricted line that disagree make it empty). A point q of it
//!   gives q ± ε y_j/|y_j| ∈ C(σb) for ε < min_{i<j} |y_i·q| / |y_i·n|.
//! - **Counting** ([`count_in_cone`]): adding the unconstrained lines y_t (t ≥ j) one at a time to
//!   the single region C(σ) splits exactly the regions that meet y_t^⊥, which are the chambers
//!   of the restriction A_t^{y_t} inside C(σ) ∩ y_t^⊥ (again a prefix cone, since restriction
//!   and deduplication keep the constrained lines first), so
//!   r_σ(A) = 1 + Σ_{t ≥ j} r_{σ'}(A_t^{y_t}) for nonempty C(σ).
//! - **Enumeration** ([`chambers_in_cone`]): the same recursion with deletion–restriction
//!   candidates: a point of C(σ) plus u0 ± ε n for every chamber of the restricted cone
//!   (ε as in [`mod@super::enumerate`]), which stay in C(σ) and meet every chamber inside it; one
//!   witness per pattern (largest relative margin) is kept. Every candidate lies in C(σ) and each
//!   restricted chamber gives two distinct chambers of an intermediate arrangement inside
//!   C(σ), so at most 2 r_σ(A) candidates are held at the top level and no sub-enumeration is
//!   larger than r_σ(A): memory is bounded by the size of the part, not of the arrangement.

// Index loops over small lanes / coordinates read better than iterator chains here.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::enumerate::{
    candidates_from, count_lines, get_bit, planar, planar_rows, point_candidate,
    witnesses_of_lines, witnesses_of_lines_top, words_for, Cands, Level, RecOptions, TIE_TOL,
};
use super::lines::{dedupe, dot, lift, norm, restrict};
use crate::error::Result;
use crate::Control;

/// The restriction of lines 0..t (of `lines`, distinct, m × k, k ≥ 2) to y_t^⊥ (distinct lines in
/// the coordinates of [`restrict`]) with the constraints `sig` (on lines 0..sig.len() ≤ t) carried
/// over, which constrain a prefix of the restricted lines. None when the restricted cone is
/// empty for a combinatorial reason: two constraints on one restricted line disagree, or a
/// constrained line vanishes on y_t^⊥.
pub fn restrict_cone(
    lines: &[f64],
    k: usize,
    t: usize,
    sig: &[bool],
) -> Option<(Vec<f64>, Vec<bool>)> {
    debug_assert!(k >= 2 && sig.len() <= t);
    let y = &lines[t * k..(t + 1) * k];
    let z = restrict(&lines[..t * k], k, y);
    let (zl, map) = dedupe(&z, k - 1);
    let nl = zl.len() / (k - 1);
    let mut want: Vec<Option<bool>> = vec![None; nl];
    for (i, &si) in sig.iter().enumerate() {
        let (l, flip) = map[i]?;
        let w = si != flip;
        match want[l as usize] {
            None => want[l as usize] = Some(w),
            Some(o) if o != w => return None,
            _ => {}
        }
    }
    // Lines are ordered by first occurrence, so the constrained ones come first.
    let jp = want.iter().take_while(|w| w.is_some()).count();
    debug_assert!(want[jp..].iter().all(|w| w.is_none()));
    let s2 = want[..jp].iter().map(|w| w.unwrap_or(false)).collect();
    Some((zl, s2))
}

/// The step ε = min(|u0|, ½ min_{i<t} |y_i·u0| / |y_i·n|) of a point u0 ∈ y_t^⊥, n = y_t/|y_t|:
/// u0 ± ε n keep the signs of u0 on lines 0..t.
fn step(lines: &[f64], k: usize, t: usize, u0: &[f64], n: &[f64]) -> f64 {
    let mut ratio = f64::INFINITY;
    for i in 0..t {
        let y = &lines[i * k..(i + 1) * k];
        let b = dot(y, n).abs();
        if b > 0.0 {
            ratio = ratio.min(dot(y, u0).abs() / b);
        }
    }
    norm(u0).min(0.5 * ratio)
}

/// Whether `u` is strictly (beyond the tie tolerance) on side `b` of the line `y`.
fn on_side(y: &[f64], u: &[f64], b: bool) -> bool {
    let s = dot(y, u);
    (s > 0.0) == b && s.abs() > TIE_TOL * norm(y) * norm(u)
}

/// A point of C(σ b) from a point `p` of C(σ) (σ = `sig`, the next line is y_{sig.len()}), or
/// None when C(σ b) is empty.
pub fn extend_point(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    p: &[f64],
    b: bool,
    ctl: &Control,
) -> Result<Option<Vec<f64>>> {
    let j = sig.len();
    let y = &lines[j * k..(j + 1) * k];
    if on_side(y, p, b) {
        return Ok(Some(p.to_vec()));
    }
    if k == 1 {
        // one line in R^1 (j = 0): a half-line
        return Ok((j == 0).then(|| vec![if (y[0] > 0.0) == b { 1.0 } else { -1.0 }]));
    }
    let Some((zl, s2)) = restrict_cone(lines, k, j, sig) else {
        return Ok(None);
    };
    let Some(q) = cone_point(&zl, k - 1, &s2, ctl)? else {
        return Ok(None);
    };
    let mut u0 = vec![0.0; k];
    lift(&q, y, &mut u0);
    let yn = norm(y);
    let n: Vec<f64> = y.iter().map(|v| v / yn).collect();
    let eps = step(lines, k, j, &u0, &n);
    let se = if b { eps } else { -eps };
    Ok(Some(u0.iter().zip(&n).map(|(a, c)| a + se * c).collect()))
}

/// A point strictly inside C(σ) (σ = `sig` on the first lines of `lines`, distinct, m × k), or
/// None when the cone is empty.
pub fn cone_point(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    ctl: &Control,
) -> Result<Option<Vec<f64>>> {
    ctl.check()?;
    let mut p = vec![0.0; k];
    if k == 0 {
        return Ok(sig.is_empty().then_some(p));
    }
    p[0] = 1.0;
    for i in 0..sig.len() {
        match extend_point(lines, k, &sig[..i], &p, sig[i], ctl)? {
            Some(q) => p = q,
            None => return Ok(None),
        }
    }
    Ok(Some(p))
}

/// Chamber witnesses of distinct lines in R^2 inside C(σ) (bisectors of the sectors).
fn planar_in_cone(lines: &[f64], sig: &[bool]) -> Vec<f64> {
    let m = lines.len() / 2;
    let all = if m == 0 {
        vec![1.0, 0.0, -1.0, 0.0]
    } else {
        planar(lines, m)
    };
    let mut out = Vec::with_capacity(all.len());
    for w in all.chunks_exact(2) {
        let inside = sig
            .iter()
            .enumerate()
            .all(|(i, &s)| (dot(&lines[2 * i..2 * i + 2], w) > 0.0) == s);
        if inside {
            out.extend_from_slice(w);
        }
    }
    out
}

/// Chamber witnesses inside C(σ) ∩ y_t^⊥ for k = 3 (a planar restriction): the sectors of the
/// restricted rows (merged without the general `dedupe`) whose bisector has the signs σ on the
/// restricted constraint rows (rows 0..σ.len() of the restriction).
fn planar_restriction_in_cone(lines: &[f64], t: usize, sig: &[bool]) -> Vec<f64> {
    let y = &lines[t * 3..(t + 1) * 3];
    let z = restrict(&lines[..t * 3], 3, y);
    let j = sig.len();
    if z[..2 * j]
        .chunks_exact(2)
        .any(|v| v[0] == 0.0 && v[1] == 0.0)
    {
        return Vec::new(); // a constrained line vanishes on y_t^⊥
    }
    let all = planar_rows(&z);
    let mut out = Vec::with_capacity(all.len());
    for w in all.chunks_exact(2) {
        if (0..j).all(|i| (dot(&z[2 * i..2 * i + 2], w) > 0.0) == sig[i]) {
            out.extend_from_slice(w);
        }
    }
    out
}

/// Number of chambers inside the cone C(σ) of distinct lines (m × k); 0 when it is empty.
///
/// Emptiness is only tested (by [`cone_point`]) for cones that no unconstrained line cuts: a
/// cone cut by a line is nonempty, and an empty cone has no cut restricted cone either.
pub fn count_in_cone(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    opts: &RecOptions,
    ctl: &Control,
) -> Result<u128> {
    ctl.check()?;
    if sig.is_empty() {
        return count_lines(lines, k, opts, ctl);
    }
    match k {
        1 => return Ok(1),
        2 => return Ok(planar_in_cone(lines, sig).len() as u128 / 2),
        _ => {}
    }
    let (m, j) = (lines.len() / k, sig.len());
    let per_t = |t: usize| -> Result<u128> {
        if k == 3 {
            return Ok(planar_restriction_in_cone(lines, t, sig).len() as u128 / 2);
        }
        let Some((zl, s2)) = restrict_cone(lines, k, t, sig) else {
            return Ok(0);
        };
        count_in_cone(&zl, k - 1, &s2, opts, ctl)
    };
    let parts: Vec<u128> = if m - j >= opts.par_threshold {
        (j..m).into_par_iter().map(per_t).collect::<Result<_>>()?
    } else {
        (j..m).map(per_t).collect::<Result<_>>()?
    };
    let cut: u128 = parts.iter().sum();
    // A cut cone is nonempty; an uncut one is a single chamber or empty.
    if cut > 0 {
        Ok(1 + cut)
    } else {
        Ok(u128::from(cone_point(lines, k, sig, ctl)?.is_some()))
    }
}

/// Witnesses (any order, restriction coordinates) of the chambers inside the cone C(σ) (none
/// when it is empty).
fn cone_witnesses(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Vec<f64>> {
    ctl.check()?;
    if sig.is_empty() {
        return witnesses_of_lines(lines, k, opts, ctl);
    }
    match k {
        1 => {
            return Ok(vec![if (lines[0] > 0.0) == sig[0] {
                1.0
            } else {
                -1.0
            }])
        }
        2 => return Ok(planar_in_cone(lines, sig)),
        _ => {}
    }
    let (_, w, _) = cone_cands(lines, k, sig, None, opts, ctl)?.best_per_pattern(ctl)?;
    Ok(w)
}

/// Deletion–restriction candidates of the chambers inside C(σ) (k ≥ 3, σ nonempty), only those
/// whose pattern starts with σ. `p`, a point of C(σ) if known, is only needed (else computed)
/// when no line cuts the cone: otherwise every chamber inside descends from a split and is met
/// by a restriction candidate.
fn cone_cands(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    p: Option<&[f64]>,
    opts: &RecOptions,
    ctl: &Control,
) -> Result<Cands> {
    let (m, j) = (lines.len() / k, sig.len());
    let nw = words_for(m);
    let lv = Level::new(lines, k);
    let per_t = |t: usize| -> Result<Cands> {
        ctl.check()?;
        let empty = Cands::new(nw, k);
        let sub = if k == 3 {
            planar_restriction_in_cone(lines, t, sig)
        } else {
            let Some((zl, s2)) = restrict_cone(lines, k, t, sig) else {
                return Ok(empty);
            };
            cone_witnesses(&zl, k - 1, &s2, opts, ctl)?
        };
        if sub.is_empty() {
            return Ok(empty);
        }
        candidates_from(&sub, lines, &lv, t, nw, false, ctl)
    };
    let parts: Vec<Cands> = if m - j >= opts.par_threshold {
        (j..m).into_par_iter().map(per_t).collect::<Result<_>>()?
    } else {
        (j..m).map(per_t).collect::<Result<_>>()?
    };
    let mut all = Cands::new(nw, k);
    all.reserve(1 + parts.iter().map(|c| c.len()).sum::<usize>());
    if parts.iter().all(|c| c.is_empty()) {
        // no line cuts C(σ): it is one chamber (or empty)
        let own;
        let p = match p {
            Some(p) => Some(p),
            None => {
                own = cone_point(lines, k, sig, ctl)?;
                own.as_deref()
            }
        };
        if let Some(p) = p {
            if let Some((pat, margin)) = point_candidate(&lv, p, nw) {
                all.pats.extend_from_slice(&pat);
                all.margins.push(margin);
                all.points.extend_from_slice(p);
            }
        }
    }
    for c in parts {
        all.append(c);
    }
    // Safety net: every candidate is in C(σ) by construction; drop any that rounding moved out.
    let inside = |c: usize| (0..j).all(|i| get_bit(&all.pats[c * nw..(c + 1) * nw], i) == sig[i]);
    if (0..all.len()).all(inside) {
        return Ok(all);
    }
    let mut kept = Cands::new(nw, k);
    for c in (0..all.len()).filter(|&c| inside(c)) {
        kept.pats.extend_from_slice(&all.pats[c * nw..(c + 1) * nw]);
        kept.margins.push(all.margins[c]);
        kept.points
            .extend_from_slice(&all.points[c * k..(c + 1) * k]);
    }
    Ok(kept)
}

/// The chambers inside the nonempty cone C(σ) of distinct lines (m × k), `p` a point of it:
/// (patterns over the m lines, P × words_for(m), sorted; unit witnesses, P × k) and the number of
/// candidates held at the top level.
pub fn chambers_in_cone(
    lines: &[f64],
    k: usize,
    sig: &[bool],
    p: &[f64],
    opts: &RecOptions,
    ctl: &Control,
) -> Result<(Vec<u64>, Vec<f64>, usize)> {
    ctl.check()?;
    let m = lines.len() / k.max(1);
    let nw = words_for(m);
    if sig.is_empty() {
        let (pats, w) = witnesses_of_lines_top(lines, k, opts, ctl)?;
        let c = w.len() / k.max(1);
        return Ok((pats, w, c));
    }
    if k >= 3 {
        let cands = cone_cands(lines, k, sig, Some(p), opts, ctl)?;
        let held = cands.len();
        let (pats, w, _) = cands.best_per_pattern(ctl)?;
        return Ok((pats, w, held));
    }
    // k ≤ 2: few chambers; patterns directly, sorted.
    let w = cone_witnesses(lines, k, sig, opts, ctl)?;
    let mut rows: Vec<(Vec<u64>, Vec<f64>)> = w
        .chunks_exact(k)
        .map(|u| {
            let mut pat = vec![0u64; nw];
            for i in 0..m {
                if dot(&lines[i * k..(i + 1) * k], u) > 0.0 {
                    pat[i / 64] |= 1u64 << (63 - (i % 64));
                }
            }
            let un = norm(u);
            (pat, u.iter().map(|v| v / un).collect())
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let held = rows.len();
    let mut pats = Vec::with_capacity(held * nw);
    let mut wit = Vec::with_capacity(held * k);
    for (pp, u) in rows {
        pats.extend_from_slice(&pp);
        wit.extend_from_slice(&u);
    }
    Ok((pats, wit, held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn resonance(d: usize) -> Vec<f64> {
        let mut v = Vec::new();
        for mask in 1..(1u32 << d) {
            for j in 0..d {
                v.push(((mask >> j) & 1) as f64);
            }
        }
        v
    }

    /// Partition by every sign prefix of length `depth`: the parts are disjoint, their union is
    /// the full enumeration, each part's count matches, every witness realises its pattern.
    fn check_partition(rows: &[f64], k: usize, depth: usize) {
        let ctl = Control::new();
        let opts = RecOptions::default();
        let (lines, _) = dedupe(rows, k);
        let m = lines.len() / k;
        let nw = words_for(m);
        let (all_p, _) = witnesses_of_lines_top(&lines, k, &opts, &ctl).unwrap();
        let full: BTreeSet<Vec<u64>> = all_p.chunks(nw).map(|c| c.to_vec()).collect();
        let depth = depth.min(m);
        let mut got = BTreeSet::new();
        let mut total = 0usize;
        for code in 0..(1u32 << depth) {
            let sig: Vec<bool> = (0..depth)
                .map(|i| (code >> (depth - 1 - i)) & 1 == 1)
                .collect();
            let Some(p) = cone_point(&lines, k, &sig, &ctl).unwrap() else {
                // empty cone: no chamber has this prefix
                assert!(!full
                    .iter()
                    .any(|f| (0..depth).all(|i| get_bit(f, i) == sig[i])));
                continue;
            };
            for i in 0..depth {
                assert_eq!(dot(&lines[i * k..(i + 1) * k], &p) > 0.0, sig[i]);
            }
            let c = count_in_cone(&lines, k, &sig, &opts, &ctl).unwrap();
            let (pats, w, held) = chambers_in_cone(&lines, k, &sig, &p, &opts, &ctl).unwrap();
            assert_eq!(pats.len() / nw, c as usize, "count of part {sig:?}");
            assert!(held <= 2 * c as usize + 1);
            for (pp, u) in pats.chunks(nw).zip(w.chunks(k)) {
                for i in 0..m {
                    let s = dot(&lines[i * k..(i + 1) * k], u);
                    assert!(s.abs() > 1e-12 * norm(&lines[i * k..(i + 1) * k]));
                    assert_eq!(s > 0.0, get_bit(pp, i));
                }
                assert!(got.insert(pp.to_vec()), "chamber in two parts");
            }
            total += c as usize;
        }
        assert_eq!(total, full.len());
        assert_eq!(got, full);
    }

    #[test]
    fn partitions_of_degenerate_arrangements() {
        for depth in [1, 3, 6] {
            check_partition(&resonance(3), 3, depth);
            check_partition(&resonance(4), 4, depth);
        }
        check_partition(&resonance(5), 5, 4);
        // braid arrangement e_i - e_j in R^4 (rank 3 in R^4; here in coordinates of R^4)
        let mut braid = Vec::new();
        for i in 0..4 {
            for j in i + 1..4 {
                let mut v = vec![0.0; 4];
                v[i] = 1.0;
                v[j] = -1.0;
                braid.extend(v);
            }
        }
        // rank 3: project onto the first three coordinates of (e_i - e_4)-basis is not needed:
        // drop the last coordinate (x_4 = -(x_1 + x_2 + x_3) on the sum-zero subspace).
        let b3: Vec<f64> = braid
            .chunks(4)
            .flat_map(|v| vec![v[0] - v[3], v[1] - v[3], v[2] - v[3]])
            .collect();
        check_partition(&b3, 3, 4);
        // random small integer data (many coincidences)
        let mut lcg = crate::rng::Lcg(12345);
        let mut next = || ((lcg.next_u64() >> 33) % 5) as f64 - 2.0;
        for k in [3, 4, 5] {
            let rows: Vec<f64> = (0..14 * k).map(|_| next()).collect();
            check_partition(&rows, k, 5);
        }
    }
}
