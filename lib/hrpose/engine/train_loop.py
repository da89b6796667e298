"""One training epoch: ``train_one_epoch`` reads top to bottom in commented paragraphs.

Batches are the dataset's dicts: ``image`` uint8 ``[N,3,H,W]``, ``heatmaps`` float32 ``[N,K,h,w]``,
``target_weight`` float32 ``[N,K,1]``, ``meta``; with a ``target_renderer`` (``TRAIN.TARGETS_ON_DEVICE``)
``keypoints`` float32 ``[N,K,2]`` heatmap px instead of ``heatmaps``, rendered on the device. The model
maps normalised images to heatmaps ``[N,K,h,w]``; ``loss_fn(heatmaps, targets, target_weight)`` returns
a scalar. ``TrainStep`` bundles what a step uses (model, loss, optimizer, ``TrainOptions``, scaler,
target renderer).

No host sync per step (with a fused optimizer, ``TRAIN.FUSED_OPTIMIZER``, the default): the step's
non-finite check happens on the device (the fused kernel skips the update when told ``found_inf``),
and the loss statistics stay there until the host reads them every ``PRINT_FREQ`` iterations and at
the end of the epoch (``engine.step_stats``). A non-finite loss or gradient therefore never reaches
the weights, and the run stops at the next read, naming the epoch and the iteration where it happened.
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
from hrpose.engine.step_stats import Reading, Span, StepStats
from hrpose.models import normalize_images
from hrpose.utils.dist import get_world_size, reduce_max_
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

    Raises ``FloatingPointError`` naming the epoch and iteration, at the first read after it (every
    ``options.print_freq`` iterations and at the end of the epoch), when a loss or gradient was not
    finite (its step and every later non-finite one were skipped, so the weights and the last
    checkpoint stay good), or, with fp16, when ``options.max_nonfinite_steps`` consecutive steps were
    skipped by the GradScaler. ``writer``: TensorBoard (or None); ``debug_images``:
    ``hrpose.utils.tensorboard.DebugImages`` (or None).
    Returns ``{loss, lr, data_time, step_time, images_per_s, iters, skipped_steps}``.
    """
    model, options = step.model, step.options
    model.train()
    writer = writer or NullWriter()
    stats = StepStats(device, options.max_nonfinite_steps)
    num_iters, lr, reading = len(loader), 0.0, None
    end = time.perf_counter()
    epoch_span, window = Span(end), Span(end)
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

        # backward and step, skipped on the device for a non-finite loss or gradient; warm-up scales
        # the scheduled LR for this step only
        step.optimizer.zero_grad(set_to_none=True)
        with scaled_lr(step.optimizer, warmup_factor(global_iter, options.warmup_iters)):
            lr = step.optimizer.param_groups[0]["lr"]
            found_inf = backward_and_step(loss, step.optimizer, step.scaler)

        # bookkeeping on the device; every print_freq iterations one read: the guards, the log line
        stats.update(loss, found_inf, it)
        for span in (epoch_span, window):
            span.add(data_time, images.shape[0] * get_world_size())
        if (it + 1) % options.print_freq == 0 or it + 1 == num_iters:
            reading = stats.read()
            check_nonfinite(reading, step.scaler is not None, options, epoch, num_iters)
            log_progress(reading, window.summary(), epoch, it, num_iters, lr, writer, global_iter)
            window = Span(time.perf_counter())
        if debug_images is not None and debug_images.due(global_iter):
            shown = {**batch, "heatmaps": targets.cpu(), "target_weight": weights.cpu()}
            debug_images.write(writer, shown, heatmaps.detach(), global_iter)
        end = time.perf_counter()

    return epoch_summary(reading, epoch_span, lr, num_iters)


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
                      scaler: torch.amp.GradScaler | None) -> Tensor:
    """Backward and optimizer step, skipped when it would put a non-finite number into the weights.

    Returns ``found_inf``: a 0-dim float32 tensor on the gradients' device, 1 when the step was skipped,
    else 0. Without a scaler the step is skipped for a non-finite loss or gradient (on every rank alike:
    the flag is all-reduced); a fused optimizer (``TRAIN.FUSED_OPTIMIZER``) receives the flag on the
    device, any other optimizer costs one host sync to decide in Python. With a GradScaler (fp16) the
    scaler skips by its own test, an inf/NaN gradient, which is what ``found_inf`` reports.
    """
    if scaler is not None:
        scaler.scale(loss).backward()
        found_inf = nonfinite_flag(optimizer)  # any inf/NaN in the scaled gradients: the scaler's test
        scaler.step(optimizer)
        scaler.update()
        return found_inf
    loss.backward()
    found_inf = reduce_max_(nonfinite_flag(optimizer, loss))
    if not takes_found_inf(optimizer):
        if not found_inf.item():  # one host sync: a non-fused optimizer cannot skip on the device
            optimizer.step()
        return found_inf
    # The fused kernels read ``found_inf`` (and ``grad_scale``) from the optimizer, as GradScaler sets
    # them: with found_inf = 1 they leave parameters, moments and the step count unchanged.
    optimizer.found_inf = found_inf
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf
    return found_inf


def nonfinite_flag(optimizer: torch.optim.Optimizer, loss: Tensor | None = None) -> Tensor:
    """0-dim float32 on the gradients' device: 1 when a gradient (or ``loss``) holds an inf or NaN."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    worst = torch.nn.utils.get_total_norm(grads, norm_type=math.inf)  # max |g|; nan if any is nan
    finite = torch.isfinite(worst)
    if loss is not None:
        finite = finite & torch.isfinite(loss.detach()).to(finite.device)
    return torch.logical_not(finite).to(torch.float32)


def takes_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` honours a device-side ``found_inf`` (torch's fused Adam/AdamW/SGD)."""
    return bool(optimizer.param_groups) and all(group.get("fused") for group in optimizer.param_groups)


def check_nonfinite(reading: Reading, fp16_scaler: bool, options: TrainOptions, epoch: int,
                    num_iters: int) -> None:
    """Raise ``FloatingPointError`` when ``reading`` shows a skipped step (or, with the fp16 GradScaler,
    which skips steps while it calibrates, ``options.max_nonfinite_steps`` consecutive ones)."""
    if not fp16_scaler and reading.first_skip >= 0:
        raise FloatingPointError(
            f"non-finite loss or gradient (loss {reading.first_skip_loss}) at epoch {epoch}, iteration "
            f"{reading.first_skip} of {num_iters}: the optimizer skipped that step ({reading.skipped} "
            "non-finite steps skipped before this read), the weights never saw it and the last checkpoint "
            "is intact")
    if fp16_scaler and reading.limit_reached >= 0:
        raise FloatingPointError(
            f"fp16: {options.max_nonfinite_steps} consecutive steps skipped for inf/NaN gradients (epoch "
            f"{epoch}, iteration {reading.limit_reached}); stopping, the last checkpoint is intact")


def log_progress(reading: Reading, timing: dict[str, float], epoch: int, it: int, num_iters: int, lr: float,
                 writer, global_iter: int) -> None:
    """One log line (epoch, iter/total, last and epoch-mean loss, lr, data vs step time per iteration,
    img/s, ETA) and the TensorBoard scalars (window means)."""
    eta = datetime.timedelta(seconds=round(timing["iter_time"] * (num_iters - it - 1)))
    logger.info("epoch %d [%*d/%d]  loss %.6f (%.6f)  lr %.2e  data %.3fs  step %.3fs  %.1f img/s  eta %s",
                epoch, len(str(num_iters)), it + 1, num_iters, reading.last_loss, reading.epoch_loss, lr,
                timing["data_time"], timing["step_time"], timing["images_per_s"], eta)
    writer.add_scalar("train/loss", reading.window_loss, global_iter)
    writer.add_scalar("train/lr", lr, global_iter)
    for name in ("data_time", "step_time", "images_per_s"):
        writer.add_scalar(f"train/{name}", timing[name], global_iter)


def epoch_summary(reading: Reading | None, span: Span, lr: float, num_iters: int) -> dict[str, float]:
    """The epoch's mean loss, last LR, per-iteration times, img/s, iterations and skipped steps."""
    timing = span.summary()
    return {
        "loss": reading.epoch_loss if reading else 0.0,
        "lr": lr,
        "data_time": timing["data_time"],
        "step_time": timing["step_time"],
        "images_per_s": timing["images_per_s"],
        "iters": num_iters,
        "skipped_steps": reading.skipped if reading else 0,
    }
