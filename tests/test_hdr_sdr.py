"""HDR10 sources: static metadata read from an x265 clip, and the SDR pictures trailers and thumbnails are
made of (tone-mapped BT.2020 PQ -> BT.709), compared with a reference tone-map and with the SDR original."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from genmedia.enhance.hdr import (
    BT2020_PRIMARIES_XY,
    HdrMetadata,
    metadata_from_side_data,
    read_metadata,
    sdr_to_hdr,
)
from genmedia.enhance.pixels import from_unit
from genmedia.enhance.tonemap import SdrPictures, tonemap_signal
from genmedia.enhance.writer import EnhancedWriter, OutputFormat
from genmedia.media.decode import iter_frames
from genmedia.media.probe import MediaInfo, probe
from genmedia.media.synthetic import _texture
from genmedia.pipelines.thumbnails import read_frames
from genmedia.trailer.frames import decode_span

pytestmark = pytest.mark.unit

W, H, N = 320, 180, 12
METADATA = HdrMetadata(
    max_cll=940, max_fall=180, master_max_nits=1000, master_min_nits=0.001, primaries=BT2020_PRIMARIES_XY
)
LUMA_TOLERANCE = 0.03
"""Mean luma (0..1) of the SDR pictures within this of the reference."""
SATURATION_TOLERANCE = 0.15
"""Mean HSV saturation within this fraction of the reference."""


def _sdr_picture() -> np.ndarray:
    """A natural-looking SDR frame: texture, a saturated red and a blue patch, a white patch, a dark corner."""
    image = _texture(np.random.default_rng(3), H, W, 0.3, 150)
    image[30:80, 40:120] = (210, 40, 30)
    image[100:150, 200:280] = (40, 70, 200)
    image[20:60, 220:300] = 245
    image[140:, :60] //= 6
    return image


@pytest.fixture(scope="module")
def hdr_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[MediaInfo, np.ndarray]:
    """An HDR10 clip made with the bundled libx265 (BT.2020 PQ, 10 bit, mastering display and content light
    SEI), from the SDR frames it is returned with."""
    path = tmp_path_factory.mktemp("hdr") / "hdr10.mp4"
    sdr = np.stack([np.roll(_sdr_picture(), 2 * k, axis=1) for k in range(N)])
    fmt = OutputFormat(codec="hevc", bit_depth=10, hdr="pq", hdr_metadata=METADATA, crf=12)
    with EnhancedWriter(path, W, H, Fraction(24), Fraction(1, 24), fmt) as writer:
        writer.write(from_unit(sdr_to_hdr(sdr, "pq", peak_nits=1000), np.uint16), np.arange(N))
    return probe(path), sdr


def _stats(rgb: np.ndarray) -> tuple[float, float]:
    """Mean BT.709 luma (0..1) and mean HSV saturation of an 8-bit RGB picture."""
    unit = rgb.astype(np.float32) / 255
    sat = cv2.cvtColor(unit, cv2.COLOR_RGB2HSV)[..., 1]
    return float((unit @ np.array([0.2126, 0.7152, 0.0722], np.float32)).mean()), float(sat.mean())


def _close(picture: np.ndarray, reference: np.ndarray) -> bool:
    (y, s), (y_ref, s_ref) = _stats(picture), _stats(reference)
    return abs(y - y_ref) <= LUMA_TOLERANCE and abs(s - s_ref) <= SATURATION_TOLERANCE * s_ref


def _reference(info: MediaInfo, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` decoded untouched (PQ code values shown as if BT.709: the washed-out picture) and the
    reference tone-map computed in float from its 16-bit R'G'B'."""
    frame = next(f for k, (_, f) in enumerate(iter_frames(info)) if k == index)
    signal = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535
    reference = from_unit(tonemap_signal(signal, "pq", METADATA.max_cll), np.uint8)
    return frame.to_ndarray(format="rgb24"), reference


def test_mastering_display_and_content_light_are_read_back(hdr_clip: tuple[MediaInfo, np.ndarray]) -> None:
    info, _ = hdr_clip
    assert info.hdr == "pq"
    meta = read_metadata(info.local_path)
    assert meta is not None
    assert (meta.max_cll, meta.max_fall, meta.primaries) == (940, 180, BT2020_PRIMARIES_XY)
    assert (meta.master_max_nits, meta.master_min_nits) == pytest.approx((1000, 0.001))
    assert meta.x265_params() == METADATA.x265_params()
    assert metadata_from_side_data(None, None) is None


def test_tone_map_inverts_the_sdr_to_hdr_mapping() -> None:
    sdr = _sdr_picture()
    back = from_unit(tonemap_signal(sdr_to_hdr(sdr, "pq", peak_nits=1000), "pq", 1000), np.uint8)
    assert np.abs(back.astype(int) - sdr).mean() < 1.0


def test_trailer_frames_of_an_hdr_source_are_tone_mapped(hdr_clip: tuple[MediaInfo, np.ndarray]) -> None:
    info, sdr = hdr_clip
    pictures = list(decode_span(info, 0.0, 4, Fraction(24), W, H))
    naive, reference = _reference(info, 3)
    assert _close(pictures[3], reference) and _close(pictures[3], sdr[3])
    assert not _close(naive, reference)  # what trailers showed before: PQ code values taken as BT.709


def test_thumbnail_pictures_of_an_hdr_source_are_tone_mapped(hdr_clip: tuple[MediaInfo, np.ndarray]) -> None:
    info, sdr = hdr_clip
    image = read_frames({"frame_index": np.array([5])}, info=info)["image"][0]
    naive, reference = _reference(info, 5)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert _close(image, reference) and _close(image, sdr[5])
    assert np.abs(image.astype(int) - reference).mean() < 3  # the LUT graph agrees with the float tone-map
    assert not _close(naive, reference)


def test_sdr_sources_are_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "sdr.mp4"
    image = _sdr_picture()
    with EnhancedWriter(path, W, H, Fraction(24), Fraction(1, 24), OutputFormat(codec="h264", crf=10)) as writer:
        writer.write(np.stack([image] * 3), np.arange(3))
    info = probe(path)
    frame = next(f for _, f in iter_frames(info))
    assert np.array_equal(SdrPictures(info)(frame), frame.to_ndarray(format="rgb24"))
