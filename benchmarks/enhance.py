"""Enhancement speed: frames/s per stage and end to end, 720p -> 1440p, against ffmpeg's classical chain.

    python benchmarks/enhance.py [--frames 96] [--esrgan-frames 2]

Input: the first ``--frames`` frames of a 1280x720 24 fps sample clip made by genmedia itself. Work:
denoise (a fixed strength, like hqdn3d's defaults) -> upscale x2 (classical backend) -> interpolate
to 60 fps -> encode H.264. The peer is the ffmpeg filter chain doing the same classical work on the
same machine: ``hqdn3d,scale=2560:1440:flags=lanczos,minterpolate=fps=60:mi_mode=mci`` + libx264.
Per-stage figures for genmedia are in-process single-core timings of each stage's function; for
ffmpeg each filter is timed alone (decode included). End to end, genmedia runs its Ray Data pipeline
on a local Ray with every core. Ratios > 1 mean genmedia is faster. Without an ffmpeg binary the
peer is skipped (and the script says so).

``--esrgan-frames N`` also times the Real-ESRGAN x4plus architecture (RRDBNet, 23 blocks, 64 filters;
random weights: speed does not depend on their values) on N 1080p frames, tiled 512, fp16 on a GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmedia.config import load_config  # noqa: E402
from genmedia.deployments.interpolator import Interpolator  # noqa: E402
from genmedia.deployments.upscaler import Upscaler  # noqa: E402
from genmedia.enhance import denoise as dn  # noqa: E402
from genmedia.enhance import grade as gr  # noqa: E402
from genmedia.enhance.interpolate import plan_window  # noqa: E402
from genmedia.enhance.writer import EnhancedWriter, OutputFormat  # noqa: E402
from genmedia.media.decode import decode_frames  # noqa: E402
from genmedia.media.encode import VideoWriter  # noqa: E402
from genmedia.media.probe import probe  # noqa: E402
from genmedia.media.synthetic import make_sample_clip  # noqa: E402

SIGMA = 4.0
OUT_W, OUT_H, FPS_OUT = 2560, 1440, 60


def make_input(folder: Path, frames: int) -> Path:
    """The first ``frames`` frames (and audio-free) of a 720p sample clip."""
    full = folder / "sample720.mp4"
    make_sample_clip(full, width=1280, height=720, seconds=max(8.0, frames / 24 + 0.5), speech=False)
    clip = folder / "input720.mp4"
    info = probe(full)
    with VideoWriter(clip, 1280, 720, 24, encoder="cpu", preset="veryfast") as w:
        done = 0
        for batch in decode_frames(info, fmt="rgb24", batch_size=24):
            take = batch.frames[: frames - done]
            w.write_frames(take)
            done += len(take)
            if done >= frames:
                break
    return clip


def timed(fn, *args, **kwargs) -> tuple[float, object]:  # noqa: ANN001
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def ours_per_stage(clip: Path, out_dir: Path) -> dict[str, float]:
    """Frames/s of each stage function on one core (input frames/s; interpolation also as output frames/s)."""
    cfg = load_config(None)
    info = probe(clip)
    t_decode, batches = timed(lambda: [b.frames for b in decode_frames(info, fmt="rgb24", batch_size=16)])
    frames = np.concatenate(batches)
    n = len(frames)
    t_denoise, clean = timed(lambda: np.concatenate([dn.denoise_frames(frames[max(0, a - 2):a + 18], SIGMA, radius=2,
                                                                        core=slice(min(a, 2), min(a, 2) + min(16, n - a)))
                                                     for a in range(0, n, 16)]))
    up = Upscaler(cfg)
    t_up, big = timed(lambda: up.upscale(clean, OUT_W, OUT_H))
    interp = Interpolator(cfg)
    times = np.arange(n) / 24
    steps = plan_window(times, np.zeros(n, int), np.zeros(n, bool), (0, n), n / 24, 0.0, FPS_OUT)
    t_interp, (out, _) = timed(interp.render, big, steps)
    grade = gr.auto_grade(gr.frame_stats(frames[0][::4, ::4]))
    t_grade, _ = timed(lambda: [gr.apply_grade(f, grade) for f in out])
    fmt = OutputFormat(codec="h264", encoder="cpu")
    with EnhancedWriter(out_dir / "ours_stages.mp4", OUT_W, OUT_H, Fraction(FPS_OUT), Fraction(1, FPS_OUT), fmt) as w:
        t_encode, _ = timed(w.write, out, np.arange(len(out)))
    return {
        "decode 720p": n / t_decode, "denoise 720p": n / t_denoise, "upscale 720p->1440p": n / t_up,
        "interpolate 1440p (input frames/s)": n / t_interp, "grade 1440p (output frames/s)": len(out) / t_grade,
        "encode 1440p h264 (output frames/s)": len(out) / t_encode,
    }


def ours_end_to_end(clip: Path, out_dir: Path) -> float:
    """Input frames/s of the whole job (Ray Data pipeline on a local Ray with every core)."""
    from genmedia.pipelines import enhance

    cfg = load_config(None, storage={"root": str(out_dir / "out"), "cache_dir": str(out_dir / "cache")})
    params = enhance.Params(upscale=2, denoise=SIGMA, fps=FPS_OUT, codec="h264")
    enhance.run(cfg, str(clip), params, force=True)  # warm-up: Ray start, worker imports
    seconds, _ = timed(enhance.run, cfg, str(clip), params, force=True)
    return probe(clip).frame_count / seconds


def ffmpeg_fps(clip: Path, filters: str, out: str, n: int) -> float:
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-vf", filters, "-an"]
    cmd += ["-f", "null", "-"] if out == "null" else ["-c:v", "libx264", "-preset", "fast", "-crf", "20", out]
    seconds, _ = timed(subprocess.run, cmd, check=True)
    return n / seconds


def esrgan_fps(frames: int) -> str:
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    from genmedia.deployments.upscaler import SpandrelModel

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x4plus.pth"
        torch.save(ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4).state_dict(), path)
        model = SpandrelModel(path, tile=512, tile_pad=16, dtype="float16")
        image = np.random.default_rng(0).integers(0, 256, (1, 1080, 1920, 3), dtype=np.uint8)
        model(image[:, :64, :64])  # warm-up
        seconds, _ = timed(lambda: [model(image) for _ in range(frames)])
        device = model.device.type + (" fp16" if model.half else " fp32")
    return f"{frames / seconds:.3f} frames/s on {device} (real time for 24 fps 1080p needs 24; 0.5x needs 12)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--esrgan-frames", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; input 1280x720 24 fps, {args.frames} frames -> {OUT_W}x{OUT_H} {FPS_OUT} fps")
    with tempfile.TemporaryDirectory(prefix="genmedia-bench-") as tmp:
        folder = Path(tmp)
        clip = make_input(folder, args.frames)
        stages = ours_per_stage(clip, folder)
        for name, fps in stages.items():
            print(f"genmedia  {name:<40} {fps:8.2f} frames/s")
        e2e = ours_end_to_end(clip, folder)
        print(f"genmedia  {'end to end (Ray, all cores)':<40} {e2e:8.2f} input frames/s")
        if shutil.which("ffmpeg") is None:
            print("ffmpeg: not found on this machine, peer skipped (no ratios)")
        else:
            n = args.frames
            peer = {
                "hqdn3d 720p": ffmpeg_fps(clip, "hqdn3d", "null", n),
                "scale lanczos 720p->1440p": ffmpeg_fps(clip, f"scale={OUT_W}:{OUT_H}:flags=lanczos", "null", n),
                "minterpolate 1440p": ffmpeg_fps(clip, f"scale={OUT_W}:{OUT_H}:flags=lanczos,minterpolate=fps={FPS_OUT}:mi_mode=mci", "null", n),
            }
            chain = f"hqdn3d,scale={OUT_W}:{OUT_H}:flags=lanczos,minterpolate=fps={FPS_OUT}:mi_mode=mci"
            peer_e2e = ffmpeg_fps(clip, chain, str(folder / "ffmpeg.mp4"), n)
            for name, fps in peer.items():
                print(f"ffmpeg    {name:<40} {fps:8.2f} frames/s (decode included)")
            print(f"ffmpeg    {'end to end (chain + libx264 fast)':<40} {peer_e2e:8.2f} input frames/s")
            print(f"ratio denoise      genmedia/ffmpeg = {stages['denoise 720p'] / peer['hqdn3d 720p']:.2f}")
            print(f"ratio upscale      genmedia/ffmpeg = {stages['upscale 720p->1440p'] / peer['scale lanczos 720p->1440p']:.2f}")
            print(f"ratio interpolate  genmedia/ffmpeg = {stages['interpolate 1440p (input frames/s)'] / peer['minterpolate 1440p']:.2f}")
            print(f"ratio end to end   genmedia/ffmpeg = {e2e / peer_e2e:.2f}")
    if args.esrgan_frames:
        print(f"Real-ESRGAN x4plus 1080p: {esrgan_fps(args.esrgan_frames)}")


if __name__ == "__main__":
    main()
