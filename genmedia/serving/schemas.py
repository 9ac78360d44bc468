"""Request and response bodies of the HTTP API, shared by the ingress and the SDK."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmedia.jobs.queue import parse_priority
from genmedia.jobs.records import NORMAL_PRIORITY, JobRecord
from genmedia.validation import MultiLine, OneLine, check_json_strings


class JobRequest(BaseModel):
    """``POST /v1/jobs``: run ``job`` on ``video`` with ``params``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    video: OneLine = Field(
        min_length=1, max_length=4096, description="An s3:// or https:// URI, or an upload id from POST /v1/uploads."
    )
    job: OneLine = Field(min_length=1, max_length=32, description="thumbnails, trailer, subtitles, enhance or analyze.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        max_length=64,
        description="The job's parameters (validated by the job; no string in them may hold a control character).",
    )
    priority: int = Field(
        NORMAL_PRIORITY,
        description="high, normal (the default), low, or an integer from 0 to 9: higher starts first.",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "enum": ["high", "normal", "low"]},
                {"type": "integer", "minimum": 0, "maximum": 9},
            ]
        },
    )

    @field_validator("params")
    @classmethod
    def _printable(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_json_strings(v, "params")

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> int:
        return parse_priority(v)


class JobAccepted(BaseModel):
    """The answer to a job submission: its id and where to poll it."""

    id: str
    status: str
    url: str
    priority: int = NORMAL_PRIORITY
    duplicate_of: str | None = Field(
        None, description="Set when identical work was queued or running: this is that job."
    )


class JobView(JobRecord):
    """A job as the API shows it: the stored record plus download URLs of its outputs."""

    files: dict[str, str] = Field(
        default_factory=dict, description="Output name -> download URL (path on this server)."
    )
    queue_position: int | None = Field(None, description="While queued: 1 = next to start (priority order, then age).")


class UploadView(BaseModel):
    """A stored upload: pass ``id`` as a job's ``video``."""

    id: str
    name: str
    size: int


class InferRequest(BaseModel):
    """``POST /v1/models/{key}/infer``: one row of the model's batch columns."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    inputs: dict[str, Any] = Field(max_length=64)

    @field_validator("inputs")
    @classmethod
    def _printable(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_json_strings(v, "inputs")


class TranslateRequest(BaseModel):
    """``POST /v1/translate``: text and target language (ISO 639-1 like ``fr`` or FLORES-200 like ``fra_Latn``)."""

    model_config = ConfigDict(extra="forbid")

    text: MultiLine = Field(min_length=1, max_length=5000)
    target: OneLine = Field(min_length=2, max_length=16)
    source: OneLine | None = Field(None, min_length=2, max_length=16)
