"""A voiceprint library: speaker names that stay the same across files.

Each entry is a name and the statistics (count, sum, sum of outer products) of that voice's MFCC
frames. A speaker found in a new file takes the name of the library voice it matches (the lowest
delta-BIC, when negative: one Gaussian explains both better than two); an unmatched speaker is added
as ``Speaker N``. Rename an entry (``genmedia voices rename``) and later files use the new name.
The library is one JSON file, updated under a lock and replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from genmedia.errors import InputError
from genmedia.subtitles.diarization import Gaussian, delta_bic

MATCH_FRAMES = 3000
"""Both sides of a match are weighed as at most 30 s of speech, so a long history does not swamp a new file."""
KEEP_FRAMES = 30000
"""A stored voice keeps at most 5 minutes' worth of statistics (older evidence is scaled down)."""


class VoiceLibrary:
    """Named voiceprints in a JSON file."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise InputError(str(self.path), f"voiceprint library is unreadable ({e})") from None
        return data.get("voices", {}) if isinstance(data, dict) else {}

    def _write(self, voices: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"voices": voices}), encoding="utf-8")
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

    def name_speakers(self, prints: dict[int, Gaussian], *, enroll: bool = True) -> dict[int, str]:
        """A name for each speaker of one file: a matching stored voice's, else a new ``Speaker N``.

        Two speakers of one file never get the same name. With ``enroll``, new voices are stored and
        matched voices' statistics are updated.
        """
        with self._locked():
            voices = self._read()
            stored = {name: Gaussian.from_dict(v) for name, v in voices.items()}
            candidates = sorted(
                (delta_bic(g.capped(MATCH_FRAMES), v.capped(MATCH_FRAMES)), spk, name)
                for spk, g in prints.items()
                for name, v in stored.items()
            )
            names: dict[int, str] = {}
            for score, spk, name in candidates:
                if score < 0 and spk not in names and name not in names.values():
                    names[spk] = name
            number = len(stored)
            for spk in sorted(prints):
                if spk not in names:
                    number += 1
                    while f"Speaker {number}" in stored or f"Speaker {number}" in names.values():
                        number += 1
                    names[spk] = f"Speaker {number}"
            if enroll:
                for spk, name in names.items():
                    g = prints[spk] if name not in stored else (stored[name] + prints[spk])
                    voices[name] = g.capped(KEEP_FRAMES).to_dict()
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
