"""Subtitles: real-time factor of the whole pipeline vs bare faster-whisper, same audio, model, machine.

The input is the two-speaker test recording (``tests/data/speech_two_speakers.flac``, 32 s)
looped ``--loops`` times with 1 s pauses (cached in /tmp/genmedia-bench), so fixed costs are spread as
they are on real inputs. Both sides load the embedded default model (Whisper base, int8, CPU, the
model entry's threads) and decode with the same settings (beam 5, word timestamps, VAD):

* **bare**: ``WhisperModel(...)`` then ``model.transcribe(path, ...)`` consumed to the end, in a Ray worker
  with the same resources as the pipeline's transcriber actor, timed inside it. Ray runs its workers at
  niceness 15, so on a machine shared with other work a faster-whisper in an ordinary process (niceness
  0) gets more of the CPU than any Ray worker does; running bare in a Ray worker compares the two at
  the same OS priority. ``--bare-in-driver`` adds bare in the benchmark's own process, for reference;
* **pipeline**: ``genmedia.pipelines.subtitles.run`` with its defaults (probe, scan, chunking, Ray Data
  actor, model load in the actor, noise reduction, diarization, language and hallucination checks,
  segmentation, SRT/VTT/ASS, transcript, manifest), on a Ray started before timing (its start-up is
  printed separately).

Each side first runs once untimed on the 32 s recording (printed as the warm-up): that pages in the
weights and imports for bare, and Ray Data's once-per-process set-up (its stats and autoscaling
actors) for the pipeline, as in any long-running driver. Every timed pipeline run still starts its own
actor and loads the model in it, as every timed bare run loads the model.

Prints RTF (seconds of work per second of audio) for each, the overhead of the pipeline over bare,
and the word error rate of each against the known transcript. ``--breakdown`` adds a run of the
pipeline with its extra analyses off (no noise check, diarization, per-segment language or
hallucination control): the cost of the plumbing alone. ``--denoise-wer`` also measures the
noise reduction: WER of the bare model with and without spectral gating, on the clean recording and
with white noise added at 10 dB SNR.

``--whole-process`` instead times what a user waits for: ``genmedia subtitles INPUT`` (the CLI, Ray
start-up, actor launch and model load included) against a bare faster-whisper script with the same model
file and settings, each a fresh Python process, alternated ``--repeats`` times; ``--real`` takes the
real CMU ARCTIC voices of ``tests/data/speech`` (a conversation of the two, looped) instead of the
espeak-ng recording. ``--side bare`` or ``--side genmedia`` times one side only and ``--record FILE`` appends
each time (with the load average before and after) as a JSON line; ``--summarize FILE`` prints each side's
median and the ratio. That splits a comparison a time limit cannot hold in one call (5 minutes of speech:
about 200 s per side on 2 cores) over several calls. ``--tree DIR`` runs ``genmedia`` from another checkout
(e.g. ``git archive`` of an earlier commit), its Ray workers included (``PYTHONPATH``), for a before/after.

Run: ``python benchmarks/subtitles_rtf.py [--loops 8] [--repeats 1] [--breakdown] [--bare-in-driver] [--denoise-wer]``
or ``python benchmarks/subtitles_rtf.py --whole-process [--real] [--loops 8] [--repeats 3] [--side S] [--record F]``
or ``python benchmarks/subtitles_rtf.py --summarize F``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parent.parent / "tests" / "data"
CACHE = Path(os.environ.get("GENMEDIA_BENCH_CACHE", "/tmp/genmedia-bench"))
SR = 16000


def _truth() -> str:
    rows = (MEDIA / "speech_two_speakers.tsv").read_text(encoding="utf-8").strip().splitlines()
    return " ".join(r.split("\t")[3] for r in rows)


def make_input(loops: int) -> tuple[Path, str]:
    """The two-speaker recording looped ``loops`` times (1 s pauses between), and its transcript."""
    from genmedia.media.audio import load_audio, write_audio_file

    path = CACHE / f"speech_x{loops}.flac"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        one = load_audio(MEDIA / "speech_two_speakers.flac", SR)
        pause = np.zeros(SR, dtype=np.float32)
        write_audio_file(path, np.concatenate([x for _ in range(loops) for x in (one, pause)]), SR)
    return path, " ".join([_truth()] * loops)


def make_real_input(loops: int) -> Path:
    """A conversation of the two real ARCTIC voices (A B A B, 0.5 s pauses) looped to about ``loops`` x 32 s."""
    from genmedia.media.audio import load_audio, write_audio_file

    path = CACHE / f"arctic_x{loops}.flac"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        a, b = (load_audio(MEDIA / "speech" / f"arctic_a000{n}.flac", SR) for n in (7, 9))
        pause = np.zeros(SR // 2, dtype=np.float32)
        turn = np.concatenate([a, pause, b, pause, a, pause, b, pause])
        write_audio_file(path, np.tile(turn, max(1, round(loops * 32 * SR / turn.size))), SR)
    return path


BARE_SCRIPT = """
import sys
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type=sys.argv[3], cpu_threads=int(sys.argv[4]))
segments, _ = model.transcribe(sys.argv[2], beam_size=int(sys.argv[5]), word_timestamps=True, vad_filter=True)
print(" ".join(s.text.strip() for s in segments))
"""
"""A user's bare faster-whisper script: model path, input, compute type, threads, beam."""


BARE, GENMEDIA = "bare faster-whisper script", "genmedia subtitles"
"""The two sides of ``--whole-process``."""


def whole_process(
    path: Path,
    repeats: int,
    sides: tuple[str, ...] = (BARE, GENMEDIA),
    record: Path | None = None,
    tree: Path | None = None,
) -> None:
    """Fresh-process wall time of ``genmedia subtitles`` vs the bare script, alternated, with the load; each time
    also appended to ``record`` (JSON lines) when given. ``tree``: the checkout ``genmedia`` runs from."""
    import subprocess
    import sys

    from genmedia.config import load_config
    from genmedia.media.probe import probe
    from genmedia.models.registry import resolve

    cfg = load_config(None, storage={"cache_dir": str(CACHE / "cache")})
    entry = cfg.model("transcriber")
    model = str(resolve(cfg, "transcriber"))
    duration = probe(path, cfg.limits, require_video=False).duration
    work = Path(tempfile.mkdtemp(prefix="genmedia-subtitles-whole-"))
    config = work / "bench.yaml"  # the embedded defaults, with the benchmark's model store
    config.write_text(f"storage:\n  cache_dir: {CACHE / 'cache'}\n", encoding="utf-8")
    env = {**os.environ, "GENMEDIA_CONFIG": str(config), "RAY_ADDRESS": "", "GENMEDIA_STORAGE_ROOT": str(work / "out")}
    cwd = tree or MEDIA.parent.parent
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    commands = {
        BARE: [
            sys.executable,
            "-c",
            BARE_SCRIPT,
            model,
            str(path),
            entry.options.get("compute_type", "default"),
            str(int(entry.resources["cpu"].num_cpus)),
            str(int(entry.options.get("beam_size", 5))),
        ],
        GENMEDIA: [
            sys.executable,
            "-m",
            "genmedia.cli",
            "subtitles",
            str(path),
            "--out",
            str(work / "out"),
            "--no-voiceprints",
            "--force",
            "--json",
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name in sides:
            load = os.getloadavg()[0]
            started = time.perf_counter()
            subprocess.run(commands[name], check=True, capture_output=True, env=env, cwd=cwd)
            times[name].append(time.perf_counter() - started)
            print(
                f"  {name}: {times[name][-1]:.1f} s (load average {load:.1f} -> {os.getloadavg()[0]:.1f})", flush=True
            )
            if record is not None:
                row = {"side": name, "seconds": round(times[name][-1], 2), "load": [load, os.getloadavg()[0]]}
                row |= {"input": path.name, "duration_s": round(duration, 1), "tree": str(cwd)}
                with record.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
    if len(sides) == 2:
        b, p = (statistics.median(times[k]) for k in sides)
        print(
            f"input {path.name} {duration:.0f} s; whole process, median of {repeats}: bare {b:.1f} s, genmedia "
            f"{p:.1f} s, ratio {p / b:.2f}x (target <= 1.10x); load average {os.getloadavg()[0]:.1f}"
        )


def summarize(record: Path) -> None:
    """Each side's (and each genmedia tree's) median time in ``record`` and its ratio to bare's median."""
    rows = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["side"] if row["side"] == BARE else f"{row['side']} ({row['tree']})", []).append(row)
    bare_median = statistics.median(r["seconds"] for r in groups.get(BARE, [{"seconds": float("nan")}]))
    for name, group in groups.items():
        median = statistics.median(r["seconds"] for r in group)
        loads = [x for r in group for x in r["load"]]
        print(
            f"{name}: median {median:.1f} s of {len(group)} ({', '.join(str(r['seconds']) for r in group)}), "
            f"ratio to bare {median / bare_median:.3f}x, load average {min(loads):.1f}-{max(loads):.1f}; "
            f"input {group[0]['input']} {group[0]['duration_s']} s"
        )


def bare(cfg, path: Path) -> tuple[float, str]:
    """:func:`bare_here` in a Ray worker with the transcriber actor's resources (threads and OS priority)."""
    import ray

    from genmedia.runtime import model_options

    return ray.get(ray.remote(bare_here).options(**model_options(cfg, "transcriber")).remote(cfg, path))


def bare_here(cfg, path: Path) -> tuple[float, str]:
    """Bare faster-whisper: load the model, transcribe the file (its own decoding), consume every segment."""
    from faster_whisper import WhisperModel

    from genmedia.models.registry import resolve

    entry = cfg.model("transcriber")
    started = time.perf_counter()
    model = WhisperModel(
        str(resolve(cfg, "transcriber")),
        device="cpu",
        compute_type=entry.options.get("compute_type", "default"),
        cpu_threads=int(entry.resources["cpu"].num_cpus),
    )
    segments, _ = model.transcribe(
        str(path), beam_size=int(entry.options.get("beam_size", 5)), word_timestamps=True, vad_filter=True
    )
    text = " ".join(s.text.strip() for s in segments)
    return time.perf_counter() - started, text


LEAN = {"denoise": False, "diarize": False, "per_segment_language": "off", "hallucination_control": False}
"""The pipeline's extra analyses, switched off (``--breakdown``)."""


def pipeline(cfg, path: Path, **options: object) -> tuple[float, str]:
    """The whole subtitles job (``options`` override its parameters); returns seconds and text."""
    import json

    from genmedia.pipelines import subtitles
    from genmedia.storage import local_path

    started = time.perf_counter()
    result = subtitles.run(cfg, str(path), subtitles.Params(voiceprints=False, **options), force=True)
    elapsed = time.perf_counter() - started
    doc = json.loads(local_path(result.files["transcript.json"]).read_text())
    return elapsed, " ".join(s["text"] for s in doc["segments"])


def denoise_wer(cfg) -> None:
    from genmedia.deployments.transcriber import Transcriber, TranscribeRequest
    from genmedia.media.audio import load_audio
    from genmedia.subtitles.denoise import spectral_gate
    from genmedia.subtitles.wer import wer

    clean = load_audio(MEDIA / "speech_two_speakers.flac", SR)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(clean.size).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10)  # 10 dB SNR
    model = Transcriber(cfg)
    plain = TranscribeRequest(per_segment_language="off", hallucination_control=False)
    print("\nnoise reduction (bare model, same decoding settings):")
    for name, audio in (("clean", clean), ("noisy 10 dB", clean + noise)):
        for gated in (False, True):
            x = spectral_gate(audio) if gated else audio
            text = " ".join(s.text for s in model.transcribe(x, request=plain).segments)
            print(f"  {name:12s} denoise={'on ' if gated else 'off'}  WER {wer(_truth(), text):6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--loops", type=int, default=8, help="Copies of the 32 s recording (default 8: about 4.4 minutes)."
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--bare-in-driver", action="store_true", help="Also time bare faster-whisper in this process (niceness 0)."
    )
    parser.add_argument("--breakdown", action="store_true", help="Also time the pipeline with its extra analyses off.")
    parser.add_argument("--denoise-wer", action="store_true")
    parser.add_argument(
        "--whole-process", action="store_true", help="Time the CLI and a bare script as fresh processes."
    )
    parser.add_argument("--real", action="store_true", help="With --whole-process: the real ARCTIC voices, looped.")
    parser.add_argument("--side", choices=("both", "bare", "genmedia"), default="both", help="With --whole-process.")
    parser.add_argument("--record", type=Path, help="With --whole-process: append each time to this JSON-lines file.")
    parser.add_argument("--tree", type=Path, help="With --whole-process: run genmedia from this checkout.")
    parser.add_argument("--summarize", type=Path, help="Print the medians and ratio of a --record file, then exit.")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    if not (MEDIA / "speech_two_speakers.flac").exists():
        raise SystemExit(f"{MEDIA}/speech_two_speakers.flac is needed and absent")
    if args.whole_process:
        sides = {"both": (BARE, GENMEDIA), "bare": (BARE,), "genmedia": (GENMEDIA,)}[args.side]
        path = make_real_input(args.loops) if args.real else make_input(args.loops)[0]
        whole_process(path, args.repeats, sides, args.record, args.tree.resolve() if args.tree else None)
        return

    from genmedia.config import load_config
    from genmedia.media.probe import probe
    from genmedia.runtime import init_ray
    from genmedia.subtitles.wer import wer

    work = Path(tempfile.mkdtemp(prefix="genmedia-subtitles-bench-"))
    cfg = load_config(
        None,
        storage={"root": str(work / "out"), "cache_dir": str(CACHE / "cache")},
        ray={"num_cpus": os.cpu_count() or 2},
    )
    path, truth = make_input(args.loops)
    duration = probe(path, cfg.limits, require_video=False).duration
    started = time.perf_counter()
    init_ray(cfg)
    print(
        f"input: {path.name}, {duration:.1f} s; Ray start-up {time.perf_counter() - started:.1f} s (not counted); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    sides = {"bare faster-whisper": bare, "genmedia pipeline": pipeline}
    if args.bare_in_driver:
        sides["bare, in the driver"] = bare_here
    if args.breakdown:
        sides["pipeline, extras off"] = lambda c, p: pipeline(c, p, **LEAN)
    warm = make_input(1)[0]
    print(
        "warm-up on 32 s (not counted): " + ", ".join(f"{name} {fn(cfg, warm)[0]:.1f} s" for name, fn in sides.items())
    )
    runs: dict[str, list[float]] = {name: [] for name in sides}
    texts: dict[str, str] = {}
    for _ in range(args.repeats):  # alternate so machine load hits all alike
        for name, fn in sides.items():
            elapsed, texts[name] = fn(cfg, path)
            runs[name].append(elapsed)
    b, p = (statistics.median(runs[k]) for k in ("bare faster-whisper", "genmedia pipeline"))
    for name, times in runs.items():
        t = statistics.median(times)
        each = ", ".join(f"{x:.1f}" for x in times)
        print(
            f"{name:20s} {t:7.1f} s  RTF {t / duration:.3f}  ({duration / t:.1f}x real time)  WER {wer(truth, texts[name]):.1%}  "
            f"(runs: {each})"
        )
    print(
        f"pipeline overhead over bare faster-whisper: {(p - b) / b:+.1%} (target <= +10%) on {os.cpu_count()} CPU cores, "
        f"Whisper base int8; load average {os.getloadavg()[0]:.1f} at the end"
    )
    if args.denoise_wer:
        denoise_wer(cfg)


if __name__ == "__main__":
    main()
