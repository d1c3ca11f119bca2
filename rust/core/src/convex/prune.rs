//! Carathéodory pruning (Pilanci & Ergen 2020) of a solution's blocks: at most n + 1 nonzero
//! blocks with the same network output and the same penalty.
//!
//! With t_j = ‖z_j‖ and c_j the unit-norm output of block j — σ_j (X z_j)₊ / t_j for the ReLU
//! program (the recovered network's own neuron, so a block slightly off its cone is not
//! magnified), D_i X z_j / t_j for the gated program — the network output is Σ_j t_j c_j and
//! the penalty β Σ_j t_j. Any δ in the null space of the (n + 1) × m matrix [c_j; 1] moves the
//! norms without changing either; a step along δ until a norm reaches 0 removes a block. The
//! steps run on windows of 2(n + 1) blocks (the largest first): one Householder QR per window
//! gives its m_w − (n + 1) null vectors, each removal eliminates that block's coordinate from the
//! remaining ones (a rank-one update), and blocks that stay join the next window. The blocks
//! are only rescaled (z_j ← z_j · t_j'/t_j with t_j' ≥ 0), so the signs of their outputs and
//! their cones are kept.

use faer::dyn_stack::{MemBuffer, MemStack};
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
/// `t` its norms. One QR gives the null vectors ([`null_basis`]; half the time of the SVD's
/// right singular vectors past the first n + 1 it replaces: logistic, n = 60, d = 2, all 120
/// patterns, β = 1e-4, 0.9 instead of 1.6 ms); each step moves along the first remaining one until a norm reaches 0 and eliminates
/// that coordinate from the others.
fn prune_window(cw: &Array2<f64>, t: Vec<f64>, n: usize, ctl: &Control) -> Result<Vec<f64>> {
    let m = cw.ncols();
    if m <= n + 1 {
        return Ok(t);
    }
    let k = m - (n + 1);
    // null basis N (m × k), column-major: N[j][q] for coordinate j of vector q
    let q = null_basis(cw);
    let nb: Vec<Array1<f64>> = (0..k)
        .map(|j| Array1::from_shape_fn(m, |i| q[(i, j)]))
        .collect();
    eliminate(nb, t, n, ctl)
}

/// An orthonormal basis (m × (m − r)) of the null space of the r × m matrix `cw` (r < m): the
/// last m − r columns of Q in the Householder QR of cwᵀ (the rows of `cw` lie in the span of
/// Q's first r columns, whatever its rank), on this thread.
fn null_basis(cw: &Array2<f64>) -> faer::Mat<f64> {
    use faer::linalg::householder::{
        apply_block_householder_sequence_on_the_left_in_place_scratch as apply_scratch,
        apply_block_householder_sequence_on_the_left_in_place_with_conj as apply,
    };
    use faer::linalg::qr::no_pivoting::factor::{
        qr_in_place, qr_in_place_scratch, recommended_block_size,
    };
    let (r, m) = cw.dim();
    let k = m - r;
    let mut a = faer::Mat::<f64>::from_fn(m, r, |j, i| cw[[i, j]]);
    let bs = recommended_block_size::<f64>(m, r);
    let mut coeff = faer::Mat::<f64>::zeros(bs, r);
    let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(
        m,
        r,
        bs,
        Par::Seq,
        Default::default(),
    ));
    qr_in_place(
        a.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let mut q = faer::Mat::<f64>::from_fn(m, k, |i, j| if i == r + j { 1.0 } else { 0.0 });
    let mut mem = MemBuffer::new(apply_scratch::<f64>(m, bs, k));
    apply(
        a.as_ref(),
        coeff.as_ref(),
        faer::Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut mem),
    );
    q
}

/// The pruning steps along the null basis `nb` of a window (see [`prune_window`]).
fn eliminate(
    mut nb: Vec<Array1<f64>>,
    mut t: Vec<f64>,
    n: usize,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let m = t.len();
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
    /// The QR null basis against its definition: cw · N = 0 and NᵀN = I (m − r orthonormal
    /// columns), for full-rank windows and for one of rank r − 2 (dependent rows), where the
    /// basis still holds m − r null vectors.
    #[test]
    fn the_qr_null_basis_spans_null_vectors() {
        let mut lcg = crate::rng::Lcg(7u64);
        let mut rnd = || lcg.unit() * 2.0 - 1.0;
        for (r, m, deficient) in [(5usize, 12usize, false), (7, 14, true), (3, 4, false)] {
            let mut cw = Array2::from_shape_fn((r, m), |_| rnd());
            if deficient {
                // rank r − 2: the last row repeats the first, the one before is their sum with
                // the second
                let (r0, r1) = (cw.row(0).to_owned(), cw.row(1).to_owned());
                cw.row_mut(r - 1).assign(&r0);
                cw.row_mut(r - 2).assign(&(&r0 + &r1));
            }
            let q = null_basis(&cw);
            assert_eq!((q.nrows(), q.ncols()), (m, m - r));
            for a in 0..m - r {
                for i in 0..r {
                    let v: f64 = (0..m).map(|j| cw[[i, j]] * q[(j, a)]).sum();
                    assert!(v.abs() < 1e-13, "row {i} · null vector {a} = {v:e}");
                }
                for b in 0..m - r {
                    let g: f64 = (0..m).map(|j| q[(j, a)] * q[(j, b)]).sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((g - want).abs() < 1e-13, "NᵀN[{a}, {b}] = {g:e}");
                }
            }
        }
    }

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
