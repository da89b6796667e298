"""One training epoch: ``train_one_epoch`` reads top to bottom in commented paragraphs.

Batches are the dataset's dicts: ``image`` uint8 ``[N,3,H,W]``, ``heatmaps`` float32 ``[N,K,h,w]``,
``target_weight`` float32 ``[N,K,1]``, ``meta``; with a ``target_renderer`` (``TRAIN.TARGETS_ON_DEVICE``)
``keypoints`` float32 ``[N,K,2]`` heatmap px instead of ``heatmaps``, rendered on the device. The model
maps normalised images to heatmaps ``[N,K,h,w]``; ``loss_fn(heatmaps, targets, target_weight)`` returns
a scalar. ``TrainStep`` bundles what a step uses (model, loss, optimizer, ``TrainOptions``, scaler,
target renderer).
"""

import datetime
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hrpose.engine.amp import autocast
from hrpose.engine.optim import scaled_lr, warmup_factor
from hrpose.engine.options import TrainOptions
from hrpose.models import normalize_images
from hrpose.utils.dist import get_world_size, reduce_mean
from hrpose.utils.meters import SmoothedValue
from hrpose.utils.tensorboard import NullWriter

logger = logging.getLogger(__name__)


@dataclass
class TrainStep:
    """What one optimisation step uses.

    ``model`` may be wrapped (DDP, torch.compile); ``scaler`` is a GradScaler for fp16 (else None);
    ``target_renderer`` renders the targets on the device from the batch's ``keypoints``
    (``hrpose.codecs.build_target_renderer``; None when the batches carry ``heatmaps``).
    """

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    options: TrainOptions
    scaler: torch.amp.GradScaler | None = None
    target_renderer: Callable | None = None


def train_one_epoch(step: TrainStep, loader, device: torch.device, epoch: int, writer=None,
                    debug_images=None) -> dict[str, float]:
    """Train ``step.model`` for one pass over ``loader``; returns the epoch's averages.

    Raises ``FloatingPointError`` naming the epoch and iteration when the loss is not finite (before
    the optimizer step, so the weights and the last checkpoint stay good), or, with fp16, after
    ``options.max_nonfinite_steps`` consecutive steps the GradScaler skipped. ``writer``: TensorBoard
    (or None); ``debug_images``: ``hrpose.utils.tensorboard.DebugImages`` (or None).
    Returns ``{loss, lr, data_time, step_time, images_per_s, iters, skipped_steps}``.
    """
    model, options = step.model, step.options
    model.train()
    writer = writer or NullWriter()
    meters = {name: SmoothedValue(options.print_freq)
              for name in ("loss", "data_time", "step_time", "images_per_s")}
    num_iters, skipped_in_a_row, skipped_total = len(loader), 0, 0
    end = time.perf_counter()
    for it, batch in enumerate(loader):
        global_iter = epoch * num_iters + it
        data_time = time.perf_counter() - end

        # data: uint8 crops -> normalised float on the device (optionally NHWC); targets there too
        images = prepare_images(batch["image"], device, options.channels_last)
        targets, weights = batch_targets(batch, device, step.target_renderer)

        # forward and loss, under autocast when AMP is on
        with autocast(device, options.amp):
            heatmaps = model(images)
            loss = step.loss_fn(heatmaps, targets, weights)

        # non-finite guard: stop before the step (with fp16 the GradScaler skips such steps instead)
        loss_value = reduce_mean(loss.detach()).item()  # also keeps every rank stopping together
        if step.scaler is None and not math.isfinite(loss_value):
            raise FloatingPointError(f"non-finite loss ({loss_value}) at epoch {epoch}, iteration {it} of "
                                     f"{num_iters}; no optimizer step taken, the last checkpoint is intact")

        # backward and step; warm-up scales the scheduled LR for this step only
        step.optimizer.zero_grad(set_to_none=True)
        with scaled_lr(step.optimizer, warmup_factor(global_iter, options.warmup_iters)):
            lr = step.optimizer.param_groups[0]["lr"]
            skipped = backward_and_step(loss, step.optimizer, step.scaler)
        skipped_in_a_row = skipped_in_a_row + 1 if skipped else 0
        skipped_total += int(skipped)
        if skipped_in_a_row >= options.max_nonfinite_steps:
            raise FloatingPointError(f"fp16: {skipped_in_a_row} consecutive steps skipped for inf/NaN "
                                     f"gradients (epoch {epoch}, iteration {it}); stopping, the last "
                                     "checkpoint is intact")

        # bookkeeping, the log line and TensorBoard scalars, debug images
        step_time = time.perf_counter() - end - data_time
        update_meters(meters, loss_value, data_time, step_time, images.shape[0] * get_world_size())
        if (it + 1) % options.print_freq == 0 or it + 1 == num_iters:
            log_progress(meters, epoch, it, num_iters, lr, writer, global_iter)
        if debug_images is not None and debug_images.due(global_iter):
            shown = {**batch, "heatmaps": targets.cpu(), "target_weight": weights.cpu()}
            debug_images.write(writer, shown, heatmaps.detach(), global_iter)
        end = time.perf_counter()

    return epoch_summary(meters, lr if num_iters else 0.0, num_iters, skipped_total)


def prepare_images(images: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    """uint8 ``[N,3,H,W]`` -> ImageNet-normalised float32 on ``device`` (NHWC memory if requested)."""
    images = normalize_images(images.to(device, non_blocking=True))
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def batch_targets(batch: dict, device: torch.device, renderer=None) -> tuple[Tensor, Tensor]:
    """(heatmaps float32 [N,K,h,w], target_weight float32 [N,K,1]) on ``device``: the batch's own, or
    rendered there by ``renderer`` from the batch's ``keypoints`` [N,K,2] (``TRAIN.TARGETS_ON_DEVICE``)."""
    weights = batch["target_weight"].to(device, non_blocking=True)
    if renderer is None:
        return batch["heatmaps"].to(device, non_blocking=True), weights
    return renderer(batch["keypoints"].to(device, non_blocking=True), weights)


def backward_and_step(loss: Tensor, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None) -> bool:
    """Backward and optimizer step; returns True when the GradScaler skipped the step (inf/NaN grads)."""
    if scaler is None:
        loss.backward()
        optimizer.step()
        return False
    scale_before = scaler.get_scale()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale() < scale_before  # the scaler backs off exactly when it skipped


def update_meters(meters: dict[str, SmoothedValue], loss: float, data_time: float, step_time: float,
                  images: int) -> None:
    meters["loss"].update(loss)
    meters["data_time"].update(data_time)
    meters["step_time"].update(step_time)
    meters["images_per_s"].update(images / max(data_time + step_time, 1e-9))


def log_progress(meters: dict[str, SmoothedValue], epoch: int, it: int, num_iters: int, lr: float, writer,
                 global_iter: int) -> None:
    """One log line (epoch, iter/total, loss, lr, data vs step time, img/s, ETA) and the TB scalars."""
    iter_time = meters["data_time"].avg + meters["step_time"].avg
    eta = datetime.timedelta(seconds=round(iter_time * (num_iters - it - 1)))
    logger.info("epoch %d [%*d/%d]  loss %.6f (%.6f)  lr %.2e  data %.3fs  step %.3fs  %.1f img/s  eta %s",
                epoch, len(str(num_iters)), it + 1, num_iters, meters["loss"].last,
                meters["loss"].global_avg.avg, lr, meters["data_time"].avg, meters["step_time"].avg,
                meters["images_per_s"].avg, eta)
    writer.add_scalar("train/loss", meters["loss"].avg, global_iter)
    writer.add_scalar("train/lr", lr, global_iter)
    writer.add_scalar("train/data_time", meters["data_time"].avg, global_iter)
    writer.add_scalar("train/step_time", meters["step_time"].avg, global_iter)
    writer.add_scalar("train/images_per_s", meters["images_per_s"].avg, global_iter)


def epoch_summary(meters: dict[str, SmoothedValue], lr: float, num_iters: int,
                  skipped: int) -> dict[str, float]:
    return {
        "loss": meters["loss"].global_avg.avg,
        "lr": lr,
        "data_time": meters["data_time"].global_avg.avg,
        "step_time": meters["step_time"].global_avg.avg,
        "images_per_s": meters["images_per_s"].global_avg.avg,
        "iters": num_iters,
        "skipped_steps": skipped,
    }
