"""A successful CLI run prints progress and its one-line result, not Ray's own logging (start-up notices, Ray Data's
executor lines, workers' and core workers' log lines stay in Ray's log files)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml
from serve_fixtures import make_tiny_clip

pytestmark = pytest.mark.ray

RAY_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d|core_worker|raylet|streaming_executor|\bINFO\b|\(pid=|Ray Data|Dataset"
)


@pytest.mark.slow
def test_a_successful_cli_run_prints_only_its_result(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """A subprocess joins the session's Ray (starting a second one would add half a minute): about 20 s."""
    clip = make_tiny_clip(tmp_path / "tiny.mp4", seed=3)
    cfg = tmp_path / "genmedia.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "storage": {"root": str(tmp_path / "out"), "cache_dir": ray_session.storage.cache_dir},
                "ray": {"address": ray.get_runtime_context().gcs_address},
            }
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmedia.cli",
            "analyze",
            str(clip),
            "--embed",
            "off",
            "--no-audio",
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().count("\n") == 0 and proc.stdout.startswith("analyze done: "), proc.stdout
    noise = [line for line in proc.stderr.splitlines() if RAY_LINE.search(line)]
    assert noise == [], proc.stderr


def test_cli_float_options_are_exit_2_naming_the_option_as_typed(tmp_path: Path) -> None:
    """Refused before any work (no Ray, no input read): one line, exit 2, the option as the user typed it."""
    cases = [
        (["analyze", "--min-shot", "1e308"], "--min-shot: Input should be less than or equal to 600"),
        (["analyze", "--min-shot", "nan"], "--min-shot: Input should be a finite number"),
        (["trailer", "--skip-end", "nan"], "--skip-end:"),
        (["thumbnails", "--title", "a\x01b"], "--title: holds a control character (U+0001)"),
    ]
    for args, expected in cases:
        command, *options = args
        proc = subprocess.run(
            [sys.executable, "-m", "genmedia.cli", command, str(tmp_path / "x.mp4"), *options],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, proc.stderr)
        assert "OverflowError" not in proc.stderr and "--min-shot-seconds" not in proc.stderr
