"""Request and response bodies of the HTTP API, shared by the ingress and the SDK."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genmedia.jobs.records import JobRecord


class JobRequest(BaseModel):
    """``POST /v1/jobs``: run ``job`` on ``video`` with ``params``."""

    model_config = ConfigDict(extra="forbid")

    video: str = Field(min_length=1, max_length=4096, description="An s3:// or https:// URI, or an upload id from POST /v1/uploads.")
    job: str = Field(min_length=1, max_length=32, description="thumbnails, trailer, subtitles, enhance or analyze.")
    params: dict[str, Any] = Field(default_factory=dict, description="The job's parameters (validated by the job).")


class JobAccepted(BaseModel):
    """The answer to a job submission: its id and where to poll it."""

    id: str
    status: str
    url: str


class JobView(JobRecord):
    """A job as the API shows it: the stored record plus download URLs of its outputs."""

    files: dict[str, str] = Field(default_factory=dict, description="Output name -> download URL (path on this server).")


class UploadView(BaseModel):
    """A stored upload: pass ``id`` as a job's ``video``."""

    id: str
    name: str
    size: int


class InferRequest(BaseModel):
    """``POST /v1/models/{key}/infer``: one row of the model's batch columns."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any]


class TranslateRequest(BaseModel):
    """``POST /v1/translate``: text and target language (ISO 639-1 like ``fr`` or FLORES-200 like ``fra_Latn``)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)
    target: str = Field(min_length=2, max_length=16)
    source: str | None = Field(None, min_length=2, max_length=16)
