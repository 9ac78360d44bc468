"""Rendering a trailer from an edit decision list: transitions, the ladder in one pass, geometry, sound, HLS."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from genmedia.media.probe import MediaInfo, probe
from genmedia.media.synthetic import make_nonsquare_clip, make_rotated_clip
from genmedia.pipelines.trailer import decode_clips
from genmedia.trailer import frames as tframes
from genmedia.trailer import mix
from genmedia.trailer.edl import AudioPlan, Clip, EditDecisionList, EndCard
from genmedia.trailer.render import encode_renditions

SR = 48000


def make_edl(
    info: MediaInfo,
    spans: list[tuple[float, int, str, int]],
    total: int,
    width: int,
    height: int,
    card_transition: str = "dip",
) -> EditDecisionList:
    """Clips from (source_in, frames, transition, transition_frames), then an end card to ``total`` frames."""
    rate = Fraction(round(info.fps))
    clips, at = [], 0
    for k, (start, n, kind, tf) in enumerate(spans):
        clips.append(
            Clip(
                index=k,
                shot=k,
                source_in=start,
                source_out=start + n / float(rate),
                trailer_in=at / float(rate),
                trailer_out=(at + n) / float(rate),
                trailer_in_frame=at,
                trailer_out_frame=at + n,
                transition=kind,
                transition_frames=tf,
                score=1.0,
                reasons=["test"],
            )
        )
        at += n
    card = EndCard(
        title="The End",
        still_time=spans[0][0],
        trailer_in=at / float(rate),
        trailer_in_frame=at,
        transition=card_transition,
        transition_frames=6 if card_transition == "dip" else 0,
        fade_out_frames=6,
    )
    return EditDecisionList(
        source=info.path,
        source_duration=info.duration,
        fps=f"{rate.numerator}/{rate.denominator}",
        frame_count=total,
        duration=total / float(rate),
        target_duration=total / float(rate),
        style="action",
        sync="none",
        spoiler_cutoff=info.duration,
        width=width,
        height=height,
        clips=clips,
        end_card=card,
        audio=AudioPlan(kind="source" if info.has_audio else "silent"),
    )


def render(
    info: MediaInfo, edl: EditDecisionList, rungs: list[tframes.Rung], out: Path
) -> tuple[dict[str, Path], np.ndarray]:
    """Render like the job does, with the clip decoding UDF called in-process instead of on Ray."""
    top = rungs[0]
    comp = tframes.Compositor(edl, top.width, top.height)

    def frames():
        for k in range(len(edl.clips)):
            for batch in decode_clips(
                {"clip": np.array([k])}, info=info, edl_json=edl.model_dump_json(), width=top.width, height=top.height
            ):
                for f, image in zip(batch["frame"], batch["image"]):
                    yield from comp.add(k, int(f), image)
        yield from comp.finish()

    if info.has_audio:
        track = mix.assemble(edl, mix.read_ranges(info.path, mix.source_ranges(edl, SR), SR), SR)
    else:
        track = np.zeros(round(edl.duration * SR), np.float32)
    stereo, _ = mix.finish(track, SR, -16.0)
    rendered = encode_renditions(edl, frames(), stereo, SR, rungs, out, encoder="cpu", preset="ultrafast")
    assert rendered.encoder == "libx264"
    return rendered.files, stereo


def decode_all(path: Path) -> tuple[list[np.ndarray], list[float], dict]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = {
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "sar": v.sample_aspect_ratio,
            "v_start": float(v.start_time * v.time_base),
            "v_duration": float(v.duration * v.time_base),
            "a_start": float(c.streams.audio[0].start_time * c.streams.audio[0].time_base) if c.streams.audio else None,
            "a_duration": float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
            if c.streams.audio
            else None,
            "rotation": None,
        }
        images, times = [], []
        for frame in c.decode(v):
            facts["rotation"] = frame.rotation
            images.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.pts * v.time_base))
    return images, times, facts


def source_frame(info: MediaInfo, t: float, width: int, height: int) -> np.ndarray:
    return next(tframes.decode_span(info, t, 1, Fraction(round(info.fps)), width, height)).astype(np.float32)


def test_transitions_ladder_and_sync(sample_clip, tmp_path: Path) -> None:
    clip, truth = sample_clip
    info = probe(clip)
    rungs, warnings = tframes.ladder(info, ["180p", "120p", "1080p"])
    assert [r.name for r in rungs] == ["180p", "120p"] and "1080p" in warnings[0]
    assert (rungs[1].width, rungs[1].height) == (214, 120)
    # fast motion, then a cross-fade into the pan, a dip into the face, a dip into the end card
    fast = truth.time_of(truth.fast_motion.start) + 0.1
    pan = truth.time_of(truth.pan.start) + 0.3
    face = truth.time_of(truth.face.start) + 0.3
    edl = make_edl(info, [(fast, 24, "dip", 8), (pan, 24, "crossfade", 8), (face, 24, "dip", 8)], 90, 320, 180)
    files, stereo = render(info, edl, rungs, tmp_path)
    for name, rung in zip(["180p", "120p"], rungs):
        images, times, facts = decode_all(files[name])
        assert len(images) == 90 and (facts["width"], facts["height"]) == (rung.width, rung.height)
        assert times == pytest.approx([i / 24 for i in range(90)], abs=1e-6)
        assert facts["v_duration"] == pytest.approx(90 / 24, abs=1e-6)
        assert abs(facts["a_start"] - facts["v_start"]) <= 1 / 24  # A/V sync within a frame
        assert abs(facts["a_duration"] - facts["v_duration"]) <= 1 / 24
    images, _, _ = decode_all(files["180p"])
    means = np.array([im.mean() for im in images])
    black = {i for i, m in enumerate(means) if m < 20}
    intended = set().union(*(range(a, b) for a, b in edl.intended_black()))
    assert black and black <= intended  # dips are black, nothing else is
    # the middle of the cross-fade is half of each picture
    a = source_frame(info, fast + (24 + 0) / 24, 320, 180)  # outgoing handle frame shown at trailer frame 24
    b = source_frame(info, pan, 320, 180)
    mid = images[24].astype(np.float32)
    assert np.abs(mid - (a + b) / 2).mean() < np.abs(mid - a).mean() / 2
    assert np.abs(mid - (a + b) / 2).mean() < np.abs(mid - b).mean() / 2
    # outside transitions the trailer shows the source range unchanged
    assert np.abs(images[36].astype(np.float32) - source_frame(info, pan + 12 / 24, 320, 180)).mean() < 6


def test_audio_joins_are_click_free() -> None:
    info_rate = 24
    t = np.arange(3 * SR) / SR
    pieces = [0.5 * np.sin(2 * np.pi * 440 * t + phase).astype(np.float32) for phase in (0.0, 2.0, 4.0)]

    class FakeInfo:  # only what make_edl reads
        fps, duration, path, has_audio = info_rate, 10.0, "x.mp4", True

    edl = make_edl(FakeInfo, [(1.0, 24, "dip", 8), (4.0, 24, "cut", 0), (7.0, 24, "crossfade", 8)], 84, 320, 180)
    ranges = mix.source_ranges(edl, SR)
    parts = [p[: round((b - a) * SR)] for p, (a, b) in zip(pieces, ranges)]
    track = mix.assemble(edl, parts, SR)
    smooth = 2 * np.pi * 440 / SR * 0.5  # the largest step a 440 Hz sine of amplitude 0.5 takes
    assert np.abs(np.diff(track)).max() < 1.6 * smooth
    hard = np.concatenate([parts[0][:SR], parts[1][:SR]])
    assert np.abs(np.diff(hard)).max() > 10 * smooth  # what a plain splice would do


def test_rotated_source_comes_out_upright(tmp_path: Path) -> None:
    facts = make_rotated_clip(tmp_path / "rot.mp4", rotation=90, n_frames=48)
    info = probe(facts.path)
    rungs, _ = tframes.ladder(info, ["180p"])
    assert (rungs[0].width, rungs[0].height) == (180, 320)  # portrait, short side 180
    edl = make_edl(info, [(0.25, 24, "cut", 0)], 36, 180, 320, card_transition="cut")
    files, _ = render(info, edl, rungs, tmp_path / "out")
    images, _, vfacts = decode_all(files["180p"])
    assert (vfacts["width"], vfacts["height"]) == (180, 320) and not vfacts["rotation"]
    first = images[0].astype(int)
    # the source's red marker (coded top-left) is shown at the bottom-left by a player rotating it by 90 degrees
    bottom_left, top_left = first[-10:, :10].mean(axis=(0, 1)), first[:10, :10].mean(axis=(0, 1))
    assert bottom_left[0] > 180 and bottom_left[1] < 90 and not (top_left[0] > 180 and top_left[1] < 90)


def test_anamorphic_source_keeps_its_display_shape(tmp_path: Path) -> None:
    facts = make_nonsquare_clip(tmp_path / "ana.mp4", n_frames=48, width=360, height=240)
    info = probe(facts.path)
    rungs, _ = tframes.ladder(info, ["240p"])
    w, h = rungs[0].width, rungs[0].height
    assert h == 240 and w / h == pytest.approx(16 / 9, rel=0.01)  # 360x240 at SAR 32:27 shows as 16:9
    edl = make_edl(info, [(0.1, 24, "cut", 0)], 30, w, h, card_transition="cut")
    files, _ = render(info, edl, rungs, tmp_path / "out")
    _, _, vfacts = decode_all(files["240p"])
    assert (vfacts["width"], vfacts["height"]) == (w, h) and vfacts["sar"] in (None, Fraction(1))
