"""Subtitles noise reduction: WER of bare faster-whisper vs DeepFilterNet3 and the per-chunk choice, on real speech.

Inputs: CMU ARCTIC a0007 and a0009 (``tests/data/speech``) and the 11 s JFK inaugural excerpt (a
public-domain archive recording, ``whisper.cpp/samples/jfk.wav`` in the ``pywhispercpp==1.5.1`` sdist; give
its path with ``--jfk``, it is sha256-checked: fetching that sdist makes pip build it, and the registry
takes the wheel, which lacks it), each with 0.5 s of room before and after, clean and with noise added at
20, 10 and 5 dB SNR (speech power over noise power; ``--draws`` noise draws, seeds 0, 1, ...). Noise kinds
(``--noise``): ``white``, ``pink`` (1/f power) and ``brown`` (1/f^2) Gaussian noise, and ``babble``: six
talkers made from the *other* real recordings (random start in each, looped, gains 0.6-1). Every case is
decoded by Whisper base (the ``transcriber`` entry, language en) as recorded, after DeepFilterNet3, and after
DeepFilterNet3 with a quarter of the recording mixed back; the columns ``choice before`` (the more confident of
recording and DeepFilterNet3 by duration-weighted segment ``avg_logprob``, the rule until this change) and
``pipeline`` (:func:`genmedia.subtitles.denoise.noise_decision`, what ``--denoise`` runs) choose among those
decodes. Prints the load and the mean WER per noise kind, level and method, as docs/subtitles.md's table.

Run: ``.venv/bin/python benchmarks/subtitles_noise.py [--draws 3] [--snr 20 10 5] [--noise white pink brown
babble] [--jfk PATH]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from genmedia.config import load_config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.media.audio import load_audio
from genmedia.subtitles.denoise import DENOISE_BELOW_SNR_DB, KEEP_ORIGINAL, DeepFilterNet, noise_decision, snr_db
from genmedia.subtitles.wer import wer

SR = 16000
REPO = Path(__file__).resolve().parent.parent
JFK_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
TRUTH = {
    "arctic_a0007": "And you always want to see it in the superlative degree.",
    "arctic_a0009": "He turned sharply, and faced Gregson across the table.",
    "jfk": "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
}
REQUEST = TranscribeRequest(language="en")
BABBLE_TALKERS = 6


def _colored(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of Gaussian noise: white, pink (power 1/f) or brown (1/f^2), shaped in the frequency domain."""
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    freq = np.fft.rfftfreq(n, 1 / SR)
    freq[0] = freq[1]
    gain = {"pink": 1 / np.sqrt(freq), "brown": 1 / freq}[kind]
    return np.fft.irfft(np.fft.rfft(white) * gain, n)


def _babble(n: int, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of babble: ``BABBLE_TALKERS`` talkers taken in turn from ``others`` (real recordings), each
    looped from a random start with a random gain in [0.6, 1]."""
    out = np.zeros(n)
    for i in range(BABBLE_TALKERS):
        source = others[i % len(others)]
        loop = np.tile(source, n // source.size + 2)
        start = rng.integers(0, source.size)
        out += loop[start : start + n] * rng.uniform(0.6, 1.0)
    return out


def _noisy(recordings: dict[str, np.ndarray], name: str, kind: str | None, snr: float, seed: int) -> np.ndarray:
    """Recording ``name`` with 0.5 s of room each side, plus noise of ``kind`` ``snr`` dB below its speech power."""
    clean = recordings[name]
    pad = np.zeros(SR // 2, dtype=np.float32)
    x = np.concatenate([pad, clean, pad])
    if kind is None:
        return x
    rng = np.random.default_rng(seed)
    if kind == "babble":
        noise = _babble(x.size, [a for k, a in recordings.items() if k != name], rng)
    else:
        noise = _colored(x.size, kind, rng)
    noise = noise / np.sqrt(np.mean(noise**2)) * np.sqrt(np.mean(clean**2) / 10 ** (snr / 10))
    return (x + noise).astype(np.float32)


def _jfk(path: Path) -> np.ndarray:
    """The JFK excerpt at ``path``, checked against its sha256."""
    if hashlib.sha256(path.read_bytes()).hexdigest() != JFK_SHA256:
        raise SystemExit(f"{path}: not whisper.cpp's samples/jfk.wav (sha256 differs from {JFK_SHA256})")
    return load_audio(path, SR)


def _text(t: ChunkTranscript) -> str:
    return " ".join(s.text for s in t.segments)


def _segment_confidence(t: ChunkTranscript) -> float:
    """The rule before this change: segments' ``avg_logprob`` weighted by their duration (-inf without any)."""
    weights = [max(s.end - s.start, 1e-3) for s in t.segments]
    return float(np.average([s.avg_logprob for s in t.segments], weights=weights)) if weights else float("-inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3, help="Noise draws per recording, kind and SNR.")
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0], help="Added-noise SNRs (dB).")
    parser.add_argument("--noise", nargs="+", default=["white", "pink", "brown", "babble"], help="Noise kinds.")
    parser.add_argument("--jfk", type=Path, help="whisper.cpp's samples/jfk.wav (from the pywhispercpp==1.5.1 sdist).")
    args = parser.parse_args()
    unknown = set(args.noise) - {"white", "pink", "brown", "babble"}
    if unknown:
        raise SystemExit(f"--noise: unknown kind(s) {sorted(unknown)}; use white, pink, brown or babble")
    cfg = load_config(None)
    transcriber = Transcriber(cfg, "transcriber")
    dfn = DeepFilterNet(cfg)
    recordings = {name: load_audio(REPO / "tests/data/speech" / f"{name}.flac", SR) for name in TRUTH if name != "jfk"}
    if args.jfk is not None:
        recordings["jfk"] = _jfk(args.jfk)
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)

    decoded: dict[bytes, ChunkTranscript] = {}

    def decode(audio: np.ndarray) -> ChunkTranscript:  # each distinct audio decoded once (the choices reuse)
        key = hashlib.sha256(audio.tobytes()).digest()
        if key not in decoded:
            decoded[key] = transcriber.transcribe(audio, request=REQUEST)
        return decoded[key]

    levels = [(None, 0.0)] + [(kind, snr) for kind in args.noise for snr in args.snr]
    for kind, snr in levels:
        scores: dict[str, list[float]] = {}
        measured: list[float] = []
        for name in recordings:
            for seed in range(1 if kind is None else args.draws):
                audio = _noisy(recordings, name, kind, snr, seed)
                measured.append(snr_db(audio))
                denoised = dfn(audio)
                mixed = ((1 - KEEP_ORIGINAL) * denoised + KEEP_ORIGINAL * audio).astype(np.float32)
                bare, alone = decode(audio), decode(denoised)
                judged_noisy = measured[-1] < DENOISE_BELOW_SNR_DB
                before = alone if judged_noisy and _segment_confidence(alone) > _segment_confidence(bare) else bare
                ours = noise_decision(audio, decode, ("deepfilternet3", dfn))
                for label, t in (
                    ("bare", bare),
                    ("DFN3", alone),
                    (f"DFN3 + {KEEP_ORIGINAL:g} original", decode(mixed)),
                    ("choice before", before),
                    ("pipeline", ours),
                ):
                    scores.setdefault(label, []).append(wer(TRUTH[name], _text(t)))
        level = "clean" if kind is None else f"{kind} {snr:g} dB"
        print(
            f"{level} ({len(measured)} cases, measured SNR {min(measured):.1f}-{max(measured):.1f} dB): "
            + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items()),
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
