"""TensorBoard on rank 0 only: ``open_writer`` returns a SummaryWriter there and a no-op elsewhere;
``DebugImages`` draws the training debug images (``DEBUG.*``) with ``hrpose.utils.vis``."""

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from yacs.config import CfgNode

from hrpose.utils import vis

logger = logging.getLogger(__name__)


class NullWriter:
    """Accepts the SummaryWriter calls used by hrpose and does nothing (non-zero ranks, tests)."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def add_image(self, *args, **kwargs) -> None:
        pass

    def add_text(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_writer(log_dir: str | os.PathLike, enabled: bool):
    """A ``torch.utils.tensorboard.SummaryWriter`` at ``log_dir`` when ``enabled``, else a ``NullWriter``."""
    if not enabled:
        return NullWriter()
    return SummaryWriter(log_dir=str(log_dir))


def scalar_tag(name: str) -> str:
    """A TensorBoard-friendly tag for a metric name such as 'AP .5' -> 'AP_.5'."""
    return name.strip().replace(" ", "_").replace("(", "").replace(")", "")


@dataclass(frozen=True)
class DebugImages:
    """Training debug images in TensorBoard (the reference wrote JPGs): GT and predicted joints on the
    batch crops, and the GT / predicted heatmaps over the crops, every ``interval`` iterations.

    Joints are the heatmap argmax scaled to crop pixels (``stride`` = input / heatmap size); GT joints
    with target weight 0 are hidden, predictions need a peak above 0.
    """

    interval: int
    batch_gt: bool = True
    batch_pred: bool = True
    heatmaps_gt: bool = True
    heatmaps_pred: bool = True
    rgb: bool = False
    skeleton: tuple = ()
    stride: float = 4.0
    max_crops: int = 16
    max_heatmap_rows: int = 4

    def due(self, global_iter: int) -> bool:
        return self.interval > 0 and global_iter % self.interval == 0

    def write(self, writer, batch: dict, pred_heatmaps: Tensor, step: int) -> None:
        """Add the enabled images; ``pred_heatmaps`` [N,K,h,w] is the model output for ``batch``."""
        crops = [vis.tensor_to_image(im, self.rgb) for im in batch["image"][: self.max_crops]]
        gt = batch["heatmaps"][: len(crops)].float()
        pred = pred_heatmaps[: len(crops)].detach().float().cpu()
        gt_weights = batch["target_weight"][: len(crops)].reshape(len(crops), -1)
        gt_joints = heatmap_peaks(gt, self.stride, gt_weights)
        pred_joints = heatmap_peaks(pred, self.stride)
        if self.batch_gt:
            self._add(writer, "debug/batch_gt", self._joints_grid(crops, gt_joints), step)
        if self.batch_pred:
            self._add(writer, "debug/batch_pred", self._joints_grid(crops, pred_joints), step)
        rows = slice(0, self.max_heatmap_rows)
        if self.heatmaps_gt:
            self._add(writer, "debug/heatmaps_gt", self._heatmap_rows(crops[rows], gt[rows]), step)
        if self.heatmaps_pred:
            self._add(writer, "debug/heatmaps_pred", self._heatmap_rows(crops[rows], pred[rows]), step)

    def _joints_grid(self, crops: list[np.ndarray], joints: np.ndarray) -> np.ndarray:
        drawn = [vis.draw_keypoints(c, j, self.skeleton, kpt_thr=0.5, radius=2, thickness=1)
                 for c, j in zip(crops, joints, strict=True)]
        return vis.batch_grid(drawn)

    @staticmethod
    def _heatmap_rows(crops: list[np.ndarray], heatmaps: Tensor) -> np.ndarray:
        return np.concatenate([vis.heatmap_grid(c, h) for c, h in zip(crops, heatmaps, strict=True)], axis=0)

    @staticmethod
    def _add(writer, tag: str, bgr: np.ndarray, step: int) -> None:
        writer.add_image(tag, np.ascontiguousarray(bgr[..., ::-1]), step, dataformats="HWC")


def heatmap_peaks(heatmaps: Tensor, stride: float, weights: Tensor | None = None) -> np.ndarray:
    """Argmax of each heatmap [N,K,h,w] in crop pixels, ``[N, K, 3]`` (x, y, shown 0/1).

    A joint is shown when its peak is > 0 and (if given) its weight ``[N, K]`` is > 0.
    """
    n, k, _, w = heatmaps.shape
    peak, index = heatmaps.reshape(n, k, -1).max(dim=2)
    xy = torch.stack([index % w, index // w], dim=2).float() * stride
    shown = peak > 0
    if weights is not None:
        shown &= weights.float() > 0
    return torch.cat([xy, shown.float()[..., None]], dim=2).numpy()


def build_debug_images(cfg: CfgNode, skeleton) -> DebugImages | None:
    """``DebugImages`` from ``DEBUG.*`` (None unless ``DEBUG.DEBUG``); ``skeleton``: the keypoint set's
    limbs (index pairs) drawn on the images."""
    if not cfg.DEBUG.DEBUG:
        return None
    flags = (cfg.DEBUG.SAVE_BATCH_IMAGES_GT, cfg.DEBUG.SAVE_BATCH_IMAGES_PRED, cfg.DEBUG.SAVE_HEATMAPS_GT,
             cfg.DEBUG.SAVE_HEATMAPS_PRED)
    if not any(flags):
        logger.warning("DEBUG.DEBUG is on but every DEBUG.SAVE_* key is off: no debug images")
        return None
    return DebugImages(int(cfg.DEBUG.INTERVAL), *(bool(f) for f in flags), rgb=bool(cfg.DATASET.COLOR_RGB),
                       skeleton=tuple(skeleton),
                       stride=cfg.MODEL.IMAGE_SIZE[0] / cfg.MODEL.HEATMAP_SIZE[0])
