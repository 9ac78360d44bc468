"""Results shared by the CLI, the HTTP API, the SDK and batch jobs."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

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


class QaCheck(BaseModel):
    """One quality check of a job's outputs: what was checked, on which output, and why it passed or failed."""

    name: str = Field(description="The check: not_black, sharp, faces_whole, cue_rules, duration, av_sync, ...")
    passed: bool
    output: str | None = Field(None, description="The output file it looked at (None: the job's outputs as a whole).")
    value: float | None = Field(None, description="The measured value, when the check measures one.")
    reason: str = Field("", description="What was measured against which bound (one line).")


class QaVerdict(BaseModel):
    """The QA gate's verdict on one job's outputs: ``pass`` when every check passed, else ``fail``."""

    verdict: Literal["pass", "fail"]
    checks: list[QaCheck] = Field(default_factory=list)
    review: str | None = Field(None, description="The review queue entry a failed verdict made (its id).")

    @property
    def failures(self) -> list[QaCheck]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def reasons(self) -> str:
        """The failed checks in one line (empty when the verdict is pass)."""
        return "; ".join(f"{c.name}{f' ({c.output})' if c.output else ''}: {c.reason}" for c in self.failures)


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
    qa: QaVerdict | None = Field(None, description="The QA gate's verdict on the outputs (genmedia.qa).")
    published: bool = Field(
        True, description="Whether the outputs are published: their QA passed, or a reviewer approved them."
    )

    def summary_line(self) -> str:
        """One line for a terminal: status, what was made, and where."""
        if self.status is JobStatus.failed:
            return f"{self.job} failed: {self.error}"
        head = f"{self.job} {self.status.value}"
        body = f": {self.summary}" if self.summary else ""
        return f"{head}{body} -> {self.output_uri}"
