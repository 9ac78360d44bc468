"""Encode a trailer's final frames and sound to every rendition of the ladder in one pass.

Frames arrive once at the largest rendition's size; each smaller rendition is an area-averaged resize
of the same frame, so the sources are decoded once whatever the number of renditions. Each rendition is
H.264/AAC MP4 with ``+faststart`` (``genmedia.media.encode.VideoWriter``), libx264 on CPU or
h264_nvenc when it opens (``encoder="auto"``), constant quality under a VBV cap, with a keyframe every
``gop_seconds``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from genmedia.media.encode import EncoderChoice, VideoWriter
from genmedia.trailer.edl import EditDecisionList
from genmedia.trailer.frames import Rung


@dataclass
class Rendered:
    """What :func:`encode_renditions` wrote."""

    files: dict[str, Path]
    encoder: str
    frames: int
    audio_samples: int
    rungs: list[Rung] = field(default_factory=list)
    max_bitrate: dict[str, int] = field(default_factory=dict)
    """The VBV cap of each rendition (bit/s), by rung name."""


def encode_renditions(
    edl: EditDecisionList,
    frames: Iterable[np.ndarray],
    audio: np.ndarray,
    sample_rate: int,
    rungs: list[Rung],
    out_dir: Path,
    *,
    encoder: EncoderChoice = "auto",
    crf: int | None = None,
    preset: str | None = None,
    gop_seconds: float = 2.0,
    max_bits_per_pixel: float | None = None,
) -> Rendered:
    """Write ``trailer_{rung}.mp4`` for every rung from ``frames`` (largest rung's size) and stereo ``audio``.

    Constant quality, capped: with ``max_bits_per_pixel`` each rendition's VBV maximum rate is that many
    bits per pixel per frame (buffer: two seconds at that rate), so a hard scene cannot burst past what a
    player's connection was sized for. Sound is interleaved with the pictures as they are written (one
    second of each at a time).
    """
    rate = edl.rate
    gop = max(1, round(gop_seconds * float(rate)))
    options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2"}
    caps = (
        {r.name: int(r.width * r.height * float(rate) * max_bits_per_pixel) for r in rungs}
        if max_bits_per_pixel
        else {}
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {r.name: out_dir / f"trailer_{r.name}.mp4" for r in rungs}
    writers = [
        VideoWriter(
            files[r.name],
            r.width,
            r.height,
            rate,
            codec="h264",
            encoder=encoder,
            crf=crf,
            preset=preset,
            audio_rate=sample_rate,
            audio_channels=2,
            options=options | ({"maxrate": str(caps[r.name]), "bufsize": str(2 * caps[r.name])} if caps else {}),
        )
        for r in rungs
    ]
    written = samples = 0
    try:
        for image in frames:
            for rung, writer in zip(rungs, writers, strict=True):
                picture = (
                    image
                    if (image.shape[1], image.shape[0]) == (rung.width, rung.height)
                    else cv2.resize(image, (rung.width, rung.height), interpolation=cv2.INTER_AREA)
                )
                writer.write_frames(picture)
            written += 1
            if written % max(1, round(float(rate))) == 0 or written == edl.frame_count:
                until = audio.shape[1] if written >= edl.frame_count else round(written / float(rate) * sample_rate)
                for writer in writers:
                    writer.write_audio(audio[:, samples:until])
                samples = until
        if written != edl.frame_count:
            raise RuntimeError(f"rendered {written} frames, the edit decision list has {edl.frame_count}")
        encoder_name = writers[0].encoder_name
        for writer in writers:
            writer.close()
    except BaseException:
        for writer in writers:
            writer.__exit__(RuntimeError, None, None)
        raise
    return Rendered(
        files=files, encoder=encoder_name, frames=written, audio_samples=samples, rungs=rungs, max_bitrate=caps
    )
