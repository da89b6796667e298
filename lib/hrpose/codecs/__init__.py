"""Heatmap codecs: target encoding, decoding (standard / DARK / UDP) and flip-back.

``build_codec(cfg)`` is the only function here that reads the config; codecs take explicit sizes.
Sizes are ``(w, h)``; heatmaps are ``[K, h, w]`` (one person) or ``[N, K, h, w]``.
"""

from typing import Protocol, runtime_checkable

import numpy as np

from hrpose.codecs.msra import MSRAHeatmap
from hrpose.codecs.udp import UDPHeatmap

__all__ = ["HeatmapCodec", "MSRAHeatmap", "UDPHeatmap", "build_codec", "flip_heatmaps_back"]

CODECS = {"msra": MSRAHeatmap, "udp": UDPHeatmap}


def __getattr__(name: str):
    # flip-back works on torch tensors; importing it lazily keeps encode/decode usable with numpy alone
    # (an ONNX deployment needs onnxruntime, numpy and OpenCV, not torch)
    if name == "flip_heatmaps_back":
        from hrpose.codecs.flip import flip_heatmaps_back

        return flip_heatmaps_back
    raise AttributeError(f"module 'hrpose.codecs' has no attribute {name!r}")


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
