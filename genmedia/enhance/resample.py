"""Classical upscaling as FFmpeg filters: Lanczos resampling (``scale``) then an unsharp mask on luma.

The same recipe as the weight-free upscaler backend (Lanczos, then an unsharp mask whose radius
grows with the factor, amount :data:`UNSHARP_AMOUNT`), as a libavfilter chain that runs on the
pipeline's planar YUV frames directly, so no RGB conversion is made when no model needs RGB.
"""

from __future__ import annotations

import math

import numpy as np

from genmedia.enhance.filters import Filter, layout_format, run_arrays

UNSHARP_AMOUNT = 0.4
MAX_MASK = 23
"""libavfilter's unsharp accepts mask sizes 3..23 (odd)."""


def upscale_filters(width: int, height: int, factor: float, *, amount: float = UNSHARP_AMOUNT) -> list[Filter]:
    """Lanczos to ``width`` x ``height``, then (when enlarging) an unsharp mask sized for ``factor``.

    The mask covers about two Gaussian sigmas of ``0.5 * factor`` output pixels either side (the
    detail Lanczos smears is about one source pixel wide); chroma is left unsharpened.
    """
    chain: list[Filter] = [("scale", f"w={width}:h={height}:flags=lanczos")]
    if factor > 1 and amount > 0:
        size = min(MAX_MASK, 2 * math.ceil(factor) + 1)
        chain.append(("unsharp", f"lx={size}:ly={size}:la={amount}:cx=3:cy=3:ca=0"))
    return chain


def upscale_frames(frames: np.ndarray, width: int, height: int, *, amount: float = UNSHARP_AMOUNT) -> np.ndarray:
    """Frames (any layout :func:`~genmedia.enhance.filters.layout_format` knows) upscaled to ``width`` x ``height``."""
    fmt = layout_format(frames)
    in_width = frames.shape[-1] if frames.ndim == 3 else frames.shape[-2]
    return run_arrays(frames, fmt, upscale_filters(width, height, width / in_width, amount=amount))
