"""Progress reporting: turn the ``progress=`` argument into a ``callback(done, total)``.

``progress`` may be ``None``/``False`` (silent), ``True`` (a tqdm bar if tqdm is installed, else
silent), or any callable ``f(done, total)`` (``total`` is 0 when unknown). The Rust core calls the
callback from the calling thread about every 50 ms during long runs; raising in it cancels the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[[int, int], Any]


class _TqdmCallback:
    def __init__(self, desc: str, unit: str) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(desc=desc, unit=unit, total=None, leave=False)
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if total and self._bar.total != total:
            self._bar.total = total
            self._bar.refresh()
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        self._bar.close()


class progress_callback:
    """Context manager yielding the callback (or None) for a ``progress=`` argument."""

    def __init__(self, progress: Any, desc: str, unit: str = "it") -> None:
        self._progress = progress
        self._desc = desc
        self._unit = unit
        self._tqdm: _TqdmCallback | None = None

    def __enter__(self) -> ProgressCallback | None:
        p = self._progress
        if p is None or p is False:
            return None
        if p is True:
            try:
                self._tqdm = _TqdmCallback(self._desc, self._unit)
            except ImportError:
                return None
            return self._tqdm
        if callable(p):
            return p
        from .exceptions import InvalidTypeError

        raise InvalidTypeError(
            f"progress: expected None, a bool or a callable f(done, total), got {type(p).__name__}"
        )

    def __exit__(self, *exc: object) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
