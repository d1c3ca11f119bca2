//! Lines of an arrangement: exact-when-possible normalisation, deduplication, restriction, lift.
//!
//! A hyperplane {u : y·u = 0} is stored as an oriented normal `y` ("line" of the arrangement).
//! Normalisation keeps integer data integer (divide by the gcd) so that structured arrangements
//! (braid, resonance, threshold) are restricted in exact arithmetic; other data is scaled by a
//! power of two (also exact). Restriction to `y_t^⊥` eliminates the largest coordinate of `y_t`
//! fraction-free, so integer data stays integer.

use std::cmp::Ordering;

use crate::control::Control;
use crate::error::Result;

/// Relative tolerance under which two normalised directions count as the same line.
pub const PARALLEL_TOL: f64 = 1e-10;

/// Largest magnitude below which integer data is normalised by its gcd (exactly representable).
const INT_LIMIT: f64 = 4.5e15;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// Scale `v` in place by an exact factor: the gcd for integer vectors, a power of two otherwise.
/// Returns false when `v` is exactly zero.
pub fn normalize(v: &mut [f64]) -> bool {
    let amax = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if amax == 0.0 {
        return false;
    }
    if amax < INT_LIMIT && v.iter().all(|x| x.fract() == 0.0) {
        let g = v
            .iter()
            .filter(|x| **x != 0.0)
            .fold(0u64, |g, x| gcd(g, x.abs() as u64));
        if g > 1 {
            let gf = g as f64;
            for x in v.iter_mut() {
                *x /= gf; // exact: g divides every entry
            }
        }
        return true;
    }
    // Power-of-two scaling so that the largest entry lies in [1, 2): exact.
    let e = amax.log2().floor() as i32;
    let s = 2f64.powi(-e);
    if s.is_finite() && s != 0.0 {
        for x in v.iter_mut() {
            *x *= s;
        }
    }
    true
}

/// Index of the entry of largest magnitude (first one within a relative 1e-9 of the maximum).
pub fn pivot(v: &[f64]) -> usize {
    let amax = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let thr = amax * (1.0 - 1e-9);
    v.iter().position(|x| x.abs() >= thr).unwrap_or(0)
}

/// (distinct lines L × k, per input row its (line, flipped) or None) of [`dedupe`].
pub type Deduped = (Vec<f64>, Vec<Option<(u32, bool)>>);

/// Distinct lines of the rows of `rows` (m × k, row-major).
///
/// Returns the normalised line vectors (L × k, in order of first occurrence, each oriented like its
/// first row, so that `map[first row] = (line, false)`) and for every input row
/// `Some((line, flipped))` (row = positive multiple of the line, or negative when `flipped`) or
/// `None` for a zero row.
pub fn dedupe(rows: &[f64], k: usize) -> Deduped {
    dedupe_ctl(rows, k, &Control::new()).expect("a fresh Control is never cancelled")
}

/// Rows between two cancellation checks in the linear passes of [`dedupe_ctl`].
const CHECK_ROWS: usize = 1 << 14;

/// [`dedupe`], cancellable: every pass checks `ctl` every [`CHECK_ROWS`] rows, and the sort is a
/// merge sort of sorted runs checked between merges (a check every ~10 ms on 10⁶ rows).
pub fn dedupe_ctl(rows: &[f64], k: usize, ctl: &Control) -> Result<Deduped> {
    let m = rows.len().checked_div(k).unwrap_or(0);
    let mut vecs: Vec<f64> = rows.to_vec(); // normalised rows
    let mut keys: Vec<f64> = vec![0.0; m * k]; // row / row[pivot]
    let mut piv: Vec<usize> = vec![0; m];
    let mut flip: Vec<bool> = vec![false; m];
    let mut live: Vec<u32> = Vec::with_capacity(m);
    for i in 0..m {
        if i % CHECK_ROWS == 0 {
            ctl.check()?;
        }
        let v = &mut vecs[i * k..(i + 1) * k];
        if !normalize(v) {
            continue;
        }
        let p = pivot(v);
        let vp = v[p];
        // `+ 0.0` turns -0.0 into 0.0 so that exact keys sort together.
        for (kk, x) in keys[i * k..(i + 1) * k].iter_mut().zip(v.iter()) {
            *kk = x / vp + 0.0;
        }
        piv[i] = p;
        flip[i] = vp < 0.0;
        live.push(i as u32);
    }
    let key = |i: usize| &keys[i * k..(i + 1) * k];
    // a total order (ties broken by the row index): the result is that of any correct sort
    sort_checked(
        &mut live,
        |&a, &b| {
            let (a, b) = (a as usize, b as usize);
            piv[a]
                .cmp(&piv[b])
                .then_with(|| cmp_slices(key(a), key(b)))
                .then(a.cmp(&b))
        },
        ctl,
    )?;
    // Group (near-)equal keys; the group's representative is its first input row. Keys within the
    // tolerance need not be adjacent in lexicographic order (a key can sort between two copies
    // that differ in the last bits of a leading coordinate), so compare with every earlier key
    // whose leading free coordinate is within the tolerance (a short window in practice).
    let mut group_of_row: Vec<u32> = vec![u32::MAX; m];
    let mut groups: Vec<usize> = Vec::new(); // representative row per group
    for s in 0..live.len() {
        if s % CHECK_ROWS == 0 {
            ctl.check()?;
        }
        let i = live[s] as usize;
        let w = if piv[i] == 0 { 1 } else { 0 }; // first coordinate that is not the pivot's 1
        let mut found: Option<u32> = None;
        if k >= 2 {
            let mut j = s;
            while j > 0 {
                j -= 1;
                let jj = live[j] as usize;
                if piv[jj] != piv[i] || key(jj)[w] < key(i)[w] - PARALLEL_TOL {
                    break;
                }
                if close(key(jj), key(i)) {
                    found = Some(group_of_row[jj]);
                    break;
                }
            }
        } else if s > 0 {
            found = Some(group_of_row[live[s - 1] as usize]); // in R^1 every line is the same
        }
        match found {
            Some(g) => {
                groups[g as usize] = groups[g as usize].min(i);
                group_of_row[i] = g;
            }
            None => {
                groups.push(i);
                group_of_row[i] = (groups.len() - 1) as u32;
            }
        }
    }
    // Order lines by first occurrence.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_unstable_by_key(|&g| groups[g]);
    let mut line_of_group = vec![0u32; groups.len()];
    let mut lines = Vec::with_capacity(groups.len() * k);
    for (li, &g) in order.iter().enumerate() {
        line_of_group[g] = li as u32;
        lines.extend_from_slice(&vecs[groups[g] * k..(groups[g] + 1) * k]);
    }
    ctl.check()?;
    let mut map: Vec<Option<(u32, bool)>> = vec![None; m];
    for (s, &i) in live.iter().enumerate() {
        if s % CHECK_ROWS == 0 {
            ctl.check()?;
        }
        let i = i as usize;
        let g = group_of_row[i] as usize;
        map[i] = Some((line_of_group[g], flip[i] != flip[groups[g]]));
    }
    Ok((lines, map))
}

/// Sort `v` by the total order `cmp`, checking `ctl` between pieces of work: runs of
/// [`SORT_RUN`] sorted one by one, then bottom-up merges, checked every [`MERGE_STEP`] entries
/// merged. The result equals `sort_unstable_by(cmp)` for a total order (no two entries compare
/// equal).
fn sort_checked<F>(v: &mut Vec<u32>, cmp: F, ctl: &Control) -> Result<()>
where
    F: Fn(&u32, &u32) -> Ordering,
{
    let n = v.len();
    for run in v.chunks_mut(SORT_RUN) {
        ctl.check()?;
        run.sort_unstable_by(&cmp);
    }
    let mut buf: Vec<u32> = vec![0; n];
    let mut width = SORT_RUN;
    while width < n {
        for lo in (0..n).step_by(2 * width) {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            merge_into(&v[lo..mid], &v[mid..hi], &mut buf[lo..hi], &cmp, ctl)?;
        }
        std::mem::swap(v, &mut buf);
        width *= 2;
    }
    Ok(())
}

/// Entries per sorted run of [`sort_checked`].
const SORT_RUN: usize = 1 << 14;

/// Entries merged by [`merge_into`] between two cancellation checks (a merge of the whole of
/// 10⁶ rows' keys takes ~100 ms).
const MERGE_STEP: usize = 1 << 16;

/// Merge the sorted `a` and `b` into `out`, checking `ctl` every [`MERGE_STEP`] entries.
fn merge_into<F>(a: &[u32], b: &[u32], out: &mut [u32], cmp: &F, ctl: &Control) -> Result<()>
where
    F: Fn(&u32, &u32) -> Ordering,
{
    let (mut i, mut j) = (0, 0);
    for part in out.chunks_mut(MERGE_STEP) {
        ctl.check()?;
        for o in part.iter_mut() {
            let take_a = j == b.len() || (i < a.len() && cmp(&a[i], &b[j]) != Ordering::Greater);
            if take_a {
                *o = a[i];
                i += 1;
            } else {
                *o = b[j];
                j += 1;
            }
        }
    }
    Ok(())
}

fn cmp_slices(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= PARALLEL_TOL)
}

/// The restriction of the lines `rows` (m × k) to the hyperplane `y^⊥`, in the coordinates of
/// `y^⊥` obtained by eliminating coordinate `j = pivot(y)`:
/// `z_i = |y_j| x_i[-j] - sign(y_j) x_i[j] y[-j]`
/// (fraction-free, exact on integers), so that x_i·lift(w) = z_i·w / |y_j|.
pub fn restrict(rows: &[f64], k: usize, y: &[f64]) -> Vec<f64> {
    let j = pivot(y);
    let p = y[j];
    let ap = p.abs();
    let s = p.signum();
    let m = rows.len() / k;
    let mut out = Vec::with_capacity(m * (k - 1));
    for i in 0..m {
        let x = &rows[i * k..(i + 1) * k];
        let xj = x[j];
        for l in 0..k {
            if l != j {
                out.push(ap * x[l] - s * xj * y[l]);
            }
        }
    }
    out
}

/// Lift a point `w` of `y^⊥` (coordinates as in [`restrict`]) into R^k.
pub fn lift(w: &[f64], y: &[f64], out: &mut [f64]) {
    let k = y.len();
    let j = pivot(y);
    let mut acc = 0.0;
    let mut c = 0;
    for l in 0..k {
        if l != j {
            out[l] = w[c];
            acc += y[l] * w[c];
            c += 1;
        }
    }
    out[j] = -acc / y[j];
}

#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Rank of the rows of `x` (n × d) and, when it is below d, an orthonormal basis of the row space
/// (r × d, row-major), by modified Gram–Schmidt with row pivoting (relative tolerance `tol`).
#[cfg(test)]
pub fn row_space(x: &[f64], n: usize, d: usize, tol: f64) -> (usize, Vec<f64>) {
    row_space_ctl(x, n, d, tol, &Control::new()).expect("a fresh Control is never cancelled")
}

/// Rows scanned between two cancellation checks of [`row_space_ctl`] (~1 ms of work at d = 50).
const ROW_SPACE_CHECK_ROWS: usize = 1 << 14;

/// The rank and row-space basis of `x` (the test helper `row_space` is this with a fresh
/// [`Control`]), checking `ctl` every [`ROW_SPACE_CHECK_ROWS`] rows of each pass (the same
/// arithmetic in the same order, so the same bits).
pub fn row_space_ctl(
    x: &[f64],
    n: usize,
    d: usize,
    tol: f64,
    ctl: &Control,
) -> Result<(usize, Vec<f64>)> {
    let mut res: Vec<f64> = x.to_vec();
    let mut scale = 0.0f64;
    for i in 0..n {
        if i % ROW_SPACE_CHECK_ROWS == 0 {
            ctl.check()?;
        }
        scale = scale.max(norm(&x[i * d..(i + 1) * d]));
    }
    let mut basis: Vec<f64> = Vec::new();
    let mut r = 0;
    if scale == 0.0 {
        return Ok((0, basis));
    }
    while r < d {
        let (mut best, mut bn) = (0, -1.0);
        for i in 0..n {
            if i % ROW_SPACE_CHECK_ROWS == 0 {
                ctl.check()?;
            }
            let v = norm(&res[i * d..(i + 1) * d]);
            if v > bn {
                (best, bn) = (i, v);
            }
        }
        if bn <= tol * scale {
            break;
        }
        let q: Vec<f64> = res[best * d..(best + 1) * d]
            .iter()
            .map(|v| v / bn)
            .collect();
        // Re-orthogonalise q against the basis once more for stability.
        let mut q = q;
        for b in 0..r {
            let bb = &basis[b * d..(b + 1) * d];
            let c = dot(&q, bb);
            for l in 0..d {
                q[l] -= c * bb[l];
            }
        }
        let qn = norm(&q);
        for v in q.iter_mut() {
            *v /= qn;
        }
        for i in 0..n {
            if i % ROW_SPACE_CHECK_ROWS == 0 {
                ctl.check()?;
            }
            let row = &mut res[i * d..(i + 1) * d];
            let c = dot(row, &q);
            for l in 0..d {
                row[l] -= c * q[l];
            }
        }
        basis.extend_from_slice(&q);
        r += 1;
    }
    Ok((r, basis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_merges_scaled_and_antiparallel_rows() {
        let rows = [1.0, 2.0, 0.0, 0.0, -3.0, -6.0, 2.5, 5.0, 1.0, 0.0];
        let (lines, map) = dedupe(&rows, 2);
        assert_eq!(lines.len() / 2, 2);
        assert_eq!(map[0], Some((0, false)));
        assert_eq!(map[1], None);
        assert_eq!(map[2], Some((0, true)));
        assert_eq!(map[3], Some((0, false)));
        assert_eq!(map[4], Some((1, false)));
    }

    #[test]
    fn checked_sort_equals_the_plain_sort() {
        // several runs and an odd tail: the merges must give the plain sort's order
        let n = 3 * SORT_RUN + 1234;
        let key: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1000)
            .collect();
        let cmp = |a: &u32, b: &u32| key[*a as usize].cmp(&key[*b as usize]).then(a.cmp(b));
        let mut v: Vec<u32> = (0..n as u32).rev().collect();
        let mut w = v.clone();
        sort_checked(&mut v, cmp, &Control::new()).unwrap();
        w.sort_unstable_by(cmp);
        assert_eq!(v, w);
        let ctl = Control::new();
        ctl.cancel();
        assert!(dedupe_ctl(&[1.0, 2.0, 3.0, 4.0], 2, &ctl).is_err());
    }

    #[test]
    fn restrict_and_lift_agree() {
        let y = [0.3, -2.0, 0.7];
        let x = [1.0, 0.5, -0.25, 0.2, 0.1, 3.0];
        let z = restrict(&x, 3, &y);
        let w = [0.4, -1.1];
        let mut u = [0.0; 3];
        lift(&w, &y, &mut u);
        assert!(dot(&u, &y).abs() < 1e-14);
        for i in 0..2 {
            let lhs = dot(&x[i * 3..i * 3 + 3], &u);
            let rhs = dot(&z[i * 2..i * 2 + 2], &w) / 2.0;
            assert!((lhs - rhs).abs() < 1e-12);
        }
    }

    #[test]
    fn row_space_stops_at_every_check_and_the_checks_change_nothing() {
        // 40,000 integer rows of rank 2 in R^4 (three passes of more than two check intervals)
        let (n, d) = (40_000usize, 4usize);
        let x: Vec<f64> = (0..n)
            .flat_map(|i| {
                let (a, b) = ((i % 7) as f64 - 3.0, (i % 11) as f64 - 5.0);
                [a, b, a + b, a - 2.0 * b]
            })
            .collect();
        let want = row_space(&x, n, d, 1e-12);
        assert_eq!(want.0, 2);
        let count = Control::new();
        let got = row_space_ctl(&x, n, d, 1e-12, &count).unwrap();
        assert_eq!(got, want);
        let total = count.checks();
        assert!(total >= 9, "{total} checks");
        for k in 1..=total {
            let ctl = Control::cancelled_at_check(k);
            assert_eq!(
                row_space_ctl(&x, n, d, 1e-12, &ctl).unwrap_err(),
                crate::error::Error::Interrupted,
                "check {k} of {total}"
            );
        }
    }

    #[test]
    fn row_space_finds_rank() {
        // rows: e1, e2, e1+e2 in R^3
        let x = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let (r, b) = row_space(&x, 3, 3, 1e-12);
        assert_eq!(r, 2);
        assert_eq!(b.len(), 6);
    }
}
