"""Motion-compensated frame interpolation: optical flow, then warping and blending at full size.

One class for both runtimes (docs/architecture.md). The flow comes from ``models.interpolator.backend``:

* ``optical-flow`` (the default, no weights): OpenCV's DIS optical flow on a gray copy at most
  ``options.flow_width`` pixels wide (default 320), scaled up to the frame size;
* ``raft``: torchvision's RAFT (``options.variant`` ``small`` or ``large``) with weights from the model
  registry (one ``.pth``/``.safetensors`` state dict in the model directory);
* ``rife``: RIFE v3.9 (:mod:`genmedia.deployments.rife`, weights ``flownet.pkl`` from the model registry)
  makes the in-between frames itself, all times of a pair in one batch (``options.scale`` sets the flow
  resolution, 0.5 for 4K; ``options.refine`` adds its U-Net pass; ``options.dtype`` float16 on a GPU).

With a flow backend the in-between frame is synthesised by :func:`genmedia.enhance.interpolate.synthesise`.
Every backend shares one guard, computed with DIS flow on small gray pictures: a pair whose flow does not explain it (the warped pair still differs by more than
:data:`MIN_WARP_ERROR` and by more than half their plain difference) falls back to repeating the nearer frame, as does a pair of identical frames; a pair across a shot change is never
blended (the window plan holds the last frame of the shot instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from genmedia.config import Config
from genmedia.enhance.interpolate import DUPLICATE_DIFF, PairFlow, Step, pair_flow, plan_window, synthesise, warp_error
from genmedia.enhance.pixels import small_gray, to_unit
from genmedia.enhance.window import pack, rows
from genmedia.errors import ConfigError

if TYPE_CHECKING:
    from genmedia.deployments.rife import Rife

FLOW_BACKENDS = ("optical-flow", "classical")
WEIGHT_SUFFIXES = (".pth", ".safetensors")
RIFE_SUFFIXES = (".pkl", ".pth")
MIN_RAFT_SIZE = 128
"""RAFT's correlation pyramid needs pictures at least this tall and wide."""
MIN_WARP_ERROR = 6.0
"""Mean absolute error (8-bit) of the flow-warped pair under which the flow is always trusted..."""
MAX_WARP_RATIO = 0.5
"""...and above it, the largest share of the pair's plain difference the flow may leave unexplained."""


class DisFlow:
    """OpenCV DIS optical flow on small gray pictures."""

    name = "optical-flow (OpenCV DIS)"

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
        """Flow from gray ``g0`` to gray ``g1`` (H x W x 2, pixels of the small picture)."""
        return self._dis.calc(g0, g1, None)


class RaftFlow:
    """torchvision RAFT with staged weights."""

    def __init__(self, weights: Path, variant: str = "small", iterations: int = 12):
        import torch
        from torchvision.models.optical_flow import raft_large, raft_small

        if variant not in ("small", "large"):
            raise ConfigError(f"interpolator option variant must be 'small' or 'large', got {variant!r}")
        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = raft_small() if variant == "small" else raft_large()
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self.model = model.eval().to(self.device)
        self.iterations = iterations
        self.name = f"raft ({variant})"

    def __call__(self, g0: np.ndarray, g1: np.ndarray) -> np.ndarray:
        """Flow from ``g0`` to ``g1`` (gray or RGB uint8), edge-padded to what RAFT needs (multiples of 8, >= 128)."""
        torch = self._torch
        h, w = g0.shape[:2]
        ph, pw = max(-h % 8, MIN_RAFT_SIZE - h), max(-w % 8, MIN_RAFT_SIZE - w)

        def tensor(img: np.ndarray) -> Any:
            rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
            return torch.from_numpy(to_unit(rgb) * 2 - 1).permute(2, 0, 1)[None].to(self.device)

        with torch.inference_mode():
            flow = self.model(tensor(g0), tensor(g1), num_flow_updates=self.iterations)[-1]
        return flow[0].permute(1, 2, 0).cpu().numpy()[:h, :w].astype(np.float32)


def _weights(directory: Path, suffixes: tuple[str, ...] = WEIGHT_SUFFIXES) -> Path:
    from genmedia.deployments.upscaler import weights_file

    return weights_file(directory, suffixes)


class Interpolator:
    """Frame interpolation for Ray Data (``__call__`` on window rows) and Serve (:meth:`interpolate`)."""

    def __init__(self, cfg: Config, key: str = "interpolator"):
        """Set up the configured flow backend once (in the actor, never on the driver)."""
        entry = cfg.models.get(key)
        self.backend = entry.backend if entry else FLOW_BACKENDS[0]
        options = dict(entry.options) if entry else {}
        self.flow_width = int(options.get("flow_width", 320))
        self.rife: Rife | None = None
        if self.backend in FLOW_BACKENDS:
            self.flow: DisFlow | RaftFlow = DisFlow()
        elif self.backend == "raft":
            from genmedia.models.registry import resolve

            self.flow = RaftFlow(_weights(resolve(cfg, key)), str(options.get("variant", "small")))
        elif self.backend == "rife":
            from genmedia.deployments.rife import Rife
            from genmedia.models.registry import resolve

            self.flow = DisFlow()  # the shared still / flow-fallback guard
            self.rife = Rife(
                _weights(resolve(cfg, key), RIFE_SUFFIXES),
                scale=float(options.get("scale", 1.0)),
                refine=bool(options.get("refine", False)),
                dtype=str(options.get("dtype", "float16")),
            )
        else:
            raise ConfigError(
                f"models.{key}.backend: unknown interpolator backend {self.backend!r}; use optical-flow, raft or rife"
            )
        self.name = self.rife.name if self.rife else self.flow.name

    def pair(self, f0: np.ndarray, f1: np.ndarray) -> PairFlow | str:
        """The pair's flow, or why it is not blended: ``still`` (identical frames) or ``flow-fallback``."""
        g0, g1 = small_gray(f0, self.flow_width), small_gray(f1, self.flow_width)
        plain = float(np.abs(g0.astype(np.int16) - g1).mean())
        if plain < DUPLICATE_DIFF:
            return "still"  # identical frames: blending changes nothing
        flow01, flow10 = self.flow(g0, g1), self.flow(g1, g0)
        residual = warp_error(g0, g1, flow01)
        if residual > MIN_WARP_ERROR and residual > MAX_WARP_RATIO * plain:
            return "flow-fallback"  # the flow does not explain the pair: repeat rather than smear
        return pair_flow(flow01, flow10)

    def between(self, f0: np.ndarray, f1: np.ndarray, alphas: list[float]) -> tuple[list[np.ndarray], str]:
        """Frames at each ``alpha`` in (0, 1) between ``f0`` and ``f1``, and how they were made: ``blend``,
        or ``still`` / ``flow-fallback`` when the nearer frame is repeated instead."""
        flows = self.pair(f0, f1)
        if isinstance(flows, str):
            return [f0 if a < 0.5 else f1 for a in alphas], flows
        if self.rife is not None:
            return list(self.rife(f0, f1, alphas)), "blend"
        return [synthesise(f0, f1, flows, a) for a in alphas], "blend"

    def interpolate(self, f0: np.ndarray, f1: np.ndarray, alphas: list[float]) -> np.ndarray:
        """Frames at each ``alpha`` in (0, 1) between ``f0`` and ``f1`` (the nearer frame when the flow fails)."""
        return np.stack([f.copy() for f in self.between(f0, f1, alphas)[0]])

    def render(self, frames: np.ndarray, steps: list[Step]) -> tuple[np.ndarray, dict[str, int]]:
        """Output frames for ``steps`` over a window's ``frames``; also counts of each kind of step.

        The blends of one pair are made together (one flow estimate, one network batch).
        """
        out: list[np.ndarray | None] = [None] * len(steps)
        counts = {"copy": 0, "blend": 0, "cut-hold": 0, "still": 0, "flow-fallback": 0}
        pairs: dict[tuple[int, int], list[int]] = {}
        for i, step in enumerate(steps):
            if step.kind == "blend":
                pairs.setdefault((step.src, step.dst), []).append(i)
            else:
                out[i] = frames[step.src]
                counts[step.kind] += 1
        for (src, dst), indices in pairs.items():
            made, kind = self.between(frames[src], frames[dst], [steps[i].alpha for i in indices])
            for i, frame in zip(indices, made, strict=True):
                out[i] = frame
            counts[kind] += len(indices)
        return (np.stack(out) if out else frames[:0]), counts

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: turn each window row's frames into its output frames at ``fps_out``.

        Reads per-frame ``time``, ``shot``, ``stutter`` and scalars ``core_start``, ``core_end``,
        ``end_time``, ``t0``, ``fps_out``; writes ``frames`` (the output frames), their ``out_index``,
        ``out_time`` and ``shot``, and the step counts.
        """
        out = []
        for row in rows(batch):
            steps = plan_window(
                row["time"],
                row["shot"],
                row["stutter"],
                (int(row["core_start"]), int(row["core_end"])),
                float(row["end_time"]),
                float(row["t0"]),
                float(row["fps_out"]),
            )
            frames, counts = self.render(row["frames"], steps)
            row.update(
                frames=frames,
                out_index=np.array([s.out_index for s in steps], dtype=np.int64),
                out_time=np.array([s.time for s in steps], dtype=np.float64),
                shot=np.array([row["shot"][s.src] for s in steps], dtype=np.int32),
                **{f"n_{k.replace('-', '_')}": v for k, v in counts.items()},
            )
            out.append(row)
        return pack(out)
