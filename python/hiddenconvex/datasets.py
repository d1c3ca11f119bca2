"""Built-in data sets: small synthetic problems and the sets shipped inside scikit-learn.

Every loader returns a :class:`Dataset` with a train/test split, standardised the same documented
way (:func:`prepare`):

- features: z-scored with the *training* split's mean and standard deviation (``ddof=0``;
  a constant column is centred and left unscaled), the same affine map applied to the test split;
  optional PCA (``pca=k``): the top-k principal directions of the standardised training features
  (SVD), both splits projected on them (not rescaled);
- classification targets: labels in {−1, +1} (multi-class sets become one-vs-rest, see
  ``target_class``);
- regression targets: z-scored with the training split's mean and standard deviation.

The split is seeded (``seed``) and stratified for classification. Nothing is downloaded: the
scikit-learn sets (breast cancer, diabetes, iris, wine) are files inside the scikit-learn package
(optional extra ``pip install 'hiddenconvex[data]'``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ._typing import Task
from ._validation import as_float_array, as_matrix, check_choice, check_float, check_int, encode_pm1
from .exceptions import InvalidInputError

__all__ = ["Dataset", "list_datasets", "load_dataset", "prepare", "toy_circle"]

TASKS: tuple[Task, ...] = ("regression", "classification")


@dataclasses.dataclass
class Dataset:
    """A prepared data set (see the module docstring for the standardisation).

    Attributes
    ----------
    name, task, description : str
    X_train, X_test : ndarray (n_train, d), (n_test, d)
    y_train, y_test : ndarray
        ±1 labels (classification) or standardised targets (regression).
    feature_names : list of str
    x_mean, x_scale : ndarray (d_raw,)
        The training statistics used to standardise the raw features.
    y_mean, y_scale : float
        For regression (0 and 1 for classification).
    components : ndarray (d_raw, k) or None
        The PCA directions when ``pca`` was used.
    """

    name: str
    task: str
    description: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float = 0.0
    y_scale: float = 1.0
    components: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, {self.task}, train {self.X_train.shape}, "
            f"test {self.X_test.shape})"
        )


def _split(
    y: np.ndarray, task: str, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = y.shape[0]
    if test_fraction == 0.0:
        return np.arange(n), np.arange(0)
    if task == "classification":
        train, test = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = int(round(test_fraction * idx.size))
            k = min(k, idx.size - 1)
            test.append(idx[:k])
            train.append(idx[k:])
        tr, te = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    else:
        idx = rng.permutation(n)
        k = min(int(round(test_fraction * n)), n - 1)
        tr, te = np.sort(idx[k:]), np.sort(idx[:k])
    return tr, te


def _pow2_scale(A: np.ndarray) -> np.ndarray:
    """Per column, the power of two at or above its largest |value| (1 for all-zero columns)."""
    mx = np.max(np.abs(A), axis=0) if A.shape[0] else np.zeros(A.shape[1])
    _, e = np.frexp(np.where(mx > 0, mx, 1.0))
    return np.asarray(np.ldexp(1.0, e))


def prepare(
    X: Any,
    y: Any,
    *,
    task: Task,
    name: str = "data",
    description: str = "",
    feature_names: list[str] | None = None,
    test_fraction: float = 0.25,
    pca: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Split and standardise ``(X, y)`` the documented way (module docstring).

    Parameters
    ----------
    X : array_like (n, d)
    y : array_like (n,)
        Real targets (regression) or any two distinct labels (classification; the larger one
        becomes +1).
    task : {"regression", "classification"}
    test_fraction : float in [0, 1)
        Share of samples held out (stratified for classification).
    pca : int, optional
        Project on the top ``pca`` principal directions of the standardised training features.
    seed : int
        Seeds the split.

    Raises
    ------
    InvalidInputError
        Shapes, NaN/inf, fewer than 4 samples, a classification target without exactly two labels.
    """
    Xv = as_matrix(X, "X")
    yv = as_float_array(y, "y", ndim=1)
    if yv.shape[0] != Xv.shape[0]:
        raise InvalidInputError(f"y: expected length {Xv.shape[0]} (rows of X), got {yv.shape[0]}")
    task_v = check_choice(task, "task", TASKS)
    frac = check_float(test_fraction, "test_fraction", minimum=0.0, maximum=0.9)
    n, d = Xv.shape
    if n < 4:
        raise InvalidInputError(f"X: need at least 4 samples, got {n}")
    if task_v == "classification":
        labels = np.unique(yv)
        if labels.size != 2:
            raise InvalidInputError(
                f"y: a classification target needs exactly two classes, got {labels.size} "
                f"({', '.join(f'{v:g}' for v in labels[:6])}{', ...' if labels.size > 6 else ''})"
            )
        yv = encode_pm1(yv, labels[1])
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    tr, te = _split(yv, task_v, frac, rng)
    # scale-safe standardisation: each column is first divided by its largest |value| (a power
    # of two, exact), so features of any magnitude (1e-200 … 1e200) neither overflow nor
    # underflow; the result equals the textbook (x − mean) / std.
    p2 = _pow2_scale(Xv[tr])
    mb = (Xv[tr] / p2).mean(axis=0)
    sb = (Xv[tr] / p2).std(axis=0)
    sb = np.where(sb > 0, sb, 1.0)
    Xtr = (Xv[tr] / p2 - mb) / sb
    Xte = (Xv[te] / p2 - mb) / sb
    with np.errstate(over="ignore"):
        mean = mb * p2
        scale = sb * p2
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(d)]
    comps = None
    if pca is not None:
        k = check_int(pca, "pca", minimum=1, maximum=d)
        _, _, Vt = np.linalg.svd(Xtr, full_matrices=False)
        comps = Vt[:k].T.copy()
        # a deterministic sign: the largest-|entry| of each direction is positive
        signs = np.sign(comps[np.argmax(np.abs(comps), axis=0), np.arange(k)])
        comps *= np.where(signs == 0, 1.0, signs)
        Xtr = Xtr @ comps
        Xte = Xte @ comps
        names = [f"PC{j + 1}" for j in range(k)]
    y_mean, y_scale = 0.0, 1.0
    ytr, yte = yv[tr], yv[te]
    if task_v == "regression":
        q = float(_pow2_scale(ytr[:, None])[0])
        ym = float((ytr / q).mean())
        ys = float((ytr / q).std()) or 1.0
        ytr = (ytr / q - ym) / ys
        yte = (yte / q - ym) / ys
        with np.errstate(over="ignore"):
            y_mean, y_scale = ym * q, ys * q
    return Dataset(
        name=name,
        task=task_v,
        description=description,
        X_train=np.ascontiguousarray(Xtr),
        y_train=np.ascontiguousarray(ytr),
        X_test=np.ascontiguousarray(Xte),
        y_test=np.ascontiguousarray(yte),
        feature_names=names,
        x_mean=mean,
        x_scale=scale,
        y_mean=y_mean,
        y_scale=y_scale,
        components=comps,
    )


# ---------------------------------------------------------------------------------------------
# synthetic sets
# ---------------------------------------------------------------------------------------------
def toy_circle(
    n: int = 10, seed: int = 0, *, with_ones: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The issue's toy problem: x ~ N(0, I₂), y = +1 if ‖x‖ > 1 else −1.

    Returns ``(X, y)`` with X = [x | 1] (n, 3) when ``with_ones`` (the bias as a data column, as in
    the seed paper), else (n, 2).
    """
    n_v = check_int(n, "n", minimum=2)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    Xg = rng.standard_normal((n_v, 2))
    y = np.where(np.linalg.norm(Xg, axis=1) > 1.0, 1.0, -1.0)
    X = np.hstack([Xg, np.ones((n_v, 1))]) if with_ones else Xg
    return X, y


def _circle(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    Xg = rng.standard_normal((n, 2))
    y = np.where(np.linalg.norm(Xg, axis=1) > 1.1774, 1.0, -1.0)  # median radius of N(0, I2)
    return Xg, y, "x ~ N(0, I2), y = +1 outside the circle of median radius (balanced), else -1"


def _sine(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    y = np.sin(2.0 * x) + 0.1 * rng.standard_normal(n)
    return x[:, None], y, "x ~ U(-2, 2), y = sin(2x) + 0.1 N(0, 1) (1-D regression)"


def _xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    return X, y, "x ~ U([-1, 1]^2), y = sign(x1 x2) (XOR)"


_SYNTHETIC: dict[str, tuple[Callable[..., Any], Task, int]] = {
    "circle": (_circle, "classification", 200),
    "sine": (_sine, "regression", 60),
    "xor": (_xor, "classification", 200),
}

# name -> (sklearn loader name, task, default positive class for one-vs-rest or None)
_SKLEARN: dict[str, tuple[str, Task, int | None]] = {
    "breast_cancer": ("load_breast_cancer", "classification", None),
    "diabetes": ("load_diabetes", "regression", None),
    "iris": ("load_iris", "classification", 1),
    "wine": ("load_wine", "classification", 1),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (scikit-learn's only when it is installed)."""
    names = sorted(_SYNTHETIC)
    try:
        import sklearn.datasets  # noqa: F401

        names += sorted(_SKLEARN)
    except ImportError:
        pass
    return names


def load_dataset(
    name: str,
    *,
    n: int | None = None,
    test_fraction: float = 0.25,
    pca: int | None = None,
    target_class: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a built-in data set, split and standardised (see the module docstring).

    Parameters
    ----------
    name : str
        Synthetic: ``"circle"`` (2-D, classification), ``"sine"`` (1-D regression), ``"xor"``
        (2-D classification). Shipped inside scikit-learn (optional extra ``[data]``):
        ``"breast_cancer"`` (569 × 30, malignant = −1 / benign = +1), ``"diabetes"``
        (442 × 10, regression), ``"iris"`` (150 × 4; one-vs-rest, default class 1 *versicolor*,
        the class that is not linearly separable), ``"wine"`` (178 × 13; one-vs-rest, default
        class 1).
    n : int, optional
        Sample count of a synthetic set (its default otherwise); for scikit-learn sets, keep a
        seeded random subset of ``n`` samples (all by default).
    test_fraction, pca, seed
        As in :func:`prepare`; ``seed`` also seeds the synthetic data and the subset.
    target_class : int, optional
        The +1 class of a multi-class set (the rest is −1).

    Raises
    ------
    InvalidInputError
        Unknown name (the message lists the available ones).
    ImportError
        A scikit-learn set without scikit-learn installed.
    """
    allowed = sorted(_SYNTHETIC) + sorted(_SKLEARN)
    name_v = check_choice(name, "name", allowed)
    seed_v = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed_v + 7919)
    if name_v in _SYNTHETIC:
        fn, task, n_default = _SYNTHETIC[name_v]
        n_v = n_default if n is None else check_int(n, "n", minimum=4)
        X, y, desc = fn(n_v, rng)
        feats = [f"x{j + 1}" for j in range(X.shape[1])]
    else:
        try:
            import sklearn.datasets as skd
        except ImportError as exc:
            raise ImportError(
                f"the {name_v!r} data set ships with scikit-learn: pip install 'hiddenconvex[data]'"
            ) from exc
        loader, task, default_class = _SKLEARN[name_v]
        bunch = getattr(skd, loader)()
        X = np.asarray(bunch.data, dtype=np.float64)
        y = np.asarray(bunch.target, dtype=np.float64)
        feats = [str(f) for f in bunch.feature_names]
        desc = f"scikit-learn {loader}() ({X.shape[0]} x {X.shape[1]})"
        if default_class is not None:
            c = default_class if target_class is None else check_int(target_class, "target_class")
            classes = np.unique(y)
            if c not in classes:
                raise InvalidInputError(
                    f"target_class: {name_v} has classes {[int(v) for v in classes]}, got {c}"
                )
            cname = str(bunch.target_names[c]) if hasattr(bunch, "target_names") else f"class {c}"
            y = encode_pm1(y, c)
            desc += f"; one-vs-rest: {cname} = +1"
        if n is not None:
            k = check_int(n, "n", minimum=4)
            if k < X.shape[0]:
                keep = np.sort(rng.choice(X.shape[0], size=k, replace=False))
                X, y = X[keep], y[keep]
                desc += f"; random subset of {k}"
    return prepare(
        X,
        y,
        task=task,
        name=name_v,
        description=desc,
        feature_names=feats,
        test_fraction=test_fraction,
        pca=pca,
        seed=seed_v,
    )
