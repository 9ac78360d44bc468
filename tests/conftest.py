"""Shared pytest fixtures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

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
