"""Cuts between flat or low-texture pictures (solid colours, title cards, black to white, a flash that stays),
where the grid correlation is undefined or blind; generated clips, decoded and detected end to end.

Slow: each test encodes and decodes a clip of 72-150 frames (about 13 s together on a loaded 2-core machine,
a fifth of the unit tests' time), so ``make test-fast`` leaves them to ``make test``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from genmedia.media.encode import VideoWriter
from genmedia.media.probe import probe
from genmedia.pipelines.analyze import detect_shots_in_file

pytestmark = [pytest.mark.unit, pytest.mark.slow]

FPS = 24
W, H = 320, 180


def _write(path: Path, frames: list[np.ndarray]) -> Path:
    with VideoWriter(path, W, H, Fraction(FPS), encoder="cpu", preset="ultrafast") as w:
        w.write_frames(np.stack(frames))
    return path


def _solid(rgb: tuple[int, int, int], n: int, digit_from: int = 0) -> list[np.ndarray]:
    """``n`` frames of one colour with a small white counter that moves a little every frame."""
    out = []
    for i in range(n):
        f = np.empty((H, W, 3), np.uint8)
        f[:] = rgb
        k = digit_from + i
        cv2.putText(
            f, str(k % 10), (140 + (k % 12) * 2, 100), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA
        )
        out.append(f)
    return out


def _starts(path: Path) -> list[tuple[int, str]]:
    return [(s.start_frame, s.transition) for s in detect_shots_in_file(probe(path))[1:]]


def test_grey_red_green_with_a_moving_counter(tmp_path: Path) -> None:
    frames = _solid((128, 128, 128), 48) + _solid((200, 30, 30), 48, 48) + _solid((30, 170, 40), 48, 96)
    assert _starts(_write(tmp_path / "colours.mp4", frames)) == [(48, "cut"), (96, "cut")]


def test_equal_luma_colours_are_told_apart(tmp_path: Path) -> None:
    """Grey and a red of the same luma: only the chroma differs."""
    frames = _solid((118, 118, 118), 36) + _solid((255, 80, 80), 36, 36)  # both Y ~ 118
    assert _starts(_write(tmp_path / "same_luma.mp4", frames)) == [(36, "cut")]


def _title_card(lines: list[tuple[str, int]], n: int) -> list[np.ndarray]:
    """A dark card with light text, ``(text, baseline y)`` per line."""
    card = np.zeros((H, W, 3), np.uint8)
    card[:] = (40, 40, 40)
    for text, y in lines:
        cv2.putText(card, text, (40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (240, 240, 240), 2, cv2.LINE_AA)
    return [card.copy() for _ in range(n)]


def _scene(seed: int, n: int) -> list[np.ndarray]:
    """A textured picture panning slowly (a real shot's structure)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (6, 12 + n // 8, 3), np.uint8)
    big = cv2.resize(coarse, (W + 2 * n, H), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(big[:, 2 * i : 2 * i + W]) for i in range(n)]


def test_title_cards_between_shots(tmp_path: Path) -> None:
    """A picture, a one-line card, a two-line card, a picture. (Two cards whose text sits on the same lines
    look alike at the detector's 16x9 resolution: that change is not found.)"""
    frames = (
        _scene(1, 36)
        + _title_card([("CHAPTER ONE", 96)], 36)
        + _title_card([("THE NEXT DAY", 40), ("IN PARIS", 150)], 36)
        + _scene(2, 36)
    )
    assert _starts(_write(tmp_path / "cards.mp4", frames)) == [(36, "cut"), (72, "cut"), (108, "cut")]


@pytest.mark.parametrize("lead", ["black", "white"])
def test_black_to_white_and_a_flash_that_stays(tmp_path: Path, lead: str) -> None:
    """Black then white (no picture before the black: not a fade), and a white flash that stays white."""
    black, white = np.zeros((H, W, 3), np.uint8), np.full((H, W, 3), 245, np.uint8)
    first = [black] * 30 if lead == "black" else _scene(3, 30)
    frames = first + [white] * 30 + _scene(4, 30)
    assert _starts(_write(tmp_path / f"{lead}.mp4", frames)) == [(30, "cut"), (60, "cut")]
