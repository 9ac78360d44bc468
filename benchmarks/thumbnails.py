"""Thumbnails, key-frame backend: seconds per variant on a 720p clip after its analysis, against ffmpeg.

    python benchmarks/thumbnails.py [--seconds 24] [--variants 6] [--out /tmp/genmedia-bench]

Makes a 1280x720 sample clip, runs the analysis once (not timed: the thumbnails job reuses it), then
times the thumbnails job (6 variants x 4 aspect ratios at 1280 px, JPEG + WebP, with a title) three times
with ``force``, and the same per-variant work (decode the frame, faces, saliency, 4 crops, overlay, encode)
in-process without Ray. The peer is ffmpeg's ``thumbnail`` filter (picks one representative frame per
batch of frames and scales it), run for the same number of thumbnails when an ffmpeg binary is present;
it does less (no faces, crops, title or aspect ratios) and is shown for scale, not as an equal.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "genmedia-bench-thumbnails")
    args = parser.parse_args()

    from genmedia.analysis.faces import HaarFaces
    from genmedia.config import load_config
    from genmedia.media.probe import probe
    from genmedia.media.synthetic import make_sample_clip
    from genmedia.pipelines import thumbnails as job
    from genmedia.pipelines.analyze import load_analysis
    from genmedia.thumbnails import candidates
    from genmedia.thumbnails.aspects import parse_aspects
    from genmedia.thumbnails.render import find_subjects, render_variant

    clip = args.out / "bench720.mp4"
    if not clip.exists():
        clip.parent.mkdir(parents=True, exist_ok=True)
        make_sample_clip(clip, width=1280, height=720, seconds=args.seconds)
    cfg = load_config(None, storage={"root": str(args.out / "out"), "cache_dir": str(args.out / "cache")})
    params = job.Params(variants=args.variants, title="The Night Before The Storm")
    t0 = time.perf_counter()
    analysis = load_analysis(cfg, str(clip))
    print(f"analysis (not timed below): {time.perf_counter() - t0:.1f} s, {len(analysis.shots)} shots")

    runs = []
    for _ in range(3):
        started = time.perf_counter()
        result = job.run(cfg, str(clip), params, force=True)
        runs.append(time.perf_counter() - started)
    made = result.details["variants"]
    job_per_variant = statistics.median(runs) / made

    info = probe(clip, cfg.limits)
    shots = [candidates.ShotSpan(s.index, s.start_time, s.end_time, s.transition) for s in analysis.shots]
    chosen = candidates.choose(analysis.features, shots, args.variants, cfg.pipelines.thumbnails)
    haar, aspects = HaarFaces(), parse_aspects(params.aspects)
    started = time.perf_counter()
    for c in chosen:
        frame = job.read_frames({"frame_index": [c.frame_index]}, info=info)["image"][0]
        render_variant(
            frame,
            find_subjects(frame, haar),
            aspects,
            params.size,
            title=params.title,
            formats=params.formats,
            quality=88,
        )
    direct_per_variant = (time.perf_counter() - started) / len(chosen)

    print(
        f"thumbnails job ({made} variants x {len(aspects)} aspects, 1280 px, JPEG+WebP, title): "
        f"median {statistics.median(runs):.2f} s -> {job_per_variant:.2f} s per variant (target < 2 s)"
    )
    print(f"same work in-process, no Ray: {direct_per_variant:.2f} s per variant")
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        print("peer: ffmpeg not found on this machine; no ratio printed")
        return
    frames = info.frame_count // made
    started = time.perf_counter()
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vf",
            f"thumbnail={frames},scale=1280:720",
            "-frames:v",
            str(made),
            "-vsync",
            "vfr",
            str(args.out / "ffmpeg_%02d.jpg"),
        ],
        check=True,
    )
    peer = (time.perf_counter() - started) / made
    print(f"peer ffmpeg thumbnail filter: {peer:.2f} s per thumbnail (one aspect, no faces/crops/title)")
    print(
        f"ratio genmedia job / ffmpeg: {job_per_variant / peer:.2f}x; in-process / ffmpeg: {direct_per_variant / peer:.2f}x"
    )


if __name__ == "__main__":
    main()
