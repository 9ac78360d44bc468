"""The enhancement plan: what a job will produce (sizes, rate, pixel formats, codec), decided from the
input and the parameters before any work, and the colour statistics of a grading reference.

Pure decisions plus a few seeks through the media layer; no Ray. ``genmedia.pipelines.enhance`` (the
batch job) and ``genmedia.pipelines.realtime`` (the live mode) both start from :func:`plan_output`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genmedia.config import Config
from genmedia.enhance import grade as gr
from genmedia.enhance.hdr import read_metadata
from genmedia.enhance.pixels import resize
from genmedia.enhance.writer import OutputFormat
from genmedia.errors import InputError
from genmedia.media.decode import Segment, decode_frames
from genmedia.media.encode import to_fraction
from genmedia.media.probe import MediaInfo, probe
from genmedia.storage import stage_input
from genmedia.validation import OneLine

TARGETS = {"2160p": 2160, "4320p": 4320}
"""Output heights of the named targets."""


class Params(BaseModel):
    """What to do to the video. The defaults change nothing but denoise (``auto``: only when noisy)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    upscale: Literal[1, 2, 4] = Field(1, description="Scale factor (1 = keep the size).")
    target: Literal["2160p", "4320p"] | None = Field(None, description="Output height instead of a factor.")
    denoise: Literal["auto", "off"] | float = Field("auto", description="auto, off, or a noise sigma in 8-bit units.")
    fps: float | None = Field(
        None, gt=0, le=240, description="Output frame rate (interpolated); None keeps the source's."
    )
    hdr: Literal["off", "pq", "hlg"] = "off"
    grade: OneLine = Field(
        "off", max_length=4096, description="auto, off, a preset name, or a reference image/video path."
    )
    codec: Literal["h264", "hevc", "av1"] | None = Field(None, description="None: h264, or hevc for 10-bit/HDR output.")
    crf: int | None = Field(None, ge=0, le=63)
    reference: OneLine | None = Field(
        None, max_length=4096, description="A reference video: PSNR/SSIM of the output against it."
    )
    realtime: bool = Field(False, description="Process at the source's frame rate, degrading when behind.")
    package: bool = Field(
        False,
        description="Also package the enhanced video for streaming: a per-title ladder in CMAF "
        "segments with an HLS master playlist and a DASH MPD (package/); SDR only.",
    )

    @field_validator("denoise")
    @classmethod
    def _level(cls, v: str | float) -> str | float:
        if isinstance(v, float) and not 0 < v <= 50:
            raise ValueError("a denoise level is a noise sigma in (0, 50]")
        return v

    @model_validator(mode="after")
    def _one_size(self) -> Params:
        if self.target and self.upscale != 1:
            raise ValueError("give --upscale or --target, not both")
        return self

    def grade_mode(self) -> Literal["off", "auto", "preset", "reference"]:
        """How ``grade`` is read."""
        if self.grade in ("off", "auto"):
            return self.grade  # type: ignore[return-value]
        return "preset" if self.grade in gr.PRESETS else "reference"

    def input_files(self) -> dict[str, str]:
        """The other files this job reads, by parameter name (validated by the HTTP API, hashed by the job)."""
        files = {"grade": self.grade} if self.grade_mode() == "reference" else {}
        return files | ({"reference": self.reference} if self.reference else {})


@dataclass
class Plan:
    """What the job will produce, decided from the input and the parameters before any work."""

    width: int
    height: int
    fps_out: Fraction | None
    decode_fmt: str
    fmt: OutputFormat
    hdr_in: str | None
    frames_fmt: str = "rgb24"
    """What the batch pipeline's frames travel as: the output's planar Y'CbCr (``yuv420p``/``yuv420p10le``)
    from decode to encode when no stage needs RGB, else :attr:`decode_fmt` (``rgb24``/``rgb48le``)."""
    sigma: float = 0.0
    noise_measured: float | None = None
    shots: list[tuple[int, int]] = field(default_factory=list)
    shots_from: str = "not needed"
    grades: list[gr.Grade] | None = None
    warnings: list[str] = field(default_factory=list)


def plan_output(info: MediaInfo, params: Params, cfg: Config) -> Plan:
    """Sizes, rate, pixel formats and codec of the output; InputError for what cannot be done."""
    warnings: list[str] = []
    w, h = info.width, info.height
    if params.target:
        target = TARGETS[params.target]
        if h > target:
            raise InputError(info.path, f"is {w}x{h}, already taller than {params.target}; enhance does not downscale")
        out_h = target
        out_w = round(w * target / h / 2) * 2
    else:
        out_w, out_h = w * params.upscale, h * params.upscale
    if out_w * out_h > cfg.limits.max_pixels:
        raise InputError(
            info.path,
            f"upscaling {w}x{h} to {out_w}x{out_h} = {out_w * out_h:,} pixels is over the limit of "
            f"{cfg.limits.max_pixels:,} (limits.max_pixels)",
        )
    fps_out = None
    if params.fps:
        if params.fps < info.fps - 1e-3:
            raise InputError(
                info.path,
                f"--fps {params.fps:g} is lower than the source's {info.fps:g} fps; enhance only raises the frame "
                "rate (leave --fps out to keep it)",
            )
        if abs(params.fps - info.fps) <= 1e-3 and not info.variable_frame_rate:
            warnings.append(f"the source is already {info.fps:g} fps: frames passed through, none interpolated")
        else:
            fps_out = to_fraction(params.fps)
    hdr_in = info.hdr
    if hdr_in and params.hdr != "off":
        warnings.append(f"the input is already HDR ({hdr_in}): passed through as HDR, --hdr {params.hdr} not applied")
    hdr_out = hdr_in or (None if params.hdr == "off" else params.hdr)
    deep = (info.bit_depth or 8) > 8 or bool(hdr_in)
    bit_depth = 10 if hdr_out or deep else 8
    codec = params.codec or ("hevc" if bit_depth > 8 else "h264")
    if codec == "h264" and hdr_out:
        raise InputError(info.path, "HDR output needs a 10-bit codec: use --codec hevc or --codec av1")
    if codec == "h264" and bit_depth > 8:
        warnings.append("10-bit input encoded as 8-bit H.264 (use --codec hevc or av1 to keep 10 bits)")
        bit_depth = 8
    metadata = read_metadata(info.local_path) if hdr_in == "pq" else None  # HDR10 mastering/content light kept
    fmt = OutputFormat(codec=codec, bit_depth=bit_depth, hdr=hdr_out, hdr_metadata=metadata, crf=params.crf)
    upscaler = cfg.models.get("upscaler")
    needs_rgb = (
        fps_out is not None  # the interpolators work on RGB
        or (params.grade_mode() != "off" and not hdr_in)  # grading (skipped for HDR input)
        or (hdr_out is not None and not hdr_in)  # SDR -> HDR
        or ((out_w, out_h) != (w, h) and upscaler is not None and upscaler.model is not None)  # a model upscaler
        or w % 2
        or h % 2
    )
    decode_fmt = "rgb48le" if deep else "rgb24"
    return Plan(
        out_w, out_h, fps_out, decode_fmt, fmt, hdr_in, decode_fmt if needs_rgb else fmt.pix_fmt, warnings=warnings
    )


def keyframe_samples(info: MediaInfo, count: int, fmt: str) -> np.ndarray:
    """Up to ``count`` full-size frames at keyframes spread over the video (cheap: one frame per seek)."""
    pts = info.frame_pts
    keys = sorted(set(info.keyframe_pts) & set(pts)) or [pts[0]]
    chosen = [keys[round(i)] for i in np.linspace(0, len(keys) - 1, min(count, len(keys)))]
    frames = []
    for k in dict.fromkeys(chosen):
        i = pts.index(k)
        segment = Segment(0, k, pts[i + 1] if i + 1 < len(pts) else None, i, 1)
        for fb in decode_frames(info, segment=segment, fmt=fmt, batch_size=1):  # type: ignore[arg-type]
            frames.append(fb.frames[0])
    return np.stack(frames)


def reference_stats(cfg: Config, source: str) -> gr.FrameStats:
    """Pooled colour statistics of a reference image or video (frames spread over it)."""
    path = stage_input(source, cfg.storage)
    info = probe(path, cfg.limits)
    frames = keyframe_samples(info, 8, "rgb24")
    return gr.pooled([gr.frame_stats(_shrink(f, 256)) for f in frames])


def _shrink(frame: np.ndarray, width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    return resize(frame, width, max(1, round(h * width / w))) if w > width else frame


__all__ = ["TARGETS", "Params", "Plan", "keyframe_samples", "plan_output", "reference_stats"]
