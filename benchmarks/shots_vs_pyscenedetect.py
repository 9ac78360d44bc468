"""Shot detection: genmedia vs PySceneDetect's detect-content (defaults), same file, same machine.

Makes (once, cached in /tmp/genmedia-bench) a 720p H.264 clip of 8 x 24 s = 192 s built from the sample
clip's layout with different seeds (hard cuts, a fade through black and a cross-dissolve in each, pans,
flashes and fast motion between them), then runs, alternating, ``--repeats`` times:

* PySceneDetect 0.7 ``detect(path, ContentDetector())`` (its defaults, OpenCV backend);
* genmedia's shot detection as a plain function over the decode iterator (the algorithm's cost);
* genmedia's shot detection through the Ray Data pipeline (segment-parallel decode and stitching, no
  sampled-frame work; Ray already running, its start-up reported once, separately);

and prints wall times, ratios, F1 of each cut list against the known boundaries, and the floor: one
plain PyAV decode of every frame (touching nothing) and ``ffmpeg -threads 2 -i F -f null -`` when an
ffmpeg binary is on PATH. Each method runs once untimed first (Ray's workers import genmedia then;
that time is reported separately, like Ray's start-up).

``--memory-1080p`` also makes a 10-minute 1080p clip (one 24 s layout encoded once, its packets
repeated 25 times with shifted timestamps) and reports the peak resident memory of genmedia's shot
detection on it (plain and through Ray Data) and of the whole ``genmedia analyze`` job, each in a
fresh process tree sampled every 0.1 s: the driver, the largest other process (a Ray worker decoding
a segment) and the sum over every process (driver, Ray's GCS and raylet, workers).

``--whole-process`` compares whole commands instead, each a fresh process on the same machine, alternating:
``genmedia analyze F --force`` (Ray start-up, probe, decode, every analysis stage, with the pretrained face
detector staged and on) against ``scenedetect -i F detect-content`` (PySceneDetect's CLI), on a
``--whole-minutes`` (default 10) 720p H.264 clip made by repeating one 24 s layout; it prints wall times,
ratios and the load average before each run, then where an analysis spends its time, stage by stage in one
process (importing genmedia, Ray start-up, probe, the segment-parallel decode with and without the sampled
frames' work, i.e. thumbnails, saliency and faces). ``--only genmedia`` / ``--only scenedetect ffmpeg`` times one
side per call (e.g. each in its own ``/tmp/team/quiet`` window); ``--no-stages`` skips the profile.

Run: ``python benchmarks/shots_vs_pyscenedetect.py [--repeats 3] [--memory-1080p] [--whole-process]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CACHE = Path(os.environ.get("GENMEDIA_BENCH_CACHE", "/tmp/genmedia-bench"))
FPS = 24
CLIP_SECONDS = 24.0


def make_clip(path: Path, width: int, height: int, parts: int) -> dict[str, list[int]]:
    """Concatenate ``parts`` sample-clip layouts (different seeds) without audio; return the known boundaries."""
    from genmedia.media.encode import VideoWriter
    from genmedia.media.synthetic import _plan, _Scenes  # noqa: PLC2701 - the benchmark reuses the renderer

    truth_file = path.with_suffix(".truth.json")
    if path.exists() and truth_file.exists():
        return json.loads(truth_file.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    n = round(CLIP_SECONDS * FPS)
    cuts: list[int] = []
    gradual: list[list[int]] = []  # [middle, first frame, end frame] of each fade / dissolve
    tmp = path.with_suffix(".partial.mp4")
    print(f"making {path.name}: {parts} x {CLIP_SECONDS:g} s at {width}x{height} (once; cached) ...", flush=True)
    with VideoWriter(
        tmp, width, height, Fraction(FPS), encoder="cpu", preset="veryfast", options={"threads": "2"}
    ) as writer:
        for k in range(parts):
            plan = _plan(n, Fraction(FPS))
            scenes = _Scenes(plan, width, height, seed=k)
            offset = k * n
            b = plan.bounds
            cuts += ([offset] if k else []) + [offset + b[s][0] for s in ("pan", "fast_motion", "flash", "zoom")]
            f = plan.fade
            gradual.append([offset + (f.black_start + f.black_end) // 2, offset + f.out_start, offset + f.in_end])
            gradual.append([offset + b["drift"][0], offset + plan.dissolve[0], offset + plan.dissolve[1]])
            for first in range(0, n, FPS):
                writer.write_frames(np.stack([scenes.frame(i) for i in range(first, min(n, first + FPS))]))
    tmp.replace(path)
    truth = {"cuts": sorted(cuts), "gradual": gradual, "frames": parts * n}
    truth_file.write_text(json.dumps(truth))
    return truth


def f1(found: list[int], truth: dict[str, list]) -> tuple[float, float]:
    """(F1 over every boundary, F1 over hard cuts only). A cut matches within 1 frame; a fade or dissolve
    anywhere in its transition (+-3 frames). For the hard-cut score, boundaries inside a gradual
    transition are ignored, neither right nor wrong."""
    found = sorted(found)

    def score(targets: list[tuple[int, int]], ignore: list[tuple[int, int]]) -> float:
        used, tp = set(), 0
        for lo, hi in targets:
            match = next((i for i, f in enumerate(found) if lo <= f <= hi and i not in used), None)
            if match is not None:
                used.add(match)
                tp += 1
        extra = [f for i, f in enumerate(found) if i not in used and not any(lo <= f <= hi for lo, hi in ignore)]
        precision = tp / max(1, tp + len(extra))
        recall = tp / max(1, len(targets))
        return 2 * precision * recall / max(1e-9, precision + recall)

    cuts = [(c - 1, c + 1) for c in truth["cuts"]]
    grads = [(a - 3, b + 3) for _, a, b in truth["gradual"]]
    return score(cuts + grads, []), score(cuts, grads)


def pyscenedetect(path: Path) -> list[int]:
    from scenedetect import ContentDetector, detect

    return [start.frame_num for start, _ in detect(str(path), ContentDetector())[1:]]


def genmedia_plain(path: Path, info: object) -> list[int]:
    from genmedia.pipelines.analyze import detect_shots_in_file

    return [s.start_frame for s in detect_shots_in_file(info)[1:]]


def genmedia_ray(path: Path, info: object, cfg: object) -> list[int]:
    from genmedia.pipelines import analyze

    params = analyze.params_from(cfg)
    signals = analyze.collect_signals(analyze.build(cfg, [info], params, samples=False), [info])[0]
    return [s.start_frame for s in analyze.detect_shots(signals, info, params)[1:]]


def pyav_decode(path: Path) -> int:
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            count += 1
    return count


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN201
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def ray_config(segment_seconds: float = 60.0):  # noqa: ANN201
    from genmedia.config import load_config

    cfg = load_config(None, ray={"num_cpus": os.cpu_count() or 2})
    decode = cfg.pipelines.decode.model_copy(update={"segment_seconds": segment_seconds})
    return cfg.model_copy(update={"pipelines": cfg.pipelines.model_copy(update={"decode": decode})})


def make_long_clip(path: Path, width: int, height: int, copies: int) -> None:
    """``copies`` back-to-back repeats of one 24 s layout, by remuxing its packets with shifted
    timestamps (seconds, where encoding 10 minutes of 1080p takes the better part of an hour here)."""
    if path.exists():
        return
    part = CACHE / f"shots_{height}p_1x24s.mp4"
    make_clip(part, width, height, 1)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(part)) as src, av.open(str(tmp), "w") as dst:
        template = src.streams.video[0]
        out = dst.add_stream_from_template(template)
        span = None
        for k in range(copies):
            src.seek(0)
            packets = [p for p in src.demux(template) if p.pts is not None]
            if span is None:
                span = max(p.pts + p.duration for p in packets) - min(p.pts for p in packets)
            for packet in packets:
                packet.pts += k * span
                packet.dts += k * span
                packet.stream = out
                dst.mux(packet)
    tmp.replace(path)


def peak_memory(args: list[str]) -> dict[str, float]:
    """Peak resident memory (MiB) of the process tree running ``args``: the root process, the largest
    other process and the sum over all of them, sampled every 0.1 s."""
    import psutil

    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peaks = {"driver": 0, "largest other process": 0, "all processes": 0}
    while proc.poll() is None:
        try:
            rss = [q.memory_info().rss for q in [root, *root.children(recursive=True)]]
        except psutil.Error:  # a process ended while being read
            continue
        peaks["driver"] = max(peaks["driver"], rss[0])
        peaks["largest other process"] = max(peaks["largest other process"], max(rss[1:], default=0))
        peaks["all processes"] = max(peaks["all processes"], sum(rss))
        time.sleep(0.1)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} ... failed:\n{proc.stderr.read()[-2000:]}")
    return {k: v / 2**20 for k, v in peaks.items()}


def shot_detection_command(path: Path, mode: str) -> list[str]:
    """A fresh Python process running genmedia's shot detection on ``path`` (``plain`` or ``ray``)."""
    code = (  # noqa: UP031 - a code template whose values are filled in with %r
        "import sys; sys.path.insert(0, %r)\n"
        "import shots_vs_pyscenedetect as b\n"
        "from genmedia.media.probe import probe; info = probe(%r)\n"
        "if %r == 'plain':\n    b.genmedia_plain(None, info)\n"
        "else:\n    from genmedia.runtime import init_ray\n    cfg = b.ray_config()\n    init_ray(cfg)\n    b.genmedia_ray(None, info, cfg)\n"
    ) % (str(Path(__file__).parent), str(path), mode)
    return [sys.executable, "-c", code]


def whole_process(minutes: float, repeats: int, only: list[str] | None = None, stages: bool = True) -> None:
    """Whole ``genmedia analyze`` vs ``scenedetect detect-content`` processes on a ``minutes``-long 720p clip.

    ``only``: the commands to time (``genmedia``, ``scenedetect``, ``ffmpeg``; default all), so each side can be
    timed in its own quiet window; ``stages``: also profile the analysis stage by stage."""
    copies = max(1, round(minutes * 60 / CLIP_SECONDS))
    clip = CACHE / f"shots_720p_{copies}x24s_looped.mp4"
    make_long_clip(clip, 1280, 720, copies)
    out = CACHE / "whole-analyze-out"
    genmedia = [sys.executable, "-c", "from genmedia.cli import main; main()"]
    scenedetect = shutil.which("scenedetect") or str(Path(sys.executable).with_name("scenedetect"))
    subprocess.run([*genmedia, "models", "pull", "face_detector"], check=True, capture_output=True)  # untimed, once
    commands = {
        "genmedia analyze": [*genmedia, "analyze", str(clip), "--out", str(out), "--force", "--json"],
        "scenedetect detect-content": [scenedetect, "-q", "-i", str(clip), "detect-content"],
    }
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        commands["ffmpeg -threads 2 decode"] = [
            ffmpeg,
            "-v",
            "error",
            "-threads",
            "2",
            "-i",
            str(clip),
            "-f",
            "null",
            "-",
        ]
    if only:
        commands = {name: c for name, c in commands.items() if name.split()[0] in only}
    print(f"clip: {clip} ({copies * CLIP_SECONDS / 60:.1f} min, 1280x720 H.264); cpus: {os.cpu_count()}")
    times: dict[str, list[float]] = {name: [] for name in commands}
    loads: list[float] = []
    backends = None
    for r in range(repeats):
        for name, command in commands.items():
            loads.append(os.getloadavg()[0])
            start = time.perf_counter()
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "GENMEDIA_CONFIG": ""}, check=False
            )
            seconds = time.perf_counter() - start
            if done.returncode:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-2000:]}")
            if name == "genmedia analyze":
                backends = json.loads(done.stdout).get("details", {}).get("backends")
            times[name].append(seconds)
            print(f"  run {r + 1}: {name:<28} {seconds:7.1f} s (load average {loads[-1]:.1f})", flush=True)
    base = statistics.median(times["scenedetect detect-content"]) if "scenedetect detect-content" in times else None
    print(f"\nmedian of {repeats} (alternating; load average {min(loads):.1f}-{max(loads):.1f} during the runs):")
    for name, values in times.items():
        t = statistics.median(values)
        print(f"{name:<32}{t:8.1f} s" + (f" {t / base:6.2f}x PySceneDetect" if base else ""))
    if backends:
        print(f"analysis backends: {backends}")
    if stages:
        profile(clip)


def profile(clip: Path) -> None:
    """Where an analysis spends its time: each stage timed in one fresh process."""
    code = (  # noqa: UP031 - a code template whose values are filled in with %r
        "import sys, time; t0 = time.perf_counter(); sys.path.insert(0, %r)\n"
        "from genmedia.config import load_config; from genmedia.pipelines import analyze\n"
        "from genmedia.runtime import init_ray; from genmedia.media.probe import probe\n"
        "t1 = time.perf_counter(); print(f'import genmedia         {t1 - t0:6.1f} s')\n"
        "cfg = load_config(None); init_ray(cfg); t2 = time.perf_counter(); print(f'Ray start-up            {t2 - t1:6.1f} s')\n"
        "info = probe(%r); t3 = time.perf_counter(); print(f'probe                   {t3 - t2:6.1f} s')\n"
        "p = analyze.params_from(cfg)\n"
        "for samples in (False, True):\n"
        "    t = time.perf_counter(); analyze.collect_signals(analyze.build(cfg, [info], p, samples=samples), [info])\n"
        "    what = 'decode + per-frame signals' + (' + sampled frames (faces: ' + analyze.face_backend(cfg, p) + ')' if samples else '')\n"
        "    print(f'{what:<24}{time.perf_counter() - t:6.1f} s')\n"
    ) % (str(Path(__file__).resolve().parents[1]), str(clip))
    print("\nstages, one process (second decode run warm):")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "GENMEDIA_CONFIG": ""},
        check=False,
    )
    print(done.stdout or done.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", type=int, default=8, help="24 s layouts to concatenate (8 = 192 s)")
    parser.add_argument(
        "--memory-1080p", action="store_true", help="also measure peak memory on a 10-minute 1080p clip"
    )
    parser.add_argument(
        "--whole-process", action="store_true", help="only compare whole genmedia analyze vs scenedetect CLI processes"
    )
    parser.add_argument("--whole-minutes", type=float, default=10.0, help="length of the --whole-process clip")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("genmedia", "scenedetect", "ffmpeg"),
        help="--whole-process: time only these commands (each side in its own quiet window)",
    )
    parser.add_argument("--no-stages", action="store_true", help="--whole-process: skip the per-stage profile")
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args.whole_minutes, args.repeats, args.only, not args.no_stages)
        return

    from genmedia.runtime import init_ray

    clip = CACHE / f"shots_720p_{args.parts}x24s.mp4"
    truth = make_clip(clip, 1280, 720, args.parts)
    frames = truth["frames"]
    print(
        f"clip: {clip} ({frames} frames, {frames / FPS:.0f} s, 1280x720 H.264; {len(truth['cuts'])} hard cuts, "
        f"{len(truth['gradual'])} fades/dissolves); cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}"
    )

    from genmedia.media.probe import probe

    probe_time, info = timed(probe, clip)
    print(f"genmedia probe (once per job, shared by every stage; not in the timings below): {probe_time:.2f} s")
    cfg = ray_config()
    ray_start, _ = timed(init_ray, cfg)
    print(f"Ray start-up (once per process; not in the timings below): {ray_start:.1f} s")

    methods = (
        ("pyscenedetect", pyscenedetect, ()),
        ("genmedia (function)", genmedia_plain, (info,)),
        ("genmedia (Ray Data)", genmedia_ray, (info, cfg)),
        ("PyAV decode floor", pyav_decode, ()),
    )
    for name, fn, extra in methods:
        seconds, _ = timed(fn, clip, *extra)
        print(f"  warm-up (untimed): {name:<22} {seconds:7.2f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name, _, _ in methods}
    found: dict[str, list[int]] = {}
    for r in range(args.repeats):
        for name, fn, extra in methods:
            seconds, out = timed(fn, clip, *extra)
            times[name].append(seconds)
            if isinstance(out, list):
                found[name] = out
            print(f"  run {r + 1}: {name:<22} {seconds:7.2f} s", flush=True)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        seconds, _ = timed(subprocess.run, [ffmpeg, "-v", "error", "-threads", "2", "-i", str(clip), "-f", "null", "-"])
        times["ffmpeg -threads 2 decode floor"] = [seconds]
    else:
        print("  ffmpeg binary not found: the ffmpeg floor is not measured (the PyAV floor is)")

    base = statistics.median(times["pyscenedetect"])
    print(f"\nmedian of {args.repeats} (alternating), {frames} frames:")
    print(f"{'':<32}{'wall s':>8}{'fps':>8}{'vs PySceneDetect':>18}{'F1 all':>8}{'F1 cuts':>9}")
    for name, values in times.items():
        t = statistics.median(values)
        scores = f1(found[name], truth) if name in found else None
        f1s = f"{scores[0]:8.3f}{scores[1]:9.3f}" if scores else ""
        print(f"{name:<32}{t:8.2f}{frames / t:8.0f}{base / t:17.2f}x{f1s}")
    for name in ("pyscenedetect", "genmedia (function)"):
        got = found[name]
        print(f"{name}: {len(got)} boundaries found for {len(truth['cuts']) + len(truth['gradual'])} known")

    if args.memory_1080p:
        big = CACHE / "shots_1080p_25x24s_looped.mp4"
        make_long_clip(big, 1920, 1080, 25)  # 600 s
        out = CACHE / "analyze-out"
        shutil.rmtree(out, ignore_errors=True)
        genmedia = [sys.executable, "-c", "from genmedia.cli import main; main()"]
        runs = {
            "shot detection, function": shot_detection_command(big, "plain"),
            "shot detection, Ray Data": shot_detection_command(big, "ray"),
            "genmedia analyze (whole job)": [*genmedia, "analyze", str(big), "--out", str(out), "--force"],
        }
        print(f"\npeak resident memory, MiB, on {big.name} (10 min 1920x1080 H.264, {25 * 576} frames):")
        print(f"{'':<32}{'wall s':>8}{'driver':>8}{'largest other':>15}{'all processes':>15}")
        for name, command in runs.items():
            start = time.perf_counter()
            peaks = peak_memory(command)
            print(
                f"{name:<32}{time.perf_counter() - start:8.1f}"
                + "".join(f"{v:{w}.0f}" for v, w in zip(peaks.values(), (8, 15, 15))),
                flush=True,
            )


if __name__ == "__main__":
    main()
