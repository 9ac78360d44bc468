"""Enhancement checks: the enhanced video still shows the source (PSNR/SSIM of the output, scaled down to the
source's size, against the source) and has no frozen pictures the source does not have.

PSNR and SSIM are :mod:`genmedia.enhance.metrics` (FFmpeg's ``psnr`` and ``ssim`` filters) on
``qa.compare_frames`` frames evenly spaced in time, each output frame scaled to the source's size by swscale
(area). Frozen runs come from FFmpeg's ``freezedetect`` filter (through PyAV) over both videos: a still run in
the output of at least ``qa.freeze_min_s`` that overlaps no still run of the source is a frozen picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np

from genmedia.enhance.metrics import psnr, ssim
from genmedia.qa.verdict import QaInput, local_copy
from genmedia.schemas import QaCheck

VIDEO = "enhanced.mp4"
FREEZE_WIDTH = 320
"""Pictures are scaled to this width before freezedetect: a frozen picture is frozen at any size."""


SEEK_AHEAD_S = 10.0
""":func:`frames_at` decodes on to a time at most this far past the frame it is at, and seeks only further: a seek
restarts at the keyframe before the time, which in a short clip is its first frame (six samples of a 5 s 1440p
clip decoded 3.6x its frames with a seek each)."""


def frames_at(path: Path, times: list[float], size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """RGB frames of ``path``'s first video stream shown at ``times`` (seconds from its first frame, ascending),
    scaled to ``size`` (width, height) when given: for each time, the first frame whose span covers it."""
    found: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        offset = float((stream.start_time or 0) * stream.time_base)
        decoded: Iterator[av.VideoFrame] | None = None
        last: av.VideoFrame | None = None  # the frame ``decoded`` gave last
        for at in times:
            t = at + offset
            if decoded is None or last is None or last.time is None or not 0 <= t - last.time <= SEEK_AHEAD_S:
                container.seek(int(max(0.0, t - 1.0) / stream.time_base), stream=stream, backward=True)
                decoded, last = container.decode(stream), None
            frame = last if last is not None and last.time is not None and last.time + 0.5 / rate > t else None
            if frame is None:
                for candidate in decoded:
                    frame = last = candidate
                    if candidate.time is not None and candidate.time + 0.5 / rate > t:
                        break
                frame = frame or last  # the stream ended before ``t``: its last frame
            if frame is None:
                break
            if size is not None:
                frame = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
            found.append(frame.to_ndarray(format="rgb24"))
    return found


def sample_times(duration: float, count: int) -> list[float]:
    """``count`` times evenly inside ``[0, duration)``, away from both ends."""
    return [duration * (k + 0.5) / count for k in range(count)]


def fidelity(source: Path, output: Path, duration: float, count: int) -> tuple[float, float]:
    """Mean PSNR (dB, identical frames count as 100) and SSIM of ``output``, scaled to the source's size, against
    ``source``, over ``count`` frames evenly spaced in ``duration`` seconds."""
    times = sample_times(duration, count)
    refs = frames_at(source, times)
    if not refs:
        raise ValueError(f"{source.name}: no frames to compare")
    tests = frames_at(output, times, (refs[0].shape[1], refs[0].shape[0]))
    pairs = list(zip(refs, tests, strict=False))
    if not pairs:
        raise ValueError(f"{output.name}: no frames to compare")
    psnrs = [min(100.0, psnr(r, t)) for r, t in pairs]
    return float(np.mean(psnrs)), float(np.mean([ssim(r, t) for r, t in pairs]))


def still_runs(path: Path, min_s: float, noise_db: float) -> list[tuple[float, float]]:
    """(start, end) seconds of every run of ``path``'s video that stays still for at least ``min_s`` (FFmpeg's
    ``freezedetect`` with noise tolerance ``noise_db``)."""
    runs: list[tuple[float, float]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        graph = av.filter.Graph()
        source = graph.add_buffer(template=stream)
        scale = graph.add("scale", f"{FREEZE_WIDTH}:-2")
        freeze = graph.add("freezedetect", f"n={noise_db}dB:d={min_s}")
        sink = graph.add("buffersink")
        source.link_to(scale)
        scale.link_to(freeze)
        freeze.link_to(sink)
        graph.configure()
        start: float | None = None
        last = 0.0

        def drain() -> None:
            nonlocal start, last
            while True:
                try:
                    frame = sink.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
                if frame.time is not None:
                    last = max(last, float(frame.time))
                meta = frame.metadata
                if "lavfi.freezedetect.freeze_start" in meta:
                    start = float(meta["lavfi.freezedetect.freeze_start"])
                if "lavfi.freezedetect.freeze_end" in meta and start is not None:
                    runs.append((start, float(meta["lavfi.freezedetect.freeze_end"])))
                    start = None

        for frame in container.decode(stream):
            source.push(frame)
            drain()
        source.push(None)
        drain()
        if start is not None:  # still until the end
            runs.append((start, last + 1 / float(stream.average_rate or Fraction(25))))
    return runs


def frozen_runs(output: list[tuple[float, float]], source: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The still runs of the output that overlap no still run of the source."""
    return [(s, e) for s, e in output if not any(s < se and ss < e for ss, se in source)]


def fidelity_checks(psnr_db: float, ssim_value: float, min_psnr: float, min_ssim: float) -> list[QaCheck]:
    """``psnr`` and ``ssim`` of the output against the source."""
    return [
        QaCheck(
            name="psnr",
            output=VIDEO,
            passed=psnr_db >= min_psnr,
            value=round(psnr_db, 2),
            reason=f"{psnr_db:.1f} dB against the source at its size (at least {min_psnr:g})",
        ),
        QaCheck(
            name="ssim",
            output=VIDEO,
            passed=ssim_value >= min_ssim,
            value=round(ssim_value, 4),
            reason=f"{ssim_value:.3f} against the source at its size (at least {min_ssim:g})",
        ),
    ]


def frozen_check(frozen: list[tuple[float, float]], min_s: float) -> QaCheck:
    """``no_frozen_frames``: no still run of ``min_s`` or more that the source does not have."""
    shown = ", ".join(f"{s:.2f}-{e:.2f} s" for s, e in frozen[:3]) + (" ..." if len(frozen) > 3 else "")
    return QaCheck(
        name="no_frozen_frames",
        output=VIDEO,
        passed=not frozen,
        value=round(sum(e - s for s, e in frozen), 3),
        reason=f"frozen where the source moves: {shown}" if frozen else f"no still run of {min_s:g} s the source lacks",
    )


def check(qa: QaInput) -> list[QaCheck]:
    """PSNR/SSIM against the source and no frozen frames, on ``enhanced.mp4``."""
    settings = qa.cfg.qa
    if VIDEO not in qa.output.files:
        return []
    checks = []
    with local_copy(qa, VIDEO) as path:
        if qa.params.get("hdr", "off") != "off" and not qa.info.hdr:
            checks.append(
                QaCheck(name="psnr", output=VIDEO, passed=True, reason="HDR output of an SDR source: not comparable")
            )
        else:
            p, s = fidelity(qa.source, path, qa.info.duration, settings.compare_frames)
            checks += fidelity_checks(p, s, settings.min_psnr_db, settings.min_ssim)
        out_runs = still_runs(path, settings.freeze_min_s, settings.freeze_noise_db)
        src_runs = still_runs(qa.source, settings.freeze_min_s, settings.freeze_noise_db) if out_runs else []
        checks.append(frozen_check(frozen_runs(out_runs, src_runs), settings.freeze_min_s))
    return checks


__all__ = ["check", "fidelity", "fidelity_checks", "frames_at", "frozen_check", "frozen_runs", "still_runs"]
