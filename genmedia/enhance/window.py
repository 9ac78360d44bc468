"""Windows: the unit the enhancement stages pass along, one Ray Data row each.

A window is a run of consecutive frames of one video with the arrays of its frames in columns
(``frames``: N x H x W x 3, and per-frame ``index``, ``time``, ``shot``, ...) plus scalars. Whole runs
travel as one row so temporal stages (denoise, interpolation) always see their neighbours, however
Ray Data groups rows into blocks; windows of different lengths make ragged columns, which Ray Data
returns as object arrays, so stages read rows with :func:`rows` and write them with :func:`pack`.
"""

from __future__ import annotations

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
