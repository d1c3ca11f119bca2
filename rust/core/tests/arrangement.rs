//! Property tests of the chamber enumeration: Cover's count on random Gaussian data, witnesses
//! realise their patterns, counting agrees with enumeration on degenerate integer data.

use hiddenconvex_core::arrangement::{
    count, cover_count, enumerate, enumerate_prepared_with, get_bit, prepare, sample, stream,
    stream_with_budget, words_for, Algorithm, Limits,
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
/// witnesses; on general-position data (vertex method) and on degenerate data (prefix cones).
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
        (Array2::from_shape_vec((15, 4), res).unwrap(), true),
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

fn from_rows(rows: Vec<Vec<f64>>) -> Array2<f64> {
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

fn resonance(d: usize) -> Array2<f64> {
    from_rows(
        (1..(1u32 << d))
            .map(|m| (0..d).map(|j| ((m >> j) & 1) as f64).collect())
            .collect(),
    )
}

/// Degenerate data streamed by prefix cones with small part budgets: the concatenated blocks are
/// exactly `enumerate`'s sorted chambers (each once, same order), every witness realises its
/// pattern, and no part held more than the budget (candidates: twice the budget) although the
/// arrangement has many times more chambers.
#[test]
fn degenerate_stream_is_exact_and_bounded() {
    let ctl = Control::new();
    let mut cases: Vec<(&str, Array2<f64>, usize)> = vec![
        ("resonance4", resonance(4), 370),
        ("resonance5", resonance(5), 11_292),
    ];
    // threshold arrangement: {0,1}^4 with a bias column -> 1,882
    cases.push((
        "threshold4",
        from_rows(
            (0..16u32)
                .map(|m| {
                    let mut v: Vec<f64> = (0..4).map(|j| ((m >> j) & 1) as f64).collect();
                    v.push(1.0);
                    v
                })
                .collect(),
        ),
        1_882,
    ));
    // braid arrangement e_i - e_j in R^5: 5! chambers (rank 4)
    let mut braid = Vec::new();
    for i in 0..5 {
        for j in i + 1..5 {
            let mut r = vec![0.0; 5];
            r[i] = 1.0;
            r[j] = -1.0;
            braid.push(r);
        }
    }
    cases.push(("braid5", from_rows(braid), 120));
    // resonance R^4 with duplicates, scaled, antiparallel and zero rows: same 370 chambers
    let mut dup: Vec<Vec<f64>> = resonance(4)
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    dup.push(dup[3].iter().map(|v| 3.0 * v).collect());
    dup.push(dup[5].iter().map(|v| -v).collect());
    dup.push(vec![0.0; 4]);
    dup.push(dup[0].clone());
    cases.push(("duplicates", from_rows(dup), 370));
    // rank 3 in R^5 (n = 7, Gaussian in a 3-dim row space): Cover(7, 3) = 44
    let g = gaussian(7, 3, 11);
    let b = gaussian(3, 5, 12);
    cases.push(("rank3_in_R5", g.dot(&b), 44));
    // ... plus x_0 + x_1 and -2 x_2 (a dependent triple: not in general position)
    let x = g.dot(&b);
    let mut rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    rows.push(rows[0].iter().zip(&rows[1]).map(|(a, c)| a + c).collect());
    rows.push(rows[2].iter().map(|v| -2.0 * v).collect());
    let dep = from_rows(rows);
    let dep_count = count(dep.view(), &ctl).unwrap() as usize;
    assert!(dep_count < cover_count(8, 3) as usize);
    cases.push(("rank3_in_R5_dependent", dep, dep_count));
    // integer rank-deficient: resonance R^4 embedded in R^6 (two zero columns)
    let emb: Vec<Vec<f64>> = resonance(4)
        .rows()
        .into_iter()
        .map(|r| vec![r[0], 0.0, r[1], r[2], 0.0, r[3]])
        .collect();
    cases.push(("resonance4_in_R6", from_rows(emb), 370));
    for (name, x, expected) in cases {
        let full = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
        assert_eq!(full.count(), expected, "{name}");
        let nw = full.words();
        let d = x.dim().1;
        for (budget, block) in [(7usize, 5usize), (40, 64), (1000, 300)] {
            let mut s = stream_with_budget(x.view(), block, Some(budget), &Limits::default(), &ctl)
                .unwrap();
            assert!(s.is_bounded(), "{name}");
            assert_eq!(s.total, expected as u128, "{name}");
            let mut pats: Vec<u64> = Vec::new();
            let mut wits: Vec<f64> = Vec::new();
            while let Some(b) = s.next_block(&ctl).unwrap() {
                assert!(b.count() >= 1 && b.count() <= block, "{name}");
                check_realised(&x, &b);
                pats.extend_from_slice(&b.patterns);
                wits.extend_from_slice(&b.witnesses);
            }
            assert_eq!(wits.len(), expected * d);
            let Some((peak_part, peak_cands, parts)) = s.part_stats() else {
                // general position in the row space: the vertex method (its own order)
                assert_eq!(name, "rank3_in_R5");
                let mut rows: Vec<&[u64]> = pats.chunks(nw).collect();
                rows.sort();
                assert_eq!(rows.concat(), full.patterns, "{name}");
                continue;
            };
            // the exact sorted set of enumerate(): each chamber once, in the same order
            assert_eq!(pats, full.patterns, "{name} budget {budget}");
            let eff = budget.max(block);
            assert!(peak_part <= eff, "{name}: part of {peak_part} > {eff}");
            assert!(peak_cands <= 2 * eff + 1, "{name}: {peak_cands} candidates");
            if expected > 4 * eff {
                assert!(parts >= expected / eff, "{name}: {parts} parts");
                assert!(peak_cands < expected / 2, "{name}");
            }
        }
    }
}

/// A stream can be cancelled between blocks of the degenerate path.
#[test]
fn degenerate_stream_cancels() {
    let ctl = Control::new();
    let x = resonance(5);
    let mut s = stream_with_budget(x.view(), 100, Some(100), &Limits::default(), &ctl).unwrap();
    assert!(s.next_block(&ctl).unwrap().is_some());
    ctl.cancel();
    assert_eq!(s.next_block(&ctl).unwrap_err(), Error::Interrupted);
}
