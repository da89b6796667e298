"""``benchmark.py data``: training-pipeline samples/s per core, hrpose vs a reference-style baseline.

Both pipelines crop the same persons with the same augmentation parameters (256x192 COCO settings of
experiments/coco/hrnet/w32_256x192.yaml). The baseline is written the way the reference does it
(REFERENCE.md §2.6-2.7): decode the full image, deepcopy the record, BGR->RGB and flip on the full
image (``img[:, ::-1].copy()``), ``cv2.warpAffine``, one keypoint at a time, the per-joint target loop
(``target_baseline.py``), then float ToTensor/Normalize on the CPU. hrpose: one decode (or the cache),
one affine with the flip folded in, RGB on the small crop, vectorised targets, uint8 out (normalisation
runs model-side, on the device). ``hrpose_targets_on_device`` is hrpose with ``TRAIN.TARGETS_ON_DEVICE``:
the item carries K keypoints instead of the K heatmaps, which the training loop renders on the device
(``render_samples_per_s`` times that renderer on this CPU, for scale). Per core: num_workers 0 and one
torch / OpenCV thread; ``--workers N`` also measures them through a real DataLoader with N worker
processes. ``bytes_per_sample``: tensor bytes per sample of a collated batch, i.e. what the loader moves
from a worker to the training process (meta included).
"""

import argparse
import copy
import logging
import os
import tempfile
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from hrpose.benchmark.common import device_facts, report, time_calls
from hrpose.benchmark.target_baseline import generate_target_baseline
from hrpose.config import load_cfg
from hrpose.datasets import build_dataset, build_target_renderer
from hrpose.datasets import transforms as T
from hrpose.datasets.loader import seed_worker

logger = logging.getLogger(__name__)

DEFAULT_CFG = "experiments/coco/hrnet/w32_256x192.yaml"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", default=DEFAULT_CFG, help="experiment yaml (input size, augmentation)")
    parser.add_argument("--root", default="data/sample",
                        help="COCO-layout dataset root (default: the synthetic sample data, made if missing)")
    parser.add_argument("--set", default="", help="image set (default: train2017 if present, else val2017)")
    parser.add_argument("--samples", type=int, default=300, help="timed samples per pipeline")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="also time a DataLoader with N workers")
    parser.add_argument("--batch", type=int, default=32, help="DataLoader batch size (--workers)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


class BaselineDataset(Dataset):
    """The reference-style pipeline over the same records and augmentation parameters as ``dataset``."""

    def __init__(self, dataset):
        self.dataset = dataset
        # the reference's db: a list of plain dicts, deep-copied per sample
        self.db = [{"image": r.image_path, "center": r.center.copy(), "scale": r.scale.copy(),
                    "joints_3d": r.keypoints.copy(),
                    "joints_3d_vis": np.repeat(np.minimum(r.keypoints[:, 2:], 1), 3, axis=1),
                    "score": r.score} for r in dataset.records]

    def __len__(self) -> int:
        return len(self.db)

    def __getitem__(self, index: int):
        rec = copy.deepcopy(self.db[index])
        image = cv2.imread(rec["image"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if self.dataset.color_rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        joints, vis = rec["joints_3d"], rec["joints_3d_vis"]
        center, scale, rotation, flip = self.dataset.crop_params(index)
        center = np.array(center, dtype=np.float32)
        if flip:
            image = image[:, ::-1, :].copy()
            joints = T.flip_keypoints(joints, image.shape[1], self.dataset.keypoint_set.flip_index)
            vis = vis[self.dataset.keypoint_set.flip_index]
            center[0] = image.shape[1] - center[0] - 1
        size = self.dataset.codec.input_size
        trans = T.reference_affine(center, scale, rotation, size)
        crop = cv2.warpAffine(image, trans, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR)
        for k in range(len(joints)):
            if vis[k, 0] > 0.0:
                joints[k, 0:2] = trans @ np.array([joints[k, 0], joints[k, 1], 1.0])
        target, weight = generate_target_baseline(joints, vis, size, self.dataset.codec.heatmap_size,
                                                  self.dataset.codec.sigma)
        tensor = (torch.from_numpy(crop).permute(2, 0, 1).float().div(255.0) - MEAN) / STD
        return tensor, torch.from_numpy(target), torch.from_numpy(weight)


def _normalize_cpu(item) -> torch.Tensor:
    """hrpose's item plus the float normalisation the model does on the device (for a like-for-like
    CPU-only figure)."""
    return (item["image"].float().div(255.0) - MEAN) / STD


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


def _render_rate(cfg, dataset, batch: int, iters: int = 20) -> float:
    """Samples/s of ``MSRATargetRenderer`` on this CPU for batches of ``batch`` (one thread)."""
    renderer = build_target_renderer(cfg, dataset)
    items = default_collate([dataset[i % len(dataset)] for i in range(batch)])
    times = time_calls(lambda: renderer(items["keypoints"], items["target_weight"]), torch.device("cpu"),
                       2, iters)
    return batch * len(times) / sum(times)


def _cfg(args, cache: bool, on_device: bool = False):
    image_set = args.set or ("train2017" if os.path.isfile(
        os.path.join(args.root, "annotations", "person_keypoints_train2017.json")) else "val2017")
    opts = ["DATASET.ROOT", args.root, "DATASET.TRAIN_SET", image_set, "DATASET.CACHE_IMAGES", str(cache),
            "WORKERS", "0", "TRAIN.TARGETS_ON_DEVICE", str(on_device)] + list(args.opts or [])
    return load_cfg(args.cfg if os.path.isfile(args.cfg) else None, opts)


def _dataset(args, cache: bool, on_device: bool = False):
    return build_dataset(_cfg(args, cache, on_device), is_train=True)


def _ensure_root(args) -> None:
    if not os.path.isdir(args.root) and args.root == "data/sample":
        from hrpose.datasets.synthetic import make_sample_dataset

        args.root = tempfile.mkdtemp(prefix="hrpose_sample_")
        logger.warning("data/sample not found: generating the sample data in %s", args.root)
        make_sample_dataset(args.root)


def _per_core_rates(pipelines: dict, samples: int, warmup: int) -> dict[str, float]:
    """Samples/s per core of each pipeline's ``__getitem__`` (num_workers 0)."""
    num = len(pipelines["hrpose"])
    rates = {name: _per_core_rate(ds.__getitem__, num, samples, warmup) for name, ds in pipelines.items()}
    plain = pipelines["hrpose"]
    rates["hrpose_plus_cpu_normalize"] = _per_core_rate(lambda i: _normalize_cpu(plain[i]), num, samples,
                                                        warmup)
    return rates


def run(args: argparse.Namespace) -> None:
    _ensure_root(args)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    plain, cached = _dataset(args, cache=False), _dataset(args, cache=True)
    on_device_cfg = _cfg(args, cache=False, on_device=True)
    pipelines = {"baseline": BaselineDataset(plain), "hrpose": plain, "hrpose_cached": cached,
                 "hrpose_targets_on_device": build_dataset(on_device_cfg, is_train=True)}
    for i in range(len(cached)):  # fill the cache once (each image decoded once per process)
        cached.load_image(cached.records[i].image_path)
    n = args.samples
    rates = _per_core_rates(pipelines, n, args.warmup)
    result = {
        "bench": "data", "root": args.root, "image_set": plain.image_set, "records": len(plain),
        "input_size": list(plain.codec.input_size), "samples": n,
        "samples_per_s_per_core": {k: round(v, 1) for k, v in rates.items()},
        "speedup": round(rates["hrpose"] / rates["baseline"], 2),
        "speedup_cached": round(rates["hrpose_cached"] / rates["baseline"], 2),
        "speedup_targets_on_device": round(rates["hrpose_targets_on_device"] / rates["baseline"], 2),
        "bytes_per_sample": {name: _bytes_per_sample(ds, args.batch) for name, ds in pipelines.items()
                             if name != "hrpose_cached"},
        "render_samples_per_s": round(_render_rate(on_device_cfg, pipelines["hrpose_targets_on_device"],
                                                   args.batch), 1),
        "cache_mib": round(cached._cache.used / 2**20, 1), **device_facts(torch.device("cpu")),
    }
    sizes = result["bytes_per_sample"]
    summary = (f"data pipeline, {plain.codec.input_size[0]}x{plain.codec.input_size[1]}, {n} samples of "
               f"{plain.image_set}: baseline {rates['baseline']:.1f}/s/core, "
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
