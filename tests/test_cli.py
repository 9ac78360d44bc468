"""The CLI as a user runs it: JSON out, one-line errors, exit codes 0 / 2 / 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GENMEDIA = [sys.executable, "-m", "genmedia.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``genmedia ARGS`` in a subprocess (as a user would)."""
    return subprocess.run(
        [*GENMEDIA, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def test_probe_prints_json(sample_clip) -> None:  # noqa: ANN001
    path, truth = sample_clip
    proc = run("probe", str(path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["frame_count"] == truth.n_frames and data["width"] == truth.width
    assert data["variable_frame_rate"] is False and data["video_codec"] == "h264"
    assert data["audio_streams"][0]["sample_rate"] == truth.audio.sample_rate


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d / "missing.mp4", "does not exist"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") and d / "empty.mp4" or d / "empty.mp4", "is empty (0 bytes)"),
        (lambda d: (d / "text.mp4").write_text("hello\n" * 99) and d / "text.mp4", "is not a media file"),
        (lambda d: "ftp://host/video.mp4", "unsupported"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, make, reason: str) -> None:  # noqa: ANN001
    target = str(make(tmp_path))
    proc = run("probe", target)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and target in lines[0] and reason in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_audio_only_needs_the_flag(messy_media) -> None:  # noqa: ANN001
    path = messy_media["audio_only"].path
    refused = run("probe", path)
    assert refused.returncode == 2 and "audio-only" in refused.stderr
    accepted = run("probe", path, "--allow-audio")
    assert accepted.returncode == 0 and json.loads(accepted.stdout)["has_video"] is False


def test_over_the_size_limit_from_a_config_file(tmp_path: Path, sample_clip) -> None:  # noqa: ANN001
    cfg = tmp_path / "small.yaml"
    cfg.write_text("limits:\n  max_file_bytes: 1000\n")
    proc = run("probe", str(sample_clip[0]), "--config", str(cfg))
    assert proc.returncode == 2 and "limits.max_file_bytes" in proc.stderr


def test_invalid_config_and_usage_errors_exit_2(tmp_path: Path, sample_clip) -> None:  # noqa: ANN001
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("limits:\n  max_pixels: lots\n")
    proc = run("probe", str(sample_clip[0]), "--config", str(cfg))
    assert proc.returncode == 2 and f"{cfg}: limits.max_pixels" in proc.stderr
    assert run("probe").returncode == 2
    assert run("no-such-command").returncode == 2


def test_internal_failure_is_one_line_exit_1(tmp_path: Path, sample_clip) -> None:  # noqa: ANN001
    """An unexpected exception (here: a storage root that is a file) is reported in one line, exit 1."""
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    proc = run("demo", "--small", "--out", str(blocker / "out"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" in proc.stderr


def test_models_list_shows_the_verified_whisper_base(tmp_path: Path) -> None:
    proc = run("models", "list", "--json", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    models = {m["key"]: m for m in json.loads(proc.stdout)}
    assert models["transcriber"]["model"] == "whisper-base"
