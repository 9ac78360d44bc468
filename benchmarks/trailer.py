"""Trailer speed: a 30 s trailer from a 10-minute 720p source, split into analysis and rendering, against
the floor of one plain decode of the source plus encoding 30 s of output, on the same machine and file.

Makes (once, cached in /tmp/genmedia-bench) a 10-minute 1280x720 H.264/AAC source: three 24 s sample clips
(different seeds: cuts, fades, dissolves, pans, fast motion, a 120 BPM beat track and speech) encoded
once, then repeated by stream copy (no re-encode) to 600 s. Then it measures:

* floor, decode: one plain PyAV decode of every video frame (threaded, touching nothing), and
  ``ffmpeg -threads 2 -i F -f null -`` when an ffmpeg binary is on PATH (said so when absent);
* floor, encode: encoding 30 s of output (720 frames) to the renditions the job makes (720p and 480p;
  1080p is not upscaled) with the same writer and settings, frames already in memory;
* genmedia: ``load_analysis`` (the scene analysis on Ray Data: shots, motion, audio, faces, colour), then
  ``trailer.run`` with the analysis cached (planning, clip decoding on Ray, composition, encoding,
  sound, HLS off), each timed; Ray's start-up is done before and reported separately.

It prints every time and the ratio of the whole job to (decode floor + encode floor); the target is 2x.

Run: ``python benchmarks/trailer.py [--minutes 10] [--duration 30]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CACHE = Path(os.environ.get("GENMEDIA_BENCH_CACHE", "/tmp/genmedia-bench"))
PART_SECONDS = 24.0


def make_source(minutes: float) -> Path:
    """The cached 720p source of ``minutes`` minutes (three encoded sample clips, repeated by stream copy)."""
    from genmedia.media.synthetic import make_sample_clip

    out = CACHE / f"trailer-source-{minutes:g}min-720p.mp4"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    parts = []
    for seed in range(3):
        part = CACHE / f"trailer-part-{seed}-720p.mp4"
        if not part.exists():
            print(f"encoding {part.name} (once; cached) ...", flush=True)
            make_sample_clip(part, width=1280, height=720, seconds=PART_SECONDS, seed=seed, save_truth=False)
        parts.append(part)
    count = round(minutes * 60 / PART_SECONDS)
    print(f"joining {count} parts by stream copy into {out.name} ...", flush=True)
    tmp = out.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as dst:
        templates = av.open(str(parts[0]))
        streams = {
            s.index: dst.add_stream_from_template(s) for s in (templates.streams.video[0], templates.streams.audio[0])
        }
        templates.close()
        for k in range(count):
            with av.open(str(parts[k % len(parts)])) as src:
                for packet in src.demux(src.streams.video[0], src.streams.audio[0]):
                    if packet.dts is None or (k and packet.stream.type == "audio" and packet.pts < 0):
                        continue  # the flush packet; each later part's AAC priming packet (it would overlap)
                    shift = int(k * PART_SECONDS / packet.time_base)
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = streams[packet.stream_index]
                    dst.mux(packet)
    tmp.replace(out)
    return out


def plain_decode(path: Path) -> tuple[float, int]:
    """Seconds to decode every video frame with PyAV (threaded), and the frame count."""
    started = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        n = sum(1 for _ in c.decode(stream))
    return time.perf_counter() - started, n


def ffmpeg_decode(path: Path) -> float | None:
    """Seconds for ``ffmpeg -threads 2 -i F -f null -`` (None without an ffmpeg binary)."""
    if not shutil.which("ffmpeg"):
        return None
    started = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-threads", "2", "-i", str(path), "-map", "0:v", "-f", "null", "-"], check=True
    )
    return time.perf_counter() - started


def encode_floor(path: Path, seconds: float) -> tuple[float, str]:
    """Seconds to encode ``seconds`` of 720p + 480p output from frames already in memory (48 distinct ones)."""
    import cv2

    from genmedia.media.encode import VideoWriter

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(48), c.decode(video=0))]
    n = round(seconds * 24)
    sizes = [(1280, 720), (854, 480)]
    audio = np.zeros((2, 48000), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        writers = [
            VideoWriter(
                Path(tmp) / f"{h}.mp4",
                w,
                h,
                Fraction(24),
                audio_rate=48000,
                audio_channels=2,
                options={"g": "48", "keyint_min": "48", "sc_threshold": "0", "bf": "2"},
            )
            for w, h in sizes
        ]
        for i in range(n):
            image = frames[i % len(frames)]
            writers[0].write_frames(image)
            writers[1].write_frames(cv2.resize(image, sizes[1], interpolation=cv2.INTER_AREA))
            if (i + 1) % 24 == 0:
                for w in writers:
                    w.write_audio(audio)
        name = writers[0].encoder_name
        for w in writers:
            w.close()
        return time.perf_counter() - started, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    from genmedia.config import load_config
    from genmedia.pipelines import trailer
    from genmedia.pipelines.analyze import load_analysis
    from genmedia.runtime import init_ray

    source = make_source(args.minutes)
    work = Path(tempfile.mkdtemp(prefix="genmedia-bench-trailer-"))
    cfg = load_config(None, storage={"root": str(work / "out"), "cache_dir": str(work / "cache")})
    started = time.perf_counter()
    init_ray(cfg)
    ray_start = time.perf_counter() - started

    decode_s, frames = plain_decode(source)
    ff = ffmpeg_decode(source)
    encode_s, encoder = encode_floor(source, args.duration)

    started = time.perf_counter()
    load_analysis(cfg, str(source))
    analysis_s = time.perf_counter() - started
    started = time.perf_counter()
    result = trailer.run(cfg, str(source), trailer.Params(duration=args.duration))
    render_s = time.perf_counter() - started
    total = analysis_s + render_s
    floor = decode_s + encode_s

    print(f"source: {source} ({frames} frames, {args.minutes:g} min 1280x720 H.264/AAC)")
    print(f"result: {result.summary}")
    print(f"ray start-up (not counted):            {ray_start:7.1f} s")
    print(f"floor: plain PyAV decode of the source {decode_s:7.1f} s ({frames / decode_s:.0f} frames/s)")
    print(
        "floor: ffmpeg -threads 2 decode        "
        + (f"{ff:7.1f} s" if ff is not None else "    n/a (no ffmpeg binary on PATH)")
    )
    print(f"floor: encode {args.duration:g} s of output (720p+480p, {encoder}) {encode_s:5.1f} s")
    print(
        f"genmedia: analysis                     {analysis_s:7.1f} s  ({analysis_s / decode_s:.2f}x the decode floor)"
    )
    print(f"genmedia: plan + render + sound        {render_s:7.1f} s  ({render_s / encode_s:.2f}x the encode floor)")
    print(f"genmedia: whole job                    {total:7.1f} s")
    print(f"ratio: whole job / (decode + encode floor) = {total / floor:.2f}x (target <= 2x)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
