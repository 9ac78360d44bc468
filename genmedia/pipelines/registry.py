"""The job registry: job name -> the job module's ``JOB``, ``Params`` and ``run``, imported lazily.

The HTTP API, the SDK and the backfill dispatch through :func:`get_job`, so a job becomes available
everywhere as soon as its module ``genmedia.pipelines.<name>`` exists in the build.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from genmedia.errors import GenmediaError, InputError, ParamsError
from genmedia.schemas import JobResult

JOB_NAMES: tuple[str, ...] = ("analyze", "thumbnails", "trailer", "subtitles", "enhance", "package")
"""Every job genmedia knows, in the order the docs list them."""


class JobUnavailable(GenmediaError):
    """A known job whose module is not part of this build."""

    exit_code = 2


@dataclass(frozen=True)
class JobSpec:
    """One job: its name, its parameter model and its runner."""

    name: str
    params: type[BaseModel]
    run: Callable[..., JobResult]

    def parse_params(self, values: dict[str, Any] | None) -> BaseModel:
        """Validate ``values`` with the job's Params; ParamsError (an InputError) listing each bad field."""
        try:
            return self.params.model_validate(values or {})
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'params'}: {err['msg']}" for err in e.errors())
            raise ParamsError(f"{self.name} params", problems) from None


def get_job(name: str) -> JobSpec:
    """The job ``name``; InputError for an unknown name, JobUnavailable when its module is not in this build."""
    if name not in JOB_NAMES:
        raise InputError(name, f"unknown job; known jobs: {', '.join(JOB_NAMES)}")
    module_name = f"genmedia.pipelines.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise JobUnavailable(f"job {name!r} is not available in this build") from None
    return JobSpec(name=module.JOB, params=module.Params, run=module.run)


def available_jobs() -> list[str]:
    """The jobs whose modules are part of this build."""
    names = []
    for name in JOB_NAMES:
        try:
            get_job(name)
        except JobUnavailable:
            continue
        names.append(name)
    return names
