"""Saving and loading results: ``.npz`` (arrays kept binary) or ``.json`` (human-readable).

Never pickle. Every result class derives from :class:`Result` (a dataclass mixin) and is
registered by name, so :func:`load` can rebuild any saved result. Files are written atomically:
to a temporary file in the same folder, flushed, then renamed over the target, so an interrupted
run never leaves a truncated file.

Layout of a saved result: a JSON header ``{"format": "hiddenconvex", "kind": <class name>,
"version": <package version>, "fields": {...}}``. In ``.npz`` files each array field is stored as
its own array and the header as the array ``__header__`` (a UTF-8 string); in ``.json`` files
arrays are written as ``{"__ndarray__": nested lists, "dtype": ..., "shape": ...}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from .exceptions import HiddenConvexError, InvalidInputError

__all__ = ["Result", "load", "save", "atomic_write_bytes", "atomic_write_text"]

_REGISTRY: dict[str, type[Result]] = {}
R = TypeVar("R", bound="Result")
FORMAT = "hiddenconvex"


def _version() -> str:
    from . import __version__

    return __version__


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _to_jsonable(value: Any) -> Any:
    """Convert a field value to JSON (arrays tagged so they load back with their dtype)."""
    if isinstance(value, Result):
        return {"__result__": type(value).__name__, "fields": value._fields_jsonable()}
    if isinstance(value, np.ndarray):
        data = value.tolist()
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            # JSON has no NaN/inf: write them as the strings "nan"/"inf"/"-inf", which
            # np.array(..., dtype=float) parses back.
            obj = value.astype(object)
            bad = ~np.isfinite(value)
            obj[bad] = [repr(float(v)) for v in value[bad]]
            data = obj.tolist()
        return {
            "__ndarray__": data,
            "dtype": str(value.dtype),
            "shape": list(value.shape),
        }
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot serialise a value of type {type(value).__name__}")


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            arr = np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
            return arr.reshape(value["shape"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__result__" in value:
            cls = _REGISTRY.get(value["__result__"])
            if cls is None:
                raise HiddenConvexError(f"unknown result kind {value['__result__']!r}")
            return cls._from_fields({k: _from_jsonable(v) for k, v in value["fields"].items()})
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


@dataclasses.dataclass(repr=False)
class Result:
    """Base of every result object: ``to_dict()``, ``save(path)``, ``load(path)``, ``summary()``.

    Subclasses are dataclasses; their fields hold arrays, numbers, strings, lists, dicts or other
    results. Override :meth:`summary` for a readable multi-line report; ``repr`` shows the class
    and its scalar fields.
    """

    _kind: ClassVar[str] = "Result"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # -- views ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (arrays stay NumPy arrays; nested results become dicts)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, Result) else v
        return out

    def _fields_jsonable(self) -> dict[str, Any]:
        return {f.name: _to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def _from_fields(cls: type[R], fields: dict[str, Any]) -> R:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in fields.items() if k in names})

    def summary(self) -> str:
        """A short human-readable report (subclasses give a better one)."""
        return repr(self)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                parts.append(f"{f.name}=<{v.dtype} array {v.shape}>")
            elif isinstance(v, (int, float, str, bool, np.generic)) or v is None:
                parts.append(f"{f.name}={v!r}")
            elif isinstance(v, (list, tuple, dict)):
                parts.append(f"{f.name}=<{type(v).__name__} of {len(v)}>")
            else:
                parts.append(f"{f.name}=<{type(v).__name__}>")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to ``.npz`` (default for other suffixes is an error) or ``.json``, atomically."""
        return save(self, path)

    @classmethod
    def load(cls: type[R], path: str | os.PathLike[str]) -> R:
        """Load a result saved by :meth:`save`; checks it is of this class."""
        obj = load(path)
        if not isinstance(obj, cls):
            raise HiddenConvexError(
                f"{os.fspath(path)!r} holds a {type(obj).__name__}, not a {cls.__name__}"
            )
        return obj


def save(result: Result, path: str | os.PathLike[str]) -> Path:
    """Save ``result`` to ``path`` (``.npz`` or ``.json``), atomically."""
    p = Path(path)
    suffix = p.suffix.lower()
    if not isinstance(result, Result):
        raise InvalidInputError(
            f"result: expected a hiddenconvex result, got {type(result).__name__}"
        )
    if suffix == ".json":
        header = {
            "format": FORMAT,
            "kind": type(result).__name__,
            "version": _version(),
            "fields": result._fields_jsonable(),
        }
        return atomic_write_text(p, json.dumps(header, indent=1, allow_nan=False))
    if suffix == ".npz":
        import io as _io

        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(result):
            v = getattr(result, f.name)
            if isinstance(v, np.ndarray) and v.dtype != object:
                key = f"field:{f.name}"
                arrays[key] = v
                fields[f.name] = {"__npz__": key}
            else:
                fields[f.name] = _to_jsonable(v)
        header = {
            "format": FORMAT,
            "kind": type(result).__name__,
            "version": _version(),
            "fields": fields,
        }
        arrays["__header__"] = np.frombuffer(
            json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8
        )
        buf = _io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return atomic_write_bytes(p, buf.getvalue())
    raise InvalidInputError(f"path: expected a .npz or .json file name, got {os.fspath(path)!r}")


def load(path: str | os.PathLike[str]) -> Result:
    """Load any result saved by :func:`save`. Files that are not ours fail with a clear error."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"path: no such file {os.fspath(path)!r}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".json":
            header = json.loads(p.read_text(encoding="utf-8"))
            arrays: dict[str, np.ndarray] = {}
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "__header__" not in z.files:
                    raise HiddenConvexError(
                        f"{os.fspath(path)!r} is not a hiddenconvex result file"
                    )
                header = json.loads(bytes(z["__header__"]).decode("utf-8"))
                arrays = {k: z[k] for k in z.files if k != "__header__"}
        else:
            raise InvalidInputError(f"path: expected a .npz or .json file, got {os.fspath(path)!r}")
    except HiddenConvexError:
        raise
    except Exception as exc:
        raise HiddenConvexError(
            f"{os.fspath(path)!r} is not a readable hiddenconvex result file ({exc})"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise HiddenConvexError(f"{os.fspath(path)!r} is not a hiddenconvex result file")
    cls = _REGISTRY.get(header.get("kind", ""))
    if cls is None:
        raise HiddenConvexError(f"{os.fspath(path)!r}: unknown result kind {header.get('kind')!r}")
    fields = {}
    for k, v in header["fields"].items():
        if isinstance(v, dict) and "__npz__" in v:
            fields[k] = arrays[v["__npz__"]]
        else:
            fields[k] = _from_jsonable(v)
    return cls._from_fields(fields)
