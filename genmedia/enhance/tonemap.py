"""HDR -> SDR tone mapping for pictures made from HDR sources (trailers, thumbnails): BT.2020 PQ/HLG to BT.709.

The mapping is the inverse of :func:`genmedia.enhance.hdr.sdr_to_hdr`: HDR reference white (203 cd/m2,
ITU-R BT.2408) becomes SDR white, luminance up to a knee stays linear, and above it the highlights up
to the source's peak (MaxCLL, or the mastering display's peak) are compressed smoothly into the top of
the SDR range. Hue is kept by scaling RGB by the luminance ratio; BT.2020 colours outside BT.709 are
clipped; the result is encoded for a BT.1886 display (gamma 2.4). An SDR picture turned HDR by genmedia
and mapped back comes out as it was (within rounding).

The curve is baked into a 65^3 3D LUT over the non-linear R'G'B' signal and applied by FFmpeg's
``lut3d`` filter (tetrahedral interpolation) in a libavfilter graph that also scales the frame, so a
picture costs one native pass; the bundled FFmpeg has no ``zscale``, and ``colorspace``/``tonemap``
cannot linearise PQ or HLG.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from genmedia.enhance.filters import Chain, cube_file, lut3d
from genmedia.enhance.grade import cube_text
from genmedia.enhance.hdr import (
    BT709_TO_BT2020,
    BT2020_LUMA,
    DEFAULT_MASTER_NITS,
    KNEE,
    SDR_WHITE_NITS,
    HdrMetadata,
    Transfer,
    hlg_inverse_oetf,
    pq_decode,
    read_metadata,
)
from genmedia.media.probe import MediaInfo

LUT_SIZE = 65
BT2020_TO_BT709 = np.linalg.inv(BT709_TO_BT2020).astype(np.float32)
HLG_DISPLAY_NITS = 1000.0
"""HLG is shown as on a 1000 cd/m2 display (BT.2100 OOTF, system gamma 1.2)."""


def display_nits(signal: np.ndarray, transfer: Transfer) -> np.ndarray:
    """Non-linear BT.2020 R'G'B' (..., 3) in [0, 1] -> displayed linear RGB in cd/m2."""
    if transfer == "pq":
        return pq_decode(signal)
    scene = hlg_inverse_oetf(signal)
    y = np.maximum(scene @ BT2020_LUMA, 1e-9)
    return HLG_DISPLAY_NITS * scene * (y**0.2)[..., None]  # OOTF: gamma 1.2 on luminance


def compress_luminance(nits: np.ndarray, peak_nits: float) -> np.ndarray:
    """cd/m2 -> relative SDR luminance in [0, 1]: the inverse of :func:`~genmedia.enhance.hdr.expand_luminance`.

    Linear (203 cd/m2 = 1) to the knee; above it ``203 y + (peak - 203) u^2 = nits`` with
    ``u = (y - knee) / (1 - knee)`` is solved for ``y``, so ``peak_nits`` lands on SDR white.
    """
    knee_nits = KNEE * SDR_WHITE_NITS
    a = max(peak_nits - SDR_WHITE_NITS, 1e-6)
    b = SDR_WHITE_NITS * (1 - KNEE)
    c = np.maximum(nits - knee_nits, 0)
    u = (-b + np.sqrt(b * b + 4 * a * c)) / (2 * a)
    y = np.where(nits <= knee_nits, nits / SDR_WHITE_NITS, KNEE + (1 - KNEE) * u)
    return np.clip(y, 0, 1)


def tonemap_signal(signal: np.ndarray, transfer: Transfer, peak_nits: float) -> np.ndarray:
    """BT.2020 ``transfer`` R'G'B' (..., 3) in [0, 1] -> BT.709 SDR R'G'B' in [0, 1] (float32)."""
    linear = display_nits(np.asarray(signal, np.float32), transfer)
    y = linear @ BT2020_LUMA
    target = compress_luminance(y, peak_nits)
    rgb = linear * (target / np.maximum(y, 1e-9))[..., None]
    rgb709 = np.clip(rgb @ BT2020_TO_BT709.T, 0, 1)
    return np.power(rgb709, np.float32(1 / 2.4)).astype(np.float32)


def tonemap_lut(transfer: Transfer, peak_nits: float, size: int = LUT_SIZE) -> np.ndarray:
    """:func:`tonemap_signal` on a ``size``^3 lattice, as an array [b, g, r, channel] for ``.cube`` output."""
    axis = np.linspace(0, 1, size, dtype=np.float32)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    return tonemap_signal(np.stack([r, g, b], axis=-1), transfer, peak_nits)


@lru_cache(maxsize=8)
def lut_file(transfer: Transfer, peak_nits: float) -> Path:
    """The tone-mapping LUT as a ``.cube`` file in the temp folder (computed once per process)."""
    return cube_file(
        cube_text(tonemap_lut(transfer, peak_nits), f"genmedia {transfer} -> SDR BT.709, peak {peak_nits:g} cd/m2")
    )


class SdrPictures:
    """RGB pictures (uint8, BT.709) of a video's decoded frames: tone-mapped when the video is HDR.

    For an SDR video this is PyAV's ``reformat`` to ``rgb24``. For HDR (``info.hdr`` pq/hlg) each
    frame goes through a libavfilter graph: scale, BT.2020 Y'CbCr -> 16-bit R'G'B', the tone-mapping
    LUT (``lut3d``), 8-bit RGB. The peak comes from the source's HDR10 metadata (1000 cd/m2 without).
    """

    def __init__(self, info: MediaInfo):
        """Read the source's HDR metadata when it is HDR (one short decode)."""
        self.transfer: Transfer | None = info.hdr  # type: ignore[assignment]
        self.peak_nits = DEFAULT_MASTER_NITS
        if self.transfer == "pq":
            stat = os.stat(info.local_path)
            metadata = _metadata(info.local_path, stat.st_mtime_ns, stat.st_size)
            if metadata is not None:
                self.peak_nits = metadata.peak_nits
        elif self.transfer == "hlg":
            self.peak_nits = HLG_DISPLAY_NITS
        self._chains: dict[tuple[int, int, int, int, str, int], Chain] = {}

    def __call__(self, frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> np.ndarray:
        """``frame`` as an H x W x 3 uint8 BT.709 picture of ``width`` x ``height`` (default: its own size)."""
        if self.transfer is None:
            return frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        w, h = width or frame.width, height or frame.height
        key = (frame.width, frame.height, w, h, frame.format.name, int(frame.color_range or 1))
        chain = self._chains.get(key)
        if chain is None:
            full = key[5] == 2  # AVCOL_RANGE_JPEG
            filters = [
                ("scale", f"w={w}:h={h}:flags=bicubic:in_color_matrix=bt2020:in_range={'pc' if full else 'tv'}"),
                ("format", "gbrp16le"),
                lut3d(lut_file(self.transfer, self.peak_nits)),
            ]
            chain = Chain(
                frame.width,
                frame.height,
                frame.format.name,
                filters,
                out_fmt="rgb24",
                colorspace="bt2020",
                color_range="pc" if full else "tv",
            )
            self._chains[key] = chain
        out = chain.push(frame)
        if len(out) != 1:
            raise RuntimeError(f"tone-mapping graph returned {len(out)} pictures for one frame")
        return out[0].to_ndarray()


@lru_cache(maxsize=32)
def _metadata(path: str, mtime_ns: int, size: int) -> HdrMetadata | None:
    """:func:`read_metadata`, once per file version (a trailer decodes many spans of one source)."""
    return read_metadata(path)
