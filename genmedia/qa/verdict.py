"""What every check gets (:class:`QaInput`), how checks become a verdict, and local copies of outputs to measure."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmedia.config import Config
from genmedia.media.probe import MediaInfo
from genmedia.schemas import QaCheck, QaVerdict
from genmedia.storage import JobOutput, filesystem, is_local, local_path


@dataclass
class QaInput:
    """One finished job's work before its manifest: the config, the staged input and the outputs written."""

    cfg: Config
    job: str
    source: Path
    """The staged (local) input."""
    info: MediaInfo
    output: JobOutput
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def names(self, *suffixes: str) -> list[str]:
        """The outputs written so far whose names end with one of ``suffixes``, in name order."""
        return sorted(n for n in self.output.files if n.lower().endswith(suffixes))


def verdict_of(checks: Iterable[QaCheck]) -> QaVerdict:
    """``pass`` when every check passed (or there were none), else ``fail``."""
    checks = list(checks)
    return QaVerdict(verdict="pass" if all(c.passed for c in checks) else "fail", checks=checks)


@contextlib.contextmanager
def local_copy(qa: QaInput, name: str) -> Iterator[Path]:
    """A local path to output ``name``: the file itself when outputs are local, else a temporary download."""
    uri = qa.output.uri(name)
    if is_local(uri):
        yield local_path(uri)
        return
    fs, path = filesystem(uri, qa.cfg.storage)
    with tempfile.TemporaryDirectory(prefix="genmedia-qa-") as tmp:
        dest = Path(tmp) / Path(name).name
        fs.get_file(path, str(dest))
        yield dest


__all__ = ["QaInput", "local_copy", "verdict_of"]
