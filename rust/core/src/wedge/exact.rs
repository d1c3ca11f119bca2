//! Exact arithmetic for the wedge dictionary: determinant signs, ranks and cofactor vectors of
//! small matrices of `f64` entries, computed without rounding.
//!
//! Every finite `f64` is a dyadic rational `m·2^e` (|m| < 2^53). A row scaled by the positive
//! power `2^{-min e}` of its smallest exponent becomes a row of integers; the determinant of the
//! scaled matrix is the true determinant times a positive power of two, so its sign (and
//! whether it vanishes) is the true one. Fraction-free Gaussian elimination (Bareiss) on these
//! big integers divides exactly at every step, so the result is exact. Used only where the
//! floating-point value is too close to zero to decide (see `super` for the filter).

use num_bigint::BigInt;
use num_bigint::Sign;

/// `v = m · 2^e` exactly (`m` signed, |m| < 2^53); zero gives (0, 0).
fn decompose(v: f64) -> (i64, i32) {
    if v == 0.0 {
        return (0, 0);
    }
    let bits = v.to_bits();
    let negative = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let m = m as i64;
    (if negative { -m } else { m }, e)
}

/// A row of finite floats as integers, after scaling by a positive power of two.
fn row_to_ints(row: &[f64]) -> Vec<BigInt> {
    let parts: Vec<(i64, i32)> = row.iter().map(|&v| decompose(v)).collect();
    let emin = parts
        .iter()
        .filter(|(m, _)| *m != 0)
        .map(|&(_, e)| e)
        .min()
        .unwrap_or(0);
    parts
        .iter()
        .map(|&(m, e)| BigInt::from(m) << ((e - emin) as usize))
        .collect()
}

fn is_zero(b: &BigInt) -> bool {
    b.sign() == Sign::NoSign
}

/// Exact sign (−1, 0, +1) of the determinant of the `k × k` matrix `rows` (row-major, finite).
pub fn det_sign(rows: &[f64], k: usize) -> i8 {
    if k == 0 {
        return 1;
    }
    let mut a: Vec<Vec<BigInt>> = rows.chunks(k).take(k).map(row_to_ints).collect();
    let mut sign: i8 = 1;
    let mut prev = BigInt::from(1);
    for p in 0..k {
        if is_zero(&a[p][p]) {
            match (p + 1..k).find(|&i| !is_zero(&a[i][p])) {
                Some(i) => {
                    a.swap(p, i);
                    sign = -sign;
                }
                None => return 0,
            }
        }
        for i in p + 1..k {
            for j in p + 1..k {
                let v = (&a[i][j] * &a[p][p] - &a[i][p] * &a[p][j]) / &prev;
                a[i][j] = v;
            }
        }
        prev = a[p][p].clone();
    }
    match a[k - 1][k - 1].sign() {
        Sign::NoSign => 0,
        Sign::Plus => sign,
        Sign::Minus => -sign,
    }
}

/// Exact rank of the `r × c` matrix `rows` (row-major, finite).
#[cfg_attr(not(test), allow(dead_code))]
pub fn rank(rows: &[f64], r: usize, c: usize) -> usize {
    if r == 0 || c == 0 {
        return 0;
    }
    let mut a: Vec<Vec<BigInt>> = rows.chunks(c).take(r).map(row_to_ints).collect();
    let mut rk = 0;
    let mut prev = BigInt::from(1);
    for col in 0..c {
        if rk == r {
            break;
        }
        let Some(p) = (rk..r).find(|&i| !is_zero(&a[i][col])) else {
            continue;
        };
        a.swap(rk, p);
        for i in rk + 1..r {
            for j in col + 1..c {
                let v = (&a[i][j] * &a[rk][col] - &a[i][col] * &a[rk][j]) / &prev;
                a[i][j] = v;
            }
            a[i][col] = BigInt::from(0);
        }
        prev = a[rk][col].clone();
        rk += 1;
    }
    rk
}

/// The generalised cross product of the `k = dim − 1` rows of `rows` (row-major `k × dim`),
/// i.e. the cofactor vector `c` with `x·c = det[x; rows]` for every x, returned as floats
/// proportional to it by a positive factor (each entry correctly signed, relative accuracy
/// ~2^-52 for the largest). All zero exactly when the rows are linearly dependent.
pub fn cofactor_direction(rows: &[f64], dim: usize) -> Vec<f64> {
    let k = dim.saturating_sub(1);
    // scale each row to integers once (positive factors: the direction is unchanged)
    let ints: Vec<Vec<BigInt>> = rows.chunks(dim.max(1)).take(k).map(row_to_ints).collect();
    let mut cof: Vec<BigInt> = Vec::with_capacity(dim);
    for j in 0..dim {
        // minor without column j, sign (−1)^j for the expansion of det[x; rows] along row 0
        let m: Vec<Vec<BigInt>> = ints
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|&(c, _)| c != j)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .collect();
        let d = bareiss_det(m);
        cof.push(if j % 2 == 0 { d } else { -d });
    }
    let bits = cof.iter().map(|c| c.bits()).max().unwrap_or(0);
    let shift = bits.saturating_sub(60);
    cof.iter()
        .map(|c| {
            let s: BigInt = c >> shift;
            // |s| < 2^61: exact in i64, then one rounding to f64
            let v = i64::try_from(&s).unwrap_or(0) as f64;
            if v == 0.0 && !is_zero(c) {
                // below the shifted precision: keep the sign with the smallest magnitude
                if c.sign() == Sign::Minus {
                    -f64::MIN_POSITIVE
                } else {
                    f64::MIN_POSITIVE
                }
            } else {
                v
            }
        })
        .collect()
}

/// Exact determinant of a square matrix of big integers (Bareiss).
fn bareiss_det(mut a: Vec<Vec<BigInt>>) -> BigInt {
    let k = a.len();
    if k == 0 {
        return BigInt::from(1);
    }
    let mut neg = false;
    let mut prev = BigInt::from(1);
    for p in 0..k {
        if is_zero(&a[p][p]) {
            match (p + 1..k).find(|&i| !is_zero(&a[i][p])) {
                Some(i) => {
                    a.swap(p, i);
                    neg = !neg;
                }
                None => return BigInt::from(0),
            }
        }
        for i in p + 1..k {
            for j in p + 1..k {
                let v = (&a[i][j] * &a[p][p] - &a[i][p] * &a[p][j]) / &prev;
                a[i][j] = v;
            }
        }
        prev = a[p][p].clone();
    }
    let d = a[k - 1][k - 1].clone();
    if neg {
        -d
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompose_is_exact() {
        // m · 2^e rebuilt by exact power-of-two steps: 2^e itself leaves the float range for
        // subnormals (2^-1074 computed as 1 / 2^1074 is 0 where powi is not constant-folded)
        fn ldexp(m: f64, mut e: i32) -> f64 {
            let mut x = m;
            while e > 1000 {
                x *= 2f64.powi(1000);
                e -= 1000;
            }
            while e < -1000 {
                x *= 2f64.powi(-1000);
                e += 1000;
            }
            x * 2f64.powi(e)
        }
        for v in [1.0, -0.1, 3.5e-310, 1e300, -7.25, f64::MIN_POSITIVE, 5e-324] {
            let (m, e) = decompose(v);
            assert_eq!(ldexp(m as f64, e), v, "{v:e}");
        }
    }

    #[test]
    fn det_sign_decides_near_singular_cases() {
        // rows 1 and 2 differ by one ulp in one entry: the float determinant is noise
        let a = [
            1.0,
            2.0,
            3.0,
            1.0,
            2.0,
            3.0 + f64::EPSILON * 4.0,
            0.5,
            1.0,
            1.5,
        ];
        // det = 4ε · (cofactor of entry (1,2)) = 4ε · −(1·1 − 2·0.5) = 0
        assert_eq!(det_sign(&a, 3), 0);
        let b = [1.0, 0.0, 0.0, 0.0, 1e-300, 0.0, 0.0, 0.0, -1.0];
        assert_eq!(det_sign(&b, 3), -1);
        let c = [0.1, 0.2, 0.3, 0.6];
        let exact = {
            // 0.1·0.6 and 0.2·0.3 differ in binary: decide by big integers independently
            let (m1, e1) = decompose(0.1);
            let (m2, e2) = decompose(0.6);
            let (m3, e3) = decompose(0.2);
            let (m4, e4) = decompose(0.3);
            let l = BigInt::from(m1) * BigInt::from(m2);
            let r = BigInt::from(m3) * BigInt::from(m4);
            let (el, er) = (e1 + e2, e3 + e4);
            let emin = el.min(er);
            let l = l << ((el - emin) as usize);
            let r = r << ((er - emin) as usize);
            match (l - r).sign() {
                Sign::Plus => 1,
                Sign::Minus => -1,
                Sign::NoSign => 0,
            }
        };
        assert_eq!(det_sign(&c, 2), exact);
    }

    #[test]
    fn rank_and_cofactors() {
        // two parallel rows in R^3: rank 1, zero cross product
        let a = [1.0, 2.0, 3.0, 2.0, 4.0, 6.0];
        assert_eq!(rank(&a, 2, 3), 1);
        assert!(cofactor_direction(&a, 3).iter().all(|&v| v == 0.0));
        // e1 × e2 = e3
        let b = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        assert_eq!(rank(&b, 2, 3), 2);
        let c = cofactor_direction(&b, 3);
        assert!(c[0] == 0.0 && c[1] == 0.0 && c[2] > 0.0);
        // x·c = det[x; rows]
        let x = [0.3, -1.2, 2.0];
        let rows = [0.5, 1.5, -2.0, 1.0, 0.25, 4.0];
        let c = cofactor_direction(&rows, 3);
        let full = [x[0], x[1], x[2], 0.5, 1.5, -2.0, 1.0, 0.25, 4.0];
        let dot: f64 = x.iter().zip(&c).map(|(a, b)| a * b).sum();
        assert_eq!(dot.signum() as i8, det_sign(&full, 3));
    }
}
