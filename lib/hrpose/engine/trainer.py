"""The training driver behind ``tools/train.py``: ``train(cfg, cfg_path, device) -> final stats``.

One process per device (torchrun for several; DDP with NCCL on CUDA, gloo on CPU). Only rank 0
writes. A run directory ``OUTPUT_DIR/<dataset>/<model>/<cfg name>/`` holds:

    config.yaml        the resolved config          env.json     git commit, versions, device, world size
    train.log          the log (rank 0)             tensorboard/ events (unless LOG_DIR is set)
    last.pth           training checkpoint, every epoch (atomic); AUTO_RESUME continues from it
    best.pth           model + config at the best validation AP (strictly greater than before)
    final.pth          plain state_dict of the model after the last epoch (loadable by the reference)
    results/           the evaluation's json files

Resume repeats an interrupted epoch from its start: every epoch reseeds python/numpy/torch from
``(SEED, epoch, rank)`` and the dataset's augmentation is a function of ``(SEED, epoch, index)``, so
a run killed at any moment and restarted with the same command ends with the same weights (CPU,
deterministic settings).
"""

import json
import logging
import pathlib
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from yacs.config import CfgNode

import hrpose
from hrpose.codecs import build_codec, build_target_renderer
from hrpose.datasets import KeypointSet, build_dataloader, build_keypoint_set
from hrpose.engine.evaluate import Evaluator, build_evaluator
from hrpose.engine.guards import DivergenceGuard
from hrpose.engine.optim import advance_scheduler, build_optimizer, build_scheduler
from hrpose.engine.options import build_train_options
from hrpose.engine.train_loop import TrainStep, train_one_epoch
from hrpose.losses import build_loss
from hrpose.models import build_model, load_state_dict
from hrpose.utils import checkpoint as ckpt
from hrpose.utils.dist import (
    all_gather_objects,
    barrier,
    get_rank,
    get_world_size,
    is_distributed,
    is_main_process,
)
from hrpose.utils.env import configure_backends, derive_seed, environment_info, git_commit, seed_everything
from hrpose.utils.logging import setup_logging
from hrpose.utils.paths import run_output_dir, tensorboard_dir
from hrpose.utils.run_dir import claim_run_dir
from hrpose.utils.tensorboard import build_debug_images, open_writer, scalar_tag

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where training stands: ``epoch`` = completed epochs; ``best_ap`` = -1 before any validation."""

    epoch: int = 0
    best_ap: float = -1.0
    val_stats: dict = field(default_factory=dict)
    train_stats: dict = field(default_factory=dict)
    first_loss: float | None = None  # the run's first epoch's mean loss (the divergence guard's reference)


@dataclass
class Training:
    """The objects one run trains with: ``step`` (model, possibly DDP/compiled, loss, optimizer, options,
    scaler, target renderer), ``bare`` (the model without wrappers), the LR ``scheduler``, and the
    ``keypoint_set`` stored in every checkpoint."""

    step: TrainStep
    bare: nn.Module
    scheduler: torch.optim.lr_scheduler.LRScheduler
    keypoint_set: KeypointSet


def train(cfg: CfgNode, cfg_path: str | None, device: torch.device, restart: bool = False) -> dict:
    """Train as ``cfg`` says; returns ``{epoch, best_ap, val, train, output_dir}`` (same on every rank).

    The run directory is claimed first (``hrpose.utils.run_dir``: one training per directory; a fresh
    start over existing checkpoints only with ``restart``, which moves them aside; a resume only with a
    compatible config), before anything is written into it.
    """
    out_dir = run_output_dir(cfg, cfg_path)
    with claim_run_dir(cfg, out_dir, restart):
        return train_in(cfg, cfg_path, device, out_dir)


def train_in(cfg: CfgNode, cfg_path: str | None, device: torch.device, out_dir: pathlib.Path) -> dict:
    """The training itself, in the claimed ``out_dir``."""
    setup_run(cfg, out_dir, device)
    seed_everything(derive_seed(cfg.SEED, get_rank()))
    configure_backends(device, cfg.CUDNN.BENCHMARK, cfg.CUDNN.DETERMINISTIC, cfg.CUDNN.ENABLED)
    codec, keypoint_set = build_codec(cfg), build_keypoint_set(cfg)
    run = build_training(cfg, device, codec, keypoint_set)
    progress = resume_or_start(cfg, out_dir / "last.pth", run)
    run.step.model = wrap_model(run.bare, cfg, device)
    loader = build_dataloader(cfg, True, codec, keypoint_set, distributed=is_distributed(),
                              target_renderer=run.step.target_renderer)
    evaluator = build_evaluator(cfg, device, codec, keypoint_set, distributed=is_distributed())  # kept
    writer = open_writer(tensorboard_dir(cfg, cfg_path), enabled=is_main_process())
    debug_images = build_debug_images(cfg, keypoint_set.skeleton) if is_main_process() else None
    guard = DivergenceGuard(run.bare, progress.first_loss)
    try:
        for epoch in range(progress.epoch, cfg.TRAIN.END_EPOCH):
            progress.train_stats = run_epoch(cfg.SEED, run, loader, device, epoch, writer, debug_images)
            guard.check(run.bare, epoch, progress.train_stats["loss"])
            progress.first_loss = guard.first_loss
            check_replicas_in_sync(run.bare, epoch)
            progress.epoch = epoch + 1
            if should_validate(epoch, cfg.TRAIN.VAL_INTERVAL, cfg.TRAIN.END_EPOCH):
                validate(cfg, run, evaluator, out_dir, writer, epoch, progress)
            save_last(out_dir / "last.pth", cfg, run, progress)
    finally:
        writer.close()
    save_final(out_dir / "final.pth", run.bare)
    logger.info("done: %d epochs, best AP %.4f; outputs in %s", progress.epoch, progress.best_ap, out_dir)
    return {"epoch": progress.epoch, "best_ap": progress.best_ap, "val": progress.val_stats,
            "train": progress.train_stats, "output_dir": str(out_dir)}


def setup_run(cfg: CfgNode, out_dir: pathlib.Path, device: torch.device) -> None:
    """Create the run dir, start logging, save ``config.yaml`` and ``env.json`` (rank 0 writes)."""
    if is_main_process():
        out_dir.mkdir(parents=True, exist_ok=True)
    barrier()
    setup_logging(out_dir, get_rank())
    env = environment_info(device, get_world_size())
    if is_main_process():
        (out_dir / "config.yaml").write_text(cfg.dump())
        (out_dir / "env.json").write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")
    logger.info("output dir: %s", out_dir)
    logger.info("environment: %s", json.dumps(env, sort_keys=True))
    logger.info("resolved config:\n%s", cfg.dump())


def build_training(cfg: CfgNode, device: torch.device, codec, keypoint_set: KeypointSet) -> Training:
    """Model (SyncBN, channels_last as configured) on ``device``, loss, optimizer, scheduler, fp16 scaler,
    and the target renderer of ``codec`` (``TRAIN.TARGETS_ON_DEVICE``)."""
    bare = build_model(cfg, is_train=True)
    if cfg.TRAIN.SYNC_BN and is_distributed():
        bare = nn.SyncBatchNorm.convert_sync_batchnorm(bare)
    bare = bare.to(device)
    if cfg.TRAIN.CHANNELS_LAST:
        bare = bare.to(memory_format=torch.channels_last)
    options = build_train_options(cfg, device)
    optimizer = build_optimizer(cfg, bare)
    scaler = torch.amp.GradScaler(device.type) if options.amp == "fp16" else None
    step = TrainStep(bare, build_loss(cfg).to(device), optimizer, options, scaler,
                     build_target_renderer(cfg, codec, keypoint_set))
    return Training(step, bare, build_scheduler(cfg, optimizer), keypoint_set)


def wrap_model(bare: nn.Module, cfg: CfgNode, device: torch.device) -> nn.Module:
    """DDP when distributed (device_ids on CUDA), then torch.compile when ``TRAIN.COMPILE`` is set.

    DDP settings (docs/benchmarks.md): gradients are views into the all-reduce buckets (no copy, less
    memory); every parameter is used in every step, so no unused-parameter search; buffers are not
    broadcast before each forward (BN statistics are per process until ``sync_buffers`` gives every
    rank rank 0's before validation and saving, which is what the broadcast would have left there too).
    """
    model = bare
    if is_distributed():
        model = DistributedDataParallel(bare, device_ids=[device.index] if device.type == "cuda" else None,
                                        gradient_as_bucket_view=True, find_unused_parameters=False,
                                        broadcast_buffers=False)
    if cfg.TRAIN.COMPILE:
        model = torch.compile(model, mode=cfg.TRAIN.COMPILE)
    return model


def resume_or_start(cfg: CfgNode, last_path: pathlib.Path, run: Training) -> Progress:
    """Load ``last.pth`` into ``run`` when ``AUTO_RESUME`` and it exists; else start at ``BEGIN_EPOCH``."""
    exists = cfg.AUTO_RESUME and last_path.is_file()
    if len(set(all_gather_objects(exists))) > 1:
        raise RuntimeError(f"{last_path} exists on some ranks only; the output dir must be shared by all "
                           "nodes")
    if not exists:
        advance_scheduler(run.scheduler, cfg.TRAIN.BEGIN_EPOCH)
        return Progress(epoch=cfg.TRAIN.BEGIN_EPOCH)
    state = ckpt.load_checkpoint(last_path)
    load_state_dict(run.bare, state["model"], f"{last_path} (AUTO_RESUME)")
    run.step.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.step.scaler is not None and state.get("scaler"):
        run.step.scaler.load_state_dict(state["scaler"])
    ckpt.set_rng_state(state["rng"])
    logger.info("resumed from %s: %d epochs done, best AP %.4f", last_path, state["epoch"], state["best_ap"])
    first_loss = state.get("first_loss")  # absent in checkpoints of hrpose 0.1
    return Progress(epoch=int(state["epoch"]), best_ap=float(state["best_ap"]),
                    val_stats=dict(state["val_stats"]),
                    first_loss=None if first_loss is None else float(first_loss))


def run_epoch(seed: int, run: Training, loader, device: torch.device, epoch: int, writer,
              debug_images) -> dict:
    """Reseed for this epoch, train it, then step the LR schedule (after the epoch's optimizer steps)."""
    seed_everything(derive_seed(seed, epoch, get_rank()))
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
    stats = train_one_epoch(run.step, loader, device, epoch, writer, debug_images)
    run.scheduler.step()
    if stats["skipped_steps"]:
        logger.warning("epoch %d: the fp16 GradScaler skipped %d of %d steps (inf/NaN gradients)", epoch,
                       stats["skipped_steps"], stats["iters"])
    logger.info("epoch %d done: loss %.6f, %.1f img/s, next lr %.2e", epoch, stats["loss"],
                stats["images_per_s"], run.step.optimizer.param_groups[0]["lr"])
    writer.add_scalar("train/epoch_loss", stats["loss"], epoch)
    return stats


def should_validate(epoch: int, interval: int, end_epoch: int) -> bool:
    """After every ``interval``-th epoch (1-based count) and after the last one (interval <= 0: last only)."""
    return epoch + 1 == end_epoch or (interval > 0 and (epoch + 1) % interval == 0)


def validate(cfg: CfgNode, run: Training, evaluator: Evaluator, out_dir: pathlib.Path, writer, epoch: int,
             progress: Progress) -> None:
    """Evaluate (every rank predicts a shard); ``best.pth`` when the AP is strictly higher than before."""
    sync_buffers(run.bare)
    stats = evaluator.run(run.bare, out_dir, name=cfg.MODEL.NAME)  # the same on every rank
    ap = float(stats.get(evaluator.primary_stat, -1.0))  # AP; PCKh Mean for MPII
    for name, value in stats.items():
        writer.add_scalar(f"val/{scalar_tag(name)}", float(value), epoch)
    progress.val_stats = {name: float(value) for name, value in stats.items()}
    if ap > progress.best_ap:
        progress.best_ap = ap
        if is_main_process():
            ckpt.save_checkpoint(out_dir / "best.pth", ckpt.model_only(checkpoint_state(cfg, run, progress)))
        logger.info("epoch %d: new best AP %.4f -> best.pth", epoch, ap)
    else:
        logger.info("epoch %d: AP %.4f (best %.4f)", epoch, ap, progress.best_ap)


def check_replicas_in_sync(model: nn.Module, epoch: int) -> None:
    """Under DDP, raise if the ranks' parameters differ (DDP keeps them identical after every step)."""
    if not is_distributed():
        return
    fingerprint = torch.stack([p.detach().double().sum() for p in model.parameters()]).cpu()
    gathered = all_gather_objects(fingerprint)
    if any(not torch.equal(gathered[0], other) for other in gathered[1:]):
        raise RuntimeError(f"after epoch {epoch} the ranks' weights differ; DDP replicas are out of sync")
    logger.info("epoch %d: weights identical on all %d ranks", epoch, len(gathered))


def sync_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BN running statistics drift apart between DDP's broadcasts)."""
    if is_distributed():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def checkpoint_state(cfg: CfgNode, run: Training, progress: Progress) -> dict:
    """The training checkpoint (layout in ``hrpose.utils.checkpoint``)."""
    return {
        "model": cpu_state_dict(run.bare),
        "optimizer": run.step.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.step.scaler.state_dict() if run.step.scaler is not None else {},
        "epoch": progress.epoch,
        "best_ap": progress.best_ap,
        "val_stats": dict(progress.val_stats),
        "first_loss": progress.first_loss,
        "rng": ckpt.get_rng_state(),
        "config": cfg.dump(),
        "keypoint_set": run.keypoint_set.to_dict(),
        "hrpose_version": hrpose.__version__,
        "git_commit": git_commit(),
    }


def cpu_state_dict(model: nn.Module) -> dict:
    """A CPU copy of the bare model's state_dict (no wrapper prefixes)."""
    return ckpt.strip_prefixes({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})


def save_last(path: pathlib.Path, cfg: CfgNode, run: Training, progress: Progress) -> None:
    """``last.pth`` after every epoch (rank 0; atomic). All ranks wait so none runs ahead of the file."""
    sync_buffers(run.bare)
    if is_main_process():
        ckpt.save_checkpoint(path, checkpoint_state(cfg, run, progress))
    barrier()


def save_final(path: pathlib.Path, bare: nn.Module) -> None:
    """``final.pth``: the plain state_dict of the bare model (rank 0)."""
    if is_main_process():
        ckpt.save_checkpoint(path, cpu_state_dict(bare))
    barrier()
