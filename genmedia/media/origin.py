"""Where a job's input came from, so that a worker on another node can make its own local copy.

A job stages its input on the driver's node (``storage.stage_input``) and hands the local path to Ray
tasks and actors. On a multi-node cluster without shared storage that path does not exist where a task
runs; :func:`local_media_path` then stages the same URI on the task's node (once per node: the staging
cache skips an unchanged object).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict

from genmedia.config import StorageConfig
from genmedia.errors import InputError
from genmedia.storage import is_local, stage_input


class Origin(BaseModel):
    """The URI a job's input was staged from, and the storage settings to stage it again."""

    model_config = ConfigDict(frozen=True)

    uri: str
    storage: StorageConfig


def origin_of(source: str, storage: StorageConfig) -> Origin | None:
    """The :class:`Origin` of a job input given as ``source``; None for a local file (nothing to re-stage)."""
    return None if is_local(source) else Origin(uri=source, storage=storage)


def local_media_path(path: str, origin: Origin | None) -> str:
    """``path`` when this node has it, else the input staged on this node from ``origin``."""
    if os.path.exists(path):
        return path
    if origin is None:
        raise InputError(
            path, "is not on this node (a multi-node cluster needs the input on shared storage or as an s3:// URI)"
        )
    return str(stage_input(origin.uri, origin.storage))
