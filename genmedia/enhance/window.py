"""Windows: the unit the enhancement stages pass along, one Ray Data row each.

A window is a run of consecutive frames of one video with the arrays of its frames in columns
(``frames``: N x H x W x 3, and per-frame ``index``, ``time``, ``shot``, ...) plus scalars. Whole runs
travel as one row so temporal stages (denoise, interpolation) always see their neighbours, however
Ray Data groups rows into blocks; windows of different lengths make ragged columns, which Ray Data
returns as object arrays, so stages read rows with :func:`rows` and write them with :func:`pack`.
The enhancement stages see each row as a :class:`Window` (:func:`windows` / :func:`pack_windows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np


def rows(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a Ray Data numpy batch as dicts of plain arrays / scalars."""
    n = len(next(iter(batch.values())))
    out = []
    for r in range(n):
        row = {}
        for key, column in batch.items():
            value = column[r]
            row[key] = np.asarray(value) if isinstance(value, np.ndarray) else value
        out.append(row)
    return out


def pack(items: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows back into a batch; array columns whose shapes differ between rows become object arrays."""
    batch: dict[str, np.ndarray] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], np.ndarray) and len({v.shape for v in values}) > 1:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            batch[key] = column
        else:
            batch[key] = np.asarray(values) if not isinstance(values[0], np.ndarray) else np.stack(values)
    return batch


STEP_PREFIX = "n_"
SECONDS_PREFIX = "seconds_"
BACKEND_PREFIX = "backend_"


@dataclass(frozen=True)
class Window:
    """One window of the enhancement pipeline, typed: what each stage reads and writes.

    ``index``, ``time``, ``stutter`` are per input frame of the window (core plus halo); ``frames`` and
    ``shot`` are per input frame until the interpolator, per output frame after it. ``core_start`` /
    ``core_end`` bound the frames this window owns (the rest is halo). ``seconds`` (stage -> CPU seconds),
    ``backends`` (stage -> backend name) and ``steps`` (interpolation step kind -> count) are what the
    encode loop adds up for the report. Travels as a Ray Data row through :meth:`to_row` / :meth:`from_row`.
    """

    start: int
    """Index of the window's first core frame (windows are encoded in this order)."""
    frames: np.ndarray
    index: np.ndarray
    time: np.ndarray
    shot: np.ndarray
    stutter: np.ndarray
    core_start: int
    core_end: int
    end_time: float
    """Source time where the next window's core starts (the end of the video for the last one)."""
    t0: float
    """Source time of the video's first frame."""
    out_pts: np.ndarray | None = None
    """Output pts of the frames when the rate is kept (set by denoise)."""
    out_index: np.ndarray | None = None
    """Output frame numbers at the new rate (set by the interpolator), with :attr:`out_time`."""
    out_time: np.ndarray | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)
    backends: Mapping[str, str] = field(default_factory=dict)
    steps: Mapping[str, int] = field(default_factory=dict)

    def timed(self, stage: str, seconds: float) -> Window:
        """This window with ``seconds`` more spent in ``stage``."""
        return replace(self, seconds={**self.seconds, stage: self.seconds.get(stage, 0.0) + seconds})

    def to_row(self) -> dict[str, Any]:
        """The Ray Data row: the fields as columns (unset optional arrays left out), ``seconds_<stage>``,
        ``backend_<stage>`` and ``n_<step>`` scalars (the names the model deployments' ``__call__`` use)."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _MAPS}
        row = {k: v for k, v in row.items() if v is not None}
        row.update({SECONDS_PREFIX + k: v for k, v in self.seconds.items()})
        row.update({BACKEND_PREFIX + k: v for k, v in self.backends.items()})
        row.update({STEP_PREFIX + k: v for k, v in self.steps.items()})
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Window:
        """A window from a Ray Data row written by :meth:`to_row` (and possibly extended by a model stage)."""
        values: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        backends: dict[str, str] = {}
        steps: dict[str, int] = {}
        for key, value in row.items():
            if key in _SCALARS:
                values[key] = _SCALARS[key](value)
            elif key in _ARRAYS:
                values[key] = np.asarray(value)
            elif key.startswith(SECONDS_PREFIX):
                seconds[key.removeprefix(SECONDS_PREFIX)] = float(value)
            elif key.startswith(BACKEND_PREFIX):
                backends[key.removeprefix(BACKEND_PREFIX)] = str(value)
            elif key.startswith(STEP_PREFIX):
                steps[key.removeprefix(STEP_PREFIX)] = int(value)
            else:
                raise ValueError(f"window row: unknown column {key!r}")
        return cls(**values, seconds=seconds, backends=backends, steps=steps)


_MAPS = ("seconds", "backends", "steps")
_SCALARS: dict[str, Callable[[Any], Any]] = {
    "start": int,
    "core_start": int,
    "core_end": int,
    "end_time": float,
    "t0": float,
}
_ARRAYS = frozenset(f.name for f in fields(Window)) - set(_SCALARS) - set(_MAPS)


def windows(batch: dict[str, Any]) -> list[Window]:
    """The windows of a Ray Data numpy batch."""
    return [Window.from_row(row) for row in rows(batch)]


def pack_windows(items: list[Window]) -> dict[str, np.ndarray]:
    """Windows back into a Ray Data batch."""
    return pack([w.to_row() for w in items])
