"""Long audio: bounded-memory scanning, chunks cut in pauses, exact range reads that stitch back."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from genmedia.errors import InputError
from genmedia.media.audio import load_audio, read_range, write_audio_file
from genmedia.subtitles import chunking

pytestmark = pytest.mark.unit

SR = 16000


def _three_hours(block_s: float = 30.0):
    """3 hours of 'speech' (4 s tone bursts) and 1 s pauses, generated block by block (never whole)."""
    period = 5 * SR
    total = 3 * 3600 * SR
    for start in range(0, total, int(block_s * SR)):
        n = min(int(block_s * SR), total - start)
        idx = np.arange(start, start + n)
        on = (idx % period) < 4 * SR
        yield (0.3 * np.sin(idx * 0.07) * on).astype(np.float32)


@pytest.mark.slow
def test_three_hours_scan_in_bounded_memory() -> None:
    """Slow (about 3 s, under tracemalloc): three hours of synthesized audio scanned block by block."""
    seen: list[float] = []
    tracemalloc.start()
    levels = chunking.loudness_profile(_three_hours(), SR, total_s=3 * 3600.0, progress=lambda s, d, t: seen.append(d))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    whole = 3 * 3600 * SR * 4  # the audio as float32: 691 MB
    assert levels.size == 3 * 3600 * 100
    assert peak < 40 * 1024**2, f"peak {peak / 1e6:.0f} MB"  # a block + the 4 MB profile, not {whole / 1e6:.0f} MB
    assert peak < whole / 15
    assert seen[-1] == pytest.approx(3 * 3600.0) and len(seen) == 360  # progress after every block

    chunks = chunking.plan_chunks(levels, target_s=300)
    assert chunks[0].start == 0 and chunks[-1].end == pytest.approx(3 * 3600.0)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    assert all(c.duration <= 300 + 1e-9 for c in chunks) and len(chunks) <= 3 * 3600 / 150 + 1
    for c in chunks[:-1]:  # every cut lies in a pause (the 1 s gap after each 4 s burst)
        assert c.end % 5 >= 4.0, c


def test_read_range_stitches_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(SR * 70)).astype(np.float32)
    audio[SR * 20 : SR * 21] = 0
    path = tmp_path / "long.flac"
    write_audio_file(path, audio, SR)
    whole = load_audio(path, SR)
    levels, chunks = chunking.scan(path, target_s=30)
    assert len(chunks) == 3
    pieces = [read_range(path, c.start, c.end) for c in chunks]
    assert np.array_equal(np.concatenate(pieces), whole)  # sample-exact: times stitch with exact offsets
    assert np.array_equal(read_range(path, 33.37, 41.0), whole[round(33.37 * SR) : 41 * SR])


def test_read_range_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_range(tmp_path / "missing.flac", 0, 1)
