"""``benchmark.py train``: end-to-end training images/s with the real data loader on real JPEGs.

Runs ``--iters`` training steps of the configured model and loader (after ``--warmup`` untimed ones) and
reports images/s and the fraction of wall time spent waiting for data (a data-bound run has a large
fraction: add workers, the image cache, or a faster disk).
"""

import argparse
import time

import torch

from hrpose.benchmark.common import device_facts, report, synchronize
from hrpose.config import load_cfg
from hrpose.datasets import build_dataloader, build_target_renderer
from hrpose.engine.optim import build_optimizer
from hrpose.engine.train_loop import autocast, backward_and_step, batch_targets, prepare_images
from hrpose.losses import build_loss
from hrpose.models import build_model
from hrpose.utils.dist import select_device


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


def _train_steps(model, loader, loss_fn, optimizer, scaler, device, amp, channels_last, renderer, count):
    """Run ``count`` steps; returns (wall seconds, seconds waiting for batches, images)."""
    data_wait, images_seen = 0.0, 0
    synchronize(device)
    start = time.perf_counter()
    batches = iter(loader)
    for _ in range(count):
        t0 = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - t0
        images = prepare_images(batch["image"], device, channels_last)
        targets, weights = batch_targets(batch, device, renderer)  # as train_one_epoch
        with autocast(device, amp):
            loss = loss_fn(model(images), targets, weights)
        optimizer.zero_grad(set_to_none=True)
        backward_and_step(loss, optimizer, scaler)
        images_seen += images.shape[0]
    synchronize(device)
    return time.perf_counter() - start, data_wait, images_seen


def run(args: argparse.Namespace) -> None:
    # no ImageNet weights needed to time the network (the yamls name a file most machines lack)
    cfg = load_cfg(args.cfg, ["MODEL.PRETRAINED", ""] + list(args.opts or []))
    device = select_device(args.device)
    torch.backends.cudnn.benchmark = bool(cfg.CUDNN.BENCHMARK)
    amp = cfg.TRAIN.AMP if device.type == "cuda" else "none"
    model = build_model(cfg, is_train=True).to(device)
    if cfg.TRAIN.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    if cfg.TRAIN.COMPILE:
        model = torch.compile(model, mode=cfg.TRAIN.COMPILE)
    model.train()
    loss_fn, optimizer = build_loss(cfg), build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    data = build_dataloader(cfg, is_train=True, distributed=False)
    step_args = (model, _endless(data), loss_fn, optimizer, scaler, device, amp,
                 bool(cfg.TRAIN.CHANNELS_LAST), build_target_renderer(cfg, data.dataset))
    _train_steps(*step_args, args.warmup)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    wall, wait, images = _train_steps(*step_args, args.iters)
    result = {"bench": "train", "cfg": args.cfg, "batch": cfg.TRAIN.BATCH_SIZE_PER_GPU, "amp": amp,
              "channels_last": bool(cfg.TRAIN.CHANNELS_LAST), "compile": cfg.TRAIN.COMPILE,
              "workers": cfg.WORKERS, "targets_on_device": bool(cfg.TRAIN.TARGETS_ON_DEVICE),
              "images_per_s": round(images / wall, 2),
              "data_wait_fraction": round(wait / wall, 3), **device_facts(device)}
    report(result, f"train {args.cfg}: {result['images_per_s']} img/s, "
                   f"{100 * result['data_wait_fraction']:.1f}% of the time waiting for data")
