"""Real-time mode: enhance a source as it plays (a file read at its own frame rate), with bounded latency.

Frame ``i`` becomes available at ``start + (t_i - t0)``, as from a live feed; it is processed in this
process (no Ray scheduling between stages, so latency is one frame plus processing). When processing
falls more than ``pipelines.enhance.realtime_max_lag_s`` behind, quality is shed one step at a time in
this order, and regained one step at a time after a second of keeping up:

1. ``skip-denoise`` - no denoising;
2. ``hold-frames`` - new in-between frames repeat the last one instead of being interpolated;
3. ``fast-upscale`` - bilinear resize instead of the configured upscaler;
4. ``drop-frames`` - input frames are skipped (the last output is repeated), the last resort.

Everything is causal: the denoiser looks at the two previous frames only, interpolation runs one
frame behind, the automatic grade follows slowly smoothed statistics (shots are not known ahead, so
the interpolator's flow check is what keeps cuts from being blended).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from genmedia.deployments.interpolator import Interpolator
from genmedia.deployments.upscaler import Upscaler
from genmedia.enhance import denoise as dn
from genmedia.enhance import grade as gr
from genmedia.enhance.hdr import HdrMetadata, sdr_to_hdr
from genmedia.enhance.interpolate import output_count
from genmedia.enhance.pixels import from_unit
from genmedia.enhance.plan import Params, Plan, reference_stats
from genmedia.enhance.writer import EnhancedWriter
from genmedia.media.decode import decode_frames
from genmedia.media.encode import to_fraction
from genmedia.pipelines.job import JobContext, JobOutcome

LADDER = ("full", "skip-denoise", "hold-frames", "fast-upscale", "drop-frames")
"""Quality levels, best first; each sheds one more thing than the one before."""
RECOVER_AFTER_S = 1.0
GRADE_SMOOTHING_S = 2.0


@dataclass
class RealtimeReport:
    """How the real-time run went."""

    source_fps: float
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_out: int = 0
    wall_s: float = 0.0
    max_latency_s: float = 0.0
    level_changes: list[dict[str, Any]] = field(default_factory=list)
    frames_at_level: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LADDER, 0))

    @property
    def achieved_fps(self) -> float:
        """Input frames handled (processed or knowingly dropped) per second of wall time."""
        return self.frames_in / self.wall_s if self.wall_s else 0.0

    def line(self) -> str:
        """One line for the terminal."""
        worst = max((LADDER.index(c["level"]) for c in self.level_changes), default=0)
        return (
            f"realtime: achieved {self.achieved_fps:.1f} fps vs source {self.source_fps:g} fps; "
            f"max latency {self.max_latency_s:.2f} s; {self.frames_dropped} frames dropped; "
            f"worst level {LADDER[worst]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "achieved_fps": round(self.achieved_fps, 2),
            "source_fps": self.source_fps,
            "frames_in": self.frames_in,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "frames_out": self.frames_out,
            "wall_s": round(self.wall_s, 3),
            "max_latency_s": round(self.max_latency_s, 3),
            "degrade_order": list(LADDER[1:]),
            "level_changes": self.level_changes,
            "frames_at_level": self.frames_at_level,
            "summary": self.line(),
        }


class Governor:
    """Moves down a quality ladder (best first) when behind, back up after keeping up for a while.

    Level changes are appended to ``report.level_changes`` (at which media time, to which level, the lag).
    """

    def __init__(self, max_lag: float, report: Any, ladder: tuple[str, ...] = LADDER):
        self.level, self.max_lag, self.report, self.ladder = 0, max_lag, report, ladder
        self._calm_since: float | None = None

    def update(self, lag: float, now: float, media_time: float) -> None:
        """Step down when ``lag`` exceeds the bound, up after RECOVER_AFTER_S of lag under a quarter of it."""
        if lag > self.max_lag and self.level < len(self.ladder) - 1:
            self._set(self.level + 1, media_time, lag)
            self._calm_since = None
        elif lag < self.max_lag / 4 and self.level > 0:
            self._calm_since = self._calm_since if self._calm_since is not None else now
            if now - self._calm_since >= RECOVER_AFTER_S:
                self._set(self.level - 1, media_time, lag)
                self._calm_since = now
        else:
            self._calm_since = None

    def _set(self, level: int, media_time: float, lag: float) -> None:
        self.level = level
        self.report.level_changes.append(
            {"at_s": round(media_time, 3), "level": self.ladder[level], "lag_s": round(lag, 3)}
        )

    @property
    def name(self) -> str:
        """The current level's name."""
        return self.ladder[self.level]

    def allows(self, what: str) -> bool:
        """Whether ``what`` (a ladder step name) is still being done at the current level."""
        return self.level < self.ladder.index(what)


class _SmoothedGrade:
    """The grade from exponentially smoothed frame statistics (no flicker, no look-ahead)."""

    def __init__(self, auto: bool, preset: str | None, reference: gr.FrameStats | None, fps: float):
        self.auto, self.preset, self.reference = auto, preset, reference
        self.k = 1.0 / max(1.0, GRADE_SMOOTHING_S * fps)
        self.stats: gr.FrameStats | None = None

    def __call__(self, frame: np.ndarray) -> gr.Grade:
        """The grade for ``frame``, after folding its statistics into the running ones."""
        h, w = frame.shape[:2]
        new = gr.frame_stats(cv2.resize(frame, (160, max(1, h * 160 // w)), interpolation=cv2.INTER_AREA))
        self.stats = new if self.stats is None else _blend(self.stats, new, self.k)
        return gr.shot_grades([self.stats], [(0, 1)], auto=self.auto, reference=self.reference, preset=self.preset)[0]


def _blend(old: gr.FrameStats, new: gr.FrameStats, k: float) -> gr.FrameStats:
    def mix(a: Any, b: Any) -> Any:
        return a + (b - a) * k

    return gr.FrameStats(
        mix(old.low, new.low),
        mix(old.high, new.high),
        mix(old.bright, new.bright),
        mix(old.median_luma, new.median_luma),
        mix(old.lab_mean, new.lab_mean),
        mix(old.lab_std, new.lab_std),
    )


class _Output:
    """Fills the output's time slots (``k / rate``) as processed frames arrive, interpolating when allowed."""

    def __init__(self, writer: EnhancedWriter, rate: Fraction, total: int, interpolator: Any, governor: Governor):
        self.writer, self.rate, self.total = writer, float(rate), total
        self.interpolator, self.governor = interpolator, governor
        self.next = 0

    def between(self, t0: float, f0: np.ndarray, t1: float, f1: np.ndarray | None) -> None:
        """Write every slot in ``[t0, t1)``: ``f0``, or frames interpolated towards ``f1``."""
        ks = []
        while self.next < self.total and self.next / self.rate < t1 - 1e-9:
            ks.append(self.next)
            self.next += 1
        if not ks:
            return
        alphas = [(k / self.rate - t0) / (t1 - t0) for k in ks]
        blend = [a for a in alphas if a > 1e-6]
        if f1 is not None and self.interpolator is not None and blend and self.governor.allows("hold-frames"):
            made = iter(self.interpolator.interpolate(f0, f1, blend))
            frames = [f0 if a <= 1e-6 else next(made) for a in alphas]
        else:
            frames = [f0] * len(ks)
        self.writer.write(np.stack(frames), np.asarray(ks))


def run_realtime(ctx: JobContext, params: Params, plan: Plan) -> JobOutcome:
    """Enhance ``ctx``'s input at its frame rate; writes ``enhanced.mp4`` and ``enhance.json``."""
    cfg, info = ctx.cfg, ctx.info
    settings = cfg.pipelines.enhance
    mode = "off" if plan.hdr_in else params.grade_mode()
    grader = None
    if mode != "off":
        reference = reference_stats(cfg, params.grade) if mode == "reference" else None
        grader = _SmoothedGrade(mode == "auto", params.grade if mode == "preset" else None, reference, info.fps)
    upscaler = Upscaler(cfg) if (plan.width, plan.height) != (info.width, info.height) else None
    interpolator = Interpolator(cfg) if plan.fps_out is not None else None
    if plan.fmt.hdr == "pq" and not plan.hdr_in:
        # Content light cannot be measured ahead on a live source: MaxCLL is the mapping's peak, MaxFALL 0 (unknown).
        plan.fmt = replace(plan.fmt, hdr_metadata=HdrMetadata(round(settings.peak_nits), 0, settings.peak_nits))
    rate = plan.fps_out or to_fraction(info.fps)
    report = RealtimeReport(source_fps=info.fps)
    governor = Governor(settings.realtime_max_lag_s, report)
    t0 = float(info.frame_pts[0] * info.time_base_fraction)
    sigma: float | None = None if params.denoise == "auto" else dn.resolve_strength(params.denoise, np.zeros(0))[0]
    history: list[np.ndarray] = []
    previous: tuple[float, np.ndarray] | None = None

    with tempfile.TemporaryDirectory(prefix="genmedia-realtime-") as tmp:
        path = Path(tmp) / "enhanced.mp4"
        with EnhancedWriter(
            path,
            plan.width,
            plan.height,
            rate,
            1 / Fraction(rate),
            plan.fmt,
            source=str(ctx.path),
            rotation=info.rotation,
        ) as writer:
            out = _Output(writer, rate, output_count(info.duration, float(rate)), interpolator, governor)
            start = time.perf_counter()
            for fb in decode_frames(info, fmt=plan.decode_fmt, batch_size=1):  # type: ignore[arg-type]
                frame, media_t = fb.frames[0], float(fb.time[0]) - t0
                due = start + media_t
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)  # a live source: a frame cannot be had before its time
                report.frames_in += 1
                lag = time.perf_counter() - due
                governor.update(lag, time.perf_counter(), media_t)
                report.frames_at_level[LADDER[governor.level]] += 1
                if not governor.allows("drop-frames") and previous is not None and lag > settings.realtime_max_lag_s:
                    report.frames_dropped += 1
                    continue
                if sigma is None:
                    sigma = dn.resolve_strength("auto", frame[None])[0]
                history = (history + [frame])[-3:]
                if sigma > 0 and governor.allows("skip-denoise"):
                    frame = dn.denoise_frames(
                        np.stack(history), sigma, radius=2, core=slice(len(history) - 1, len(history))
                    )[0]
                if upscaler is not None:
                    fast = not governor.allows("fast-upscale")
                    frame = (
                        cv2.resize(frame, (plan.width, plan.height), interpolation=cv2.INTER_LINEAR)
                        if fast
                        else upscaler.upscale(frame, plan.width, plan.height)
                    )
                if grader is not None:
                    frame = gr.apply_grade(frame, grader(frame))
                if plan.fmt.hdr and not plan.hdr_in:
                    frame = from_unit(sdr_to_hdr(frame, plan.fmt.hdr, peak_nits=settings.peak_nits), np.uint16)  # type: ignore[arg-type]
                if previous is not None:
                    out.between(previous[0], previous[1], media_t, frame)
                previous = (media_t, frame)
                report.frames_processed += 1
                report.max_latency_s = max(report.max_latency_s, time.perf_counter() - due)
            if previous is not None:
                out.between(previous[0], previous[1], info.duration, None)
            report.wall_s = time.perf_counter() - start
            report.frames_out = writer.frames_written
        ctx.output.write_file("enhanced.mp4", path)
    backends = {
        "upscaler": upscaler.name if upscaler else None,
        "interpolator": interpolator.name if interpolator else None,
        "encoder": writer.encoder_name,
    }
    ctx.output.write_json(
        "enhance.json",
        {
            "mode": "realtime",
            "params": params.model_dump(mode="json"),
            "backends": backends,
            "output": {
                "width": plan.width,
                "height": plan.height,
                "fps": float(rate),
                "frames": report.frames_out,
                "codec": plan.fmt.codec,
                "hdr": plan.fmt.hdr,
            },
            "realtime": report.to_dict(),
        },
    )
    return JobOutcome(report.line(), {"realtime": report.to_dict(), "backends": backends})
