"""The one config: defaults, the shipped files, validation messages, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from genmedia.config import Config, load_config
from genmedia.errors import ConfigError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_local_config_is_the_embedded_default() -> None:
    assert load_config(ROOT / "configs/genmedia.yaml") == Config()


def test_embedded_default_is_local_cpu_with_real_whisper_base() -> None:
    cfg = load_config(None)
    assert cfg.ray.address == "local"
    assert cfg.gpu_types() == set()
    whisper = cfg.model("transcriber")
    assert whisper.backend == "faster-whisper" and whisper.source.startswith("pypi:")
    assert whisper.files["model.bin"].startswith("905e5bf8")


def test_production_config_names_fractional_gpus_per_type() -> None:
    cfg = load_config(ROOT / "configs/aws-gpu.yaml")
    assert cfg.storage.root.startswith("s3://")
    assert cfg.model("transcriber").resources["T4"].num_gpus == 0.5
    assert cfg.model("transcriber").resources["L4"].num_gpus == 0.25
    assert {"L4", "A10G", "T4", "A40"} <= cfg.gpu_types()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("limits:\n  max_pixels: -5\n", "limits.max_pixels: Input should be greater than 0 (got -5)"),
        ("limits:\n  max_pixel: 5\n", "limits.max_pixel: unknown field"),
        ("ray:\n  num_cpus: many\n", "ray.num_cpus: Input should be a valid integer"),
        (
            "models:\n  x:\n    backend: b\n    resources: {T4: {num_gpus: 1.5}}\n",
            "models.x.resources.T4.num_gpus: Value error, above 1, num_gpus must be a whole number",
        ),
        ("models:\n  x:\n    model: m\n", "models.x.backend: Field required"),
        ("models:\n  x:\n    backend: b\n    model: m\n", "names weights but no source"),
        ("models:\n  x:\n    backend: b\n    replicas: {min: 3, max: 1}\n", "min (3) must not exceed max (1)"),
        ("- a list\n", "expected a mapping of sections"),
        ("storage: [unclosed\n", "not valid YAML at line"),
    ],
)
def test_invalid_config_names_file_field_and_expectation(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(str(path) + ":")
    assert expected in str(e.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_environment_overrides_storage_root_and_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENMEDIA_STORAGE_ROOT", "s3://bucket/prefix")
    monkeypatch.setenv("GENMEDIA_RAY_ADDRESS", "ray://head:10001")
    cfg = load_config(ROOT / "configs/genmedia.yaml")
    assert cfg.storage.root == "s3://bucket/prefix"
    assert cfg.ray.address == "ray://head:10001"


def test_unknown_model_lists_configured_ones() -> None:
    with pytest.raises(ConfigError, match=r"no model 'nope' in the config; configured: (\w+, )*transcriber"):
        Config().model("nope")


def test_a_model_entry_with_another_backend_is_refused_by_name() -> None:
    cfg = Config()
    assert cfg.model("transcriber", "faster-whisper").backend == "faster-whisper"
    with pytest.raises(
        ConfigError,
        match=r"models.transcriber.backend: 'faster-whisper' is not an image-generator backend \(sdxl-turbo\)",
    ):
        cfg.model("transcriber", "sdxl-turbo", "an image-generator")
