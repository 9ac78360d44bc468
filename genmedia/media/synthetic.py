"""Generated media with known ground truth: the demo/test sample clip and small "messy" inputs.

Everything here uses PyAV, numpy and OpenCV only, so ``genmedia demo`` can build its sample clip on
any machine. The spoken sentence is a committed asset (``genmedia/assets/sample_speech.flac``, made
once with espeak-ng by ``scripts/make_speech_asset.sh``).

Conventions: frame indices are 0-based in presentation order; a span ``[start, end)`` excludes
``end``; times are seconds from the start of the stream (frame ``i`` is shown at ``i / fps``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from pydantic import BaseModel

from genmedia.media.audio import load_audio, write_audio_file
from genmedia.media.encode import VideoWriter, to_fraction

AUDIO_RATE = 48000
MIN_SECONDS = 8.0
DEFAULT_SECONDS = 24.0
# Segment order and lengths (seconds) of the default 24 s clip; other lengths scale them.
_LAYOUT: tuple[tuple[str, float], ...] = (
    ("static", 3.0),
    ("pan", 4.0),
    ("fast_motion", 3.0),
    ("flash", 3.0),
    ("black", 0.5),
    ("face", 3.5),
    ("drift", 3.5),
    ("zoom", 3.5),
)


# ----------------------------------------------------------------------------------------------
# Ground truth of the sample clip
# ----------------------------------------------------------------------------------------------


class Span(BaseModel):
    """Frames ``[start, end)``."""

    start: int
    end: int


class Shot(Span):
    """One shot; for gradual transitions the boundary is the transition's middle frame."""

    index: int
    content: str


class Fade(BaseModel):
    """Fade to black and back: picture dims over ``[out_start, black_start)``, is black over
    ``[black_start, black_end)`` and comes back over ``[black_end, in_end)``."""

    out_start: int
    black_start: int
    black_end: int
    in_end: int


class Pan(Span):
    """A horizontal pan (no cut): content moves ``px_per_frame`` pixels left each frame."""

    px_per_frame: int
    direction: Literal["left"] = "left"


class Face(Span):
    """A drawn frontal face; ``box`` is ``[x, y, w, h]`` of the head ellipse in pixels."""

    box: tuple[int, int, int, int]


class Speech(BaseModel):
    """The spoken sentence: exact text, start and end (seconds)."""

    text: str
    start: float
    end: float


class AudioTruth(BaseModel):
    """Audio track: a kick on each beat (``beat_times``, seconds), off-beat hats, a soft pad, speech."""

    sample_rate: int
    channels: int
    bpm: float
    beat_times: list[float]
    speech: Speech | None


class SampleTruth(BaseModel):
    """What the sample clip contains, frame-exact. ``cuts`` are the first frames of new shots after hard cuts."""

    clip: str
    width: int
    height: int
    fps: float
    fps_num: int
    fps_den: int
    n_frames: int
    duration: float
    video_codec: str
    shots: list[Shot]
    cuts: list[int]
    fades: list[Fade]
    dissolves: list[Span]
    flashes: list[Span]
    pan: Pan
    zoom: Span
    fast_motion: Span
    static: Span
    face: Face
    motion_ranking: list[str]
    audio: AudioTruth

    def time_of(self, frame: int) -> float:
        """Presentation time (seconds) of ``frame``."""
        return frame * self.fps_den / self.fps_num


def truth_path(clip: str | os.PathLike[str]) -> Path:
    """Where the truth of ``clip`` lives: ``sample.mp4`` -> ``sample.truth.json`` beside it."""
    return Path(clip).with_suffix(".truth.json")


def write_truth(truth: SampleTruth, clip: str | os.PathLike[str]) -> Path:
    """Write ``truth`` as JSON beside ``clip``; return the JSON path."""
    out = truth_path(clip)
    out.write_text(truth.model_dump_json(indent=2) + "\n")
    return out


def load_truth(clip: str | os.PathLike[str]) -> SampleTruth:
    """Read the truth written beside ``clip`` by :func:`write_truth`."""
    return SampleTruth.model_validate_json(truth_path(clip).read_text())


def sample_speech_text() -> str:
    """The exact sentence spoken in ``sample_speech.flac``."""
    return (resources.files("genmedia") / "assets" / "sample_speech.txt").read_text().strip()


def load_sample_speech(sample_rate: int = AUDIO_RATE) -> np.ndarray:
    """The committed spoken sentence as mono float32 at ``sample_rate`` (no leading/trailing silence)."""
    with resources.as_file(resources.files("genmedia") / "assets" / "sample_speech.flac") as path:
        return load_audio(path, sample_rate)


# ----------------------------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]) -> np.ndarray:
    """Smooth multi-octave noise in [0, 1], shape (h, w); ``cells`` are the octave sizes in pixels."""
    total = np.zeros((h, w), np.float32)
    for k, cell in enumerate(cells):
        grid = rng.random((h // cell + 2, w // cell + 2), dtype=np.float32)
        total += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / (k + 1)
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _palette(rng: np.random.Generator, hue: float, value: float) -> np.ndarray:
    """Three RGB colours (0..255 float) around ``hue`` (0..1) with mean brightness near ``value``."""
    hues = (hue + np.array([0.0, 0.08, 0.5]) + rng.uniform(-0.03, 0.03, 3)) % 1.0
    hsv = np.stack([hues * 180, [200, 150, 120], np.clip(np.array([0.5, 1.0, 0.8]) * value, 0, 255)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def _texture(
    rng: np.random.Generator,
    h: int,
    w: int,
    hue: float,
    value: float,
    shapes: int = 12,
    cells: tuple[int, ...] = (64, 32, 16, 8),
) -> np.ndarray:
    """A textured RGB picture: coloured value noise plus random anti-aliased ellipses and boxes."""
    t = _value_noise(rng, h, w, cells)[..., None]
    c0, c1, c2 = _palette(rng, hue, value)
    img = np.where(t < 0.5, c0 + (c1 - c0) * (2 * t), c1 + (c2 - c1) * (2 * t - 1))
    img = img.astype(np.uint8)
    scale = min(h, w)
    for _ in range(shapes):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        size = (int(rng.integers(scale // 30 + 2, scale // 8 + 3)), int(rng.integers(scale // 30 + 2, scale // 8 + 3)))
        if rng.random() < 0.5:
            cv2.ellipse(img, centre, size, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, centre, (centre[0] + size[0], centre[1] + size[1]), colour, -1, cv2.LINE_AA)
    return img


def _draw_face(img: np.ndarray) -> tuple[int, int, int, int]:
    """Draw a simple frontal face in the middle of ``img`` (in place); return its box [x, y, w, h]."""
    h, w = img.shape[:2]
    s = h / 360
    cx, cy = w // 2, h // 2
    ax, ay = round(70 * s), round(92 * s)

    def p(dx: float, dy: float) -> tuple[int, int]:
        return cx + round(dx * s), cy + round(dy * s)

    def r(v: float) -> int:
        return max(1, round(v * s))

    cv2.ellipse(img, (cx, cy), (ax, ay), 0, 0, 360, (190, 150, 125), -1, cv2.LINE_AA)
    for dx in (-28, 28):
        cv2.ellipse(img, p(dx, -22), (r(16), r(8)), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(img, p(dx, -22), r(6), (40, 30, 20), -1, cv2.LINE_AA)
        cv2.line(img, p(dx - 18, -42), p(dx + 16, -44), (60, 40, 30), r(5), cv2.LINE_AA)
    cv2.line(img, p(0, -10), p(-6, 22), (150, 110, 90), r(4), cv2.LINE_AA)
    cv2.ellipse(img, p(0, 45), (r(28), r(10)), 0, 0, 180, (120, 50, 50), r(5), cv2.LINE_AA)
    return cx - ax, cy - ay, 2 * ax, 2 * ay


def _bounce(p0: np.ndarray, v: np.ndarray, t: int, limit: np.ndarray) -> np.ndarray:
    """Positions at time ``t`` of points moving at ``v`` and bouncing inside ``[0, limit]``."""
    x = np.mod(p0 + v * t, 2 * limit)
    return np.where(x > limit, 2 * limit - x, x)


class _Movers:
    """Shapes that move across a background at a fixed speed, bouncing off the frame edges."""

    def __init__(self, rng: np.random.Generator, background: np.ndarray, count: int, speed: tuple[float, float]):
        h, w = background.shape[:2]
        self.background = background
        self.limit = np.array([w, h], np.float64)
        self.p0 = rng.uniform(0, 1, (count, 2)) * self.limit
        angle = rng.uniform(0, 2 * np.pi, count)
        mag = rng.uniform(*speed, count) * w
        self.v = np.stack([np.cos(angle), np.sin(angle)], axis=1) * mag[:, None]
        self.radius = rng.integers(max(3, h // 24), max(4, h // 9), count)
        self.colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(count)]

    def frame(self, t: int) -> np.ndarray:
        """The picture at local frame ``t``."""
        img = self.background.copy()
        for k, (x, y) in enumerate(_bounce(self.p0, self.v, t, self.limit)):
            r = int(self.radius[k])
            if k % 2:
                cv2.circle(img, (int(x), int(y)), r, self.colours[k], -1, cv2.LINE_AA)
            else:
                cv2.rectangle(img, (int(x) - r, int(y) - r), (int(x) + r, int(y) + r), self.colours[k], -1)
        return img


@dataclass
class _Plan:
    """Frame layout of the sample clip, derived from :data:`_LAYOUT`."""

    n: int
    bounds: dict[str, tuple[int, int]]
    flash: tuple[int, int]
    fade: Fade
    dissolve: tuple[int, int]


def _plan(n: int, fps: Fraction) -> _Plan:
    """Place the segments, the flash, the fade and the dissolve for a clip of ``n`` frames."""
    scale = n / (DEFAULT_SECONDS * fps)
    edges = np.round(np.cumsum([0.0] + [s for _, s in _LAYOUT]) * float(fps) * scale).astype(int)
    edges[-1] = n
    bounds = {name: (int(a), int(b)) for (name, _), a, b in zip(_LAYOUT, edges[:-1], edges[1:], strict=True)}
    glide = max(6, round(0.5 * float(fps) * scale))  # fade / dissolve length in frames
    fs, fe = bounds["flash"]
    flash_start = fs + (fe - fs - glide) // 2 - 2
    black_start, black_end = bounds["black"]
    face_start = bounds["face"][0]
    fade = Fade(out_start=black_start - glide, black_start=black_start, black_end=black_end, in_end=face_start + glide)
    mid = bounds["drift"][0]
    return _Plan(n, bounds, (flash_start, flash_start + 3), fade, (mid - glide // 2, mid - glide // 2 + glide))


class _Scenes:
    """Renders frame ``i`` of the sample clip from precomputed textures."""

    def __init__(self, plan: _Plan, width: int, height: int, seed: int):
        rng = np.random.default_rng(seed)
        self.plan, self.w, self.h = plan, width, height
        b = plan.bounds
        self.pan_speed = max(1, round(width / 320))
        pan_len = b["pan"][1] - b["pan"][0]
        self.static = _texture(rng, height, width, 0.05, 200)
        self.pan = _texture(rng, height, width + self.pan_speed * pan_len, 0.6, 170, shapes=30, cells=(128, 64, 32))
        self.fast = _Movers(rng, _texture(rng, height, width, 0.33, 120), 16, (0.03, 0.06))
        self.flash_bg = _texture(rng, height, width, 0.15, 230)
        self.face_bg = _texture(rng, height, width, 0.75, 110, shapes=6)
        self.face_box = _draw_face(self.face_bg)
        self.drift = _Movers(rng, _texture(rng, height, width, 0.45, 210), 5, (0.002, 0.004))
        self.zoom = _texture(rng, height, width, 0.9, 150, shapes=20)

    def segment_of(self, i: int) -> str:
        """Name of the layout segment containing frame ``i``."""
        return next(name for name, (a, e) in self.plan.bounds.items() if a <= i < e)

    def _zoom_frame(self, t: int) -> np.ndarray:
        """Slow zoom-in: crop ``width / 640`` px more from each side per frame, resized back."""
        dx = min(t * self.w // 640, self.w // 4)
        dy = dx * self.h // self.w
        crop = self.zoom[dy : self.h - dy, dx : self.w - dx]
        return cv2.resize(crop, (self.w, self.h), interpolation=cv2.INTER_LINEAR)

    def content(self, name: str, i: int) -> np.ndarray:
        """Picture of segment ``name`` at clip frame ``i`` (before fades, flashes and dissolves)."""
        t = i - self.plan.bounds[name][0]
        if name == "static":
            return self.static
        if name == "pan":
            x = self.pan_speed * t
            return self.pan[:, x : x + self.w]
        if name == "fast_motion":
            return self.fast.frame(t)
        if name == "flash":
            return self.flash_bg
        if name == "face":
            return self.face_bg
        if name == "drift":
            return self.drift.frame(t)
        if name == "zoom":
            return self._zoom_frame(t)
        return np.zeros((self.h, self.w, 3), np.uint8)  # black

    def frame(self, i: int) -> np.ndarray:
        """Final picture of clip frame ``i``."""
        plan, fade = self.plan, self.plan.fade
        img = self.content(self.segment_of(i), i)
        if plan.flash[0] <= i < plan.flash[1]:
            return (img * 0.2 + 255 * 0.8).astype(np.uint8)
        if fade.out_start <= i < fade.black_start:
            k = (fade.black_start - i) / (fade.black_start - fade.out_start + 1)
            return (img * k).astype(np.uint8)
        if fade.black_end <= i < fade.in_end:
            k = (i - fade.black_end + 1) / (fade.in_end - fade.black_end + 1)
            return (img * k).astype(np.uint8)
        d0, d1 = plan.dissolve
        if d0 <= i < d1:
            a = (i - d0 + 1) / (d1 - d0 + 1)
            return (self.content("face", i) * (1 - a) + self.content("drift", i) * a).astype(np.uint8)
        return img


# ----------------------------------------------------------------------------------------------
# Sound
# ----------------------------------------------------------------------------------------------


def _kick(sr: int) -> np.ndarray:
    """A kick drum: a sine sweeping 155 -> 45 Hz under a fast exponential decay, with a short click."""
    t = np.arange(int(0.15 * sr)) / sr
    freq = 45 + 110 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.045)
    click = np.exp(-t / 0.002) * np.sin(2 * np.pi * 1800 * t)
    return (0.8 * body + 0.25 * click).astype(np.float32)


def _hat(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A soft hi-hat: 30 ms of high-passed noise."""
    n = int(0.03 * sr)
    noise = np.diff(rng.standard_normal(n + 1)).astype(np.float32)
    return 0.03 * noise * np.exp(-np.arange(n) / (0.008 * sr)).astype(np.float32)


def _music(rng: np.random.Generator, n_samples: int, sr: int, bpm: float) -> tuple[np.ndarray, list[float]]:
    """Beat track of ``n_samples``: kicks on beats, hats off-beat, a quiet A-major pad; return (audio, beat times)."""
    period = 60.0 / bpm
    duration = n_samples / sr
    t = np.arange(n_samples) / sr
    audio = sum(0.025 * np.sin(2 * np.pi * f * t) for f in (110.0, 138.59, 164.81)).astype(np.float32)
    kick, hat = _kick(sr), _hat(rng, sr)
    beats: list[float] = []
    beat = 0.25
    while beat < duration - 0.2:
        start = round(beat * sr)
        beats.append(start / sr)
        audio[start : start + kick.size] += kick[: n_samples - start]
        off = round((beat + period / 2) * sr)
        if off + hat.size <= n_samples:
            audio[off : off + hat.size] += hat
        beat += period
    return audio, beats


def _sample_audio(rng: np.random.Generator, duration: float, bpm: float, speech: bool) -> tuple[np.ndarray, AudioTruth]:
    """Mix the beat track and (optionally) the spoken sentence; return (mono samples, truth)."""
    n = round(duration * AUDIO_RATE)
    audio, beats = _music(rng, n, AUDIO_RATE, bpm)
    said = None
    if speech:
        voice = load_sample_speech(AUDIO_RATE)
        voice *= 0.6 / max(float(np.abs(voice).max()), 1e-6)
        start = round(max(1.0, 0.25 * duration) * AUDIO_RATE)
        if start + voice.size > n - AUDIO_RATE // 2:
            raise ValueError(f"clip of {duration:.1f} s is too short for the {voice.size / AUDIO_RATE:.1f} s sentence")
        audio[start : start + voice.size] += voice
        said = Speech(text=sample_speech_text(), start=start / AUDIO_RATE, end=(start + voice.size) / AUDIO_RATE)
    audio /= max(1.0, float(np.abs(audio).max()) / 0.98)
    return audio, AudioTruth(sample_rate=AUDIO_RATE, channels=1, bpm=bpm, beat_times=beats, speech=said)


# ----------------------------------------------------------------------------------------------
# The sample clip
# ----------------------------------------------------------------------------------------------


def _truth(clip: Path, plan: _Plan, scenes: _Scenes, writer: VideoWriter, audio: AudioTruth) -> SampleTruth:
    """Assemble the ground truth of a rendered clip (sizes are the encoded ones, after any padding)."""
    fps = writer.fps
    b, n = plan.bounds, plan.n
    cuts = [b["pan"][0], b["fast_motion"][0], b["flash"][0], b["zoom"][0]]
    fade_mid = (plan.fade.black_start + plan.fade.black_end) // 2
    dissolve_mid = b["drift"][0]
    edges = [0, *cuts[:3], fade_mid, dissolve_mid, cuts[3], n]
    contents = ["static", "pan", "fast_motion", "flash", "face", "drift", "zoom"]
    shots = [
        Shot(index=k, start=a, end=e, content=c)
        for k, (a, e, c) in enumerate(zip(edges[:-1], edges[1:], contents, strict=True))
    ]
    face_span = (plan.fade.in_end, plan.dissolve[0])
    return SampleTruth(
        clip=clip.name,
        width=writer.width,
        height=writer.height,
        fps=float(fps),
        fps_num=fps.numerator,
        fps_den=fps.denominator,
        n_frames=n,
        duration=float(n / fps),
        video_codec="h264",
        shots=shots,
        cuts=cuts,
        fades=[plan.fade],
        dissolves=[Span(start=plan.dissolve[0], end=plan.dissolve[1])],
        flashes=[Span(start=plan.flash[0], end=plan.flash[1])],
        pan=Pan(start=b["pan"][0], end=b["pan"][1], px_per_frame=scenes.pan_speed),
        zoom=Span(start=b["zoom"][0], end=b["zoom"][1]),
        fast_motion=Span(start=b["fast_motion"][0], end=b["fast_motion"][1]),
        static=Span(start=b["static"][0], end=b["static"][1]),
        face=Face(start=face_span[0], end=face_span[1], box=scenes.face_box),
        motion_ranking=["fast_motion", "pan", "static"],
        audio=audio,
    )


def make_sample_clip(
    path: str | os.PathLike[str],
    *,
    width: int = 640,
    height: int = 360,
    fps: int | Fraction = 24,
    seconds: float = DEFAULT_SECONDS,
    bpm: float = 120.0,
    speech: bool = True,
    seed: int = 0,
    save_truth: bool = True,
) -> SampleTruth:
    """Write an H.264/AAC MP4 with known content and return (and by default save) its ground truth.

    Shots, in order: a static texture; a slow pan; fast-moving shapes; a static shot with a 3-frame
    white flash, fading to black and back into a shot with a drawn face; a cross-dissolve into slowly
    drifting shapes; a hard cut to a slow zoom. Audio: kicks on every beat at ``bpm`` plus off-beat
    hats and a soft pad, with the committed spoken sentence mixed in when ``speech`` is true.
    An odd ``width``/``height`` is padded to even by the encoder; the truth reports the encoded size.
    Takes about 4 s for the default 24 s 640x360 clip on 2 cores.
    """
    if seconds < MIN_SECONDS:
        raise ValueError(f"{path}: sample clip needs at least {MIN_SECONDS} s, got {seconds}")
    if width < 64 or height < 64:
        raise ValueError(f"{path}: sample clip needs at least 64x64 pixels, got {width}x{height}")
    rate = to_fraction(fps)
    n = round(seconds * rate)
    clip = Path(path)
    rng = np.random.default_rng(seed)
    plan = _plan(n, rate)
    scenes = _Scenes(plan, width, height, seed)
    audio, audio_truth = _sample_audio(rng, float(n / rate), bpm, speech)
    with VideoWriter(
        clip,
        width,
        height,
        rate,
        codec="h264",
        encoder="cpu",
        preset="veryfast",
        audio_rate=AUDIO_RATE,
        options={"threads": "2"},
    ) as writer:
        step = max(1, round(rate))
        for first in range(0, n, step):
            last = min(n, first + step)
            writer.write_frames(np.stack([scenes.frame(i) for i in range(first, last)]))
            writer.write_audio(audio[round(first / rate * AUDIO_RATE) : round(last / rate * AUDIO_RATE)])
    truth = _truth(clip, plan, scenes, writer, audio_truth)
    if save_truth:
        write_truth(truth, clip)
    return truth


# ----------------------------------------------------------------------------------------------
# Messy inputs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipFacts:
    """What a generated messy clip is known to contain (sizes are the coded sizes)."""

    path: str
    n_frames: int
    width: int
    height: int
    fps: Fraction | None  # None for variable frame rate
    pts: tuple[float, ...]  # presentation time of each frame, seconds
    codec: str = "h264"
    pix_fmt: str = "yuv420p"
    rotation: int = 0  # display rotation, degrees counter-clockwise (as VideoFrame.rotation reports)
    sample_aspect_ratio: Fraction = Fraction(1)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) a player shows: SAR applied, then rotation."""
        w = round(self.width * self.sample_aspect_ratio)
        return (self.height, w) if self.rotation % 180 else (w, self.height)


@dataclass(frozen=True)
class AudioFacts:
    """What a generated audio-only file contains."""

    path: str
    sample_rate: int
    channels: int
    n_samples: int
    duration: float


@dataclass(frozen=True)
class DamageFacts:
    """How a damaged copy differs from its source: bytes ``[offset, offset + length)`` were cut or overwritten."""

    path: str
    source: str
    offset: int
    length: int
    size: int


def _pattern(width: int, height: int, n: int, seed: int) -> np.ndarray:
    """``n`` frames of a texture scrolling 4 px per frame, with a bright marker in the top-left corner."""
    rng = np.random.default_rng(seed)
    tex = _texture(rng, height, width + 4 * n, 0.3, 180, shapes=8, cells=(32, 16))
    frames = np.stack([tex[:, 4 * i : 4 * i + width] for i in range(n)])
    frames[:, : max(2, height // 8), : max(2, width // 8)] = (255, 40, 40)
    return frames


def _cfr_clip(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    fps: Fraction | float,
    n: int,
    seed: int,
    **writer_options: object,
) -> ClipFacts:
    """Encode ``n`` pattern frames with :class:`VideoWriter` and describe the result."""
    rate = to_fraction(fps)
    with VideoWriter(path, width, height, rate, **writer_options) as writer:
        writer.write_frames(_pattern(width, height, n, seed))
    pix_fmt = str(writer_options.get("pix_fmt", "yuv420p"))
    return ClipFacts(
        path=str(path),
        n_frames=n,
        width=writer.width,
        height=writer.height,
        fps=rate,
        pts=tuple(float(i / rate) for i in range(n)),
        codec=str(writer_options.get("codec", "h264")),
        pix_fmt=pix_fmt,
        rotation=int(writer_options.get("rotation", 0)),
        sample_aspect_ratio=Fraction(writer_options.get("sample_aspect_ratio") or 1),
    )


def make_vfr_clip(
    path: str | os.PathLike[str], *, n_frames: int = 36, width: int = 320, height: int = 240, seed: int = 0
) -> ClipFacts:
    """An MP4 with variable frame rate: frames on a 1/60 s grid with irregular gaps (dropped frames).

    Gaps are 1, 2, 4 or 6 grid steps (1/60 to 1/10 s); ``pts`` lists each frame's exact time.
    """
    rng = np.random.default_rng(seed)
    ticks_per_step = 1500  # 1/60 s in a 1/90000 time base
    steps = rng.choice([1, 2, 2, 2, 4, 6], size=n_frames - 1)
    ticks = np.concatenate([[0], np.cumsum(steps) * ticks_per_step]).astype(int)
    time_base = Fraction(1, 90000)
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        for image, tick in zip(_pattern(width, height, n_frames, seed), ticks, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = int(tick), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return ClipFacts(
        path=str(path),
        n_frames=n_frames,
        width=width,
        height=height,
        fps=None,
        pts=tuple(float(t * time_base) for t in ticks),
    )


def make_rotated_clip(
    path: str | os.PathLike[str],
    *,
    rotation: int = 90,
    width: int = 320,
    height: int = 180,
    n_frames: int = 24,
    seed: int = 0,
) -> ClipFacts:
    """A landscape-coded MP4 whose display matrix rotates it by ``rotation`` degrees (portrait on playback).

    Set with PyAV's ``VideoStream.set_display_rotation`` (the muxer writes the matrix into ``tkhd``);
    read back as ``VideoFrame.rotation``. A red marker sits in the coded top-left corner.
    """
    return _cfr_clip(path, width, height, 24, n_frames, seed, rotation=rotation)


def make_nonsquare_clip(
    path: str | os.PathLike[str],
    *,
    width: int = 720,
    height: int = 480,
    sample_aspect_ratio: Fraction = Fraction(32, 27),
    n_frames: int = 12,
    seed: int = 0,
) -> ClipFacts:
    """Anamorphic NTSC widescreen: 720x480 pixels with SAR 32:27 (displays as 16:9) at 29.97 fps."""
    return _cfr_clip(
        path,
        width,
        height,
        Fraction(30000, 1001),
        n_frames,
        seed,
        sample_aspect_ratio=sample_aspect_ratio,
        preset="ultrafast",
    )


def make_odd_size_clip(
    path: str | os.PathLike[str], *, width: int = 641, height: int = 361, n_frames: int = 12, seed: int = 0
) -> ClipFacts:
    """A clip that really is ``width`` x ``height`` (odd): H.264 4:4:4 allows odd sizes where 4:2:0 does not."""
    return _cfr_clip(path, width, height, 24, n_frames, seed, pix_fmt="yuv444p", preset="ultrafast")


def make_mkv_without_frame_count(
    path: str | os.PathLike[str], *, n_frames: int = 24, width: int = 320, height: int = 240, seed: int = 0
) -> ClipFacts:
    """A Matroska file: its header has no frame count, so ``stream.frames`` reads 0."""
    if Path(path).suffix.lower() != ".mkv":
        raise ValueError(f"{path}: expected a .mkv path")
    return _cfr_clip(path, width, height, 24, n_frames, seed)


def make_10bit_clip(
    path: str | os.PathLike[str], *, n_frames: int = 12, width: int = 320, height: int = 240, seed: int = 0
) -> ClipFacts:
    """A 10-bit HEVC (``yuv420p10le``) MP4."""
    return _cfr_clip(path, width, height, 24, n_frames, seed, codec="hevc", pix_fmt="yuv420p10le", preset="ultrafast")


def make_audio_only(
    path: str | os.PathLike[str], *, seconds: float = 2.0, sample_rate: int = 44100, channels: int = 2
) -> AudioFacts:
    """An audio-only file (``.m4a``, ``.flac``, ``.wav`` or ``.opus``): a 440 Hz tone with a click each 0.5 s."""
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t)
    for k in range(0, n, sample_rate // 2):
        mono[k : k + 64] += 0.5
    samples = np.repeat(mono[None].astype(np.float32), channels, axis=0)
    write_audio_file(path, samples, sample_rate)
    return AudioFacts(path=str(path), sample_rate=sample_rate, channels=channels, n_samples=n, duration=n / sample_rate)


def truncate_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], fraction: float = 0.5) -> DamageFacts:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a download cut off in the middle)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    data = Path(src).read_bytes()
    keep = int(len(data) * fraction)
    Path(dst).write_bytes(data[:keep])
    return DamageFacts(path=str(dst), source=str(src), offset=keep, length=len(data) - keep, size=keep)


def make_corrupt_middle(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, length: int = 16384, seed: int = 0
) -> DamageFacts:
    """Copy ``src`` to ``dst`` with ``length`` random bytes overwritten in the middle (headers intact)."""
    shutil.copyfile(src, dst)
    size = Path(dst).stat().st_size
    length = min(length, size // 4)
    offset = size // 2 - length // 2
    garbage = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(garbage)
    return DamageFacts(path=str(dst), source=str(src), offset=offset, length=length, size=size)


def make_messy_set(outdir: str | os.PathLike[str], source: str | os.PathLike[str]) -> dict[str, object]:
    """Write every messy variant into ``outdir``; return their facts by name.

    ``truncated`` (first half) and ``corrupt_middle`` are damaged copies of ``source``, an MP4 with its
    index at the front, so they still open. ``truncated_index_at_end`` is the first half of
    ``index_at_end``, an MP4 whose index (moov) is at the end: the index is lost and it cannot be opened.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    index_at_end = _cfr_clip(out / "index_at_end.mp4", 320, 240, 24, 48, 0, faststart=False)
    return {
        "vfr": make_vfr_clip(out / "vfr.mp4"),
        "rotated": make_rotated_clip(out / "rotated.mp4"),
        "nonsquare": make_nonsquare_clip(out / "nonsquare.mp4"),
        "odd_size": make_odd_size_clip(out / "odd_size.mp4"),
        "mkv_no_frame_count": make_mkv_without_frame_count(out / "no_frame_count.mkv"),
        "ten_bit": make_10bit_clip(out / "ten_bit_hevc.mp4"),
        "audio_only": make_audio_only(out / "audio_only.m4a"),
        "index_at_end": index_at_end,
        "truncated": truncate_file(source, out / "truncated.mp4", 0.5),
        "truncated_index_at_end": truncate_file(index_at_end.path, out / "truncated_index_at_end.mp4", 0.5),
        "corrupt_middle": make_corrupt_middle(source, out / "corrupt_middle.mp4"),
    }


# ----------------------------------------------------------------------------------------------
# Calm and intense parts (emotion)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoodShot:
    """One shot of :func:`make_mood_clip`: frames ``[start, end)``, ``calm`` or ``intense``."""

    start: int
    end: int
    kind: Literal["calm", "intense"]


@dataclass(frozen=True)
class MoodClipFacts:
    """What :func:`make_mood_clip` wrote."""

    path: str
    fps: int
    shots: tuple[MoodShot, ...]

    def kind_at(self, seconds: float) -> str:
        """``calm`` or ``intense``: the kind of shot shown at ``seconds``."""
        frame = int(seconds * self.fps)
        return next(s.kind for s in self.shots if s.start <= frame < s.end)


def make_mood_clip(
    path: str | os.PathLike[str],
    kinds: tuple[Literal["calm", "intense"], ...] = ("intense", "calm", "intense", "calm", "intense", "calm"),
    *,
    shot_seconds: float = 2.0,
    width: int = 192,
    height: int = 108,
    fps: int = 24,
    seed: int = 0,
) -> MoodClipFacts:
    """An H.264/AAC MP4 of hard-cut shots with known feeling: a **calm** shot is a static, dim, muted picture
    over a quiet 220 Hz tone (-40 dBFS); an **intense** one is bright shapes racing over a colourful texture
    over loud white noise (-10 dBFS). Every shot has its own picture, so each boundary is a cut."""
    rng = np.random.default_rng(seed)
    n_shot = round(shot_seconds * fps)
    shots = tuple(MoodShot(k * n_shot, (k + 1) * n_shot, kind) for k, kind in enumerate(kinds))
    samples = round(shot_seconds * AUDIO_RATE)
    t = np.arange(samples) / AUDIO_RATE
    with VideoWriter(
        path, width, height, fps, codec="h264", encoder="cpu", preset="veryfast", audio_rate=AUDIO_RATE
    ) as writer:
        for k, shot in enumerate(shots):
            if shot.kind == "calm":
                still = _texture(rng, height, width, (0.1 + 0.37 * k) % 1.0, 45, shapes=2, cells=(64, 32))
                grey = still.mean(axis=2, keepdims=True)
                frames = np.repeat(((0.7 * grey + 0.3 * still).astype(np.uint8))[None], n_shot, axis=0)
                sound = 0.014 * np.sin(2 * np.pi * 220.0 * t)
            else:
                movers = _Movers(rng, _texture(rng, height, width, (0.3 + 0.37 * k) % 1.0, 200), 24, (0.05, 0.1))
                frames = np.stack([movers.frame(i) for i in range(n_shot)])
                sound = 0.45 * rng.uniform(-1.0, 1.0, samples)
            writer.write_frames(frames)
            writer.write_audio(sound.astype(np.float32))
    return MoodClipFacts(str(path), fps, shots)
