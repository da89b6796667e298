"""Heatmap heads on the HRNet branches (``MODEL.EXTRA.HEAD``).

* ``v1`` (HRNetV1, the reference): a 1x1 (or 3x3) conv ``final_layer`` on the highest-resolution branch
  only; the network's last module fuses into that branch alone.
* ``v2`` (HRNetV2, Wang et al., TPAMI 2020): the last module keeps all branches; branches 1..n-1 are
  upsampled bilinearly (``align_corners=False``) to branch 0's size, the n maps are concatenated
  (``sum(C_b)`` channels: 480 for W32, 270 for W18), mixed by a 1x1 conv + BN + ReLU (``conv_layers``),
  and ``final_layer`` maps them to K heatmaps. This is the head of the official HRNetV2-W18 landmark
  model, and its names are mmpose's ``HeatmapHead`` with one conv layer (``conv_layers.{0,1}``,
  ``final_layer``), so mmpose 1.x HRNetV2 checkpoints map by dropping the ``head.`` prefix.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import BN_MOMENTUM

HEADS = ("v1", "v2")


def final_conv(in_channels: int, num_joints: int, kernel: int) -> nn.Conv2d:
    """The heatmap regressor: ``kernel`` x ``kernel`` conv (1 or 3, 'same' padding) with a bias."""
    if kernel not in (1, 3):
        raise ValueError(f"final_conv_kernel must be 1 or 3, got {kernel}")
    return nn.Conv2d(in_channels, num_joints, kernel_size=kernel, stride=1, padding=kernel // 2)


def mixing_layers(channels: int) -> nn.Sequential:
    """HRNetV2's 1x1 conv (with bias) + BN + ReLU over the concatenated branches (``conv_layers.{0,1}``)."""
    return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=1),
                         nn.BatchNorm2d(channels, momentum=BN_MOMENTUM), nn.ReLU(inplace=True))


def upsample_concat(features: Sequence[Tensor]) -> Tensor:
    """``[N, C_b, H / 2**b, W / 2**b]`` for b = 0..n-1 -> ``[N, sum(C_b), H, W]``.

    Branch b is scaled by exactly 2**b (the input size is a multiple of the network's divisor), so the
    scale factor equals the size ratio, as with mmpose's and the landmark model's size-based resize.
    """
    maps = [features[0]]
    maps += [F.interpolate(f, scale_factor=float(2 ** b), mode="bilinear", align_corners=False)
             for b, f in enumerate(features[1:], start=1)]
    return torch.cat(maps, dim=1)
