"""Subtitles noise reduction: WER of bare faster-whisper vs each denoiser and the per-chunk choice, on real speech.

Inputs: CMU ARCTIC a0007 and a0009 (``tests/data/speech``) and the 11 s JFK inaugural excerpt (a
public-domain archive recording, ``whisper.cpp/samples/jfk.wav`` in the ``pywhispercpp==1.5.1`` sdist; give
its path with ``--jfk``, it is sha256-checked: fetching that sdist makes pip build it, and the registry
takes the wheel, which lacks it), each with 0.5 s of room before and after, clean and with white
noise added at 20, 10 and 5 dB SNR (``--draws`` noise draws). Every case is decoded by Whisper base (the
``transcriber`` entry, language en) as recorded and after each denoiser (DeepFilterNet3, the same with a
12 dB attenuation limit, RNNoise); the per-chunk choice is :func:`genmedia.subtitles.denoise.noise_decision`
(as recorded at 30 dB measured SNR or cleaner, else the more confident of the two transcripts). Prints
the mean WER per noise level and method, as docs/subtitles.md's table.

Run: ``.venv/bin/python benchmarks/subtitles_noise.py [--draws 2] [--snr 20 10 5] [--jfk PATH]``
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genmedia.config import load_config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.media.audio import load_audio
from genmedia.subtitles.denoise import DeepFilterNet, RNNoise, noise_decision
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


def _noisy(clean: np.ndarray, snr: float | None, seed: int) -> np.ndarray:
    """``clean`` with 0.5 s of room each side, plus white noise ``snr`` dB below its speech power."""
    pad = np.zeros(SR // 2, dtype=np.float32)
    x = np.concatenate([pad, clean, pad])
    if snr is None:
        return x
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(np.mean(clean**2) / 10 ** (snr / 10))
    return (x + noise).astype(np.float32)


def _jfk(path: Path) -> np.ndarray:
    """The JFK excerpt at ``path``, checked against its sha256."""
    if hashlib.sha256(path.read_bytes()).hexdigest() != JFK_SHA256:
        raise SystemExit(f"{path}: not whisper.cpp's samples/jfk.wav (sha256 differs from {JFK_SHA256})")
    return load_audio(path, SR)


def _text(t: ChunkTranscript) -> str:
    return " ".join(s.text for s in t.segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2, help="Noise draws per recording and SNR.")
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0], help="Added-noise SNRs (dB).")
    parser.add_argument("--jfk", type=Path, help="whisper.cpp's samples/jfk.wav (from the pywhispercpp==1.5.1 sdist).")
    args = parser.parse_args()
    cfg = load_config(None)
    transcriber = Transcriber(cfg, "transcriber")
    limited = cfg.model_copy(deep=True)
    limited.models["speech_denoiser"].options["attenuation_db"] = 12.0
    denoisers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "DeepFilterNet3": DeepFilterNet(cfg),
        "DFN3, 12 dB limit": DeepFilterNet(limited),
        "RNNoise": RNNoise(cfg),
    }
    recordings = {name: load_audio(REPO / "tests/data/speech" / f"{name}.flac", SR) for name in TRUTH if name != "jfk"}
    if args.jfk is not None:
        recordings["jfk"] = _jfk(args.jfk)

    decoded: dict[bytes, ChunkTranscript] = {}

    def decode(audio: np.ndarray) -> ChunkTranscript:  # each distinct audio decoded once (the choice reuses)
        key = hashlib.sha256(audio.tobytes()).digest()
        if key not in decoded:
            decoded[key] = transcriber.transcribe(audio, request=REQUEST)
        return decoded[key]

    for snr in [None, *args.snr]:
        scores: dict[str, list[float]] = {}
        for name, clean in recordings.items():
            for seed in range(1 if snr is None else args.draws):
                audio = _noisy(clean, snr, seed)
                bare = decode(audio)
                scores.setdefault("bare", []).append(wer(TRUTH[name], _text(bare)))
                for label, denoise in denoisers.items():
                    scores.setdefault(label, []).append(wer(TRUTH[name], _text(decode(denoise(audio)))))
                for label in ("DeepFilterNet3", "RNNoise"):
                    chosen = noise_decision(audio, decode, (label, denoisers[label]))
                    scores.setdefault(f"choice with {label}", []).append(wer(TRUTH[name], _text(chosen)))
        level = "clean" if snr is None else f"{snr:g} dB"
        print(
            f"{level} ({len(scores['bare'])} cases): " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items())
        )


if __name__ == "__main__":
    main()
