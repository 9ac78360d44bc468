"""Temporary work of a killed job does not outlive it: a trailer killed mid-render leaves its partial renditions
in the job's own scratch space, and the next run removes them (``genmedia.scratch``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml
from typer.testing import CliRunner

from genmedia.cli import app
from genmedia.config import StorageConfig
from genmedia.scratch import scratch_dir, scratch_root, sweep

pytestmark = pytest.mark.ray

# Runs the real trailer command, but stalls the render after 30 frames (as a long render would) and says so.
_STALLED_TRAILER = """
import sys, time
from genmedia.pipelines import trailer as t
real = t.encode_renditions
def stalled(edl, frames, *args, **kwargs):
    def slow():
        for i, frame in enumerate(frames):
            yield frame
            if i == 30:
                print("RENDERING", flush=True)
                time.sleep(600)
    return real(edl, slow(), *args, **kwargs)
t.encode_renditions = stalled
from genmedia.cli import main
sys.argv = ["genmedia", *sys.argv[1:]]
main()
"""


def _partial_mp4s(root: Path) -> list[Path]:
    return sorted(root.rglob("trailer_*.mp4"))


@pytest.mark.slow
def test_trailer_killed_mid_render_is_cleaned_by_the_next_run(ray_session, sample_clip, tmp_path: Path) -> None:  # noqa: ANN001
    """The slowest test here (~30 s): a real trailer render in a subprocess, SIGKILLed, then the job again in-process."""
    storage = ray_session.storage
    cfg_file = tmp_path / "genmedia.yaml"
    gcs = ray.get_runtime_context().gcs_address  # the subprocess joins the session's Ray instead of starting one
    cfg_file.write_text(
        yaml.safe_dump({"storage": {"root": storage.root, "cache_dir": storage.cache_dir}, "ray": {"address": gcs}})
    )
    args = [
        "trailer",
        str(sample_clip[0]),
        "--duration",
        "4",
        "--qualities",
        "180p",
        "--title",
        "killed",
        "--config",
        str(cfg_file),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLED_TRAILER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.stdout.readline().strip() != "RENDERING":
            assert proc.poll() is None, proc.stderr.read()
        partial = _partial_mp4s(scratch_root(storage))
        assert partial, "no partial rendition in the job's scratch space"
        assert all(p.is_relative_to(scratch_root(storage)) for p in partial)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert all(p.exists() for p in partial)  # a kill runs no clean-up

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout)["status"] == "done"
    assert not any(p.exists() for p in partial)
    assert _partial_mp4s(scratch_root(storage)) == []


def test_scratch_of_a_live_run_is_kept_and_removed_when_it_ends(tmp_path: Path) -> None:
    storage = StorageConfig(cache_dir=str(tmp_path / "cache"))
    dead = scratch_root(storage) / "v" / "trailer" / "h" / "otherhost_1_2_abcd"
    dead.mkdir(parents=True)
    with scratch_dir(storage, "v", "trailer", "h") as mine:
        (mine / "part.mp4").write_bytes(b"x")
        assert sweep(storage) == [] and mine.is_dir()  # the owner (this process) is alive; another host's is not judged
    assert not mine.exists() and dead.is_dir()


def test_start_up_sweep_removes_dead_owners_only(tmp_path: Path) -> None:
    """``init_ray`` sweeps at start-up; here the sweep itself: a dead pid, and a live pid whose start time differs
    (the pid was reused), are gone; this process's own folder stays."""
    import socket

    import psutil

    storage = StorageConfig(cache_dir=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    host, me = socket.gethostname(), psutil.Process()
    base = scratch_root(storage) / "v" / "trailer" / "h"
    dead = base / f"{host}_{done.stdout.strip()}_1_aaaa"
    reused = base / f"{host}_{me.pid}_1_bbbb"
    alive = base / f"{host}_{me.pid}_{int(me.create_time() * 1000)}_cccc"
    for folder in (dead, reused, alive):
        folder.mkdir(parents=True)
        (folder / "trailer_180p.mp4").write_bytes(b"partial")
    assert sorted(sweep(storage)) == sorted([dead, reused])
    assert alive.is_dir() and not dead.exists() and not reused.exists()
