"""PyTorch models as objectives (``hc.from_torch``): the three targets of the adapters.

1. ``midpoint D≈1e4``: midpoint-test throughput on a torch MLP (20 → 100 → 80 → 1, ReLU,
   n = 200 samples, D = 10,261): ``hc.midpoint_test`` (all points of a chunk through one
   ``torch.func.vmap`` call) against a loop calling the model once per point (a, b and the
   midpoint of each pair, ``torch.func.functional_call`` per point). 600 pairs each.
   Target: ≥ 5× the loop.
2. ``dense Hessian D≈500``: a torch MLP (10 → 30 → 5 → 1, tanh, n = 200, D = 491): our
   finite-difference Hessian of the autodiff gradient (``hc.hessian``, Richardson, with error
   estimates and kink flags) against ``torch.func.hessian`` (exact). ``max_err`` is our largest
   entry error against it, ``covered`` whether our error estimate covers it everywhere.
   Target: within 5× of ``torch.func.hessian``.
3. ``lambda_max D≈1e5``: a torch MLP (20 → 300 → 300 → 1, tanh, n = 200, D = 96,901): the largest
   Hessian eigenvalue by ``hc.eigenvalues`` (thick-restart Lanczos on central differences of the
   autodiff gradient, tol 1e-6) against hessian-eigenthings' Lanczos (``hessian_eigenthings
   .lanczos`` on its autograd ``HessianOperator``, float64) and PyHessian's power iteration
   where installed, and always a torch reference: ``scipy.sparse.linalg.eigsh`` on the exact
   autograd HVP (the hessian-eigenthings-style Lanczos). ``rel_err`` is the deviation from the
   eigsh reference. Target: within 2× of hessian-eigenthings' Lanczos at the same accuracy.

Everything in float64 on the CPU. In the test suite (benchmarks disabled) the problems shrink.
Run: ``python -m pytest benches/bench_adapters.py --benchmark-enable -p no:cacheprovider``.
"""

from __future__ import annotations

import hiddenconvex as hc
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # a test dependency (tests/run.sh installs it)
nn = torch.nn
N = 200


def _mlp(widths, act, seed=0):
    torch.manual_seed(seed)
    layers = []
    for k in range(len(widths) - 1):
        layers.append(nn.Linear(widths[k], widths[k + 1]))
        if k < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers).double()


def _data(d, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    y = np.tanh(X @ rng.standard_normal(d) / np.sqrt(d))[:, None] + 0.1 * rng.standard_normal(
        (N, 1)
    )
    return X, y


# ---------------------------------------------------------------------------------------------
def test_midpoint_throughput(bench, smoke):
    widths = (20, 10, 8, 1) if smoke else (20, 100, 80, 1)
    n_pairs = 20 if smoke else 600
    X, y = _data(widths[0])
    model = _mlp(widths, nn.ReLU)
    obj = hc.from_torch(model, nn.MSELoss(), X, y)
    theta = obj.theta0
    case = f"midpoint D={obj.dim}, {n_pairs} pairs"

    def ours():
        return hc.midpoint_test(obj, n_pairs=n_pairs, center=theta, scales=(1.0,), seed=0)

    rep = bench(ours, group="adapters", case=case, impl="hiddenconvex", rounds=3,
                pairs_per_s=lambda r: n_pairs / max(r.elapsed_s, 1e-12))  # fmt: skip
    assert rep.pairs_tested == n_pairs

    from torch.func import functional_call

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    rng = np.random.default_rng(0)
    A = theta + rng.standard_normal((n_pairs, obj.dim))
    B = theta + rng.standard_normal((n_pairs, obj.dim))

    def f(t):
        parts = torch.as_tensor(t).split(sizes)
        p = {n: q.reshape(s) for n, q, s in zip(names, parts, shapes, strict=True)}
        with torch.no_grad():
            return float(nn.functional.mse_loss(functional_call(model, p, (Xt,)), yt))

    def loop():
        gaps = [0.5 * f(a) + 0.5 * f(b) - f(0.5 * (a + b)) for a, b in zip(A, B, strict=True)]
        return np.asarray(gaps)

    bench(loop, group="adapters", case=case, impl="per-point loop (functional_call)", rounds=3)


# ---------------------------------------------------------------------------------------------
def test_dense_hessian(bench, smoke):
    widths = (4, 5, 3, 1) if smoke else (10, 30, 5, 1)
    X, y = _data(widths[0])
    obj = hc.from_torch(_mlp(widths, nn.Tanh), nn.MSELoss(), X, y)
    theta = obj.theta0
    case = f"dense Hessian D={obj.dim}"
    H = obj.exact_hessian(theta)

    def ours():
        return hc.hessian(obj, theta)

    res = bench(
        ours, group="adapters", case=case, impl="hiddenconvex", rounds=3,
        max_err=lambda r: float(np.abs(r.H[0] - H).max()),
        covered=lambda r: bool(np.all(np.abs(r.H[0] - H) <= r.error[0])),
    )  # fmt: skip
    assert np.all(np.abs(res.H[0] - H) <= res.error[0] + 1e-14 * np.abs(H).max())

    def exact():
        return obj.exact_hessian(theta)

    bench(exact, group="adapters", case=case, impl="torch.func.hessian", rounds=3)


# ---------------------------------------------------------------------------------------------
def test_lambda_max(bench, smoke):
    widths = (20, 12, 12, 1) if smoke else (20, 300, 300, 1)
    X, y = _data(widths[0])
    model = _mlp(widths, nn.Tanh)
    obj = hc.from_torch(model, nn.MSELoss(), X, y)
    theta = obj.theta0
    case = f"lambda_max D={obj.dim}"
    tol = 1e-6

    from scipy.sparse.linalg import LinearOperator, eigsh

    def reference():
        hv = lambda v: obj.exact_hvp(theta, v)  # noqa: E731
        op = LinearOperator((obj.dim, obj.dim), matvec=hv, dtype=np.float64)
        return float(eigsh(op, k=1, which="LA", tol=1e-10, v0=np.ones(obj.dim))[0][0])

    lam_ref = reference()

    def ours():
        return hc.eigenvalues(obj, theta, k=1, which="largest", tol=tol, seed=0)

    r = bench(
        ours, group="adapters", case=case, impl="hiddenconvex", rounds=3,
        rel_err=lambda r: abs(float(r.eigenvalues[-1]) - lam_ref) / abs(lam_ref),
    )  # fmt: skip
    assert abs(float(r.eigenvalues[-1]) - lam_ref) <= 1e-4 * abs(lam_ref)

    bench(reference, group="adapters", case=case, impl="scipy eigsh on torch autograd HVP",
          rounds=1 if not smoke else 1,
          rel_err=lambda v: abs(v - lam_ref) / abs(lam_ref))  # fmt: skip

    try:
        import hessian_eigenthings as he
    except ImportError:  # pragma: no cover - optional peer
        he = None
    if he is not None:
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        op = he.HessianOperator(model, [(Xt, yt)], he.supervised_loss(nn.MSELoss()))

        def eigenthings():
            res = he.lanczos(op, k=1, which="LA", tol=tol, seed=0, max_iter=60)
            return float(res.eigenvalues[0])

        bench(eigenthings, group="adapters", case=case, impl="hessian-eigenthings lanczos",
              rounds=3, rel_err=lambda v: abs(v - lam_ref) / abs(lam_ref))  # fmt: skip
    try:
        from pyhessian import hessian as pyh
    except ImportError:  # pragma: no cover - optional peer
        pyh = None
    if pyh is not None:
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

        def pyhessian():
            torch.manual_seed(0)
            comp = pyh(model, nn.MSELoss(), data=(Xt, yt), cuda=False)
            return float(comp.eigenvalues(maxIter=200, tol=tol, top_n=1)[0][0])

        bench(pyhessian, group="adapters", case=case, impl="PyHessian power iteration",
              rounds=1, rel_err=lambda v: abs(v - lam_ref) / abs(lam_ref))  # fmt: skip
