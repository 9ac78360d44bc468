"""An s3:// input the user's set-up cannot read (no credentials, no such bucket) is a one-line input error naming the
settings to provide: exit 2 from the CLI, a failed job's one-line error from the API (tests/test_serve_hardening.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genmedia.config import StorageConfig
from genmedia.errors import InputError
from genmedia.storage import stage_input


def _no_credentials_env(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_no_credentials_is_exit_2_naming_the_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "genmedia.yaml"
    cfg.write_text(
        f"storage:\n  cache_dir: {tmp_path / 'cache'}\n  root: {tmp_path / 'out'}\n  s3_endpoint_url: http://127.0.0.1:9\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "analyze", "s3://media/x.mp4", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_no_credentials_env(tmp_path),
        check=False,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "s3://media/x.mp4: no usable S3 credentials" in lines[0] and "AWS_ACCESS_KEY_ID" in lines[0], lines
    assert "storage.s3_endpoint_url" in lines[0] and "internal error" not in lines[0]


def test_missing_bucket_names_the_bucket(s3_server: str, tmp_path: Path) -> None:
    storage = StorageConfig(s3_endpoint_url=s3_server, cache_dir=str(tmp_path))
    with pytest.raises(
        InputError, match=r"s3://no-such-bucket/x.mp4: bucket 'no-such-bucket' does not exist; check the URI"
    ):
        stage_input("s3://no-such-bucket/x.mp4", storage)


def test_missing_object_in_a_bucket_still_says_does_not_exist(s3_server: str, s3_bucket: str, tmp_path: Path) -> None:
    storage = StorageConfig(s3_endpoint_url=s3_server, cache_dir=str(tmp_path))
    with pytest.raises(InputError, match=rf"s3://{s3_bucket}/x.mp4: does not exist$"):
        stage_input(f"s3://{s3_bucket}/x.mp4", storage)
