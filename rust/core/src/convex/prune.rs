//! Carathéodory pruning (Pilanci & Ergen 2020) of a solution's blocks: at most n + 1 nonzero
//! blocks with the same network output and the same penalty.
//!
//! With t_j = ‖z_j‖ and c_j the unit-norm output of block j — σ_j (X z_j)₊ / t_j for the ReLU
//! program (the recovered network's own neuron, so a block slightly off its cone is not
//! magnified), D_i X z_j / t_j for the gated program — the network output is Σ_j t_j c_j and
//! the penalty β Σ_j t_j. Any δ in the null space of the (n + 1) × m matrix [c_j; 1] moves the
//! norms without changing either; a step along δ until a norm reaches 0 removes a block. The
//! steps run on windows of 2(n + 1) blocks (the largest first): one SVD per window gives its
//! m_w − (n + 1) null vectors, each removal eliminates that block's coordinate from the
//! remaining ones (a rank-one update), and blocks that stay join the next window. The blocks
//! are only rescaled (z_j ← z_j · t_j'/t_j with t_j' ≥ 0), so the signs of their outputs and
//! their cones are kept.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{svd, svd_scratch, ComputeSvdVectors};
use faer::Par;
use ndarray::{Array1, Array2};

use super::{Kind, Problem};
use crate::control::Control;
use crate::error::Result;

/// Relative size below which an entry of a null vector counts as zero.
const NULL_EPS: f64 = 1e-14;

/// The blocks of `z` (d × B) with at most n + 1 of them nonzero, the network output and the
/// penalty unchanged up to rounding (see the module docs). `z` itself when it already has at
/// most n + 1 nonzero blocks.
pub fn prune(prob: &Problem, z: &Array2<f64>, ctl: &Control) -> Result<Array2<f64>> {
    let n = prob.n();
    let p = prob.p();
    let norms = super::block_norms(z);
    let act: Vec<usize> = (0..z.ncols()).filter(|&b| norms[b] > 0.0).collect();
    let m = act.len();
    if m <= n + 1 {
        return Ok(z.clone());
    }
    ctl.check()?;
    // the columns [c_j; 1] of the active blocks, (n + 1) × m
    let t0: Vec<f64> = act.iter().map(|&b| norms[b]).collect();
    let mut c = Array2::<f64>::zeros((n + 1, m));
    for (a, &b) in act.iter().enumerate() {
        let (i, sig) = if b < p { (b, 1.0) } else { (b - p, -1.0) };
        for k in 0..n {
            let o: f64 = prob.x.row(k).dot(&z.column(b));
            c[[k, a]] = match prob.kind {
                Kind::Relu => sig * o.max(0.0) / t0[a],
                Kind::Gated => prob.mask[[k, i]] * o / t0[a],
            };
        }
        c[[n, a]] = 1.0;
    }
    let mut t = t0.clone();
    // the largest blocks first
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| t0[b].total_cmp(&t0[a]));
    let w = 2 * (n + 1);
    let mut window: Vec<usize> = order.iter().take(w).cloned().collect();
    let mut queue: Vec<usize> = order.iter().skip(w).rev().cloned().collect();
    loop {
        ctl.check()?;
        let tw: Vec<f64> = window.iter().map(|&j| t[j]).collect();
        let cw = Array2::from_shape_fn((n + 1, window.len()), |(r, a)| c[[r, window[a]]]);
        let tw = prune_window(&cw, tw, n, ctl)?;
        for (a, &j) in window.iter().enumerate() {
            t[j] = tw[a];
        }
        window.retain(|&j| t[j] > 0.0);
        if queue.is_empty() {
            break;
        }
        // at least one block joins (a window its null space could not shrink grows by one)
        let room = w.saturating_sub(window.len()).max(1);
        for _ in 0..room.min(queue.len()) {
            if let Some(j) = queue.pop() {
                window.push(j);
            }
        }
    }
    let mut out = z.clone();
    for (a, &b) in act.iter().enumerate() {
        let f = t[a] / t0[a];
        out.column_mut(b).mapv_inplace(|v| v * f);
    }
    Ok(out)
}

/// The norms after the pruning steps on one window: `cw` is its (n + 1) × m_w matrix [c_j; 1],
/// `t` its norms. One SVD gives the null vectors (the right singular vectors past the first
/// n + 1); each step moves along the first remaining one until a norm reaches 0 and eliminates
/// that coordinate from the others.
fn prune_window(cw: &Array2<f64>, mut t: Vec<f64>, n: usize, ctl: &Control) -> Result<Vec<f64>> {
    let m = cw.ncols();
    if m <= n + 1 {
        return Ok(t);
    }
    let rows = cw.nrows();
    let fm = faer::Mat::<f64>::from_fn(rows, m, |r, a| cw[[r, a]]);
    let mut sv = faer::Col::<f64>::zeros(rows.min(m));
    let mut v = faer::Mat::<f64>::zeros(m, m);
    let mut mem = MemBuffer::new(svd_scratch::<f64>(
        rows,
        m,
        ComputeSvdVectors::No,
        ComputeSvdVectors::Full,
        Par::Seq,
        Default::default(),
    ));
    if svd(
        fm.as_ref(),
        sv.as_diagonal_mut(),
        None,
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .is_err()
    {
        return Ok(t); // no decomposition: the window stays as it is
    }
    // null basis N (m × k), column-major: N[j][q] for coordinate j of vector q
    let k = m - (n + 1);
    let mut nb: Vec<Array1<f64>> = (0..k)
        .map(|q| Array1::from_shape_fn(m, |j| v[(j, n + 1 + q)]))
        .collect();
    let mut alive = vec![true; m];
    let n_alive = |a: &[bool]| a.iter().filter(|&&x| x).count();
    while !nb.is_empty() && n_alive(&alive) > n + 1 {
        ctl.check()?;
        let mut delta = nb[0].clone();
        for (dj, &a) in delta.iter_mut().zip(&alive) {
            if !a {
                *dj = 0.0;
            }
        }
        let scale = delta.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        if scale == 0.0 {
            nb.remove(0);
            continue;
        }
        if delta.iter().cloned().fold(f64::NEG_INFINITY, f64::max) <= NULL_EPS * scale {
            delta.mapv_inplace(|v| -v);
        }
        // the first norm to reach 0 along δ
        let mut kmin = usize::MAX;
        let mut rmin = f64::INFINITY;
        for (j, &a) in alive.iter().enumerate() {
            if a && delta[j] > NULL_EPS * scale {
                let r = t[j] / delta[j];
                if r < rmin {
                    rmin = r;
                    kmin = j;
                }
            }
        }
        if kmin == usize::MAX {
            nb.remove(0);
            continue;
        }
        for (tj, &dj) in t.iter_mut().zip(delta.iter()) {
            *tj = (*tj - rmin * dj).max(0.0);
        }
        t[kmin] = 0.0;
        let gone: Vec<usize> = (0..m).filter(|&j| alive[j] && t[j] == 0.0).collect();
        for &j in &gone {
            alive[j] = false;
        }
        // eliminate the removed coordinates from the basis (pivot: the vector with the largest
        // entry there, so the multipliers are at most 1)
        for &j in &gone {
            if nb.is_empty() {
                break;
            }
            let q = (0..nb.len())
                .max_by(|&a, &b| nb[a][j].abs().total_cmp(&nb[b][j].abs()))
                .unwrap_or(0);
            if nb[q][j] == 0.0 {
                continue;
            }
            let piv = nb.remove(q);
            for col in nb.iter_mut() {
                let f = col[j] / piv[j];
                if f != 0.0 {
                    col.scaled_add(-f, &piv);
                }
                col[j] = 0.0;
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random blocks inside their cones (witnesses times random norms, both signs): after
    /// pruning at most n + 1 blocks are nonzero, each block is a nonnegative multiple of
    /// itself, and the network output and the penalty are unchanged (NumPy-free closed check:
    /// Σ σ_j (X z_j)₊ and Σ ‖z_j‖ before and after).
    #[test]
    fn pruning_keeps_the_network_and_the_penalty() {
        let mut lcg = crate::rng::Lcg(99u64);
        let mut rnd = || lcg.unit() * 2.0 - 1.0;
        let (n, d, p) = (7usize, 3usize, 40usize);
        let x = Array2::from_shape_fn((n, d), |_| rnd());
        let y = Array1::from_shape_fn(n, |_| rnd());
        let w = Array2::from_shape_fn((p, d), |_| rnd());
        let pats = Array2::from_shape_fn((p, n), |(i, k)| {
            (0..d).map(|j| x[[k, j]] * w[[i, j]]).sum::<f64>() > 0.0
        });
        let prob = crate::convex::squared_relu_problem(x.view(), y.view(), pats.view());
        let z = Array2::from_shape_fn((d, 2 * p), |(j, b)| w[[b % p, j]] * (0.1 + rnd().abs()));
        let out = |z: &Array2<f64>| -> Array1<f64> {
            let mut o = Array1::zeros(n);
            for b in 0..2 * p {
                let s = if b < p { 1.0 } else { -1.0 };
                for k in 0..n {
                    o[k] += s * x.row(k).dot(&z.column(b)).max(0.0);
                }
            }
            o
        };
        let zp = prune(&prob, &z, &Control::new()).unwrap();
        let (n0, n1) = (
            super::super::block_norms(&z),
            super::super::block_norms(&zp),
        );
        assert!(n1.iter().filter(|&&v| v > 0.0).count() <= n + 1);
        for b in 0..2 * p {
            // a nonnegative multiple of the original block
            let f = n1[b] / n0[b];
            for j in 0..d {
                assert!((zp[[j, b]] - f * z[[j, b]]).abs() <= 1e-12 * n0[b]);
            }
        }
        let (o0, o1) = (out(&z), out(&zp));
        for k in 0..n {
            assert!((o0[k] - o1[k]).abs() <= 1e-9 * o0.iter().map(|v| v.abs()).sum::<f64>());
        }
        assert!((n0.sum() - n1.sum()).abs() <= 1e-12 * n0.sum());
        // already sparse: unchanged
        let zz = prune(&prob, &zp, &Control::new()).unwrap();
        assert_eq!(zz, zp);
    }
}
