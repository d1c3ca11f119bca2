//! The prefix-cone partition written in parts (`plan_parts` + `enumerate_part`): on general
//! position and degenerate data the parts' counts add up to the exact count and their chambers,
//! in order, are the sorted rows of `enumerate` (the oracle), whatever the part budget.

use hiddenconvex_core::arrangement::{
    enumerate, enumerate_part, get_bit, plan_parts, split_part_of, ConePart, Limits,
};
use hiddenconvex_core::Control;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
}

/// All nonzero 0/1 vectors of R^d (the resonance arrangement: very degenerate).
fn resonance(d: usize) -> Array2<f64> {
    let rows: Vec<f64> = (1u32..(1 << d))
        .flat_map(|v| (0..d).map(move |j| f64::from((v >> (d - 1 - j)) & 1)))
        .collect();
    Array2::from_shape_vec(((1 << d) - 1, d), rows).unwrap()
}

fn check(x: &Array2<f64>, budget: usize) -> usize {
    let ctl = Control::new();
    let all = enumerate(x.view(), &Limits::default(), &ctl).unwrap();
    let (parts, total) = plan_parts(x.view(), budget, None, &ctl).unwrap();
    assert_eq!(total, all.count() as u128);
    assert_eq!(parts.iter().map(|p| p.count).sum::<u128>(), total);
    let (mut pats, mut wit) = (Vec::new(), Vec::new());
    for p in &parts {
        // rank <= 2: one part whatever the budget
        assert!(p.count <= budget as u128 || p.sig.len() == x.dim().0 || parts.len() == 1);
        let set = enumerate_part(x.view(), p, &ctl).unwrap();
        assert_eq!(set.count() as u128, p.count);
        pats.extend_from_slice(&set.patterns);
        wit.extend_from_slice(&set.witnesses);
    }
    assert_eq!(
        pats, all.patterns,
        "concatenated parts = sorted enumeration"
    );
    // every witness realises its pattern strictly on the nonzero rows
    let (n, d) = x.dim();
    let nw = n.div_ceil(64);
    for c in 0..wit.len() / d {
        for i in 0..n {
            let s: f64 = (0..d).map(|j| x[[i, j]] * wit[c * d + j]).sum();
            if x.row(i).iter().any(|v| *v != 0.0) {
                assert!(s != 0.0, "witness {c} lies on hyperplane {i}");
                assert_eq!(s > 0.0, get_bit(&pats[c * nw..(c + 1) * nw], i));
            }
        }
    }
    parts.len()
}

#[test]
fn parts_of_general_position_data_concatenate_to_the_enumeration() {
    let x = gaussian(14, 4, 3);
    assert_eq!(check(&x, usize::MAX), 1);
    assert!(check(&x, 40) > 3);
    assert!(check(&x, 1) > 10);
}

#[test]
fn parts_of_the_resonance_arrangement_concatenate_to_the_enumeration() {
    let x = resonance(4); // 15 lines of R^4, 94 chambers
    assert!(check(&x, 10) > 5);
    assert_eq!(check(&x, 1000), 1);
}

#[test]
fn rank_two_data_is_one_part_and_foreign_parts_are_refused() {
    let x = gaussian(9, 2, 1);
    assert_eq!(check(&x, 2), 1);
    let ctl = Control::new();
    let bad = ConePart {
        sig: vec![true],
        point: vec![1.0, 0.0],
        count: 3,
    };
    assert!(enumerate_part(x.view(), &bad, &ctl).is_err());
    let y = gaussian(10, 4, 2);
    let (parts, _) = plan_parts(y.view(), 20, None, &ctl).unwrap();
    let wrong = ConePart {
        count: parts[0].count + 1,
        ..parts[0].clone()
    };
    assert!(enumerate_part(y.view(), &wrong, &ctl).is_err());
}

/// The plan's tree walked one node at a time by `split_part_of` (depth first, σ0 before σ1):
/// its leaves are the plan's parts, in order.
fn walk(x: &Array2<f64>, node: ConePart, budget: u128, out: &mut Vec<ConePart>) {
    let ctl = Control::new();
    if node.count <= budget {
        out.push(node);
        return;
    }
    let kids = split_part_of(x.view(), &node, &ctl).unwrap();
    if kids.is_empty() {
        out.push(node);
        return;
    }
    assert_eq!(kids.iter().map(|k| k.count).sum::<u128>(), node.count);
    for k in kids {
        assert_eq!(k.sig.len(), node.sig.len() + 1);
        assert_eq!(&k.sig[..node.sig.len()], &node.sig[..]);
        walk(x, k, budget, out);
    }
}

#[test]
fn splitting_parts_one_at_a_time_walks_the_plan() {
    let ctl = Control::new();
    for (x, budget) in [
        (resonance(4), 10usize),
        (resonance(5), 500),
        (gaussian(14, 4, 3), 40),
    ] {
        let (parts, total) = plan_parts(x.view(), budget, None, &ctl).unwrap();
        let (root, _) = plan_parts(x.view(), usize::MAX, None, &ctl).unwrap();
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].count, total);
        let mut leaves = Vec::new();
        walk(&x, root[0].clone(), budget as u128, &mut leaves);
        assert_eq!(leaves, parts);
    }
    // rank 2: nothing to split; a foreign part is refused
    let y = gaussian(9, 2, 1);
    let (root, _) = plan_parts(y.view(), 1, None, &ctl).unwrap();
    assert!(split_part_of(y.view(), &root[0], &ctl).unwrap().is_empty());
    let z = gaussian(10, 4, 2);
    let bad = ConePart {
        sig: vec![true],
        point: vec![1.0, 0.0],
        count: 3,
    };
    assert!(split_part_of(z.view(), &bad, &ctl).is_err());
}
