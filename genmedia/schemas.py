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
    error: str | None = None
    elapsed_s: float = 0.0

    def summary_line(self) -> str:
        """One line for a terminal: status, what was made, and where."""
        if self.status is JobStatus.failed:
            return f"{self.job} failed: {self.error}"
        head = f"{self.job} {self.status.value}"
        body = f": {self.summary}" if self.summary else ""
        return f"{head}{body} -> {self.output_uri}"
