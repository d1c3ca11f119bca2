//! Sample quantiles of the gaps and curvature proxies of a midpoint test: NumPy's default
//! (`np.quantile(x[np.isfinite(x)], qs)`, method "linear", Hyndman & Fan type 7) value for value,
//! by selection of the order statistics it interpolates instead of a partition of the whole
//! array around every one of them.

use rayon::join;

use crate::error::{Error, Result};

/// Below this many values a selection runs on the calling thread only.
const PARALLEL_MIN: usize = 1 << 16;

/// The quantiles `qs` (each in [0, 1]) of the finite values of `x`, as `np.quantile` computes
/// them on `x[np.isfinite(x)]` with the default method: position v = (n − 1)·q, neighbours
/// ⌊v⌋ and ⌊v⌋ + 1 (both the last value when v ≥ n − 1), γ = v − ⌊v⌋ (v + 1 when v ≥ n − 1, as
/// NumPy stores the index −1 there), and `a + (b − a)·γ`, or `b − (b − a)·(1 − γ)` when γ ≥ ½.
/// The same floating-point operations in the same order, so the same values. Empty when `x` has
/// no finite value; an error naming `qs` when a quantile is not in [0, 1] (NaN included).
pub fn quantiles(x: &[f64], qs: &[f64]) -> Result<Vec<f64>> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::invalid(
            "qs",
            format!("every quantile must lie in [0, 1], got {q}"),
        ));
    }
    let mut v: Vec<f64> = x.iter().copied().filter(|y| y.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    // (previous index, next index, γ) per quantile, as NumPy's `_get_indexes` and `_get_gamma`
    let top = (n - 1) as f64;
    let plan: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let vi = top * q;
            if vi >= top {
                (n - 1, n - 1, vi - (-1.0))
            } else if vi < 0.0 {
                (0, 0, vi)
            } else {
                let p = vi.floor();
                (p as usize, p as usize + 1, vi - p)
            }
        })
        .collect();
    // select the lower neighbours; an upper neighbour not among them is then the smallest value
    // between its lower one and the next selected position (a scan of that stretch only)
    let mut ks: Vec<usize> = plan.iter().map(|&(p, _, _)| p).collect();
    ks.sort_unstable();
    ks.dedup();
    select_many(&mut v, &ks);
    for &(p, m, _) in &plan {
        if m == p || ks.binary_search(&m).is_ok() {
            continue;
        }
        let end = ks[ks.partition_point(|&k| k <= p)..]
            .first()
            .copied()
            .unwrap_or(n);
        let stretch = &mut v[m..end];
        let mut at = 0;
        for (i, y) in stretch.iter().enumerate() {
            if y.total_cmp(&stretch[at]).is_lt() {
                at = i;
            }
        }
        stretch.swap(0, at);
    }
    Ok(plan
        .iter()
        .map(|&(p, m, g)| {
            let (a, b) = (v[p], v[m]);
            let diff = b - a;
            if g >= 0.5 {
                b - diff * (1.0 - g)
            } else {
                a + diff * g
            }
        })
        .collect())
}

/// Rearrange `v` so that `v[k]` is its k-th smallest value for every k of the sorted `ks`.
fn select_many(v: &mut [f64], ks: &[usize]) {
    if ks.is_empty() || v.len() < 2 {
        return;
    }
    let mid = ks.len() / 2;
    let k = ks[mid];
    v.select_nth_unstable_by(k, f64::total_cmp);
    let (left, rest) = v.split_at_mut(k);
    let right = &mut rest[1..];
    let kl = &ks[..mid];
    let kr: Vec<usize> = ks[mid + 1..].iter().map(|&j| j - k - 1).collect();
    if left.len() + right.len() >= PARALLEL_MIN {
        join(|| select_many(left, kl), || select_many(right, &kr));
    } else {
        select_many(left, kl);
        select_many(right, &kr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Lcg;

    /// Type-7 quantiles from a full sort (the textbook definition, NumPy's formula).
    fn sorted_reference(x: &[f64], q: f64) -> f64 {
        let mut v: Vec<f64> = x.iter().copied().filter(|y| y.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let vi = (n - 1) as f64 * q;
        let (p, m, g) = if vi >= (n - 1) as f64 {
            (n - 1, n - 1, vi + 1.0)
        } else {
            let p = vi.floor();
            (p as usize, p as usize + 1, vi - p)
        };
        let d = v[m] - v[p];
        if g >= 0.5 {
            v[m] - d * (1.0 - g)
        } else {
            v[p] + d * g
        }
    }

    #[test]
    fn selection_matches_a_full_sort() {
        let qs = [
            0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0, 0.3333,
        ];
        let mut rng = Lcg(11);
        for n in [1usize, 2, 3, 7, 100, 1001, 70_000, 200_001] {
            // values with ties, non-finite entries and both signs
            let x: Vec<f64> = (0..n)
                .map(|i| match i % 97 {
                    5 => f64::NAN,
                    6 => f64::INFINITY,
                    7 => f64::NEG_INFINITY,
                    8..=12 => 0.25,
                    _ => (rng.unit() - 0.5) * 1e3,
                })
                .collect();
            let got = quantiles(&x, &qs).unwrap();
            if x.iter().all(|v| !v.is_finite()) {
                assert!(got.is_empty());
                continue;
            }
            for (q, g) in qs.iter().zip(&got) {
                assert_eq!(*g, sorted_reference(&x, *q), "n = {n}, q = {q}");
            }
        }
        assert!(quantiles(&[f64::NAN, f64::INFINITY], &qs)
            .unwrap()
            .is_empty());
        assert!(quantiles(&[], &qs).unwrap().is_empty());
        for bad in [-0.1, 1.5, f64::NAN] {
            let e = quantiles(&[1.0, 2.0], &[0.5, bad]).unwrap_err();
            assert!(e.to_string().contains("qs"), "{e}");
        }
    }
}
