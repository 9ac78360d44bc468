"""Concealed corruption is reported: frames FFmpeg decodes with errors it hides ("error while decoding MB ...")
are counted as damaged frames, by the decoder and in the analysis's warnings, details and shots.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genmedia.config import LimitsConfig
from genmedia.media.decode import iter_frames
from genmedia.media.probe import probe
from genmedia.pipelines import analyze

pytestmark = pytest.mark.ray

FLIP = 64 * 1024


@pytest.fixture(scope="module")
def flipped_clip(sample_clip, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """The session's sample clip with 64 KiB in its middle bit-flipped (headers and index intact)."""
    path = tmp_path_factory.mktemp("damaged") / "flipped.mp4"
    shutil.copyfile(sample_clip[0], path)
    data = bytearray(path.read_bytes())
    start = len(data) // 2 - FLIP // 2
    data[start : start + FLIP] = bytes(b ^ 0xFF for b in data[start : start + FLIP])
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("threads", [0, 1])
def test_decoder_counts_concealed_damage(sample_clip, flipped_clip: Path, threads: int) -> None:  # noqa: ANN001
    clean_damaged: list[int] = []
    assert (
        sum(1 for _ in iter_frames(probe(sample_clip[0], LimitsConfig()), threads=threads, damaged=clean_damaged))
        == 240
    )
    assert clean_damaged == []
    errors: list[str] = []
    damaged: list[int] = []
    list(iter_frames(probe(flipped_clip, LimitsConfig()), threads=threads, errors=errors, damaged=damaged))
    assert damaged, errors
    assert any("damaged frame at" in e and "the decoder concealed" in e for e in errors)


@pytest.mark.slow
def test_analysis_reports_damaged_frames(ray_session, flipped_clip: Path) -> None:  # noqa: ANN001
    result = analyze.run(ray_session, str(flipped_clip), analyze.Params(embed="off", audio=False))
    assert result.status.value == "done", result.error
    assert result.details["damaged_frames"] > 0, result.details
    assert any("frames are damaged: the decoder concealed errors" in w for w in result.warnings), result.warnings
    shots = json.loads(Path(result.files["shots.json"].removeprefix("file://")).read_text())
    assert shots["damaged_frames"] == result.details["damaged_frames"]
    manifest = json.loads(Path(result.output_uri.removeprefix("file://"), "manifest.json").read_text())
    assert any("damaged" in w for w in manifest["warnings"])
