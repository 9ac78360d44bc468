"""Full-reference quality metrics through FFmpeg's filters: PSNR (``psnr``) and SSIM (``ssim``).

Both frames go into a two-input libavfilter graph and the score is read from the frame metadata the
filter attaches. PSNR is over all three RGB planes (the mean squared error of every sample); SSIM is
FFmpeg's (8x8 blocks, Wang et al. 2004 constants) on the luma of the BT.709 Y'CbCr conversion.
VMAF needs ``libvmaf``, which neither the FFmpeg inside PyAV nor this machine's ffmpeg has, so it is
not computed; :func:`vmaf_note` says so in ``enhance.json``.
"""

from __future__ import annotations

import math

import av
import numpy as np

from genmedia.enhance.filters import layout_format, to_frame


def _score(reference: np.ndarray, test: np.ndarray, name: str, fmt: str, key: str) -> float:
    """Run ``reference`` and ``test`` through the two-input filter ``name`` (both converted to ``fmt``)."""
    if reference.shape != test.shape or reference.dtype != test.dtype:
        raise ValueError(f"{name}: shapes differ {reference.dtype}{reference.shape} vs {test.dtype}{test.shape}")
    pix_fmt = layout_format(reference[None])
    h, w = reference.shape[:2]
    graph = av.filter.Graph()
    args = f"video_size={w}x{h}:pix_fmt={pix_fmt}:time_base=1/1:pixel_aspect=1/1"
    sources = [graph.add("buffer", args), graph.add("buffer", args)]
    converted = [graph.add("format", f"pix_fmts={fmt}") for _ in sources]
    metric, sink = graph.add(name), graph.add("buffersink")
    for k, (source, conv) in enumerate(zip(sources, converted, strict=True)):
        source.link_to(conv)
        conv.link_to(metric, 0, k)
    metric.link_to(sink)
    graph.configure()
    for source, image in zip(sources, (reference, test), strict=True):
        source.push(to_frame(image, pix_fmt))
    out = graph.pull()
    value = out.metadata[key]
    return math.inf if value == "inf" else float(value)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels of two RGB frames (inf when identical)."""
    fmt = "gbrp16le" if reference.dtype == np.uint16 else "gbrp"
    return _score(reference, test, "psnr", fmt, "lavfi.psnr.psnr_avg")


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity of the luma of two RGB frames (1.0 when identical)."""
    fmt = "yuv444p16le" if reference.dtype == np.uint16 else "yuv444p"
    return _score(reference, test, "ssim", fmt, "lavfi.ssim.Y")


def vmaf_note() -> str:
    """Why ``enhance.json`` carries no VMAF score (one line)."""
    if "libvmaf" in av.filter.filters_available:
        return "VMAF not computed: this FFmpeg has libvmaf, but genmedia computes PSNR and SSIM only"
    return "VMAF not computed: the FFmpeg inside PyAV has no libvmaf filter"
