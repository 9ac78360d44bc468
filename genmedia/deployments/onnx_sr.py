"""Super-resolution models exported to ONNX and run with onnxruntime on the CPU (fp32, or int8 for edge nodes).

A spandrel model (a checkpoint or a converted ncnn file) is exported once with ``torch.onnx`` (height and
width dynamic) into ``{cache_dir}/onnx/``, named by the weights' sha256. For ``int8`` the fp32 graph is
quantized statically (QDQ, per-channel int8 weights, uint8 activations) with onnxruntime's quantizer,
calibrated on the first frames the model is given. The accuracy cost is measured, not assumed:
``benchmarks/onnx_sr.py`` compares torch fp32, ONNX fp32 and ONNX int8 on real footage.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from genmedia.deployments.upscaler import load_descriptor
from genmedia.enhance.pixels import from_unit, to_unit
from genmedia.errors import ModelUnavailable
from genmedia.storage import sha256_file

OPSET = 17


def export_onnx(weights: Path, onnx_path: Path) -> int:
    """Export the spandrel model in ``weights`` to ``onnx_path`` (written whole or not at all); return its scale."""
    import torch

    descriptor = load_descriptor(weights, torch.device("cpu"))
    descriptor.eval()
    sample = torch.rand(1, 3, 64, 64)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, prefix=f".{onnx_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.inference_mode():
            torch.onnx.export(
                descriptor.model,
                (sample,),
                tmp,
                input_names=["x"],
                output_names=["y"],
                opset_version=OPSET,
                dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "oh", 3: "ow"}},
                dynamo=False,
            )
        os.replace(tmp, onnx_path)
    except Exception as e:
        raise ModelUnavailable(
            f"{weights}: cannot export {descriptor.architecture.name} to ONNX ({type(e).__name__}: {e})"
        ) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return int(descriptor.scale)


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on N x 3 x H x W float32 ``calibration``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class _Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter([{"x": calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    fd, tmp = tempfile.mkstemp(dir=int8_path.parent, prefix=f".{int8_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        quantize_static(
            str(fp32_path),
            tmp,
            _Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
        )
        os.replace(tmp, int8_path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class OnnxSRModel:
    """A super-resolution model in onnxruntime: ``__call__`` upscales N x H x W x 3 integer frames by :attr:`scale`."""

    def __init__(self, weights: Path, cache_dir: Path, *, int8: bool = False, threads: int = 0) -> None:
        self.weights, self.int8, self.threads = weights, int8, threads
        self.fp32_path = cache_dir / "onnx" / f"{sha256_file(weights)[:16]}.onnx"
        self.path = self.fp32_path.with_name(self.fp32_path.stem + "-int8.onnx") if int8 else self.fp32_path
        self.scale = export_onnx(weights, self.fp32_path) if not self.fp32_path.exists() else self._scale_of_export()
        self.architecture = f"onnx {'int8' if int8 else 'fp32'}"
        self._session: Any = None

    def _scale_of_export(self) -> int:
        import onnxruntime as ort

        session = ort.InferenceSession(str(self.fp32_path), providers=["CPUExecutionProvider"])
        y = session.run(None, {"x": np.zeros((1, 3, 16, 16), np.float32)})[0]
        return int(y.shape[2] // 16)

    def _open(self, calibration: np.ndarray) -> None:
        import onnxruntime as ort

        if self.int8 and not self.path.exists():
            quantize_int8(self.fp32_path, self.path, calibration)
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Upscale N x H x W x 3 integer frames (the first call's frames calibrate an int8 model)."""
        x = np.ascontiguousarray(to_unit(frames).transpose(0, 3, 1, 2), dtype=np.float32)
        if self._session is None:
            self._open(x)
        y = np.concatenate([self._session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
        return from_unit(np.clip(y, 0, 1).transpose(0, 2, 3, 1), frames.dtype)


__all__ = ["OnnxSRModel", "export_onnx", "quantize_int8"]
