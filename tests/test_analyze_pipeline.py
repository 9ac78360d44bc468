"""The analysis job end to end on Ray: outputs read back with independent parsers, segment stitching,
many videos in one dataset, re-runs, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from genmedia.cli import app
from genmedia.errors import InputError
from genmedia.media.decode import plan_segments
from genmedia.media.encode import VideoWriter
from genmedia.media.probe import probe
from genmedia.pipelines import analyze
from genmedia.schemas import JobStatus

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


@pytest.fixture(scope="module")
def cli_run(ray_session, sample_clip, tmp_path_factory):  # noqa: ANN001, ANN201
    """``genmedia analyze CLIP --json`` through the CLI (in-process, on the session's Ray)."""
    path, truth = sample_clip
    out = tmp_path_factory.mktemp("analyze-out")
    # The session's model store: the synthetic face is for the Haar cascade; a CenterFace the user staged ignores it.
    config = out / "genmedia.yaml"
    config.write_text(json.dumps({"storage": {"cache_dir": ray_session.storage.cache_dir}}))
    result = CliRunner().invoke(app, ["analyze", str(path), "--config", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :]), truth, out


def test_cli_writes_every_output_and_the_manifest_last(cli_run) -> None:  # noqa: ANN001
    doc, truth, _ = cli_run
    assert doc["status"] == "done"
    files = {name: _local(uri) for name, uri in doc["files"].items()}
    assert set(files) == {"shots.json", "features.parquet", "audio.json", "contact_sheet.png"}
    manifest = json.loads((_local(doc["output_uri"]) / "manifest.json").read_text())
    assert {f["name"] for f in manifest["files"]} == set(files)

    shots = json.loads(files["shots.json"].read_text())
    assert shots["frame_count"] == truth.n_frames and shots["fps"] == pytest.approx(truth.fps)
    starts = [(s["start_frame"], s["transition"]) for s in shots["shots"]]
    for cut in truth.cuts:
        assert any(abs(cut - f) <= 1 and t == "cut" for f, t in starts)
    assert [t for _, t in starts].count("fade") == 1 and [t for _, t in starts].count("dissolve") == 1
    for s in shots["shots"]:
        assert s["end_frame"] > s["start_frame"] and s["start_time"] == pytest.approx(truth.time_of(s["start_frame"]))
        assert s["tags"] and s["mood"]

    table = pq.read_table(files["features.parquet"])
    df = table.to_pandas()
    assert {
        "frame_index",
        "time",
        "shot",
        "motion",
        "sharpness",
        "exposure",
        "colourfulness",
        "faces",
        "face_boxes",
        "composition",
        "loudness",
        "embedding",
    } <= set(df.columns)
    assert len(df) == pytest.approx(truth.duration * 2, abs=2)  # sample_fps 2
    on_face = df[(df.frame_index >= truth.face.start) & (df.frame_index < truth.face.end)]
    assert (on_face.faces >= 1).all() and (df[df.frame_index < truth.static.end].faces == 0).all()
    x, y, w, h = on_face.face_boxes.iloc[0][0]
    assert abs((x + w / 2) - 0.5) < 0.1 and abs((y + h / 2) - 0.5) < 0.1  # the face is drawn in the middle
    assert df.composition.between(0, 1).all() and df.loudness.notna().all()
    assert df.embedding.notna().sum() == len(shots["shots"])  # one key frame per shot

    audio = json.loads(files["audio.json"].read_text())
    assert audio["tempo"] == pytest.approx(truth.audio.bpm, rel=0.02)
    assert len(audio["loudness"]["times"]) == len(audio["loudness"]["momentary_lufs"])

    with Image.open(files["contact_sheet.png"]) as sheet:
        assert sheet.format == "PNG" and sheet.width >= 5 * 240
    assert doc["details"]["backends"]["embedding"] == "classical-colour-texture-v1"
    assert doc["details"]["backends"]["faces"] == "haar"


def test_rerun_is_skipped_and_load_analysis_reads_it_back(cli_run, ray_session) -> None:  # noqa: ANN001
    doc, truth, out = cli_run
    cfg = ray_session.model_copy(update={"storage": ray_session.storage.model_copy(update={"root": str(out)})})
    analysis = analyze.load_analysis(cfg, doc["input"])
    assert analysis.result.status is JobStatus.skipped
    assert analysis.info.frame_count == truth.n_frames
    assert [s.start_frame for s in analysis.shots][1:5] == [
        s["start_frame"] for s in json.loads(_local(doc["files"]["shots.json"]).read_text())["shots"]
    ][1:5]
    assert analysis.audio is not None and analysis.audio["beat_times"]
    assert len(analysis.features) > 0


def test_segments_stitch_to_the_sequential_result(ray_session, sample_clip) -> None:  # noqa: ANN001
    """1-second segments put segment boundaries on the cuts (x264 starts a keyframe there): nothing lost or doubled."""
    path, truth = sample_clip
    info = probe(path)
    params = analyze.params_from(ray_session)
    one = ray_session.model_copy(
        update={
            "pipelines": ray_session.pipelines.model_copy(
                update={
                    "decode": ray_session.pipelines.decode.model_copy(
                        update={"segment_seconds": 1000.0, "min_segment_seconds": 1000.0}
                    )
                }
            )
        }
    )
    many = ray_session.model_copy(
        update={
            "pipelines": ray_session.pipelines.model_copy(
                update={"decode": ray_session.pipelines.decode.model_copy(update={"segment_seconds": 1.0})}
            )
        }
    )
    seq = analyze.collect_signals(analyze.build(one, [info], params), [info])[0]
    par = analyze.collect_signals(analyze.build(many, [info], params), [info])[0]
    starts = {s.first_frame for s in plan_segments(info, 1.0)}
    assert len(starts) > 3 and set(truth.cuts) & starts  # a cut sits exactly on a segment boundary
    np.testing.assert_array_equal(par.frame_index, np.arange(truth.n_frames))
    np.testing.assert_array_equal(par.grid, seq.grid)
    np.testing.assert_allclose(par.motion[1:], seq.motion[1:], atol=1e-6)  # boundary frames have motion too
    assert np.isfinite(par.motion[1:]).all()
    assert analyze.detect_shots(par, info, params) == analyze.detect_shots(seq, info, params)
    assert list(par.samples.frame_index) == list(seq.samples.frame_index)


def test_many_videos_stream_through_one_dataset(ray_session, sample_clip, messy_media) -> None:  # noqa: ANN001
    path, _ = sample_clip
    vfr = messy_media["vfr"]
    infos = [probe(path), probe(vfr.path)]
    params = analyze.params_from(ray_session)
    both = analyze.collect_signals(analyze.build(ray_session, infos, params), infos)
    alone = analyze.collect_signals(analyze.build(ray_session, infos[:1], params), infos[:1])[0]
    np.testing.assert_array_equal(both[0].grid, alone.grid)
    assert len(both[1].frame_index) == vfr.n_frames
    np.testing.assert_allclose(both[1].time, vfr.pts, atol=1e-6)  # VFR: times come from timestamps


def _write(path: Path, frames: np.ndarray, audio: np.ndarray | None = None) -> Path:
    with VideoWriter(
        path,
        frames.shape[2],
        frames.shape[1],
        Fraction(24),
        encoder="cpu",
        preset="ultrafast",
        audio_rate=48000 if audio is not None else None,
    ) as w:
        w.write_frames(frames)
        if audio is not None:
            w.write_audio(audio)
    return path


def test_bad_and_odd_inputs(ray_session, messy_media, tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    still = rng.integers(0, 255, (1, 72, 128, 3), dtype=np.uint8)
    cfg = ray_session.model_copy(
        update={"storage": ray_session.storage.model_copy(update={"root": str(tmp_path / "out")})}
    )
    fast = analyze.Params(embed="off")

    static = analyze.run(cfg, str(_write(tmp_path / "static.mp4", np.repeat(still, 36, axis=0))), fast)
    shots = json.loads(_local(static.files["shots.json"]).read_text())
    assert [(s["start_frame"], s["end_frame"]) for s in shots["shots"]] == [(0, 36)]
    assert json.loads(_local(static.files["audio.json"]).read_text()) == {"has_audio": False, "analysed": False}
    assert pq.read_table(_local(static.files["features.parquet"])).to_pandas().loudness.isna().all()  # no audio: absent

    one = analyze.run(cfg, str(_write(tmp_path / "one.mp4", still)), fast)
    assert json.loads(_local(one.files["shots.json"]).read_text())["shots"][0]["end_frame"] == 1

    with pytest.raises(InputError, match="audio_only.m4a: has no video stream"):
        analyze.run(cfg, messy_media["audio_only"].path, fast)

    corrupt = analyze.run(cfg, str(messy_media["corrupt_middle"].path), fast)
    assert corrupt.status is JobStatus.done
    assert any("could not be decoded" in w and "continued" in w for w in corrupt.warnings), corrupt.warnings
    manifest = json.loads((_local(corrupt.output_uri) / "manifest.json").read_text())
    assert manifest["warnings"] == corrupt.warnings
    assert json.loads(_local(corrupt.files["shots.json"]).read_text())["missing_frames"] > 0


def test_cli_errors_are_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "analyze", "/nonexistent/clip.mp4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "/nonexistent/clip.mp4: does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "analyze", "x.mp4", "--embed", "everything"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "embed" in proc.stderr and "Traceback" not in proc.stderr
