"""Scratch space of a running job: ``{cache_dir}/scratch/{video_id}/{job}/{params_hash}/{owner}/``.

Temporary work (a trailer's partial renditions) lives here, never in the system temp dir. Each run owns one
folder named after its host, process id and process start time; the folder is removed when the run ends,
and a run that was killed (SIGKILL, OOM, a lost node) leaves a folder whose owner is gone, which the next
:func:`scratch_dir` (of any job) removes before it starts.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil

from genmedia.config import StorageConfig

_DEPTH = 4
"""Levels below the scratch root: video id, job, params hash, owner."""


def scratch_root(storage: StorageConfig) -> Path:
    """The folder every job's scratch space lives under."""
    return storage.cache_path / "scratch"


def _owner_name() -> str:
    me = psutil.Process()
    return f"{socket.gethostname()}_{me.pid}_{int(me.create_time() * 1000)}_{uuid.uuid4().hex[:8]}"


def _owner_gone(name: str) -> bool:
    """Whether the process named in an owner folder name ran on this host and no longer exists."""
    parts = name.rsplit("_", 3)
    if len(parts) != 4:
        return False
    host, pid_text, started_text, _ = parts
    if host != socket.gethostname() or not pid_text.isdigit() or not started_text.isdigit():
        return False  # another host's run (shared cache): only that host can tell
    try:
        return int(psutil.Process(int(pid_text)).create_time() * 1000) != int(started_text)  # the pid was reused
    except psutil.NoSuchProcess:
        return True


def sweep(storage: StorageConfig) -> list[Path]:
    """Remove the scratch folders of runs on this host whose process is gone; returns what was removed."""
    root = scratch_root(storage)
    removed = []
    for folder in root.glob("/".join("*" * _DEPTH)) if root.is_dir() else []:
        if folder.is_dir() and _owner_gone(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for parent in sorted({p for f in removed for p in f.parents if root in p.parents}, key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty
    return removed


@contextlib.contextmanager
def scratch_dir(storage: StorageConfig, video_id: str, job: str, params_hash: str) -> Iterator[Path]:
    """A fresh scratch folder for this run of ``job`` on ``video_id`` with ``params_hash``, removed afterwards.

    Leftovers of killed runs (of any job) are swept first.
    """
    sweep(storage)
    folder = scratch_root(storage) / video_id / job / params_hash / _owner_name()
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for parent in (folder.parent, folder.parent.parent, folder.parent.parent.parent):
            with contextlib.suppress(OSError):
                parent.rmdir()
