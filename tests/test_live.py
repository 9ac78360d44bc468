"""Live in, live out: a loopback MPEG-TS sender, ``genmedia enhance --live``, and the live HLS read while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import m3u8
import pytest
from serve_fixtures import free_port

from genmedia.config import load_config
from genmedia.errors import InputError
from genmedia.pipelines.live import LIVE_LADDER, LiveParams, live_folder, run_live

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SENDER = [sys.executable, str(REPO / "tests" / "live_sender.py")]


def _sender(url: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([*SENDER, url, str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float) -> bool:  # noqa: ANN001 - a small polling helper
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _decoded_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
    return len(frames), (frames[0].width, frames[0].height)


def test_live_stream_is_enhanced_into_a_live_hls_a_player_can_join(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out"
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genmedia.cli",
            "enhance",
            "--live",
            f"tcp://127.0.0.1:{port}?listen=1",
            "--upscale",
            "2",
            "--out",
            str(out),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    sender = _sender(f"tcp://127.0.0.1:{port}", 12)
    try:
        folder = live_folder(
            load_config(None, storage={"root": str(out)}), LiveParams(url=f"tcp://127.0.0.1:{port}?listen=1", upscale=2)
        )
        top = folder / "v0" / "index.m3u8"
        # While it runs: the master and a media playlist with segments, not ended yet: a player can join.
        assert _wait_for(
            lambda: (folder / "master.m3u8").exists() and top.exists() and "#EXTINF" in top.read_text(), 120
        )
        live = m3u8.parse(top.read_text(), strict=True)
        assert live["segments"] and not live["is_endlist"]
        master = m3u8.parse((folder / "master.m3u8").read_text(), strict=True)
        sizes = {p["stream_info"].get("resolution") for p in master["playlists"]}
        assert {"640x360", "320x180"} <= sizes  # two rungs: the enhanced one and a lower one
        first = live["segments"][0]["uri"]
        joined = tmp_path / "joined.mp4"
        joined.write_bytes(
            (folder / "v0" / live["segment_map"][0]["uri"]).read_bytes() + (folder / "v0" / first).read_bytes()
        )
        assert _decoded_frames(joined)[0] > 0
        stdout, stderr = receiver.communicate(timeout=180)
    finally:
        sender.kill()
        receiver.kill()
    assert receiver.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["ended"] == "the input ended" and report["frames_out"] > 200
    assert report["achieved_fps"] > 0 and set(report["latency_s"]) == {"p50", "max"}
    assert "live:" in stderr  # the status line every few seconds
    assert json.loads((folder / "live.json").read_text())["ended"] == "the input ended"
    for index in (folder / "v0" / "index.m3u8", folder / "v1" / "index.m3u8"):
        assert m3u8.parse(index.read_text(), strict=True)["is_endlist"]  # ended: the output stays playable
    frames, size = _decoded_frames(folder / "v0" / "index.m3u8")
    assert size == (640, 360) and frames > 100  # the rolling window keeps the last segments


def _run_in_thread(cfg, params: LiveParams) -> tuple[threading.Thread, dict]:  # noqa: ANN001
    result: dict = {}

    def target() -> None:
        try:
            result["report"] = run_live(cfg, params)
        except Exception as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def test_a_sender_that_vanishes_ends_the_stream_cleanly(tmp_path: Path) -> None:
    """UDP gives no goodbye: silence for read_timeout_s ends the run, and the playlists are closed."""
    port = free_port()
    cfg = load_config(None, storage={"root": str(tmp_path)})
    params = LiveParams(url=f"udp://127.0.0.1:{port}", read_timeout_s=2.0, open_timeout_s=60, report_every_s=1)
    thread, result = _run_in_thread(cfg, params)
    time.sleep(1.0)  # the receiver is listening before the first datagram
    sender = _sender(f"udp://127.0.0.1:{port}?pkt_size=1316", 5)
    try:
        thread.join(timeout=120)
    finally:
        sender.kill()
    assert "error" not in result, result
    report = result["report"].to_dict()
    assert "sender stopped" in report["ended"] and report["frames_out"] > 0
    folder = live_folder(cfg, params)
    assert m3u8.parse((folder / "v0" / "index.m3u8").read_text(), strict=True)["is_endlist"]
    assert json.loads((folder / "live.json").read_text())["ended"] == report["ended"]


def test_falling_behind_sheds_enhancement_before_frames(tmp_path: Path) -> None:
    """A 250 fps feed no 2-core machine can enhance in real time: the governor steps down its ladder in
    order (denoise first, then the fine upscale, frames last) and the output keeps both rungs."""
    port = free_port()
    cfg = load_config(None, storage={"root": str(tmp_path)})
    params = LiveParams(url=f"tcp://127.0.0.1:{port}?listen=1", upscale=2, open_timeout_s=60, read_timeout_s=5)
    thread, result = _run_in_thread(cfg, params)
    sender = subprocess.Popen(
        [*SENDER, f"tcp://127.0.0.1:{port}", "8", "320", "180", "250"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        thread.join(timeout=180)
    finally:
        sender.kill()
    assert "error" not in result, result
    report = result["report"].to_dict()
    levels = [c["level"] for c in report["level_changes"]]
    first_reached = [levels.index(level) for level in LIVE_LADDER[1:]]
    assert first_reached == sorted(first_reached)  # skip-denoise, then fast-upscale, then drop-frames
    assert report["frames_dropped"] > 0 and report["frames_processed"] > 0
    master = m3u8.parse((live_folder(cfg, params) / "master.m3u8").read_text(), strict=True)
    assert {"640x360", "320x180"} <= {p["stream_info"].get("resolution") for p in master["playlists"]}


def test_a_live_input_that_never_sends_is_one_line(tmp_path: Path) -> None:
    cfg = load_config(None, storage={"root": str(tmp_path)})
    with pytest.raises(InputError, match=r"udp://127\.0\.0\.1:\d+: no stream arrived within 2 s"):
        run_live(cfg, LiveParams(url=f"udp://127.0.0.1:{free_port()}", open_timeout_s=2))


def test_unsupported_live_urls_name_the_supported_ones(tmp_path: Path) -> None:
    cfg = load_config(None, storage={"root": str(tmp_path)})
    with pytest.raises(InputError, match="SRT and RTMP are not in the bundled FFmpeg"):
        run_live(cfg, LiveParams(url="rtmp://127.0.0.1/live/x"))
    with pytest.raises(InputError, match="live output needs a local storage root"):
        run_live(load_config(None, storage={"root": "s3://bucket/out"}), LiveParams(url="udp://127.0.0.1:9"))


def test_an_hls_playlist_is_a_live_input_too(tmp_path: Path) -> None:
    """A playlist another packager is writing (here: already ended) is read segment by segment."""
    from genmedia.media.synthetic import make_rotated_clip

    clip = tmp_path / "clip.mp4"
    make_rotated_clip(clip, rotation=0, width=320, height=180, n_frames=72)
    playlist = tmp_path / "in" / "index.m3u8"
    playlist.parent.mkdir()
    with av.open(str(clip)) as src, av.open(str(playlist), "w", format="hls", options={"hls_time": "1"}) as dst:
        out_stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out_stream
                dst.mux(packet)
    cfg = load_config(None, storage={"root": str(tmp_path / "out")})
    report = run_live(cfg, LiveParams(url=str(playlist), denoise=False, read_timeout_s=5)).to_dict()
    assert report["ended"] == "the input ended" and report["frames_processed"] == 72
