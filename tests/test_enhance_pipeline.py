"""The enhance job end to end on a local Ray: outputs read back with PyAV, timestamps, cuts, HDR tags,
metadata carried through, real-time mode, and bad input through the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from genmedia.config import Config
from genmedia.enhance.hdr import BT2020_PRIMARIES_XY, HdrMetadata, read_metadata, sdr_to_hdr
from genmedia.enhance.pixels import from_unit
from genmedia.enhance.plan import plan_output
from genmedia.enhance.writer import EnhancedWriter, OutputFormat
from genmedia.errors import InputError
from genmedia.media.decode import decode_frames
from genmedia.media.encode import VideoWriter
from genmedia.media.probe import probe
from genmedia.pipelines import enhance as job

pytestmark = [pytest.mark.ray, pytest.mark.slow]

GENMEDIA = [sys.executable, "-m", "genmedia.cli"]


def _read(path: str, keep: set[int] | None = None) -> dict[str, Any]:
    """What a player sees in an output file: stream facts, every frame's pts, and the frames in ``keep``."""
    with av.open(path) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        facts: dict[str, Any] = {
            "codec": cc.name,
            "pix_fmt": cc.pix_fmt,
            "width": v.width,
            "height": v.height,
            "primaries": cc.color_primaries,
            "trc": cc.color_trc,
            "colorspace": cc.colorspace,
            "rate": v.average_rate,
            "time_base": v.time_base,
            "sar": v.sample_aspect_ratio,
            "audio": [a.codec_context.name for a in c.streams.audio],
            "pts": [],
            "frames": {},
        }
        for i, frame in enumerate(c.decode(v)):
            if i == 0:
                facts["side_data"] = {str(sd.type).split(".")[-1] for sd in frame.side_data}
                facts["rotation"] = frame.rotation
            facts["pts"].append(frame.pts)
            if keep and i in keep:
                facts["frames"][i] = frame.to_ndarray(format="rgb24")
    return facts


def _output(result: Any, name: str = "enhanced.mp4") -> str:
    return result.files[name].removeprefix("file://")


def test_upscale_denoise_grade_interpolate_on_the_sample_clip(
    ray_session: Config, sample_clip: tuple[Path, Any]
) -> None:
    path, truth = sample_clip
    params = job.Params(upscale=2, denoise="auto", grade="auto", fps=60)
    result = job.run(ray_session, str(path), params)
    report = job.load_report(ray_session, result)

    cut_slots = {}
    for c in truth.cuts:
        last_before = math.ceil(truth.time_of(c) * 60 - 1e-9) - 1
        cut_slots[c] = (math.ceil(truth.time_of(c - 1) * 60 - 1e-9), last_before, last_before + 1)
    out = _read(_output(result), keep={k for slots in cut_slots.values() for k in slots})
    assert (out["width"], out["height"], out["rate"]) == (640, 360, 60)
    n = math.ceil(truth.duration * 60 - 1e-6)
    assert len(out["pts"]) == n == report["output"]["frames"] == 600
    assert [Fraction(p) * out["time_base"] for p in out["pts"]] == [Fraction(k, 60) for k in range(n)]
    assert out["audio"] == ["aac"]

    # Never blended across a cut: every slot before the cut shows the old shot's last frame.
    for c, (held, last_before, after) in cut_slots.items():
        frames = out["frames"]
        same = np.abs(frames[held].astype(int) - frames[last_before]).mean()
        jump = np.abs(frames[last_before].astype(int) - frames[after]).mean()
        assert same < 4 and jump > 5 * same + 8, (c, same, jump)

    assert report["shots"]["source"] == "analysis" and report["shots"]["count"] >= len(truth.cuts) + 1
    assert len(report["grade"]["per_shot"]) == report["shots"]["count"]
    assert report["interpolation"]["cut_hold"] >= len(truth.cuts) and report["interpolation"]["blend"] > 100
    assert set(report["backends"]) >= {"upscaler", "interpolator", "encoder"}
    assert "libvmaf" in report["metrics"]["vmaf_note"] and "psnr" not in report["metrics"]  # no reference given
    assert {"decode", "upscale", "interpolate", "grade", "encode"} <= set(report["throughput"]["stage_cpu_seconds"])
    lut = Path(_output(result, "grade.cube")).read_text().splitlines()
    assert sum(1 for line in lut if line[:1].isdigit()) == 33**3

    again = job.run(ray_session, str(path), params)
    assert again.status.value == "skipped" and again.files == result.files


def test_10bit_input_to_hdr10_pq_with_metadata(ray_session: Config, messy_media: dict[str, Any]) -> None:
    src = messy_media["ten_bit"]
    result = job.run(ray_session, src.path, job.Params(upscale=2, hdr="pq", denoise="off"))
    out = _read(_output(result))
    assert (out["codec"], out["pix_fmt"]) == ("hevc", "yuv420p10le")
    assert (out["primaries"], out["trc"], out["colorspace"]) == (9, 16, 9)  # bt2020, smpte2084, bt2020nc
    assert {"MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL"} <= out["side_data"]
    assert (out["width"], out["height"]) == (2 * src.width, 2 * src.height) and len(out["pts"]) == src.n_frames
    meta = job.load_report(ray_session, result)["output"]["hdr_metadata"]
    assert 0 < meta["max_fall"] <= meta["max_cll"] <= 1000


def test_odd_sized_frames_to_hlg_4_2_0(ray_session: Config, messy_media: dict[str, Any]) -> None:
    src = messy_media["odd_size"]
    assert (src.width, src.height) == (641, 361)
    result = job.run(ray_session, src.path, job.Params(hdr="hlg", denoise="off"))
    out = _read(_output(result))
    assert (out["pix_fmt"], out["primaries"], out["trc"]) == ("yuv420p10le", 9, 18)  # arib-std-b67
    assert (out["width"], out["height"]) == (642, 362)  # padded to the even size 4:2:0 needs


SOURCE_HDR10 = HdrMetadata(
    max_cll=940, max_fall=180, master_max_nits=4000, master_min_nits=0.0001, primaries=BT2020_PRIMARIES_XY
)
"""Static metadata unlike the SDR->HDR defaults (P3-D65, 1000 cd/m2), so a carried copy is told from a new one."""


def _hdr_clip(path: Path, source: str) -> None:
    info = probe(source)
    frames = np.concatenate([b.frames for b in decode_frames(info, fmt="rgb24")])
    fmt = OutputFormat(codec="hevc", bit_depth=10, hdr="pq", hdr_metadata=SOURCE_HDR10)
    with EnhancedWriter(path, info.width, info.height, Fraction(24), Fraction(1, 24), fmt) as w:
        w.write(from_unit(sdr_to_hdr(frames, "pq"), np.uint16), np.arange(len(frames)))


def test_hdr_input_passes_through_as_hdr(ray_session: Config, messy_media: dict[str, Any], tmp_path: Path) -> None:
    clip = tmp_path / "pq.mp4"
    _hdr_clip(clip, messy_media["rotated"].path)
    assert probe(clip).hdr == "pq"
    result = job.run(ray_session, str(clip), job.Params(upscale=2, grade="auto", hdr="hlg", denoise="off"))
    assert any("already HDR" in w for w in result.warnings) and any("grading" in w for w in result.warnings)
    before, after = _read(str(clip), keep={5}), _read(_output(result), keep={5})
    assert (after["trc"], after["primaries"], after["pix_fmt"]) == (16, 9, "yuv420p10le")
    assert abs(float(after["frames"][5].mean()) - float(before["frames"][5].mean())) < 3  # not washed out
    assert read_metadata(_output(result)) == SOURCE_HDR10  # mastering display and content light carried
    assert job.load_report(ray_session, result)["output"]["hdr_metadata"]["max_cll"] == 940


def test_classical_denoise_and_upscale_stay_in_ycbcr(ray_session: Config, sample_clip: tuple[Path, Any]) -> None:
    """Slow-ish (~20 s): the classical path as FFmpeg filters on yuv420p frames, decode to encode."""
    path, truth = sample_clip
    result = job.run(ray_session, str(path), job.Params(upscale=2, denoise=4.0, codec="h264"))
    report = job.load_report(ray_session, result)
    assert report["backends"]["upscaler"] == job.CLASSICAL_FILTERS and "atadenoise" in report["backends"]["denoiser"]
    assert report["shots"]["source"] == "analysis" and report["shots"]["count"] >= len(truth.cuts) + 1
    before, after = _read(str(path), keep={30, 200}), _read(_output(result), keep={30, 200})
    assert (after["width"], after["height"], after["pix_fmt"]) == (640, 360, "yuv420p")
    assert after["pts"] == before["pts"] and after["audio"] == ["aac"]
    for k in (30, 200):  # the same pictures, twice the size (colours not shifted by a conversion)
        small = cv2.resize(after["frames"][k], (320, 180), interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - before["frames"][k]).mean() < 6


@pytest.mark.parametrize("name", ["nonsquare", "vfr"])
def test_aspect_ratio_and_variable_timing_are_carried(
    ray_session: Config, messy_media: dict[str, Any], name: str
) -> None:
    src = messy_media[name]
    params = (
        job.Params(denoise="off", fps=60) if name == "vfr" else job.Params(upscale=2, denoise="off", reference=src.path)
    )
    result = job.run(ray_session, src.path, params)
    out = _read(_output(result))
    if name == "nonsquare":
        assert out["sar"] == Fraction(32, 27) and (out["width"], out["height"]) == (1440, 960)
        assert len(out["pts"]) == src.n_frames
        metrics = job.load_report(ray_session, result)["metrics"]  # the output scaled back vs its own source
        assert metrics["frames"] >= 4 and metrics["psnr"] > 28 and metrics["ssim"] > 0.85
    else:  # variable-rate input re-timed onto an exact 60 fps grid
        duration = probe(src.path).duration  # last frame start + its duration as the container states it
        assert duration >= src.pts[-1] - src.pts[0]
        times = [Fraction(p) * out["time_base"] for p in out["pts"]]
        assert times == [Fraction(k, 60) for k in range(math.ceil(duration * 60 - 1e-6))]


def test_realtime_mode_reports_achieved_fps(ray_session: Config, messy_media: dict[str, Any]) -> None:
    src = messy_media["rotated"]
    result = job.run(ray_session, src.path, job.Params(upscale=2, fps=48, realtime=True, denoise=2.0))
    rt = result.details["realtime"]
    assert rt["source_fps"] == 24 and rt["frames_in"] == src.n_frames and rt["achieved_fps"] > 0
    assert rt["degrade_order"] == ["skip-denoise", "hold-frames", "fast-upscale", "drop-frames"]
    achieved = float(result.summary.removeprefix("realtime: achieved ").split(" fps vs source 24 fps")[0])
    assert achieved == pytest.approx(rt["achieved_fps"], abs=0.051)  # the summary has one decimal, details two
    out = _read(_output(result))
    assert len(out["pts"]) == 48 and out["rotation"] == src.rotation and (out["width"], out["height"]) == (640, 360)


def test_lower_fps_and_missing_reference_are_refused_before_any_work(
    ray_session: Config, sample_clip: tuple[Path, Any]
) -> None:
    with pytest.raises(InputError, match="--fps 12 is lower than the source's 24 fps"):
        job.run(ray_session, str(sample_clip[0]), job.Params(fps=12))
    with pytest.raises(InputError, match="does not exist"):
        job.run(ray_session, str(sample_clip[0]), job.Params(grade="/nowhere/look.png"))
    with pytest.raises(InputError, match="HDR output needs a 10-bit codec"):
        job.run(ray_session, str(sample_clip[0]), job.Params(hdr="pq", codec="h264"))


def test_a_job_probes_its_input_once(ray_session: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request is checked on the probe the job makes anyway (refusals still come before any work)."""
    from genmedia.pipelines import job as job_runner

    clip = tmp_path / "tiny.mp4"
    with VideoWriter(clip, 64, 48, 24, encoder="cpu", preset="ultrafast") as w:
        w.write_frames(np.full((6, 48, 64, 3), 90, np.uint8))
    probed: list[str] = []

    def counting_probe(path: Any, *args: Any, **kwargs: Any) -> Any:
        probed.append(str(path))
        return probe(path, *args, **kwargs)

    monkeypatch.setattr(job_runner, "probe", counting_probe)
    monkeypatch.setattr(job, "probe", counting_probe)
    with pytest.raises(InputError, match="--fps 12 is lower than the source's 24 fps"):
        job.run(ray_session, str(clip), job.Params(fps=12))
    assert probed == [str(clip)]
    result = job.run(ray_session, str(clip), job.Params(denoise="off"), force=True)
    assert result.status == "done" and probed == [str(clip)] * 2


def test_cli_refuses_to_upscale_8k_with_one_line(tmp_path: Path) -> None:
    clip = tmp_path / "8k.mp4"
    with VideoWriter(clip, 7680, 4320, 24, encoder="cpu", preset="ultrafast") as w:
        w.write_frames(np.zeros((1, 4320, 7680, 3), np.uint8))
    proc = subprocess.run(
        [*GENMEDIA, "enhance", str(clip), "--upscale", "2", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"{clip}: upscaling 7680x4320 to 15360x8640" in line and "limits.max_pixels" in line
    proc = subprocess.run(
        [*GENMEDIA, "enhance", str(clip), "--upscale", "3"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and "--upscale: Input should be 1, 2 or 4" in proc.stderr


def test_cli_json_result(ray_session: Config, messy_media: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genmedia.cli import app

    src = messy_media["mkv_no_frame_count"]
    res = CliRunner().invoke(
        app,
        [
            "enhance",
            src.path,
            "--grade",
            "warm",
            "--denoise",
            "off",
            "--codec",
            "av1",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["status"] == "done" and "grade warm" in result["details"]["applied"]
    out = _read(result["files"]["enhanced.mp4"].removeprefix("file://"))
    assert out["codec"] in ("av1", "libdav1d") and len(out["pts"]) == src.n_frames


def test_the_dataset_budgets_the_object_store_by_window_size(ray_session: Config, tmp_path: Path) -> None:
    """The windows in flight are capped at WINDOWS_IN_FLIGHT x window_mb of object store, and the job's
    dataset still yields every window under that cap."""
    settings = ray_session.pipelines.enhance.model_copy(update={"window_mb": 16, "window_frames": 4})
    cfg = ray_session.model_copy(update={"pipelines": ray_session.pipelines.model_copy(update={"enhance": settings})})
    clip = tmp_path / "budget.mp4"
    with VideoWriter(clip, 64, 48, 24, encoder="cpu", preset="ultrafast") as w:
        w.write_frames(np.random.default_rng(3).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8))
    info = probe(clip)
    plan = plan_output(info, job.Params(upscale=2, denoise=3.0, grade="off"), cfg)
    plan.shots = [(0, info.frame_count)]
    ds = job.build(cfg, info, plan)
    assert ds.context.execution_options.resource_limits.object_store_memory == job.WINDOWS_IN_FLIGHT * 16 * 2**20
    starts = [int(s) for s in ds.to_pandas()["start"]]
    assert starts == [0, 4, 8]
