//! Property tests of the chamber enumeration: Cover's count on random Gaussian data, witnesses
//! realise their patterns, counting agrees with enumeration on degenerate integer data.

use hiddenconvex_core::arrangement::{
    count, cover_count, enumerate, enumerate_prepared_with, get_bit, prepare, sample, stream,
    words_for, Algorithm, Limits,
};
use hiddenconvex_core::{Control, Error};
use ndarray::Array2;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
}

fn check_witnesses(x: &Array2<f64>, set: &hiddenconvex_core::arrangement::ChamberSet) {
    check_realised(x, set);
    let nw = words_for(x.dim().0);
    // sorted and distinct
    for p in 1..set.count() {
        assert!(set.patterns[(p - 1) * nw..p * nw] < set.patterns[p * nw..(p + 1) * nw]);
    }
}

/// Every witness realises its pattern strictly (nonzero rows).
fn check_realised(x: &Array2<f64>, set: &hiddenconvex_core::arrangement::ChamberSet) {
    let (n, d) = x.dim();
    let nw = words_for(n);
    for p in 0..set.count() {
        let u = &set.witnesses[p * d..(p + 1) * d];
        let pat = &set.patterns[p * nw..(p + 1) * nw];
        for i in 0..n {
            let s: f64 = (0..d).map(|c| x[[i, c]] * u[c]).sum();
            let zero_row = (0..d).all(|c| x[[i, c]] == 0.0);
            assert_eq!(s > 0.0, get_bit(pat, i), "row {i} of chamber {p}");
            assert!(zero_row || s != 0.0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gaussian_count_is_cover(n in 1usize..14, d in 1usize..6, seed in 0u64..1000) {
        let x = gaussian(n, d, seed);
        let ctl = Control::new();
        let set = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        prop_assert_eq!(set.count() as u128, cover_count(n as u64, d as u64));
        prop_assert_eq!(count(x.view(), &ctl).unwrap(), cover_count(n as u64, d as u64));
        check_witnesses(&x, &set);
    }

    #[test]
    fn vertex_method_equals_deletion_restriction(n in 2usize..40, d in 2usize..6, seed in 0u64..1000) {
        let x = gaussian(n, d, seed);
        let ctl = Control::new();
        let prep = prepare(x.view()).unwrap();
        let a = enumerate_prepared_with(&prep, Algorithm::Auto, &ctl).unwrap();
        let b = enumerate_prepared_with(&prep, Algorithm::DeletionRestriction, &ctl).unwrap();
        prop_assert_eq!(&a.patterns, &b.patterns);
        check_witnesses(&x, &a);
        check_witnesses(&x, &b);
    }

    #[test]
    fn integer_data_count_matches_enumeration(
        vals in proptest::collection::vec(-2i32..3, 3..30),
        d in 2usize..4,
    ) {
        let n = vals.len() / d;
        let x = Array2::from_shape_fn((n, d), |(i, j)| vals[i * d + j] as f64);
        let ctl = Control::new();
        let set = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        prop_assert_eq!(set.count() as u128, count(x.view(), &ctl).unwrap());
        check_witnesses(&x, &set);
    }

    #[test]
    fn sampled_patterns_are_exact_patterns(n in 2usize..12, d in 2usize..4, seed in 0u64..100) {
        let x = gaussian(n, d, seed);
        let ctl = Control::new();
        let exact = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        let s = sample(x.view(), 500, seed, None, &ctl).unwrap();
        let nw = words_for(n);
        let all: Vec<&[u64]> = exact.patterns.chunks(nw).collect();
        for p in s.patterns.chunks(nw) {
            prop_assert!(all.binary_search(&p).is_ok());
        }
        check_witnesses(&x, &s);
    }
}

#[test]
fn resonance_and_braid() {
    let ctl = Control::new();
    for (d, expected) in [(3usize, 32usize), (4, 370), (5, 11_292)] {
        let rows: Vec<f64> = (1..(1u32 << d))
            .flat_map(|m| (0..d).map(move |j| ((m >> j) & 1) as f64))
            .collect();
        let x = Array2::from_shape_vec(((1 << d) - 1, d), rows).unwrap();
        let set = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        assert_eq!(set.count(), expected);
        check_witnesses(&x, &set);
    }
    let k = 5;
    let mut rows = Vec::new();
    for i in 0..k {
        for j in i + 1..k {
            let mut r = vec![0.0; k];
            r[i] = 1.0;
            r[j] = -1.0;
            rows.extend(r);
        }
    }
    let x = Array2::from_shape_vec((rows.len() / k, k), rows).unwrap();
    let set = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
    assert_eq!(set.count(), 120);
    assert_eq!(set.rank, 4);
}

#[test]
fn limits_and_cancellation() {
    let x = gaussian(40, 5, 1);
    let ctl = Control::new();
    let err = enumerate(
        x.view(),
        &Limits {
            max_chambers: Some(10),
            memory_bytes: None,
        },
        &ctl,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }));
    assert!(err.to_string().contains("184342"));
    ctl.cancel();
    assert_eq!(
        enumerate(x.view(), &Limits::default(), &ctl).unwrap_err(),
        Error::Interrupted
    );
}

/// Streamed blocks: bounded size, each chamber once, the same set as `enumerate`, interior
/// witnesses; on general-position data (bounded) and on degenerate data (materialised).
#[test]
fn stream_blocks_cover_the_same_set() {
    let ctl = Control::new();
    let mut res = Vec::new();
    for mask in 1..16u32 {
        for j in 0..4 {
            res.push(((mask >> j) & 1) as f64);
        }
    }
    let cases = [
        (gaussian(40, 4, 3), true),
        (gaussian(9, 5, 4), true),
        (Array2::from_shape_vec((15, 4), res).unwrap(), false),
    ];
    for (x, bounded) in cases {
        let full = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        let nw = full.words();
        for block in [2usize, 37, 1000] {
            let mut s = stream(x.view(), block, &Limits::default(), &ctl).unwrap();
            assert_eq!(s.is_bounded(), bounded);
            assert_eq!(s.total, full.count() as u128);
            let mut rows: Vec<Vec<u64>> = Vec::new();
            while let Some(b) = s.next_block(&ctl).unwrap() {
                assert!(b.count() >= 1 && b.count() <= block);
                check_realised(&x, &b);
                rows.extend(b.patterns.chunks(nw).map(|c| c.to_vec()));
            }
            rows.sort();
            let want: Vec<Vec<u64>> = full.patterns.chunks(nw).map(|c| c.to_vec()).collect();
            assert_eq!(rows, want);
        }
    }
}
