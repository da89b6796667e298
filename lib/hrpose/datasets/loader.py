"""``build_dataset`` / ``build_dataloader``: the only places of the data pipeline that read the config.

Sampling:
* train, single process: a shuffled order that is a function of ``(SEED, epoch)`` (the epoch the
  dataset was set to), so a resumed run repeats the interrupted epoch exactly;
* train, DDP: ``DistributedSampler`` (shuffle per ``TRAIN.SHUFFLE``, seed ``SEED``; the caller runs
  ``loader.sampler.set_epoch(e)``);
* eval: in order; under DDP ``ShardSampler`` gives rank r the indices r, r + W, ... with no padding,
  so every box is predicted exactly once (DistributedSampler would pad with duplicates).
Augmentation depends on ``(SEED, epoch, index)`` only, never on the worker that makes a sample.
"""

import logging
import os
import pathlib
import random
from collections.abc import Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler, SequentialSampler
from yacs.config import CfgNode

from hrpose.datasets.augment import AugmentConfig
from hrpose.datasets.coco import load_coco_records, select_data
from hrpose.datasets.coco_json import coco_paths, resolve_in_root
from hrpose.datasets.keypoints import KeypointSet
from hrpose.datasets.mpii import load_mpii_records, mpii_paths
from hrpose.datasets.records import PersonRecords, cache_key, cached_records, default_cache_dir
from hrpose.datasets.topdown import DEFAULT_CACHE_BYTES, SampleOptions, TopDownDataset
from hrpose.utils.dist import get_rank, get_world_size

logger = logging.getLogger(__name__)

SUPPORTED_FORMATS = ("jpg", "png")
# Batches each worker keeps ready: with W workers 2W are queued (32 at 16 workers, over a second of GPU
# training); more only adds pinned host memory (~90 MB per 256-crop batch that carries heatmaps).
PREFETCH_FACTOR = 2


class DatasetConfigError(ValueError):
    """A dataset setting this pipeline cannot honour; the message names the key."""


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of ``range(len(dataset))`` that depends on ``(seed, dataset.epoch)`` only."""

    def __init__(self, dataset: TopDownDataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.dataset.epoch)
        return iter(torch.randperm(len(self.dataset), generator=generator).tolist())


class ShardSampler(Sampler[int]):
    """Rank ``rank`` of ``world_size`` gets indices ``rank, rank + W, rank + 2W, ...`` in order.

    No padding: the shards have lengths differing by at most one, and together they cover every index
    exactly once.
    """

    def __init__(self, num_samples: int, rank: int, world_size: int):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        self.num_samples, self.rank, self.world_size = int(num_samples), int(rank), int(world_size)

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_samples, self.world_size))


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed the global generators per worker (augmentation does not use
    them, but third-party code might). Nothing of OpenCV is touched here: reconfiguring its thread pool
    in a forked child can deadlock (see ``build_dataloader``)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def check_dataset_config(cfg: CfgNode) -> None:
    """Reject dataset settings this pipeline does not implement, each with a clear message.
    (``DATASET.DATASET`` mpii reads the reference's MPII format; every other name a COCO-format json.)"""
    if cfg.DATASET.DATA_FORMAT not in SUPPORTED_FORMATS:
        raise DatasetConfigError(
            f"DATASET.DATA_FORMAT = {cfg.DATASET.DATA_FORMAT!r}: expected one of {list(SUPPORTED_FORMATS)} "
            "(reading images from zip archives is not supported; extract them under images/<set>/)")
    if not cfg.DATASET.ROOT:
        raise DatasetConfigError("DATASET.ROOT is empty: set it to the dataset folder (see data/README.md)")


def build_dataset_files(cfg: CfgNode, is_train: bool) -> tuple[str, str]:
    """(annotation file, image folder) of the training or test set: ``DATASET.{TRAIN,TEST}_ANN_FILE`` /
    ``_IMAGES`` taken from ``DATASET.ROOT`` when relative, else the layout of ``DATASET.DATASET``
    (mpii: ``annot/<set>.json`` and ``images/``; every other dataset the COCO layout)."""
    data = cfg.DATASET
    image_set, ann_file, images = ((data.TRAIN_SET, data.TRAIN_ANN_FILE, data.TRAIN_IMAGES) if is_train
                                   else (data.TEST_SET, data.TEST_ANN_FILE, data.TEST_IMAGES))
    layout = mpii_paths if data.DATASET == "mpii" else coco_paths
    default_ann, default_images = layout(data.ROOT, image_set)
    return (resolve_in_root(data.ROOT, ann_file, default_ann),
            resolve_in_root(data.ROOT, images, default_images))


def build_records(cfg: CfgNode, is_train: bool, num_keypoints: int, json_parts=()) -> PersonRecords:
    """The person records of the training or test set as compact arrays, through the records cache
    (``DATASET.RECORDS_CACHE``; see ``hrpose.datasets.records``). ``json_parts``: the keypoint set's
    ``parts`` (the json fields its keypoints are read from; COCO-WholeBody)."""
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    image_set = cfg.DATASET.TRAIN_SET if is_train else cfg.DATASET.TEST_SET
    ann_file, images = build_dataset_files(cfg, is_train)
    use_gt_boxes = is_train or bool(cfg.TEST.USE_GT_BBOX)
    det_file = "" if use_gt_boxes or cfg.DATASET.DATASET == "mpii" else cfg.TEST.COCO_BBOX_FILE

    def build() -> list:
        if cfg.DATASET.DATASET == "mpii":  # person boxes from the annotated centre/scale (no detector boxes)
            records = load_mpii_records(ann_file, images, image_set, num_keypoints)
        else:
            records, _ = load_coco_records(
                cfg.DATASET.ROOT, image_set, num_keypoints, width / height, use_gt_boxes=use_gt_boxes,
                det_file=cfg.TEST.COCO_BBOX_FILE, score_threshold=float(cfg.TEST.IMAGE_THRE),
                extension=cfg.DATASET.DATA_FORMAT, ann_file=ann_file, images=images, json_parts=json_parts)
        return select_data(records) if is_train and cfg.DATASET.SELECT_DATA else records

    settings = {"dataset": cfg.DATASET.DATASET, "set": image_set, "images": os.path.abspath(images),
                "K": num_keypoints, "aspect": width / height, "gt_boxes": use_gt_boxes,
                "score": float(cfg.TEST.IMAGE_THRE), "ext": cfg.DATASET.DATA_FORMAT,
                "select": bool(is_train and cfg.DATASET.SELECT_DATA)}
    if json_parts:  # only then: the cache keys of single-field sets stay as they were
        settings["parts"] = [[p.name, p.field, p.size] for p in json_parts]
    cache = str(cfg.DATASET.RECORDS_CACHE)
    cache_dir = None if cache.lower() == "none" else pathlib.Path(cache) if cache else default_cache_dir()
    what = f"{'train' if is_train else 'test'} set {image_set!r}"
    if not os.path.isfile(ann_file) or (det_file and not os.path.isfile(det_file)):
        cache_dir = None  # a missing file: the loader's own error names it
    return cached_records(cache_dir, cache_key(ann_file, det_file, settings) if cache_dir else "", build,
                          num_keypoints, what)


def build_dataset(cfg: CfgNode, is_train: bool, codec, keypoint_set: KeypointSet,
                  target_renderer=None) -> TopDownDataset:
    """The training (``TRAIN_SET``, GT boxes, augmentation) or evaluation (``TEST_SET``, GT boxes or the
    detector json per ``TEST.USE_GT_BBOX``) dataset.

    ``codec`` (``hrpose.codecs.build_codec``) and ``keypoint_set`` (``build_keypoint_set``) are built once
    by the caller, which keeps them; with a ``target_renderer`` (``hrpose.codecs.build_target_renderer``)
    the training items carry keypoints for it instead of heatmaps.
    """
    check_dataset_config(cfg)
    width, height = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    image_set = cfg.DATASET.TRAIN_SET if is_train else cfg.DATASET.TEST_SET
    records = build_records(cfg, is_train, keypoint_set.num_keypoints, keypoint_set.parts)
    if not len(records):
        raise DatasetConfigError(f"no person boxes in image set {image_set!r} under {cfg.DATASET.ROOT}")
    augment = None
    if is_train:
        augment = AugmentConfig(
            scale_factor=float(cfg.DATASET.SCALE_FACTOR), rot_factor=float(cfg.DATASET.ROT_FACTOR),
            flip=bool(cfg.DATASET.FLIP), prob_half_body=float(cfg.DATASET.PROB_HALF_BODY),
            num_joints_half_body=int(cfg.DATASET.NUM_JOINTS_HALF_BODY), aspect_ratio=width / height)
    options = SampleOptions(
        seed=int(cfg.SEED), color_rgb=bool(cfg.DATASET.COLOR_RGB),
        use_joint_weights=bool(cfg.LOSS.USE_DIFFERENT_JOINTS_WEIGHT),
        cache_bytes=DEFAULT_CACHE_BYTES if cfg.DATASET.CACHE_IMAGES else 0,
        skip_bad_images=bool(cfg.DATASET.SKIP_BAD_IMAGES),
        targets_on_device=is_train and target_renderer is not None)
    return TopDownDataset(records, keypoint_set, codec, augment, options)


def build_sampler(dataset: TopDownDataset, is_train: bool, distributed: bool, shuffle: bool,
                  seed: int) -> Sampler:
    if is_train and distributed:
        return DistributedSampler(dataset, num_replicas=get_world_size(), rank=get_rank(), shuffle=shuffle,
                                  seed=seed, drop_last=False)
    if is_train and shuffle:
        return EpochShuffleSampler(dataset, seed)
    if distributed:
        return ShardSampler(len(dataset), get_rank(), get_world_size())
    return SequentialSampler(dataset)


def build_dataloader(cfg: CfgNode, is_train: bool, codec, keypoint_set: KeypointSet,
                     distributed: bool = False, target_renderer=None) -> DataLoader:
    """DataLoader over ``build_dataset(cfg, is_train, codec, keypoint_set, target_renderer)``; batch
    ``TRAIN/TEST.BATCH_SIZE_PER_GPU`` per process, ``WORKERS`` workers (persistent for training), pinned
    memory only with CUDA, ``drop_last`` False. ``distributed``: shard over the process group's ranks."""
    dataset = build_dataset(cfg, is_train, codec, keypoint_set, target_renderer)
    sampler = build_sampler(dataset, is_train, distributed, bool(cfg.TRAIN.SHUFFLE), int(cfg.SEED))
    batch_size = cfg.TRAIN.BATCH_SIZE_PER_GPU if is_train else cfg.TEST.BATCH_SIZE_PER_GPU
    workers = int(cfg.WORKERS)
    if workers > 0:
        # OpenCV's thread pool does not survive fork (a worker that touches it can hang), and the crops
        # are small: keep OpenCV serial in this process before the workers are forked from it.
        cv2.setNumThreads(1)
    return DataLoader(
        dataset, batch_size=int(batch_size), sampler=sampler, num_workers=workers,
        # training workers persist across epochs; evaluation workers exist only while a validation runs
        # (persistent ones would keep WORKERS idle processes per rank alive for the whole training)
        worker_init_fn=seed_worker if workers > 0 else None, persistent_workers=workers > 0 and is_train,
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
        # pinned batches let the training step's non_blocking copies overlap with the GPU's work
        pin_memory=bool(cfg.PIN_MEMORY) and torch.cuda.is_available(), drop_last=False)
