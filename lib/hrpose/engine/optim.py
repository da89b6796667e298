"""Optimizer, LR schedule and warm-up.

- ``build_optimizer``: adam | adamw | sgd. Adam's weight decay is ``TRAIN.ADAM_WD`` (default 0: the
  reference built Adam without weight decay and silently ignored ``TRAIN.WD``); adamw and sgd use
  ``TRAIN.WD``. With ``TRAIN.FUSED_OPTIMIZER`` (the default) the fused kernels are used on CUDA and on
  the CPU: one kernel per step, and a device-side ``found_inf`` skips a step without a host sync.
- ``build_scheduler``: ``MultiStepLR(LR_STEP, LR_FACTOR)``, stepped once **after** each epoch's optimizer
  steps. The LR of 0-based epoch ``e`` is ``LR * LR_FACTOR ** #{m in LR_STEP : m <= e}``, so for
  ``LR_STEP [170, 200]`` the drops take effect at epochs 170 and 200 exactly (the reference stepped the
  scheduler before each epoch and dropped at 169 and 199).
- ``warmup_factor`` / ``scaled_lr``: optional linear warm-up over the first ``TRAIN.WARMUP_ITERS``
  iterations. It scales the scheduled LR for one optimizer step and restores it afterwards, so the
  scheduler's state never sees it (and a resumed run recomputes it from the global iteration).
"""

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from yacs.config import CfgNode

logger = logging.getLogger(__name__)

# Device types with fused Adam / AdamW / SGD kernels in torch >= 2.4 (one kernel per step; they accept
# the device-side ``found_inf`` that lets the training step skip a non-finite update without a sync).
FUSED_DEVICES = ("cuda", "cpu")


def _param_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError("build_optimizer: the model has no parameters") from None


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over the trainable parameters of ``model`` (already on its device)."""
    params = [p for p in model.parameters() if p.requires_grad]
    name, lr = cfg.TRAIN.OPTIMIZER, float(cfg.TRAIN.LR)
    fused = cfg.TRAIN.FUSED_OPTIMIZER and _param_device(model).type in FUSED_DEVICES
    kernels = {"fused": True} if fused else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=float(cfg.TRAIN.ADAM_WD), **kernels)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=float(cfg.TRAIN.WD), **kernels)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(cfg.TRAIN.MOMENTUM),
                               weight_decay=float(cfg.TRAIN.WD), nesterov=bool(cfg.TRAIN.NESTEROV), **kernels)
    raise ValueError(f"TRAIN.OPTIMIZER = {name!r}; expected one of ['adam', 'adamw', 'sgd']")


def build_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.MultiStepLR:
    """``MultiStepLR(TRAIN.LR_STEP, TRAIN.LR_FACTOR)``; call ``.step()`` after each epoch."""
    milestones = [int(m) for m in cfg.TRAIN.LR_STEP]
    if milestones != sorted(milestones):
        raise ValueError(f"TRAIN.LR_STEP = {list(cfg.TRAIN.LR_STEP)}; expected increasing epochs")
    gamma = float(cfg.TRAIN.LR_FACTOR)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)


def advance_scheduler(scheduler: torch.optim.lr_scheduler.LRScheduler, epochs: int) -> None:
    """Step a fresh scheduler ``epochs`` times (a run that starts at ``TRAIN.BEGIN_EPOCH`` > 0)."""
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(epochs):
            scheduler.step()


def warmup_factor(global_iter: int, warmup_iters: int) -> float:
    """Linear warm-up: ``(global_iter + 1) / warmup_iters`` for the first ``warmup_iters`` steps, then 1."""
    if warmup_iters <= 0 or global_iter >= warmup_iters:
        return 1.0
    return (global_iter + 1) / warmup_iters


@contextlib.contextmanager
def scaled_lr(optimizer: torch.optim.Optimizer, factor: float) -> Iterator[None]:
    """Multiply every group's LR by ``factor`` inside the block and restore the scheduled LRs after."""
    if factor == 1.0:
        yield
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, scheduled, strict=True):
        group["lr"] = lr * factor
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled, strict=True):
            group["lr"] = lr
