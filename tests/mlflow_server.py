"""A real MLflow tracking/registry server for tests: ``mlflow server`` on loopback, SQLite backend store, local
artifact root, stopped (its whole process group) afterwards.

The server comes from the ``mlflow`` package: the one in this environment when importable, else the copy
``make mlflow-server`` installs beside it in ``{venv}/mlflow-server`` (see requirements-mlflow-server.txt).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

START_TIMEOUT_S = 240.0
"""Bound on start-up: imports and the store's schema migrations take ~40 s on a loaded 2-core machine."""

SERVER_PATH = Path(sys.prefix) / "mlflow-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment() -> dict[str, str]:
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", NO_PROXY="127.0.0.1,localhost")
    env.pop("MLFLOW_TRACKING_URI", None)
    if importlib.util.find_spec("mlflow") is None:
        if not (SERVER_PATH / "mlflow").is_dir():
            raise RuntimeError(f"no MLflow server: run `make mlflow-server` (installs it into {SERVER_PATH})")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVER_PATH), env.get("PYTHONPATH")) if p)
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def mlflow_server(root: Path) -> Iterator[tuple[str, Path]]:
    """Run ``mlflow server`` with its store and artifacts under ``root``; yield (URI, artifact root)."""
    port, artifacts = _free_port(), root / "artifacts"
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(artifacts),
        "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=_environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}; see {root / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not ready after {START_TIMEOUT_S:.0f} s; see {root / 'server.log'}")
            time.sleep(0.5)
        yield uri, artifacts
    finally:
        _stop(process)
        log.close()
