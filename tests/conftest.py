"""Shared pytest fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# No model hub in tests: libraries that would download must fail instead.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")

# --------------------------------------------------------------------------------------- S3 (moto)

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_AWS_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3-compatible server (moto) on a free loopback port, with fake credentials; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name, value in _FAKE_AWS_ENV.items():
            mp.setenv(name, value)
        for name in _AWS_ENV_CLEARED:
            mp.delenv(name, raising=False)
        # Empty config files: nothing from the developer's ~/.aws leaks into the tests.
        empty = tmp_path_factory.mktemp("aws") / "empty"
        empty.write_text("")
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")  # never route loopback through a proxy
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, empty bucket on the ``s3_server``; returns its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


# ------------------------------------------------------------------------------------ SQL databases


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server (pgserver's bundled binaries) listening on a Unix socket only, for the whole
    session; yields the URL of its maintenance database. Stopped and removed at the end."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("pg-runtime")))  # pgserver's lock files; CI has none
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for a store test: a SQLite file, or a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    from sqlalchemy import create_engine, text

    admin_url = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return admin_url.replace("/postgres?", f"/{name}?", 1)


# --------------------------------------------------------------------------------------- sample media

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from genmedia.media.synthetic import SampleTruth


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleTruth]:
    """A 10 s, 320x180, 24 fps sample clip with known cuts, fade, dissolve, pan, flash, face, beats and
    speech (``genmedia.media.synthetic.make_sample_clip``), made once per session; returns (path, truth).

    The truth is also written beside the clip as ``sample.truth.json``.
    """
    from genmedia.media.synthetic import make_sample_clip

    path = tmp_path_factory.mktemp("sample_media") / "sample.mp4"
    truth = make_sample_clip(path, width=320, height=180, fps=24, seconds=10.0, seed=0)
    return path, truth


@pytest.fixture(scope="session")
def messy_media(tmp_path_factory: pytest.TempPathFactory, sample_clip: tuple[Path, SampleTruth]) -> dict[str, object]:
    """Every messy variant (VFR, rotated, anamorphic, odd size, MKV without frame count, 10-bit HEVC,
    audio-only, truncated and corrupted copies of ``sample_clip``), made once; returns {name: facts}."""
    from genmedia.media.synthetic import make_messy_set

    return make_messy_set(tmp_path_factory.mktemp("messy_media"), sample_clip[0])


# --------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="session")
def ray_session(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 (-> Config)
    """One small local Ray for the whole test run (2 CPUs, no dashboard); yields a Config whose
    storage root and cache live in a temp dir. Tests needing another cluster shape use a subprocess."""
    import ray

    from genmedia.config import load_config
    from genmedia.runtime import init_ray

    base = tmp_path_factory.mktemp("ray-session")
    cfg = load_config(None, storage={"root": str(base / "out"), "cache_dir": str(base / "cache")}, ray={"num_cpus": 2})
    init_ray(cfg)
    try:
        yield cfg
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------------------- subtitles

TEST_MEDIA = Path(__file__).resolve().parent / "data"
"""``tests/data``: speech with a known transcript and speakers (see its README.md)."""


@pytest.fixture(scope="session")
def two_speaker_sample() -> tuple[Path, list[tuple[str, float, float, str]]]:
    """The two-speaker recording and its truth: (speaker, start s, end s, text) per turn."""
    path = TEST_MEDIA / "speech_two_speakers.flac"
    rows = []
    for line in (TEST_MEDIA / "speech_two_speakers.tsv").read_text(encoding="utf-8").strip().splitlines():
        speaker, start, end, text = line.split("\t")
        rows.append((speaker, float(start), float(end), text))
    return path, rows


@pytest.fixture(scope="session")
def two_speaker_subtitles(ray_session, two_speaker_sample):  # noqa: ANN001, ANN201 (Config, ...) -> JobResult
    """The subtitles job run once per session on the two-speaker sample (real Whisper base)."""
    from genmedia.pipelines import subtitles

    return subtitles.run(ray_session, str(two_speaker_sample[0]), subtitles.Params())
