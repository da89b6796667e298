"""``records``: COCO-scale record building and loader-worker memory, compact arrays vs a list of objects.

Generates a COCO-train2017-sized synthetic annotation json (118,287 images, 262,465 person annotations,
149,813 of them with keypoints; every image file is a hard link to a tiny JPEG) and measures, each
phase in a fresh forked process so that the numbers do not mix:

* ``list`` (the baseline, hrpose 0.1's way): ``load_coco_records`` in the process -> a list of
  ``PersonRecord``; build time, peak RSS and RSS settled above the import baseline;
* ``cold``: ``cached_records`` with an empty cache (the json parsed in a child process, arrays saved);
* ``cached``: ``cached_records`` again (what every later start and every other rank pays);
* ``workers``: one pass over every person with ``--workers`` DataLoader workers (tiny crops), the
  workers' USS (private memory) after the first batch and before the last, for the arrays and, with
  ``--baseline-workers``, for the list.
"""

import argparse
import gc
import json
import multiprocessing
import os
import pathlib
import resource
import shutil
import tempfile
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from hrpose.codecs import MSRAHeatmap
from hrpose.datasets import COCO_KEYPOINTS
from hrpose.datasets.augment import AugmentConfig
from hrpose.datasets.coco import load_coco_records
from hrpose.datasets.records import PersonRecords, cache_key, cached_records
from hrpose.datasets.topdown import SampleOptions, TopDownDataset

from .common import report

ASPECT = 192 / 256  # the W32 256x192 yamls
LINKS_PER_FILE = 50000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=118287)
    parser.add_argument("--persons", type=int, default=262465, help="person annotations")
    parser.add_argument("--with-keypoints", type=int, default=149813, help="persons with keypoints")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--baseline-workers", action="store_true", help="also time the pass over the list")
    parser.add_argument("--root", default="", help="where to write the synthetic data (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)


def make_coco_sized(root: pathlib.Path, images: int, persons: int, with_keypoints: int, seed: int) -> str:
    """The synthetic annotation json under ``root`` (COCO layout); returns its path."""
    rng = np.random.default_rng(seed)
    folder = root / "images" / "train2017"
    folder.mkdir(parents=True)
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    infos = []
    for i in range(images):
        name = f"{i + 1:012d}.jpg"
        # file systems cap the hard links of one file (ext4: 65000)
        tiny = root / f"tiny{i // LINKS_PER_FILE}.jpg"
        if i % LINKS_PER_FILE == 0:
            cv2.imwrite(str(tiny), pixels)
        os.link(tiny, folder / name)
        infos.append({"id": i + 1, "file_name": name, "width": 64, "height": 48})
    image_of = rng.integers(1, images + 1, persons)
    xy = rng.uniform(0, 30, (persons, 2)).round(2)
    wh = rng.uniform(8, 30, (persons, 2)).round(2)
    anns = []
    for j in range(persons):
        has = j < with_keypoints
        kp = np.zeros((17, 3))
        if has:
            kp[:, :2] = (xy[j] + rng.uniform(0, 1, (17, 2)) * wh[j]).round(2)
            kp[:, 2] = 2
        anns.append({"id": j + 1, "image_id": int(image_of[j]), "category_id": 1, "iscrowd": 0,
                     "bbox": [*xy[j].tolist(), *wh[j].tolist()], "area": float(wh[j].prod()),
                     "num_keypoints": 17 if has else 0, "keypoints": kp.reshape(-1).tolist()})
    path = root / "annotations" / "person_keypoints_train2017.json"
    path.parent.mkdir()
    category = {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS.names), "skeleton": []}
    path.write_text(json.dumps({"images": infos, "annotations": anns, "categories": [category]}))
    return str(path)


def _rss_mb() -> float:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _uss_mb(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    private = ("Private_Clean", "Private_Dirty")
    return sum(int(line.split()[1]) for line in fields if line.startswith(private)) / 1024


def _in_fresh_process(fn, *args) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    process = context.Process(target=lambda: queue.put(fn(*args)))
    process.start()
    result = queue.get()
    process.join()
    return result


def _build(root: str, kind: str, cache_dir: str) -> tuple:
    def build():
        return load_coco_records(root, "train2017", 17, ASPECT)[0]

    if kind == "list":
        return build(), None
    key = cache_key(f"{root}/annotations/person_keypoints_train2017.json", "", {"aspect": ASPECT})
    return cached_records(pathlib.Path(cache_dir), key, build, 17, "records"), None


def measure_build(root: str, kind: str, cache_dir: str) -> dict:
    gc.collect()
    base = _rss_mb()
    start = time.perf_counter()
    records, _ = _build(root, kind, cache_dir)
    seconds = time.perf_counter() - start
    gc.collect()
    live = round(records.nbytes / 2**20, 1) if isinstance(records, PersonRecords) else None
    return {"seconds": round(seconds, 2), "records": len(records),
            "settled_rss_mb": round(_rss_mb() - base, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "live_mb": live}


def measure_workers(root: str, kind: str, cache_dir: str, workers: int, batch: int) -> dict:
    records, _ = _build(root, kind, cache_dir)
    dataset = TopDownDataset(records, COCO_KEYPOINTS, MSRAHeatmap((32, 32), (8, 8), 1), AugmentConfig(),
                             SampleOptions())
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=True, persistent_workers=True)
    batches = iter(loader)
    next(batches)
    children = pathlib.Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    pids = [int(p) for p in children]
    start_uss = [_uss_mb(p) for p in pids]
    start = time.perf_counter()
    for _ in range(len(loader) - 2):
        next(batches)
    end_uss = [_uss_mb(p) for p in pids]
    seconds = time.perf_counter() - start
    next(batches, None)
    del batches, loader
    return {"samples_per_s": round((len(dataset) - 2 * batch) / seconds, 1),
            "worker_uss_start_mb": [round(v, 1) for v in start_uss],
            "worker_uss_end_mb": [round(v, 1) for v in end_uss],
            "max_growth_mb": round(max(e - s for s, e in zip(start_uss, end_uss, strict=True)), 1)}


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(args.root or tmp) / "coco_sized"
        if root.exists():
            shutil.rmtree(root)
        start = time.perf_counter()
        ann = make_coco_sized(root, args.images, args.persons, args.with_keypoints, args.seed)
        made = time.perf_counter() - start
        cache_dir = str(root / "records_cache")
        phases = {kind: _in_fresh_process(measure_build, str(root), kind, cache_dir)
                  for kind in ("list", "cold", "cached")}
        loaders = (cache_dir, args.workers, args.batch)
        phases["workers"] = _in_fresh_process(measure_workers, str(root), "cold", *loaders)
        if args.baseline_workers:
            phases["list_workers"] = _in_fresh_process(measure_workers, str(root), "list", *loaders)
        json_mb = os.path.getsize(ann) / 2**20
    result = {"bench": "records", "images": args.images, "persons": args.persons,
              "with_keypoints": args.with_keypoints, "json_mb": round(json_mb, 1),
              "generate_s": round(made, 1),
              **{f"{kind}": value for kind, value in phases.items()}}
    cold, cached, listed, workers = phases["cold"], phases["cached"], phases["list"], phases["workers"]
    report(result, f"records: {cold['records']} persons; list {listed['seconds']} s, settled +"
                   f"{listed['settled_rss_mb']} MB | arrays cold {cold['seconds']} s, "
                   f"cached {cached['seconds']} s, settled +{cached['settled_rss_mb']} MB "
                   f"(live {cached['live_mb']} MB) | worker USS growth max {workers['max_growth_mb']} MB "
                   "over a pass")
