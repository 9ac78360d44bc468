"""Crops enlarged more than pipelines.thumbnails.max_enlargement: the smaller-output arithmetic, the SR model
path (a tiny randomly initialised spandrel Compact x2, staged from a local folder), the one-line refusals, and
the thumbnails job recording what it did in thumbnails.json."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serve_fixtures import make_tiny_clip
from spandrel.architectures.Compact import Compact

from genmedia.config import Config, ModelConfig, load_config
from genmedia.errors import ConfigError, ModelUnavailable
from genmedia.models import registry
from genmedia.pipelines import thumbnails as job
from genmedia.storage import sha256_file
from genmedia.thumbnails.aspects import parse_aspect
from genmedia.thumbnails.enlarge import RESAMPLE_BACKEND, Enlarger, check_model, enlargement, smaller_size

KEY = "tiny_sr"


def _tiny_sr_config(base: Config, tmp_path: Path, mode: str = "model") -> Config:
    """``base`` with a staged random Compact x2 as models.tiny_sr and ``enlarge: mode`` using it."""
    torch.manual_seed(3)
    src = tmp_path / "tiny-sr"
    src.mkdir(exist_ok=True)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    torch.save(model.state_dict(), src / "tiny_compact_x2.pth")
    entry = ModelConfig(
        backend="spandrel",
        model="tiny-compact-x2",
        source=str(src),
        files={p.name: sha256_file(p) for p in src.iterdir()},
        options={"tile": 0},
    )
    thumbs = base.pipelines.thumbnails.model_copy(update={"enlarge": mode, "enlarge_model": KEY})
    cfg = base.model_copy(
        update={
            "models": {**base.models, KEY: entry},
            "pipelines": base.pipelines.model_copy(update={"thumbnails": thumbs}),
        }
    )
    registry.pull(cfg, KEY)
    return cfg


@pytest.mark.unit
@pytest.mark.parametrize(
    ("aspect", "crop", "size", "expected"),
    [
        ("16:9", (320, 180), (1280, 720), (480, 270)),
        ("9:16", (270, 480), (720, 1280), (396, 704)),  # 9 x 44, 16 x 44: 45 would make 405 (odd)
        ("1:1", (480, 480), (1280, 1280), (720, 720)),
        ("4:5", (384, 480), (1024, 1280), (576, 720)),
        ("16:9", (180, 101), (320, 180), (256, 144)),
    ],
)
def test_the_smaller_output_is_the_largest_exact_even_size_within_the_limit(
    aspect: str, crop: tuple[int, int], size: tuple[int, int], expected: tuple[int, int]
) -> None:
    a = parse_aspect(aspect)
    out = smaller_size(a, *crop, size, 1.5)
    assert out == expected
    assert Fraction(*out) == Fraction(a.w, a.h) and out[0] % 2 == 0 == out[1] % 2
    assert enlargement(*crop, out) <= 1.5 < enlargement(*crop, (out[0] + 2 * a.w, out[1] + 2 * a.h))


@pytest.mark.unit
def test_smaller_sizes_hold_for_many_crops_and_fine_ratios() -> None:
    rng = np.random.default_rng(0)
    for label in ("16:9", "9:16", "1:1", "4:5", "3:2", "21:9", "7:5"):
        a = parse_aspect(label)
        for _ in range(200):
            long_side = int(rng.integers(64, 4096))
            size = a.output_size(long_side)
            part = max(1, round(size[0] / rng.uniform(1.51, 6))), max(1, round(size[1] / rng.uniform(1.51, 6)))
            w, h = smaller_size(a, *part, size, 1.5)
            assert w % 2 == 0 == h % 2 and w <= size[0] and h <= size[1]
            step = 1 if a.w % 2 == 0 == a.h % 2 else 2
            top = min(1.5 * part[0], size[0]), min(1.5 * part[1], size[1])
            if top[0] >= step * a.w and top[1] >= step * a.h:  # an even multiple fits: exact ratio, limit kept
                assert Fraction(w, h) == Fraction(a.w, a.h) and enlargement(*part, (w, h)) <= 1.5
    # A ratio too fine for an exact even multiple under the limit: the nearest even size of the ratio.
    assert smaller_size(parse_aspect("999:1000"), 40, 40, (998, 1000), 1.5) == (60, 60)


@pytest.mark.unit
def test_the_plan_records_why_an_output_is_smaller_and_leaves_small_enlargements_alone() -> None:
    enlarger = Enlarger(load_config(None))
    assert enlarger.mode == "smaller" and enlarger.model is None
    a = parse_aspect("9:16")
    assert enlarger.plan(a, 540, 960, (720, 1280)) == ((720, 1280), {})  # 1.33x: resampled at the asked size
    # An SD frame's 16:9 crop (853x480) to 1280x720 is 1.5006x: rounding, not an enlargement past the limit.
    assert enlarger.plan(parse_aspect("16:9"), 853, 480, (1280, 720)) == ((1280, 720), {})
    size, record = enlarger.plan(a, 270, 480, (720, 1280))
    assert size == (396, 704) and record["requested"] == [720, 1280] and record["factor"] == 2.667
    assert record["mode"] == "smaller" and "max_enlargement (1.5x); written at 396x704 (1.47x)" in record["reason"]
    part = np.random.default_rng(1).integers(0, 256, (480, 270, 3), dtype=np.uint8)
    assert enlarger.resize(part, size).shape == (704, 396, 3)
    resample = Enlarger(load_config(None, pipelines={"thumbnails": {"enlarge": "resample"}}))
    assert resample.plan(a, 270, 480, (720, 1280)) == (
        (720, 1280),
        {"factor": 2.667, "mode": "resample", "backend": RESAMPLE_BACKEND},
    )


@pytest.mark.unit
def test_the_model_enlarges_past_the_limit_to_the_exact_size(tmp_path: Path) -> None:
    cfg = _tiny_sr_config(Config(storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "c")}), tmp_path)
    enlarger = Enlarger(cfg)
    assert enlarger.backend == "spandrel (RealESRGAN Compact x2)"
    a = parse_aspect("16:9")
    size, record = enlarger.plan(a, 96, 54, (320, 180))
    assert size == (320, 180) and record == {"factor": 3.333, "mode": "model", "backend": enlarger.backend}
    part = np.random.default_rng(2).integers(0, 256, (54, 96, 3), dtype=np.uint8)
    by_model = enlarger.resize(part, size)  # two x2 passes (192 then 384 wide), then down to 320x180
    assert by_model.shape == (180, 320, 3) and by_model.dtype == np.uint8
    # The random network's output is not Lanczos's: the model, not the resampler, made it.
    assert np.abs(by_model.astype(int) - Enlarger(load_config(None)).resize(part, size).astype(int)).mean() > 5
    # Within the limit the model is not run: plain resampling.
    small = np.ascontiguousarray(part[:40, :72])
    assert np.array_equal(enlarger.resize(small, (96, 54)), Enlarger(load_config(None)).resize(small, (96, 54)))


@pytest.mark.unit
def test_an_unconfigured_or_unstaged_model_fails_in_one_line(tmp_path: Path) -> None:
    base = Config(storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "c")})
    cfg = load_config(None, pipelines={"thumbnails": {"enlarge": "model", "enlarge_model": "sr_missing"}})
    with pytest.raises(ConfigError, match=r"needs models\.sr_missing .*genmedia models pull sr_missing") as e:
        check_model(cfg)
    assert "\n" not in str(e.value)
    staged = _tiny_sr_config(base, tmp_path)
    moved = staged.model_copy(update={"storage": staged.storage.model_copy(update={"cache_dir": str(tmp_path / "x")})})
    (tmp_path / "tiny-sr" / "tiny_compact_x2.pth").unlink()  # the source is gone too: nothing to stage from
    with pytest.raises(ModelUnavailable, match=f"genmedia models pull {KEY}") as e:
        Enlarger(moved)
    assert "\n" not in str(e.value)
    check_model(load_config(None))  # the default (smaller) needs no model


@pytest.mark.ray
@pytest.mark.slow
def test_the_job_records_smaller_outputs_and_the_model_backend(ray_session: Config, tmp_path: Path) -> None:
    """Slow (two thumbnails jobs on an 8 s 160x90 clip, about 30 s): by default an over-enlarged aspect is
    written smaller and says why; with enlarge: model the tiny SR model makes it at the asked size."""
    clip = str(make_tiny_clip(tmp_path / "enlarge.mp4", seed=23))
    params = job.Params(variants=1, aspects=["16:9", "1:1"], size=288, formats=["webp"])
    result = job.run(ray_session, clip, params)
    [variant] = json.loads(Path(result.output_uri, "thumbnails.json").read_text())["variants"]
    for label, a in variant["aspects"].items():
        crop_w, crop_h = (round(v) for v in a["crop"][2:])
        assert a["enlarge"]["mode"] == "smaller" and a["size"] == list(
            smaller_size(parse_aspect(label), crop_w, crop_h, tuple(a["enlarge"]["requested"]), 1.5)
        )
        assert a["enlarge"]["requested"] == list(parse_aspect(label).output_size(288))
        assert "max_enlargement (1.5x)" in a["enlarge"]["reason"]
        with Image.open(Path(result.output_uri, a["file"])) as im:
            assert list(im.size) == a["size"]
    assert variant["aspects"]["16:9"]["size"] == [224, 126]  # the 160x90 crop, 1.4x

    cfg = _tiny_sr_config(ray_session, tmp_path)
    modelled = job.run(cfg, clip, params.model_copy(update={"size": 320}))
    assert KEY in [u.key for u in modelled.models]
    [variant] = json.loads(Path(modelled.output_uri, "thumbnails.json").read_text())["variants"]
    for label, a in variant["aspects"].items():
        assert a["enlarge"]["backend"] == "spandrel (RealESRGAN Compact x2)" and a["enlarge"]["factor"] > 1.5
        assert a["size"] == list(parse_aspect(label).output_size(320))
        with Image.open(Path(modelled.output_uri, a["file"])) as im:
            assert list(im.size) == a["size"]
