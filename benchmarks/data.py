"""``benchmark.py data``: training-pipeline samples/s per core, hrpose vs a reference-style baseline.

Both pipelines crop the same persons with the same augmentation parameters (256x192 COCO settings of
experiments/coco/hrnet/w32_256x192.yaml). The baseline is written the way the reference does it
(``reference/data_baseline.py``): decode the full image, deepcopy the record, BGR->RGB and flip on the
full image (``img[:, ::-1].copy()``), ``cv2.warpAffine``, one keypoint at a time, the per-joint target
loop (``reference/target_baseline.py``), then float ToTensor/Normalize on the CPU. hrpose: one decode
(or the cache), one affine with the flip folded in, RGB on the small crop, vectorised targets, uint8 out
(normalisation runs model-side, on the device). ``hrpose_targets_on_device`` is hrpose with
``TRAIN.TARGETS_ON_DEVICE``: the item carries K keypoints instead of the K heatmaps, which the training
loop renders on the device (``render_samples_per_s`` times that renderer on this CPU, for scale). Per
core: num_workers 0 and one torch / OpenCV thread; ``--workers N`` also measures them through a real
DataLoader with N worker processes. ``bytes_per_sample``: tensor bytes per sample of a collated batch,
i.e. what the loader moves from a worker to the training process (meta included). The default ``--cfg``
and ``--root`` are in the repository, whatever the working directory.
"""

import argparse
import logging
import os
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from hrpose.config import load_cfg
from hrpose.datasets import build_dataset
from hrpose.datasets.loader import seed_worker
from hrpose.models import normalize_images

from .common import REPO, SAMPLE_ROOT, data_parts, device_facts, ensure_sample_root, report, time_calls
from .reference.data_baseline import BaselineDataset

logger = logging.getLogger(__name__)

DEFAULT_CFG = str(REPO / "experiments" / "coco" / "hrnet" / "w32_256x192.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", default=DEFAULT_CFG, help="experiment yaml (input size, augmentation)")
    parser.add_argument("--root", default=SAMPLE_ROOT,
                        help="COCO-layout dataset root (default: the synthetic sample data, made if missing)")
    parser.add_argument("--set", default="", help="image set (default: train2017 if present, else val2017)")
    parser.add_argument("--samples", type=int, default=300, help="timed samples per pipeline")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="also time a DataLoader with N workers")
    parser.add_argument("--batch", type=int, default=32, help="DataLoader batch size (--workers)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def _normalize_cpu(item) -> torch.Tensor:
    """hrpose's item plus the float normalisation the model does on the device (for a like-for-like
    CPU-only figure)."""
    return normalize_images(item["image"][None])[0]


def _per_core_rate(fn, num_records: int, samples: int, warmup: int) -> float:
    """Samples/s of ``fn(index)`` in this process, indices cycling over the records."""
    order = iter(range(10**9))
    times = time_calls(lambda: fn(next(order) % num_records), torch.device("cpu"), warmup, samples)
    return len(times) / sum(times)


def _loader_rate(dataset, workers: int, batch: int, samples: int) -> float:
    """Samples/s through a DataLoader with ``workers`` processes (the first batch, i.e. the worker
    start-up, is not timed); indices cycle over the records."""
    order = [i % len(dataset) for i in range(samples + batch)]
    loader = DataLoader(dataset, batch_size=batch, sampler=order, num_workers=workers,
                        worker_init_fn=seed_worker)
    it = iter(loader)
    next(it)
    start, count = time.perf_counter(), 0
    for batch_data in it:
        count += len(batch_data[0] if isinstance(batch_data, (list, tuple)) else batch_data["image"])
    return count / (time.perf_counter() - start)


def _bytes(value) -> int:
    """Tensor / array bytes in a (nested) batch."""
    if isinstance(value, dict):
        return sum(_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_bytes(v) for v in value)
    return value.nbytes if isinstance(value, (torch.Tensor, np.ndarray)) else 0


def _bytes_per_sample(dataset, batch: int) -> int:
    """Bytes per sample of a collated batch of ``batch`` items (what a worker hands over)."""
    items = [dataset[i % len(dataset)] for i in range(batch)]
    return round(_bytes(default_collate(items)) / batch)


def _render_rate(renderer, dataset, batch: int, iters: int = 20) -> float:
    """Samples/s of ``renderer`` (``MSRATargetRenderer``) on this CPU for batches of ``batch`` items of
    ``dataset`` (one thread)."""
    items = default_collate([dataset[i % len(dataset)] for i in range(batch)])
    times = time_calls(lambda: renderer(items["keypoints"], items["target_weight"]), torch.device("cpu"),
                       2, iters)
    return batch * len(times) / sum(times)


def _image_set(args) -> str:
    return args.set or ("train2017" if os.path.isfile(
        os.path.join(args.root, "annotations", "person_keypoints_train2017.json")) else "val2017")


def _dataset(args, image_set: str, cache: bool, on_device: bool = False):
    """(training dataset, its target renderer or None) as the trainer builds them."""
    opts = ["DATASET.ROOT", args.root, "DATASET.TRAIN_SET", image_set, "DATASET.CACHE_IMAGES", str(cache),
            "WORKERS", "0", "TRAIN.TARGETS_ON_DEVICE", str(on_device)] + list(args.opts or [])
    cfg = load_cfg(args.cfg if os.path.isfile(args.cfg) else None, opts)
    codec, keypoint_set, renderer = data_parts(cfg)
    return build_dataset(cfg, True, codec, keypoint_set, renderer), renderer


def _per_core_rates(pipelines: dict, samples: int, warmup: int) -> dict[str, float]:
    """Samples/s per core of each pipeline's ``__getitem__`` (num_workers 0)."""
    num = len(pipelines["hrpose"])
    rates = {name: _per_core_rate(ds.__getitem__, num, samples, warmup) for name, ds in pipelines.items()}
    plain = pipelines["hrpose"]
    rates["hrpose_plus_cpu_normalize"] = _per_core_rate(lambda i: _normalize_cpu(plain[i]), num, samples,
                                                        warmup)
    return rates


def run(args: argparse.Namespace) -> None:
    args.root = ensure_sample_root(args.root)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    image_set = _image_set(args)
    plain, _ = _dataset(args, image_set, cache=False)
    cached, _ = _dataset(args, image_set, cache=True)
    on_device, renderer = _dataset(args, image_set, cache=False, on_device=True)
    pipelines = {"baseline": BaselineDataset(plain), "hrpose": plain, "hrpose_cached": cached,
                 "hrpose_targets_on_device": on_device}
    for i in range(len(cached)):  # fill the cache once (each image decoded once per process)
        cached.load_image(cached.records[i].image_path)
    n = args.samples
    rates = _per_core_rates(pipelines, n, args.warmup)
    result = {
        "bench": "data", "root": args.root, "image_set": image_set, "records": len(plain),
        "input_size": list(plain.codec.input_size), "samples": n,
        "samples_per_s_per_core": {k: round(v, 1) for k, v in rates.items()},
        "speedup": round(rates["hrpose"] / rates["baseline"], 2),
        "speedup_cached": round(rates["hrpose_cached"] / rates["baseline"], 2),
        "speedup_targets_on_device": round(rates["hrpose_targets_on_device"] / rates["baseline"], 2),
        "bytes_per_sample": {name: _bytes_per_sample(ds, args.batch) for name, ds in pipelines.items()
                             if name != "hrpose_cached"},
        "render_samples_per_s": round(_render_rate(renderer, on_device, args.batch), 1),
        "cache_mib": round(cached._cache.used / 2**20, 1), **device_facts(torch.device("cpu")),
    }
    sizes = result["bytes_per_sample"]
    summary = (f"data pipeline, {plain.codec.input_size[0]}x{plain.codec.input_size[1]}, {n} samples of "
               f"{image_set}: baseline {rates['baseline']:.1f}/s/core, "
               f"hrpose {rates['hrpose']:.1f}/s/core (x{result['speedup']}), "
               f"cached {rates['hrpose_cached']:.1f}/s/core (x{result['speedup_cached']}), "
               f"targets on device {rates['hrpose_targets_on_device']:.1f}/s/core "
               f"(x{result['speedup_targets_on_device']}, {sizes['hrpose_targets_on_device']} instead of "
               f"{sizes['hrpose']} bytes/sample)")
    if args.workers > 0:
        loader_rates = {name: _loader_rate(ds, args.workers, args.batch, n) for name, ds in pipelines.items()}
        result["workers"] = args.workers
        result["loader_samples_per_s"] = {k: round(v, 1) for k, v in loader_rates.items()}
        result["loader_speedup"] = round(loader_rates["hrpose"] / loader_rates["baseline"], 2)
        summary += f"; {args.workers} workers: " + ", ".join(
            f"{name} {rate:.1f}/s" for name, rate in loader_rates.items())
    report(result, summary)
