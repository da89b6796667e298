"""Heatmap losses: the reference's joints MSE with target weights, and online hard keypoint mining.

Both follow the reference (``lib/core/loss.py``) numerically. Its per-joint loop computes
``0.5 * MSE(pred_j * w_j, gt_j * w_j)`` averaged over joints, so a joint's weight enters **squared**:

    loss = 0.5 * mean_{n,k,y,x}( w[n,k]^2 * (pred - gt)^2 )

Here it is vectorised (and works at batch 1, where the reference relied on broadcasting after a
``.squeeze()``). ``LOSS.USE_DIFFERENT_JOINTS_WEIGHT`` is applied by the dataset, which multiplies the
per-joint weights of the keypoint set into ``target_weight``; the loss only sees the product.
"""

from torch import Tensor, nn
from yacs.config import CfgNode


def _squared_error(pred: Tensor, target: Tensor, target_weight: Tensor | None) -> Tensor:
    """``0.5 * w^2 * (pred - target)^2`` in float32, shape ``[N, K, H, W]``.

    pred, target: ``[N, K, H, W]``; target_weight: ``[N, K, 1]`` or ``[N, K]`` (None = all ones).
    """
    err = (pred.float() - target.float()) ** 2
    if target_weight is not None:
        weight = target_weight.float().reshape(err.shape[0], err.shape[1], 1, 1)
        err = err * weight**2
    return 0.5 * err


def joints_mse_loss(pred: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
    """The reference JointsMSELoss: ``0.5 * mean(w^2 (pred - target)^2)``, a float32 scalar."""
    return _squared_error(pred, target, target_weight).mean()


def joints_ohkm_loss(pred: Tensor, target: Tensor, target_weight: Tensor | None = None,
                     topk: int = 8) -> Tensor:
    """Online hard keypoint mining (the reference's JointsOHKMMSELoss), a float32 scalar.

    Per sample, the per-joint losses ``mean_{y,x} 0.5 w^2 (pred - target)^2`` (``[N, K]``); the ``topk``
    largest per sample are summed and divided by ``topk``; the result is averaged over the batch.
    """
    num_joints = pred.shape[1]
    if not 0 < topk <= num_joints:
        raise ValueError(f"LOSS.TOPK = {topk}; expected 1 <= TOPK <= number of joints ({num_joints})")
    per_joint = _squared_error(pred, target, target_weight).mean(dim=(2, 3))  # [N, K]
    hardest = per_joint.topk(topk, dim=1).values  # [N, topk]
    return (hardest.sum(dim=1) / topk).mean()


class JointsLoss(nn.Module):
    """``loss(pred [N,K,H,W], target [N,K,H,W], target_weight [N,K,1]) -> scalar``.

    ``use_target_weight=False`` ignores the weights (every joint counts with weight 1), as the
    reference's ``USE_TARGET_WEIGHT: false``. ``ohkm_topk`` > 0 switches to OHKM over that many joints.
    """

    def __init__(self, use_target_weight: bool = True, ohkm_topk: int = 0):
        super().__init__()
        self.use_target_weight = use_target_weight
        self.ohkm_topk = ohkm_topk

    def forward(self, pred: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        weight = target_weight if self.use_target_weight else None
        if self.ohkm_topk > 0:
            return joints_ohkm_loss(pred, target, weight, self.ohkm_topk)
        return joints_mse_loss(pred, target, weight)

    def extra_repr(self) -> str:
        return f"use_target_weight={self.use_target_weight}, ohkm_topk={self.ohkm_topk}"


def build_loss(cfg: CfgNode) -> JointsLoss:
    """The training loss from ``LOSS.USE_TARGET_WEIGHT``, ``LOSS.USE_OHKM`` and ``LOSS.TOPK``."""
    topk = int(cfg.LOSS.TOPK) if cfg.LOSS.USE_OHKM else 0
    if cfg.LOSS.USE_OHKM and not 0 < topk <= cfg.MODEL.NUM_JOINTS:
        raise ValueError(f"LOSS.TOPK = {topk}; expected 1 <= TOPK <= MODEL.NUM_JOINTS "
                         f"({cfg.MODEL.NUM_JOINTS})")
    return JointsLoss(use_target_weight=bool(cfg.LOSS.USE_TARGET_WEIGHT), ohkm_topk=topk)


__all__ = ["JointsLoss", "build_loss", "joints_mse_loss", "joints_ohkm_loss"]
