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

import importlib.util
import warnings

import hiddenconvex as hc
import numpy as np
import pytest
import torch  # a test dependency (tests/run.sh installs it)
from torch import nn

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


_CACHE: dict = {}


def _objective(widths, act, smoke):
    key = (widths, act.__name__, smoke)
    if key not in _CACHE:
        X, y = _data(widths[0])
        model = _mlp(widths, act)
        _CACHE[key] = (hc.from_torch(model, nn.MSELoss(), X, y), model, X, y)
    return _CACHE[key]


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["hiddenconvex", "loop"])
def test_midpoint_throughput(bench, smoke, impl):
    widths = (20, 10, 8, 1) if smoke else (20, 100, 80, 1)
    n_pairs = 20 if smoke else 600
    obj, model, X, y = _objective(widths, nn.ReLU, smoke)
    theta = obj.theta0
    case = f"midpoint D={obj.dim}, {n_pairs} pairs"
    if impl == "hiddenconvex":

        def ours():
            return hc.midpoint_test(obj, n_pairs=n_pairs, center=theta, scales=(1.0,), seed=0)

        rep = bench(ours, group="adapters", case=case, impl="hiddenconvex", rounds=3,
                    pairs_per_s=lambda r: n_pairs / max(r.elapsed_s, 1e-12))  # fmt: skip
        assert rep.pairs_tested == n_pairs
        return

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
@pytest.mark.parametrize("impl", ["hiddenconvex", "torch.func.hessian"])
def test_dense_hessian(bench, smoke, impl):
    widths = (4, 5, 3, 1) if smoke else (10, 30, 5, 1)
    obj = _objective(widths, nn.Tanh, smoke)[0]
    theta = obj.theta0
    case = f"dense Hessian D={obj.dim}"
    if impl == "torch.func.hessian":
        bench(lambda: obj.exact_hessian(theta), group="adapters", case=case, impl=impl, rounds=3)
        return
    H = obj.exact_hessian(theta)
    res = bench(
        lambda: hc.hessian(obj, theta), group="adapters", case=case, impl="hiddenconvex",
        rounds=3,
        max_err=lambda r: float(np.abs(r.H[0] - H).max()),
        covered=lambda r: bool(np.all(np.abs(r.H[0] - H) <= r.error[0])),
    )  # fmt: skip
    assert np.all(np.abs(res.H[0] - H) <= res.error[0] + 1e-14 * np.abs(H).max())


# ---------------------------------------------------------------------------------------------
def _lambda_ref(obj):
    from scipy.sparse.linalg import LinearOperator, eigsh

    theta = obj.theta0
    op = LinearOperator((obj.dim, obj.dim), matvec=lambda v: obj.exact_hvp(theta, v),
                        dtype=np.float64)  # fmt: skip
    return float(eigsh(op, k=1, which="LA", tol=1e-10, v0=np.ones(obj.dim))[0][0])


# the optional peers run where installed (bench extras do not pull them in)
_PEERS = [
    name
    for name, module in (("eigenthings", "hessian_eigenthings"), ("pyhessian", "pyhessian"))
    if importlib.util.find_spec(module) is not None
]


@pytest.mark.parametrize("impl", ["hiddenconvex", "eigsh", *_PEERS])
def test_lambda_max(bench, smoke, impl):
    widths = (20, 12, 12, 1) if smoke else (20, 300, 300, 1)
    obj, model, X, y = _objective(widths, nn.Tanh, smoke)
    theta = obj.theta0
    case = f"lambda_max D={obj.dim}"
    tol = 1e-6
    key = ("ref", widths)
    if key not in _CACHE:
        _CACHE[key] = _lambda_ref(obj)
    lam_ref = _CACHE[key]

    def rel(v):
        return abs(v - lam_ref) / abs(lam_ref)

    if impl == "hiddenconvex":
        r = bench(
            lambda: hc.eigenvalues(obj, theta, k=1, which="largest", tol=tol, seed=0),
            group="adapters", case=case, impl="hiddenconvex", rounds=3,
            rel_err=lambda r: rel(float(r.eigenvalues[-1])),
        )  # fmt: skip
        assert rel(float(r.eigenvalues[-1])) <= 1e-4
    elif impl == "eigsh":
        bench(lambda: _lambda_ref(obj), group="adapters", case=case,
              impl="scipy eigsh on torch autograd HVP", rounds=1, rel_err=rel)  # fmt: skip
    elif impl == "eigenthings":
        import hessian_eigenthings as he

        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        op = he.HessianOperator(model, [(Xt, yt)], he.supervised_loss(nn.MSELoss()))
        n_iter = min(60, obj.dim - 1)

        def eigenthings():
            res = he.lanczos(op, k=1, which="LA", tol=tol, seed=0, max_iter=n_iter)
            return float(res.eigenvalues[0])

        bench(eigenthings, group="adapters", case=case, impl="hessian-eigenthings lanczos",
              rounds=3, rel_err=rel)  # fmt: skip
    else:
        from pyhessian import hessian as pyh

        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

        def pyhessian():
            torch.manual_seed(0)
            with warnings.catch_warnings():  # PyHessian's backward(create_graph=True) warns
                warnings.filterwarnings("ignore", message=".*create_graph=True.*")
                comp = pyh(model, nn.MSELoss(), data=(Xt, yt), cuda=False)
                return float(comp.eigenvalues(maxIter=200, tol=tol, top_n=1)[0][0])

        bench(pyhessian, group="adapters", case=case, impl="PyHessian power iteration",
              rounds=1, rel_err=rel)  # fmt: skip
