"""Enhancement windows: the typed :class:`Window` and its Ray Data row, the model deployments' column names."""

from __future__ import annotations

import numpy as np
import pytest

from genmedia.config import Config
from genmedia.deployments.interpolator import Interpolator
from genmedia.enhance.window import Window, pack, pack_windows, rows, windows

pytestmark = pytest.mark.unit


def _window(start: int, n: int, height: int = 8) -> Window:
    rng = np.random.default_rng(start)
    return Window(
        start=start,
        frames=rng.integers(0, 255, (n, height, 12, 3), dtype=np.uint8),
        index=np.arange(start, start + n),
        time=np.arange(start, start + n) / 24,
        shot=np.zeros(n, np.int32),
        stutter=np.zeros(n, bool),
        core_start=0,
        core_end=n - 1,
        end_time=(start + n - 1) / 24,
        t0=0.0,
        seconds={"decode": 0.5},
        backends={"upscaler": "classical"},
    )


def test_windows_of_different_lengths_round_trip_through_a_batch() -> None:
    a, b = _window(0, 5), _window(5, 3, height=16)
    back = windows(pack_windows([a.timed("decode", 0.25), b]))
    assert [w.start for w in back] == [0, 5]
    assert back[0].seconds == {"decode": 0.75} and back[1].seconds == {"decode": 0.5}
    assert back[1].backends == {"upscaler": "classical"} and back[0].steps == {}
    assert np.array_equal(back[0].frames, a.frames) and back[1].frames.shape == (3, 16, 12, 3)
    assert np.array_equal(back[1].index, b.index) and back[1].shot.dtype == np.int32
    assert back[0].out_pts is None and (back[0].core_end, back[0].end_time) == (4, 4 / 24)


def test_the_row_carries_the_names_the_model_deployments_read_and_write() -> None:
    w = _window(0, 5)
    row = w.to_row()
    assert {"frames", "time", "shot", "stutter", "core_start", "core_end", "end_time", "t0"} <= set(row)
    assert row["seconds_decode"] == 0.5 and row["backend_upscaler"] == "classical"
    assert "out_pts" not in row and "seconds" not in row
    out = rows(Interpolator(Config())(pack([{**row, "fps_out": 48.0}])))[0]
    del out["fps_out"]
    done = Window.from_row(out)
    assert done.out_index is not None and done.out_index.tolist() == list(range(8))
    assert sum(done.steps.values()) == 8 and set(done.steps) == {"copy", "blend", "cut_hold", "still", "flow_fallback"}
    assert done.seconds == {"decode": 0.5} and len(done.shot) == 8


def test_an_unknown_column_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown column 'colour'"):
        Window.from_row({**_window(0, 3).to_row(), "colour": 1})
