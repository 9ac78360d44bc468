"""A voiceprint library: speaker names that stay the same across files.

Each entry is a name and, per embedding backend, that voice's print: with ``resemblyzer-ge2e`` the sum and
count of its d-vectors (a new speaker matches the stored voice of highest cosine similarity of mean
directions, when at least :data:`DVECTOR_MATCH`); with ``mfcc`` the statistics (count, sum, sum of outer
products) of its MFCC frames (the lowest delta-BIC, when negative: one Gaussian explains both better than
two). An unmatched speaker is added as ``Speaker N``. Rename an entry (``genmedia voices rename``) and
later files use the new name. The library is one JSON file (format version :data:`VERSION`; version 1
files, MFCC prints only, are read as such), updated under a lock and replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from genmedia.errors import InputError
from genmedia.subtitles.diarization import MFCC, DVector, Gaussian, delta_bic

VERSION = 2
MATCH_FRAMES = 3000
"""Both sides of an MFCC match are weighed as at most 30 s of speech, so a long history does not swamp a new file."""
KEEP_FRAMES = 30000
"""A stored MFCC voice keeps at most 5 minutes' worth of statistics (older evidence is scaled down)."""
KEEP_WINDOWS = 400
"""A stored d-vector voice keeps at most this many windows' weight (about 5 minutes of speech)."""
DVECTOR_MATCH = 0.75
"""Cosine similarity of mean d-vectors from which a speaker is taken to be a stored voice."""

Print = Gaussian | DVector


def _load_print(backend: str, d: dict) -> Print:
    return Gaussian.from_dict(d) if backend == MFCC else DVector.from_dict(d)


def _score(new: Print, stored: Print) -> float | None:
    """Lower is a better match; None when it is no match at all."""
    if isinstance(new, Gaussian) and isinstance(stored, Gaussian):
        score = delta_bic(new.capped(MATCH_FRAMES), stored.capped(MATCH_FRAMES))
        return score if score < 0 else None
    if isinstance(new, DVector) and isinstance(stored, DVector):
        similarity = new.similarity(stored)
        return -similarity if similarity >= DVECTOR_MATCH else None
    return None


def _kept(p: Print) -> Print:
    return p.capped(KEEP_FRAMES) if isinstance(p, Gaussian) else p.capped(KEEP_WINDOWS)


class VoiceLibrary:
    """Named voiceprints in a JSON file."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()

    def _read(self) -> dict[str, dict[str, dict]]:
        """name -> backend -> print (as stored)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise InputError(str(self.path), f"voiceprint library is unreadable ({e})") from None
        if not isinstance(data, dict):
            raise InputError(str(self.path), "voiceprint library is not a JSON object")
        version = data.get("version", 1)
        voices = data.get("voices", {})
        if version == 1:  # MFCC statistics only
            return {name: {MFCC: v} for name, v in voices.items()}
        if version != VERSION:
            raise InputError(
                str(self.path),
                f"voiceprint library version {version} is not supported (this build reads 1 and {VERSION})",
            )
        return voices

    def _write(self, voices: dict[str, dict[str, dict]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": VERSION, "voices": voices}), encoding="utf-8")
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def names(self) -> list[str]:
        """The stored voice names."""
        return list(self._read())

    def name_speakers(self, prints: dict[int, Print], *, backend: str = MFCC, enroll: bool = True) -> dict[int, str]:
        """A name for each speaker of one file: a matching stored voice's, else a new ``Speaker N``.

        ``prints`` come from the ``backend`` embeddings; only stored prints of that backend are compared.
        Two speakers of one file never get the same name. With ``enroll``, new voices are stored and
        matched voices' prints are updated.
        """
        with self._locked():
            voices = self._read()
            stored = {name: _load_print(backend, v[backend]) for name, v in voices.items() if backend in v}
            candidates = sorted(
                (score, spk, name)
                for spk, p in prints.items()
                for name, v in stored.items()
                if (score := _score(p, v)) is not None
            )
            names: dict[int, str] = {}
            for _, spk, name in candidates:
                if spk not in names and name not in names.values():
                    names[spk] = name
            number = len(voices)
            for spk in sorted(prints):
                if spk not in names:
                    number += 1
                    while f"Speaker {number}" in voices or f"Speaker {number}" in names.values():
                        number += 1
                    names[spk] = f"Speaker {number}"
            if enroll:
                for spk, name in names.items():
                    p = prints[spk] if name not in stored else (stored[name] + prints[spk])
                    voices.setdefault(name, {})[backend] = _kept(p).to_dict()
                self._write(voices)
            return names

    def rename(self, old: str, new: str) -> None:
        """Rename a stored voice (InputError if ``old`` is not stored or ``new`` is taken)."""
        with self._locked():
            voices = self._read()
            if old not in voices:
                raise InputError(old, f"no such voice in {self.path} (stored: {', '.join(voices) or 'none'})")
            if new in voices:
                raise InputError(new, f"a voice with this name already exists in {self.path}")
            voices = {(new if k == old else k): v for k, v in voices.items()}
            self._write(voices)
