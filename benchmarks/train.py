"""``benchmark.py train``: end-to-end training images/s with the real data loader on real JPEGs.

Runs ``--iters`` training steps of the configured model and loader (after ``--warmup`` untimed ones) and
reports images/s and the fraction of wall time spent waiting for data (a data-bound run has a large
fraction: add workers, the image cache, or a faster disk).
"""

import argparse
import time

import torch

from hrpose.config import load_cfg
from hrpose.datasets import build_dataloader
from hrpose.engine.amp import autocast
from hrpose.engine.optim import build_optimizer
from hrpose.engine.options import build_train_options
from hrpose.engine.train_loop import TrainStep, backward_and_step, batch_targets, prepare_images
from hrpose.losses import build_loss
from hrpose.models import build_model
from hrpose.utils.dist import resolve_device

from .common import data_parts, device_facts, report, synchronize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", required=True, help="experiment yaml (model, data, batch, AMP switches)")
    parser.add_argument("--iters", type=int, default=30, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE overrides, e.g. DATASET.ROOT data/sample WORKERS 8 TRAIN.AMP bf16")


def _endless(loader):
    while True:
        yield from loader


def _train_steps(step: TrainStep, batches, device, count: int):
    """Run ``count`` training steps as ``train_one_epoch`` does (without its logging and guards);
    returns (wall seconds, seconds waiting for batches, images)."""
    data_wait, images_seen = 0.0, 0
    synchronize(device)
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - t0
        images = prepare_images(batch["image"], device, step.options.channels_last)
        targets, weights = batch_targets(batch, device, step.target_renderer)
        with autocast(device, step.options.amp):
            loss = step.loss_fn(step.model(images), targets, weights)
        step.optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss, step.optimizer, step.scaler)
        images_seen += images.shape[0]
    synchronize(device)
    return time.perf_counter() - start, data_wait, images_seen


def run(args: argparse.Namespace) -> None:
    # no ImageNet weights needed to time the network (the yamls name a file most machines lack)
    cfg = load_cfg(args.cfg, ["MODEL.PRETRAINED", ""] + list(args.opts or []))
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = bool(cfg.CUDNN.BENCHMARK)
    options = build_train_options(cfg, device)  # AMP resolved for the device, as training does
    model = build_model(cfg, is_train=True).to(device)
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.TRAIN.COMPILE:
        model = torch.compile(model, mode=cfg.TRAIN.COMPILE)
    model.train()
    codec, keypoint_set, renderer = data_parts(cfg)
    step = TrainStep(model=model, loss_fn=build_loss(cfg), optimizer=build_optimizer(cfg, model),
                     options=options,
                     scaler=torch.amp.GradScaler(device.type) if options.amp == "fp16" else None,
                     target_renderer=renderer)
    batches = _endless(build_dataloader(cfg, True, codec, keypoint_set, distributed=False,
                                        target_renderer=renderer))
    _train_steps(step, batches, device, args.warmup)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    wall, wait, images = _train_steps(step, batches, device, args.iters)
    result = {"bench": "train", "cfg": args.cfg, "batch": cfg.TRAIN.BATCH_SIZE_PER_GPU, "amp": options.amp,
              "channels_last": options.channels_last, "compile": cfg.TRAIN.COMPILE,
              "workers": cfg.WORKERS, "targets_on_device": bool(cfg.TRAIN.TARGETS_ON_DEVICE),
              "images_per_s": round(images / wall, 2),
              "data_wait_fraction": round(wait / wall, 3), **device_facts(device)}
    report(result, f"train {args.cfg}: {result['images_per_s']} img/s, "
                   f"{100 * result['data_wait_fraction']:.1f}% of the time waiting for data")
