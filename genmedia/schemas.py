"""Results shared by the CLI, the HTTP API, the SDK and batch jobs."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class JobStatus(str, Enum):
    """Where a job ended: done now, skipped because its manifest already existed, or failed."""

    done = "done"
    skipped = "skipped"
    failed = "failed"


class ModelUse(BaseModel):
    """One model a job used: what the config named, the registered version, and the files loaded."""

    key: str = Field(description="The model's key in the config (transcriber, detector, ...).")
    backend: str
    model: str | None = Field(None, description="Weights name; None for backends without weights.")
    source: str | None = Field(None, description="The configured source (an mlflow:// alias stays as written).")
    mlflow_name: str | None = Field(None, description="Registered model name, for an mlflow:// source.")
    mlflow_version: str | None = Field(None, description="The version the source resolved to when the job started.")
    digest: str | None = Field(None, description="sha256 over the sorted 'path sha256' lines of the staged files.")


class JobResult(BaseModel):
    """The outcome of one job on one input."""

    job: str
    input: str
    status: JobStatus
    video_id: str | None = None
    params_hash: str | None = None
    output_uri: str | None = Field(None, description="The prefix holding the job's files and manifest.json.")
    files: dict[str, str] = Field(default_factory=dict, description="Output name -> URI.")
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    models: list[ModelUse] = Field(default_factory=list, description="The models the job used (its lineage).")
    error: str | None = None
    elapsed_s: float = 0.0

    def summary_line(self) -> str:
        """One line for a terminal: status, what was made, and where."""
        if self.status is JobStatus.failed:
            return f"{self.job} failed: {self.error}"
        head = f"{self.job} {self.status.value}"
        body = f": {self.summary}" if self.summary else ""
        return f"{head}{body} -> {self.output_uri}"
