//! Unit tests of the interior-point method's pieces.

use ndarray::{Array1, Axis, ShapeBuilder};

use super::cone::*;
use super::kkt::*;
use super::lp_rows::*;
use super::*;

/// A random ReLU program at β = 0.1 (see [`relu_program_at`]).
fn relu_program(seed: u64, n: usize, d: usize, draws: usize) -> (Problem, Array2<f64>) {
    relu_program_at(seed, n, d, draws, 0.1)
}

/// A random ReLU program: X (n × d, uniform in [−1, 1]), y = sin(3x₀) + x₁, the distinct
/// patterns of `draws` uniform gates in [−1, 1]ᵈ, with those gates as witnesses (P × d).
pub(crate) fn relu_program_at(
    seed: u64,
    n: usize,
    d: usize,
    draws: usize,
    beta: f64,
) -> (Problem, Array2<f64>) {
    use rand::Rng;
    let mut rng = crate::rng::stream_rng(seed, 0);
    let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>() * 2.0 - 1.0);
    let y = Array1::from_shape_fn(n, |k| (x[[k, 0]] * 3.0).sin() + x[[k, 1]]);
    let mut pats: Vec<Vec<bool>> = Vec::new();
    let mut gates: Vec<Vec<f64>> = Vec::new();
    for _ in 0..draws {
        let u: Vec<f64> = (0..d).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        let pat: Vec<bool> = (0..n)
            .map(|k| (0..d).map(|j| x[[k, j]] * u[j]).sum::<f64>() > 0.0)
            .collect();
        if !pats.contains(&pat) {
            pats.push(pat);
            gates.push(u);
        }
    }
    let p = pats.len();
    let pm = Array2::from_shape_fn((p, n), |(i, k)| pats[i][k]);
    let gm = Array2::from_shape_fn((p, d), |(i, j)| gates[i][j]);
    let prob = Problem::new(
        x.view(),
        y.view(),
        pm.view(),
        super::super::Loss::Squared,
        beta,
        Kind::Relu,
        usize::MAX,
    )
    .unwrap();
    (prob, gm)
}

/// The kept rows are the m with the smallest s_k x_kᵀ g / ‖x_k‖, ascending, per pattern;
/// a zero row is never needed; no selection when m ≥ n or a witness is not strictly inside.
#[test]
fn nearest_rows_keeps_the_rows_nearest_to_the_witness() {
    let (prob, g) = relu_program(3, 30, 3, 40);
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let mut x = prob.x.clone();
    x.row_mut(4).fill(0.0);
    let xs = x.as_slice().unwrap();
    let sign = |k: usize, i: usize| prob.sign[[k, i]];
    let m = 7;
    let ix = nearest_rows(xs, n, d, sign, g.view(), m, false, &Control::new()).unwrap();
    assert_eq!(ix.len(), m * p);
    for i in 0..p {
        let mut marg: Vec<(f64, usize)> = (0..n)
            .map(|k| {
                let r = x.row(k);
                let nr = r.dot(&r).sqrt();
                let v = if nr == 0.0 {
                    f64::INFINITY
                } else {
                    sign(k, i) * r.dot(&g.row(i)) / nr
                };
                (v, k)
            })
            .collect();
        assert!(marg.iter().all(|v| v.0 > 0.0), "witness {i} is inside");
        marg.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut want: Vec<usize> = marg[..m].iter().map(|v| v.1).collect();
        want.sort_unstable();
        assert_eq!(&ix[i * m..(i + 1) * m], &want[..], "pattern {i}");
        assert!(!want.contains(&4));
    }
    assert!(nearest_rows(xs, n, d, sign, g.view(), n, false, &Control::new()).is_none());
    // parallel selection: the same rows
    assert_eq!(
        nearest_rows(xs, n, d, sign, g.view(), m, true, &Control::new()).unwrap(),
        ix
    );
    // a witness on a row's hyperplane gives no selection
    let mut g2 = g.clone();
    g2.row_mut(0).mapv_inplace(|v| -v);
    assert!(nearest_rows(xs, n, d, sign, g2.view(), m, false, &Control::new()).is_none());
}

/// On kept rows the kernels compute what the same products over explicitly gathered rows
/// give: S X z, Xᵀ w, X v, the Gram matrices, and the scatter back to n rows.
#[test]
fn kernels_on_kept_rows_match_gathered_products() {
    let (prob, g) = relu_program(5, 40, 4, 60);
    let (n, d, p) = (prob.n(), prob.d(), prob.p());
    let nb = 2 * p;
    let xs = prob.x.as_standard_layout().into_owned();
    let xsl = xs.as_slice().unwrap();
    let m = 9;
    let ix = nearest_rows(
        xsl,
        n,
        d,
        |k, i| prob.sign[[k, i]],
        g.view(),
        m,
        false,
        &Control::new(),
    )
    .unwrap();
    for par in [false, true] {
        let lp = LpData {
            x: xs.view(),
            xr: xsl,
            row_norm: (0..n).map(|k| xs.row(k).dot(&xs.row(k)).sqrt()).collect(),
            sg: ix
                .iter()
                .enumerate()
                .map(|(a, &k)| prob.sign[[k, a / m]])
                .collect(),
            idx: Some(ix.clone()),
            nl: m,
            d,
            p,
            nb,
            par,
        };
        let z = Array2::from_shape_fn((d, nb), |(j, b)| ((j * 7 + b * 3) % 11) as f64 - 5.0);
        let w = Array2::from_shape_fn((m, nb).f(), |(k, b)| ((k * 5 + b) % 7) as f64 + 0.5);
        let sxz = lp.signed_x(&z).unwrap();
        let mut xx = Array2::<f64>::zeros((n, d * (d + 1) / 2));
        for k in 0..n {
            let mut c = 0;
            for j in 0..d {
                for l in 0..=j {
                    xx[[k, c]] = xs[[k, j]] * xs[[k, l]];
                    c += 1;
                }
            }
        }
        let gram = lp.gram(&xx, &w, &Control::new()).unwrap();
        let xtw = lp.xt_times(w.as_slice_memory_order().unwrap(), 0, nb);
        let mut xv = vec![0.0; m * nb];
        lp.x_times(z.view(), 0, nb, &mut xv);
        for b in 0..nb {
            let i = b % p;
            // the pattern's kept rows, gathered
            let a = xs.select(Axis(0), &ix[i * m..(i + 1) * m]);
            let az = a.dot(&z.column(b));
            let atw = a.t().dot(&w.column(b));
            for r in 0..m {
                let k = ix[i * m + r];
                assert!((sxz[[r, b]] - prob.sign[[k, i]] * az[r]).abs() < 1e-12);
                assert!((xv[b * m + r] - az[r]).abs() < 1e-12);
            }
            for j in 0..d {
                assert!((xtw[[j, b]] - atw[j]).abs() < 1e-12);
            }
            let gm = a.t().dot(&(&a * &w.column(b).insert_axis(Axis(1))));
            let mut c = 0;
            for j in 0..d {
                for l in 0..=j {
                    assert!((gram[[b, c]] - gm[[j, l]]).abs() < 1e-12);
                    c += 1;
                }
            }
        }
        let full = lp.scatter(&w, n, -1.0);
        for b in 0..nb {
            let i = b % p;
            let kept = &ix[i * m..(i + 1) * m];
            for k in 0..n {
                match kept.iter().position(|&r| r == k) {
                    Some(r) => assert_eq!(full[[k, b]], w[[r, b]]),
                    None => assert_eq!(full[[k, b]], -1.0),
                }
            }
        }
    }
}

/// Keeping only the rows nearest to the witnesses gives the program's optimum: with enough
/// rows directly, and with far too few (a relaxed cone whose optimum lies past rows it left
/// out) by solving again with every row. (The bare method may stall a little short of a
/// tight tolerance on these small programs — its callers finish it —, so the three solves
/// are compared by their certificates: every dual bound below every objective, and every
/// objective within 1e-5 of the best bound.)
#[test]
fn solve_on_kept_rows_reaches_the_full_optimum() {
    let settings = Settings {
        tol: 1e-7,
        max_iter: 1000,
        check_every: 10,
        ..Default::default()
    };
    let ctl = Control::new();
    for seed in [1u64, 2, 3] {
        let (prob, g) = relu_program(seed, 150, 3, 200);
        let n = prob.n();
        let mut certs = Vec::new();
        for m in [n, 64, 3] {
            let r = solve_rows(
                &prob,
                &settings,
                Some(g.view()),
                None,
                None,
                Some(m),
                START_EPIGRAPH,
                &ctl,
            )
            .unwrap();
            // three rows per pattern in ℝ³ cannot hold these chambers; 64 do
            assert_eq!(r.all_rows_again, m == 3, "seed {seed}, {m} rows");
            assert_eq!(r.mu.dim(), (n, 2 * prob.p()));
            let c = prob.certify(&r.z, Some(&r.mu), None);
            assert_eq!(c.violation, 0.0);
            certs.push(c);
        }
        let best = certs
            .iter()
            .map(|c| c.dual)
            .fold(f64::NEG_INFINITY, f64::max);
        let scale = best.abs().max(1.0);
        for c in &certs {
            let ub = c.objective.max(c.network_objective);
            assert!(ub >= best - 1e-12 * scale, "seed {seed}: {ub} < {best}");
            assert!(ub - best <= 1e-5 * scale, "seed {seed}: {ub} vs {best}");
        }
    }
}

fn rand_soc(seed: u64, m: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..m)
        .map(|k| (((seed * 31 + k as u64 * 17) % 97) as f64 / 97.0) - 0.5)
        .collect();
    let n1 = v[1..].iter().map(|a| a * a).sum::<f64>().sqrt();
    v[0] = n1 + 0.3;
    v
}

#[test]
fn nt_scaling_maps_y_and_s_to_the_same_point() {
    for seed in 0..20u64 {
        let s = rand_soc(seed, 4);
        let y = rand_soc(seed + 100, 4);
        let mut wb = vec![0.0; 4];
        let eta = soc_nt(&s, &y, &mut wb).unwrap();
        assert!((soc_det(&wb) - 1.0).abs() < 1e-12);
        let mut wy = vec![0.0; 4];
        let mut wis = vec![0.0; 4];
        soc_apply_w(&wb, eta, &y, &mut wy, false);
        soc_apply_w(&wb, eta, &s, &mut wis, true);
        for a in 0..4 {
            assert!((wy[a] - wis[a]).abs() < 1e-12, "{wy:?} {wis:?}");
        }
        // W W⁻¹ = I
        let v = rand_soc(seed + 7, 4);
        let mut a1 = vec![0.0; 4];
        let mut a2 = vec![0.0; 4];
        soc_apply_w(&wb, eta, &v, &mut a1, true);
        soc_apply_w(&wb, eta, &a1, &mut a2, false);
        for a in 0..4 {
            assert!((a2[a] - v[a]).abs() < 1e-12);
        }
        // Jordan division inverts the product
        let mut prod = vec![0.0; 4];
        soc_jordan(&wy, &v, &mut prod);
        let mut q = vec![0.0; 4];
        soc_jordan_div(&wy, &prod, &mut q);
        for a in 0..4 {
            assert!((q[a] - v[a]).abs() < 1e-10);
        }
    }
}

#[test]
fn small_inverse_inverts_and_pins_rank_deficient_directions() {
    // A = C Cᵀ + I (m = 11, SPD): A · A⁻¹ = I, A⁻¹ symmetric
    let m = 11;
    let c: Vec<f64> = (0..m * m)
        .map(|k| ((k * 7 % 13) as f64 - 6.0) * 0.1)
        .collect();
    let mut a = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            a[i * m + j] = (0..m).map(|k| c[i * m + k] * c[j * m + k]).sum::<f64>()
                + if i == j { 1.0 } else { 0.0 };
        }
    }
    let (mut l, mut inv, mut e) = (vec![0.0; m * m], vec![0.0; m * m], vec![0.0; m]);
    small_spd_inverse(&a, m, &mut l, &mut inv, &mut e).unwrap();
    for i in 0..m {
        for j in 0..m {
            let v: f64 = (0..m).map(|k| a[i * m + k] * inv[k * m + j]).sum();
            assert!(
                (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10,
                "{i} {j} {v}"
            );
            assert_eq!(inv[i * m + j], inv[j * m + i]);
        }
    }
    // rank one (u uᵀ, m = 3): the pivots rounding kills become infinite (Cholesky-infinity),
    // so the inverse stays finite and the components they belong to are pinned at ~0: only
    // the first pivot u₀² survives
    let u = [1.0, 2.0, 2.0];
    let r1: Vec<f64> = (0..9).map(|k| u[k / 3] * u[k % 3]).collect();
    let (mut l, mut inv, mut e) = (vec![0.0; 9], vec![0.0; 9], vec![0.0; 3]);
    small_spd_inverse(&r1, 3, &mut l, &mut inv, &mut e).unwrap();
    assert!((inv[0] - 1.0 / (u[0] * u[0])).abs() < 1e-12, "{inv:?}");
    assert!(inv[1..].iter().all(|v| v.abs() < 1e-100), "{inv:?}");
    // non-finite input is an error, not a panic
    let mut bad = a.clone();
    bad[0] = f64::NAN;
    let (mut l, mut inv, mut e) = (vec![0.0; m * m], vec![0.0; m * m], vec![0.0; m]);
    assert!(small_spd_inverse(&bad, m, &mut l, &mut inv, &mut e).is_err());
}

#[test]
fn centrality_moves_trial_products_into_the_band() {
    // one block of four LP rows: trial products (h + αΔh)(μ + αΔμ) at α = 0.5 of
    // 0.01 (below), 1 (inside), 33.3… (above, clipped to −hi) and 12 (above)
    let x = Array2::<f64>::zeros((4, 1));
    let lp = LpData {
        x: x.view(),
        xr: &[0.0; 4],
        row_norm: vec![0.0; 4],
        idx: None,
        sg: vec![1.0; 4],
        nl: 4,
        d: 1,
        p: 1,
        nb: 1,
        par: false,
    };
    let col = |v: [f64; 4]| Array2::from_shape_vec((4, 1).f(), v.to_vec()).unwrap();
    let h = col([0.1, 1.0, 5.0, 3.0]);
    let dh = col([0.0, 0.0, 10.0, 2.0]);
    let lam = col([0.1, 1.0, 5.0, 3.0]);
    let dl = col([0.0, 0.0, -10.0 / 3.0, 0.0]);
    // products: 0.01, 1, (5 + 5)(5 − 5/3) = 33.3…, (3 + 1)·3 = 12
    let mut out = lp_zeros(4, 1);
    lp.centrality(LpStep::new(&h, &dh, &lam, &dl), 0.5, (0.1, 10.0), &mut out)
        .unwrap();
    let v = [0.01, 1.0, 10.0 * (5.0 - 5.0 / 3.0), 12.0];
    let want = [0.1 - v[0], 0.0, -10.0, 10.0 - v[3]];
    for k in 0..4 {
        assert!(
            (out[[k, 0]] - want[k]).abs() < 1e-12,
            "{k}: {}",
            out[[k, 0]]
        );
    }
}

#[test]
fn max_step_stops_at_the_boundary() {
    let u = [1.0, 0.0, 0.0];
    let du = [0.0, 1.0, 0.0];
    let a = soc_max_step(&u, &du, 10.0);
    assert!((a - 1.0).abs() < 1e-12);
    let du2 = [1.0, 0.5, 0.0];
    assert_eq!(soc_max_step(&u, &du2, 10.0), 10.0);
    let du3 = [-1.0, 0.0, 0.0];
    assert!((soc_max_step(&u, &du3, 10.0) - 1.0).abs() < 1e-12);
}

/// The solve (Woodbury assembly in several tiles and units of patterns, per-pattern packing,
/// block algebra, LP-row kernels) gives the same iterates bit for bit serially and on pools of
/// 1, 2 and 3 threads.
#[test]
fn solve_does_not_depend_on_the_thread_count() {
    // n above WOODBURY_TILE: M is assembled in 2 × 2 tiles, each split into chunks of patterns
    let (mut prob, g) = relu_program(7, 600, 3, 40);
    let settings = Settings {
        tol: 1e-7,
        max_iter: 1000,
        ..Default::default()
    };
    let ctl = Control::new();
    let run = |prob: &Problem| {
        let r = solve(prob, &settings, Some(g.view()), &ctl).unwrap();
        (r.z, r.mu, r.iters)
    };
    prob.par = false;
    let serial = run(&prob);
    assert!(serial.2 > 1);
    prob.par = true;
    for t in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        assert!(pool.install(|| run(&prob)) == serial, "{t} threads");
    }
}
