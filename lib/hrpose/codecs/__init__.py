"""Heatmap codecs: target encoding, decoding (standard / DARK / UDP) and flip-back.

``build_codec(cfg)`` and ``build_target_renderer(cfg, codec, keypoint_set)`` are the only functions here
that read the config; they run once per process (trainer, evaluation, tools) and their results are
passed to the dataset, the training step and evaluation. Codecs take explicit sizes. Sizes are
``(w, h)``; heatmaps are ``[K, h, w]`` (one person) or ``[N, K, h, w]``.
"""

from typing import Protocol, runtime_checkable

import numpy as np

from hrpose.codecs.flip import flip_heatmaps_back
from hrpose.codecs.msra import MSRAHeatmap
from hrpose.codecs.msra_torch import MSRATargetRenderer
from hrpose.codecs.udp import UDPHeatmap

__all__ = ["HeatmapCodec", "MSRAHeatmap", "MSRATargetRenderer", "UDPHeatmap", "build_codec",
           "build_target_renderer", "flip_heatmaps_back"]

CODECS = {"msra": MSRAHeatmap, "udp": UDPHeatmap}



@runtime_checkable
class HeatmapCodec(Protocol):
    """What every codec offers (see docs/architecture.md, ``hrpose.codecs``)."""

    input_size: tuple[int, int]  # network input (w, h), crop pixels
    heatmap_size: tuple[int, int]  # network output (w, h)
    sigma: float  # target Gaussian sigma, heatmap pixels
    udp: bool  # True: UDP affine/targets/decoding; False: the reference's

    def image_affine(self, center, scale, rotation: float, flip_width: int | None = None) -> np.ndarray:
        """Image -> crop matrix [2, 3] at ``input_size``."""

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crop keypoints [K, 2] + visibility [K] -> (heatmaps float32 [K, h, w], weights float32 [K])."""

    def decode(self, heatmaps: np.ndarray, method: str = "standard", post_process: bool = True):
        """[N, K, h, w] -> (coords float64 [N, K, 2] heatmap px, scores float32 [N, K])."""

    def heatmap_to_image(self, coords: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Heatmap px [N, K, 2] -> image px [N, K, 2]."""


def build_codec(cfg) -> HeatmapCodec:
    """Codec from ``MODEL.CODEC`` ('msra' | 'udp'), ``MODEL.IMAGE_SIZE``, ``MODEL.HEATMAP_SIZE`` and
    ``MODEL.SIGMA``; raises ``ValueError`` naming the key for an unknown codec or a bad size."""
    name = str(cfg.MODEL.CODEC).lower()
    if name not in CODECS:
        raise ValueError(f"MODEL.CODEC must be one of {sorted(CODECS)}, got {cfg.MODEL.CODEC!r}")
    return CODECS[name](cfg.MODEL.IMAGE_SIZE, cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA)


def build_target_renderer(cfg, codec: HeatmapCodec, keypoint_set) -> MSRATargetRenderer | None:
    """The renderer of ``codec``'s training targets on the device (``TRAIN.TARGETS_ON_DEVICE``), with
    ``keypoint_set``'s joint weights per ``LOSS.USE_DIFFERENT_JOINTS_WEIGHT``; None when the data
    workers encode the targets. Raises ``ValueError`` naming the keys when the codec is not MSRA (the
    only codec with a device renderer)."""
    if not cfg.TRAIN.TARGETS_ON_DEVICE:
        return None
    if not isinstance(codec, MSRAHeatmap):
        raise ValueError(f"TRAIN.TARGETS_ON_DEVICE supports MODEL.CODEC msra only, got {cfg.MODEL.CODEC!r}: "
                         "set TRAIN.TARGETS_ON_DEVICE False (the data workers then encode the targets)")
    joint_weights = keypoint_set.joint_weights if cfg.LOSS.USE_DIFFERENT_JOINTS_WEIGHT else None
    return MSRATargetRenderer(codec.heatmap_size, codec.sigma, joint_weights)
