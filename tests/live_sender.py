"""A live MPEG-TS sender for tests: ``python tests/live_sender.py URL SECONDS [WIDTH HEIGHT FPS]``.

Encodes a moving test pattern (H.264, zero latency) with a 440 Hz tone (AAC) and sends it to ``URL``
(``udp://127.0.0.1:PORT?pkt_size=1316``) at the pace of a live camera, then stops without a goodbye, as
a sender that vanishes does. A ``tcp://`` receiver may not listen yet: connecting is retried for 120 s.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import av
import av.error
import numpy as np


def send(url: str, seconds: float, width: int, height: int, fps: int) -> None:
    """Send ``seconds`` of pattern and tone to ``url`` in real time (the connection opens at the first packet)."""
    with av.open(url, "w", format="mpegts") as out:
        video = out.add_stream(
            "libx264", rate=fps, options={"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        yy, xx = np.mgrid[0:height, 0:width]
        start = time.perf_counter()
        samples = 48000 // fps
        for i in range(int(seconds * fps)):
            image = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, np.full_like(xx, (3 * i) % 256)], axis=-1).astype(
                np.uint8
            )
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            t = (np.arange(samples) + i * samples) / 48000
            tone = np.repeat((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], 2, axis=0)
            sound = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
            sound.sample_rate, sound.pts, sound.time_base = 48000, i * samples, Fraction(1, 48000)
            out.mux(audio.encode(sound))
            if (wait := start + (i + 1) / fps - time.perf_counter()) > 0:
                time.sleep(wait)


def main() -> None:
    """Send ``SECONDS`` of pattern and tone to ``URL`` in real time, retrying a refused connection for 120 s."""
    url, seconds = sys.argv[1], float(sys.argv[2])
    width, height, fps = (int(x) for x in sys.argv[3:6]) if len(sys.argv) >= 6 else (320, 180, 25)
    deadline = time.perf_counter() + 120
    while True:
        try:
            send(url, seconds, width, height, fps)
            return
        except (ConnectionRefusedError, av.error.ConnectionRefusedError):
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
