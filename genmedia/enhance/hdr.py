"""SDR -> HDR inverse tone mapping: BT.709 SDR to BT.2020 with the PQ (HDR10) or HLG transfer.

The SDR signal is linearised with the BT.1886 display EOTF (gamma 2.4), converted to BT.2020
primaries, and placed so SDR reference white sits at 203 cd/m2 (ITU-R BT.2408); luminance above a
knee expands smoothly towards ``peak_nits`` so highlights gain range while mid-tones keep their look.
Hue is kept by scaling RGB by the luminance ratio. PQ encodes absolute luminance (SMPTE ST 2084);
HLG goes through the inverse BT.2100 OOTF (system gamma 1.2 at 1000 cd/m2) and the HLG OETF, which
puts reference white near 75 % signal. Output is non-linear R'G'B' in [0, 1] for a 10-bit encode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import av
import av.sidedata.sidedata
import numpy as np

from genmedia.enhance.pixels import to_unit

Transfer = Literal["pq", "hlg"]

BT709_TO_BT2020 = np.array(
    [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]], dtype=np.float32
)
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
SDR_WHITE_NITS = 203.0
KNEE = 0.75
"""SDR luminance (relative to white) above which highlights are expanded."""

# SMPTE ST 2084
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ARIB STD-B67 / BT.2100 HLG
_HLG_A, _HLG_B, _HLG_C = 0.17883277, 0.28466892, 0.55991073

# FFmpeg enum values for the colour tags (AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace).
BT2020_PRIMARIES, BT2020_NCL = 9, 9
TRC_CODES = {"pq": 16, "hlg": 18}
TRC_NAMES = {"pq": "smpte2084", "hlg": "arib-std-b67"}
DISPLAY_P3_D65 = (13250, 34500, 7500, 3000, 34000, 16000, 15635, 16450)
"""Mastering display primaries G, B, R, white point (P3-D65, the usual HDR10 grading monitor) in units of 0.00002."""
BT2020_PRIMARIES_XY = (8500, 39850, 6550, 2300, 35400, 14600, 15635, 16450)
"""BT.2020 primaries and D65, same units and order."""
_CHROMA_UNIT = 0.00002
DEFAULT_MASTER_NITS = 1000.0
"""The mastering peak assumed when a PQ source says none."""


def pq_encode(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: absolute luminance (cd/m2) -> signal in [0, 1]."""
    y = np.power(np.clip(nits / 10000.0, 0, 1), _M1)
    return np.power((_C1 + _C2 * y) / (1 + _C3 * y), _M2)


def pq_decode(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: signal in [0, 1] -> cd/m2."""
    e = np.power(np.clip(signal, 0, 1), 1 / _M2)
    return 10000.0 * np.power(np.maximum(e - _C1, 0) / (_C2 - _C3 * e), 1 / _M1)


def hlg_oetf(scene: np.ndarray) -> np.ndarray:
    """BT.2100 HLG OETF: normalised scene light in [0, 1] -> signal in [0, 1]."""
    scene = np.clip(scene, 0, 1)
    return np.where(
        scene <= 1 / 12, np.sqrt(3 * scene), _HLG_A * np.log(np.maximum(12 * scene - _HLG_B, 1e-6)) + _HLG_C
    )


def hlg_inverse_oetf(signal: np.ndarray) -> np.ndarray:
    """BT.2100 HLG inverse OETF: signal in [0, 1] -> normalised scene light in [0, 1]."""
    e = np.clip(signal, 0, 1)
    return np.where(e <= 0.5, e * e / 3, (np.exp((e - _HLG_C) / _HLG_A) + _HLG_B) / 12)


def expand_luminance(y: np.ndarray, peak_nits: float) -> np.ndarray:
    """Relative SDR luminance (1 = SDR white) -> cd/m2: linear to the knee, then a smooth rise to ``peak_nits``."""
    base = SDR_WHITE_NITS * y
    over = np.clip((y - KNEE) / (1 - KNEE), 0, 1)
    return base + (peak_nits - SDR_WHITE_NITS) * over * over


def sdr_to_hdr(frames: np.ndarray, transfer: Transfer, *, peak_nits: float = 1000.0) -> np.ndarray:
    """BT.709 SDR integer RGB frames -> BT.2020 non-linear RGB in [0, 1] (float32) with ``transfer``."""
    rgb_nits = hdr_nits(frames, peak_nits=peak_nits)
    if transfer == "pq":
        return pq_encode(rgb_nits).astype(np.float32)
    scene = np.power(np.clip(rgb_nits / 1000.0, 0, 1), 1 / 1.2)  # inverse OOTF at a 1000 cd/m2 display
    return hlg_oetf(scene).astype(np.float32)


@dataclass(frozen=True)
class HdrMetadata:
    """HDR10 static metadata: mastering display (SMPTE ST 2086) and content light levels (CTA-861.3).

    ``primaries`` are the mastering display's G, B, R and white point chromaticities (x, y) in units of
    0.00002, the order x265 writes them (default: P3-D65, the usual HDR10 grading monitor).
    """

    max_cll: int
    max_fall: int
    master_max_nits: float
    master_min_nits: float = 0.0050
    primaries: tuple[int, ...] = DISPLAY_P3_D65

    def x265_params(self) -> str:
        """The x265 ``master-display`` / ``max-cll`` parameters (SEI messages in the bitstream)."""
        gx, gy, bx, by, rx, ry, wx, wy = self.primaries
        display = f"G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})"
        return (
            f"master-display={display}L({round(self.master_max_nits * 10000)},{round(self.master_min_nits * 10000)})"
            f":max-cll={self.max_cll},{self.max_fall}"
        )

    def svtav1_params(self) -> str:
        """The SVT-AV1 ``mastering-display`` / ``content-light`` parameters (AV1 metadata OBUs)."""
        gx, gy, bx, by, rx, ry, wx, wy = (round(v * _CHROMA_UNIT, 5) for v in self.primaries)
        md = f"G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({self.master_max_nits},{self.master_min_nits})"
        return f"mastering-display={md}:content-light={self.max_cll},{self.max_fall}"

    @property
    def peak_nits(self) -> float:
        """The brightest the content gets: MaxCLL when known, else the mastering display's peak."""
        return float(self.max_cll) if self.max_cll > 0 else self.master_max_nits


def metadata_from_side_data(mastering: bytes | None, light: bytes | None) -> HdrMetadata | None:
    """HdrMetadata from FFmpeg's frame side data: ``AVMasteringDisplayMetadata`` (22 int32: R, G, B and
    white point x/y and min/max luminance as rationals, then has_primaries, has_luminance) and
    ``AVContentLightMetadata`` (MaxCLL, MaxFALL as uint32). None when neither is present."""
    if mastering is None and light is None:
        return None
    cll, fall = struct.unpack("<2I", light[:8]) if light is not None and len(light) >= 8 else (0, 0)
    max_nits, min_nits, primaries = DEFAULT_MASTER_NITS, 0.0050, DISPLAY_P3_D65
    if mastering is not None and len(mastering) >= 88:
        v = struct.unpack("<22i", mastering[:88])
        ratio = [v[k] / v[k + 1] if v[k + 1] else 0.0 for k in range(0, 20, 2)]  # Rx Ry Gx Gy Bx By Wx Wy min max
        if v[20]:  # has_primaries
            rx, ry, gx, gy, bx, by, wx, wy = (round(r / _CHROMA_UNIT) for r in ratio[:8])
            primaries = (gx, gy, bx, by, rx, ry, wx, wy)
        if v[21]:  # has_luminance
            min_nits, max_nits = ratio[8], ratio[9]
    return HdrMetadata(int(cll), int(fall), max_nits, min_nits, primaries)


def read_metadata(path: str, *, frames: int = 8) -> HdrMetadata | None:
    """The HDR10 static metadata of the video at ``path``, from the side data of its first ``frames``
    decoded frames (x265/x264 put it in SEI messages, containers' ``mdcv``/``clli`` boxes reach it too)."""
    found: dict[str, bytes] = {}
    wanted = {
        av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA: "mastering",
        av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL: "light",
    }
    with av.open(path, options={"protocol_whitelist": "file"}) as container:
        for k, frame in enumerate(container.decode(video=0)):
            for item in frame.side_data:
                if item.type in wanted:
                    found.setdefault(wanted[item.type], bytes(item))
            if len(found) == len(wanted) or k + 1 >= frames:
                break
    return metadata_from_side_data(found.get("mastering"), found.get("light"))


def hdr_nits(frames: np.ndarray, *, peak_nits: float = 1000.0) -> np.ndarray:
    """Absolute BT.2020 linear RGB (cd/m2) that :func:`sdr_to_hdr` gives SDR ``frames``."""
    linear = np.power(to_unit(frames), np.float32(2.4)) @ BT709_TO_BT2020.T
    y = np.maximum(linear @ BT2020_LUMA, 1e-6)
    return linear * (expand_luminance(y, peak_nits) / y)[..., None]


def content_light(samples: list[np.ndarray], peak_nits: float) -> tuple[int, int]:
    """MaxCLL and MaxFALL (cd/m2) of the HDR output, measured on sample SDR frames (e.g. small copies).

    MaxCLL is the brightest pixel's max(R, G, B); MaxFALL the highest frame average of it (CTA-861.3).
    """
    cll, fall = 1.0, 1.0
    for frame in samples:
        brightest = hdr_nits(frame, peak_nits=peak_nits).max(axis=-1)
        cll, fall = max(cll, float(brightest.max())), max(fall, float(brightest.mean()))
    return round(min(cll, peak_nits)), round(min(fall, cll))
