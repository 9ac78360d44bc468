"""Colour grading: per-shot auto white balance (white patch) and levels/exposure, style match to a reference, mood presets.

A grade is a :class:`Grade`: levels, white-balance gains, a gamma (exposure), an optional affine
transfer in CIE Lab (style match: the shot's Lab mean and spread moved to the reference's), and a 3x3
RGB matrix (presets, saturation). Statistics are measured per frame on small pictures
(:func:`frame_stats`), pooled per shot (:func:`shot_grades`), so every frame of a shot gets the same
parameters: no flicker inside a shot by construction. :func:`grade_lut` bakes a grade into a 3D LUT
and :func:`cube_text` writes it as an Adobe/Resolve ``.cube`` file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from genmedia.enhance.filters import cube_file, layout_format, lut3d, run_arrays
from genmedia.enhance.pixels import from_unit, to_unit

_REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
MAX_GAIN = 1.2
"""White balance gains stay within [1/MAX_GAIN, MAX_GAIN]: a grade corrects a cast, it does not recolour."""
NEUTRAL_SATURATION = 0.12
"""A bright pixel this close to grey (``(max - min) / max``) may be a white under a slight cast, whatever its hue."""
COOL_SATURATION = 0.25
COOL_HUES = (180.0, 250.0)
"""A bright cool pixel (hue in degrees) may be a white under a stronger daylight/shade cast, up to this saturation.
Warm bright pixels beyond :data:`NEUTRAL_SATURATION` are not trusted: skin is as likely as a lamp-lit wall."""
MIN_WHITE_FRACTION = 0.002
"""Fewer candidate white pixels than this fraction of the picture: no white reference, no white balance."""
TARGET_MID = 0.42
"""Exposure aims the shot's median luma (after levels) here, partially (see :data:`EXPOSURE_STRENGTH`)."""
EXPOSURE_STRENGTH = 0.6
WB_STRENGTH = 0.8
MAX_BLACK, MIN_WHITE = 0.06, 0.8
"""Levels never clip more than this much shadow, nor stretch highlights from below this."""


def _saturation_matrix(s: float) -> np.ndarray:
    grey = np.tile(_REC709, (3, 1))
    return (1 - s) * grey + s * np.eye(3, dtype=np.float32)


PRESETS: dict[str, np.ndarray] = {
    "warm": np.diag([1.08, 1.0, 0.88]).astype(np.float32) @ _saturation_matrix(1.05),
    "cool": np.diag([0.9, 1.0, 1.1]).astype(np.float32),
    "vivid": _saturation_matrix(1.3),
    "muted": _saturation_matrix(0.7),
    "noir": _saturation_matrix(0.0),
    "teal-orange": np.array([[1.10, 0.05, -0.15], [-0.02, 1.02, 0.0], [-0.10, 0.05, 1.05]], dtype=np.float32),
}
"""Mood presets: RGB matrices applied after the automatic correction."""


@dataclass
class Grade:
    """One shot's grade. Identity by default."""

    black: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    white: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    gains: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    gamma: float = 1.0
    lab_scale: list[float] | None = None
    lab_shift: list[float] | None = None
    matrix: list[list[float]] | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready parameters, rounded."""
        return {k: _rounded(v) for k, v in asdict(self).items()}


def _rounded(v: object) -> object:
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    return v


@dataclass
class FrameStats:
    """Colour statistics of one (small) frame; values in [0, 1]."""

    low: float  # 0.5th percentile of luma
    high: float  # 99.5th percentile of luma
    bright: np.ndarray  # mean RGB of the brightest 5 % of pixels that are not clipped
    median_luma: float
    lab_mean: np.ndarray
    lab_std: np.ndarray

    def to_vector(self) -> np.ndarray:
        """The statistics as :data:`STATS_LENGTH` floats (a column of the analysis's ``features.parquet``)."""
        return np.concatenate(
            [[self.low, self.high], self.bright, [self.median_luma], self.lab_mean, self.lab_std]
        ).astype(np.float32)

    @classmethod
    def from_vector(cls, v: np.ndarray) -> FrameStats:
        """The inverse of :meth:`to_vector`."""
        v = np.asarray(v, np.float32)
        if v.shape != (STATS_LENGTH,):
            raise ValueError(f"colour statistics are {STATS_LENGTH} numbers, not {v.shape}")
        return cls(float(v[0]), float(v[1]), v[2:5], float(v[5]), v[6:9], v[9:12])


STATS_LENGTH = 12
"""Floats in :meth:`FrameStats.to_vector`: low, high, bright (RGB), median luma, Lab mean, Lab spread."""


def white_candidates(unit: np.ndarray) -> np.ndarray:
    """Which of ``unit``'s RGB pixels (N x 3, 0..1) could be a white seen under a correctable cast:
    unclipped, and near grey or a cool tint (:data:`NEUTRAL_SATURATION`, :data:`COOL_SATURATION`)."""
    hsv = cv2.cvtColor(unit.reshape(1, -1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3)  # float input: H in degrees
    hue, sat = hsv[:, 0], hsv[:, 1]
    cool = (hue >= COOL_HUES[0]) & (hue <= COOL_HUES[1]) & (sat < COOL_SATURATION)
    return (unit.max(axis=1) < 0.98) & ((sat < NEUTRAL_SATURATION) | cool)


def frame_stats(frame: np.ndarray) -> FrameStats:
    """Statistics of one RGB frame (any size; pass a small one). ``bright`` is the mean of the pixels
    among the brightest 5 % that could be white (:func:`white_candidates`), or grey when too few could be."""
    unit = to_unit(frame).reshape(-1, 3)
    y = unit @ _REC709
    lo, hi, top, median = np.percentile(y, [0.5, 99.5, 95, 50])  # one partial sort for the four
    brightest = np.flatnonzero(y >= top)
    bright = brightest[white_candidates(unit[brightest])]  # the colour test on the top 5 % only
    enough = len(bright) >= max(4, MIN_WHITE_FRACTION * len(y))
    patch = unit[bright].mean(axis=0) if enough else np.full(3, float(top), np.float32)
    mean, std = (v.ravel().astype(np.float32) for v in cv2.meanStdDev(cv2.cvtColor(unit[None], cv2.COLOR_RGB2Lab)))
    return FrameStats(float(lo), float(hi), patch, float(median), mean, std + np.float32(1e-3))


def pooled(stats: list[FrameStats]) -> FrameStats:
    """The median of several frames' statistics (one shot, or a reference video)."""

    def med(name: str) -> np.ndarray:
        return np.median(np.stack([np.asarray(getattr(s, name)) for s in stats]), axis=0)

    return FrameStats(
        float(med("low")), float(med("high")), med("bright"), float(med("median_luma")), med("lab_mean"), med("lab_std")
    )


def auto_grade(stats: FrameStats) -> Grade:
    """Levels (common robust black/white points), white balance and exposure (gamma) for one shot.

    White balance is a white patch: the brightest pixels that could be a white under a cast should be
    neutral. When none could (a colourful scene, a face filling the frame, a sunset) there is no
    trustworthy white, and the balance is left alone rather than pushing the scene towards its
    complementary colour, as grey-world would.
    """
    black = min(stats.low, MAX_BLACK)
    white = max(stats.high, MIN_WHITE)
    span = max(white - black, 1e-3)
    patch = np.clip((np.asarray(stats.bright, np.float64) - black) / span, 1e-3, 1.0)
    gains = np.clip((float(patch @ _REC709) / patch) ** WB_STRENGTH, 1 / MAX_GAIN, MAX_GAIN)
    mid = float(np.clip((stats.median_luma - black) / span, 0.02, 0.98))
    gamma = float(np.clip((np.log(TARGET_MID) / np.log(mid)) ** EXPOSURE_STRENGTH, 0.75, 1.35))
    return Grade(black=[black] * 3, white=[white] * 3, gains=gains.tolist(), gamma=gamma)


def style_transfer(grade: Grade, shot: FrameStats, reference: FrameStats) -> Grade:
    """Add a Lab mean/spread transfer moving the shot's colour statistics to the reference's."""
    scale = np.clip(reference.lab_std / shot.lab_std, 0.5, 2.0)
    shift = reference.lab_mean - shot.lab_mean * scale
    grade.lab_scale, grade.lab_shift = scale.tolist(), shift.tolist()
    return grade


def with_preset(grade: Grade, preset: str) -> Grade:
    """Add the mood preset ``preset`` (one of :data:`PRESETS`)."""
    grade.matrix = PRESETS[preset].tolist()
    return grade


def shot_grades(
    stats: list[FrameStats | None],
    shots: list[tuple[int, int]],
    *,
    auto: bool = True,
    reference: FrameStats | None = None,
    preset: str | None = None,
) -> list[Grade]:
    """One grade per shot ``[start, end)`` from the per-frame ``stats`` (None where a frame was not sampled)."""
    grades = []
    for start, end in shots:
        sampled = [s for s in stats[start:end] if s is not None]
        shot = pooled(sampled) if sampled else None
        grade = auto_grade(shot) if auto and shot else Grade()
        if reference is not None and shot is not None:
            grade = style_transfer(grade, _after(grade, shot), reference)
        if preset:
            grade = with_preset(grade, preset)
        grades.append(grade)
    return grades


def _after(grade: Grade, stats: FrameStats) -> FrameStats:
    """The shot's Lab statistics as they will be after the automatic part of ``grade`` (approximate)."""
    probe = np.clip(np.asarray(stats.bright)[None, None, :] * 0.5, 0, 1).astype(
        np.float32
    )  # a mid-tone of the shot's white
    moved = cv2.cvtColor(_tone(probe, grade), cv2.COLOR_RGB2Lab).reshape(3)
    before = cv2.cvtColor(probe, cv2.COLOR_RGB2Lab).reshape(3)
    return FrameStats(
        stats.low, stats.high, stats.bright, stats.median_luma, stats.lab_mean + (moved - before), stats.lab_std
    )


def _tone(unit: np.ndarray, grade: Grade) -> np.ndarray:
    """Levels, gains and gamma on float RGB in [0, 1]."""
    black = np.asarray(grade.black, np.float32)
    span = np.maximum(np.asarray(grade.white, np.float32) - black, 1e-3)
    x = np.clip((unit - black) / span * np.asarray(grade.gains, np.float32), 0, 1)
    return np.power(x, np.float32(grade.gamma)) if grade.gamma != 1.0 else x


def apply_unit(unit: np.ndarray, grade: Grade) -> np.ndarray:
    """Apply ``grade`` to float RGB in [0, 1] of shape (..., 3)."""
    shape = unit.shape
    x = _tone(unit.reshape(-1, 1, 3).astype(np.float32), grade)
    if grade.lab_scale is not None:
        lab = cv2.cvtColor(x, cv2.COLOR_RGB2Lab)
        lab = lab * np.asarray(grade.lab_scale, np.float32) + np.asarray(grade.lab_shift, np.float32)
        lab[..., 0] = np.clip(lab[..., 0], 0, 100)
        x = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
    if grade.matrix is not None:
        x = np.clip(cv2.transform(x, np.asarray(grade.matrix, np.float32)), 0, 1)
    return x.reshape(shape)


def apply_grade(frames: np.ndarray, grade: Grade) -> np.ndarray:
    """Apply ``grade`` to integer RGB frames (N x H x W x 3 or H x W x 3); same dtype out.

    8-bit frames without a Lab transfer go through per-channel lookup tables and OpenCV (the fastest
    path); anything else through FFmpeg's ``lut3d`` (:func:`grade_frames`), 11x faster than the float
    computation it samples (8 frames of 720p with a Lab transfer: 4.4 s vs 48 s on a loaded 2-core machine).
    """
    if frames.dtype == np.uint8 and grade.lab_scale is None:
        ramp = np.repeat(np.linspace(0, 1, 256, dtype=np.float32)[:, None], 3, axis=1)
        table = from_unit(_tone(ramp, grade), np.uint8).reshape(1, 256, 3)
        rows = frames.reshape(-1, frames.shape[-2], 3)  # N x H x W x 3 as one (N*H) x W image
        out = cv2.LUT(rows, table)
        if grade.matrix is not None:
            out = np.clip(np.rint(cv2.transform(out.astype(np.float32), np.asarray(grade.matrix, np.float32))), 0, 255)
        return out.astype(np.uint8).reshape(frames.shape)
    if frames.ndim == 3:
        return grade_frames(frames[None], grade)[0]
    return grade_frames(frames, grade)


def grade_frames(frames: np.ndarray, grade: Grade, size: int = 33) -> np.ndarray:
    """Apply ``grade`` to RGB frames (N x H x W x 3, 8 or 16 bit) with FFmpeg's ``lut3d`` (tetrahedral) over
    the grade baked into a ``size``^3 LUT: one native pass whatever the grade holds (Lab transfer, matrix)."""
    if len(frames) == 0:
        return frames
    path = cube_file(cube_text(grade_lut(grade, size), "genmedia grade"))
    return run_arrays(frames, layout_format(frames), [lut3d(path)])


def grade_lut(grade: Grade, size: int = 33) -> np.ndarray:
    """``grade`` sampled on a ``size``^3 lattice: array [b, g, r, channel] (red varies fastest in .cube order)."""
    axis = np.linspace(0, 1, size, dtype=np.float32)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    lattice = np.stack([r, g, b], axis=-1)
    return apply_unit(lattice, grade)


def cube_text(lut: np.ndarray, title: str) -> str:
    """A ``.cube`` 3D LUT file for ``lut`` from :func:`grade_lut` (``size``^3 data lines, red fastest)."""
    size = lut.shape[0]
    header = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    values = lut.reshape(-1, 3)
    rows = ("%.6f %.6f %.6f\n" * len(values)) % tuple(values.ravel().tolist())  # one C-level format pass
    return "\n".join(header) + "\n" + rows
