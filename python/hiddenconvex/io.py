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
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from . import _typing
from .exceptions import HiddenConvexError, InvalidInputError

__all__ = [
    "Result",
    "ResultFileError",
    "load",
    "save",
    "atomic_write_bytes",
    "atomic_write_text",
]

_REGISTRY: dict[str, type[Result]] = {}
R = TypeVar("R", bound="Result")
FORMAT = "hiddenconvex"


def _version() -> str:
    from . import __version__

    return __version__


#: Marker in the names of the temporary files of atomic writes: ``.<name>.hctmp-<pid>-<rand>``.
TMP_MARK = ".hctmp-"


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _remove_stale_temps(target: Path) -> None:
    """Delete temporary files of earlier writes to ``target`` whose writer process is gone
    (killed mid-save): they are named ``.<name>.hctmp-<pid>-…``."""
    prefix = f".{target.name}{TMP_MARK}"
    try:
        names = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for p in names:
        pid_text = p.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
                continue  # the writer still runs
            except ProcessLookupError:
                pass
            except (PermissionError, OSError):
                continue
        elif p.stat().st_mtime > _START_TIME:
            continue  # this process's own write in progress (another thread)
        try:
            p.unlink()
        except OSError:
            pass


_START_TIME = time.time()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename).

    The file gets the permission bits of the file it replaces, or for a new file those
    ``open()`` would give (``0o666`` less the umask). The temporary file is named
    ``.<name>.hctmp-<pid>-<random>`` in the same folder; one left behind by a killed process is
    removed by the next write to the same path. Writing onto a directory raises
    :class:`~hiddenconvex.exceptions.InvalidInputError`.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"path: {os.fspath(path)!r} is a directory, expected a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    _remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{TMP_MARK}{os.getpid()}-", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
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
                raise ResultFileError(f"unknown result kind {value['__result__']!r}")
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
            raise ResultFileError(
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


class ResultFileError(InvalidInputError):
    """A file given to :func:`load` is not a readable hiddenconvex result (malformed header,
    missing or mistyped fields); the message names the file and the field."""


_TYPE_CHECKS: dict[str, Any] = {
    "np.ndarray": lambda v: isinstance(v, np.ndarray),
    "float": lambda v: (
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
    ),
    "int": lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)),
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
    "None": lambda v: v is None,
}


def _literal_values(alias: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal[...]`` alias (through ``| None``)."""
    args = getattr(alias, "__args__", ())
    out: tuple[Any, ...] = ()
    for a in args:
        out += _literal_values(a) if hasattr(a, "__args__") else (a,)
    return out


# A field typed by one of the option aliases of hiddenconvex._typing holds one of its values.
for _name in _typing.__all__:
    _allowed = _literal_values(getattr(_typing, _name))
    _TYPE_CHECKS[_name] = lambda v, allowed=_allowed: isinstance(v, str) and v in allowed


def _check_field_types(cls: type[Result], fields: dict[str, Any], where: str) -> None:
    """Check each loaded field against its annotation (the simple types of result classes:
    arrays, numbers, strings, bools, lists, dicts, unions with None); others are not checked."""
    for f in dataclasses.fields(cls):
        if f.name not in fields:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ResultFileError(f"{where!r}: field {f.name!r} of {cls.__name__} is missing")
            continue
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        alts = [a.strip().split("[", 1)[0] for a in ann.split("|")]
        if not alts or any(a not in _TYPE_CHECKS for a in alts):
            continue
        v = fields[f.name]
        if not any(_TYPE_CHECKS[a](v) for a in alts):
            raise ResultFileError(
                f"{where!r}: field {f.name!r} of {cls.__name__} should be {ann}, got "
                f"{type(v).__name__}"
            )


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
                    raise ResultFileError(f"{os.fspath(path)!r} is not a hiddenconvex result file")
                header = json.loads(bytes(z["__header__"]).decode("utf-8"))
                arrays = {k: z[k] for k in z.files if k != "__header__"}
        else:
            raise InvalidInputError(f"path: expected a .npz or .json file, got {os.fspath(path)!r}")
    except HiddenConvexError:
        raise
    except Exception as exc:
        raise ResultFileError(
            f"{os.fspath(path)!r} is not a readable hiddenconvex result file ({exc})"
        ) from exc
    where = os.fspath(path)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ResultFileError(f"{where!r} is not a hiddenconvex result file")
    kind = header.get("kind")
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ResultFileError(f"{where!r}: unknown result kind {kind!r}")
    raw_fields = header.get("fields")
    if not isinstance(raw_fields, dict):
        raise ResultFileError(f"{where!r}: malformed header (fields is not a mapping)")
    try:
        fields = {}
        for k, v in raw_fields.items():
            if isinstance(v, dict) and "__npz__" in v:
                if v["__npz__"] not in arrays:
                    raise ResultFileError(f"{where!r}: field {k!r}: array {v['__npz__']!r} missing")
                fields[k] = arrays[v["__npz__"]]
            else:
                fields[k] = _from_jsonable(v)
        _check_field_types(cls, fields, where)
        return cls._from_fields(fields)
    except HiddenConvexError as exc:
        if where in str(exc):
            raise
        raise ResultFileError(f"{where!r}: {exc}") from exc
    except Exception as exc:  # malformed nested values, missing fields
        raise ResultFileError(
            f"{where!r}: malformed {cls.__name__} ({type(exc).__name__}: {exc})"
        ) from exc
