"""Samplers and loaders: exact sharding, epoch-dependent shuffling, worker-independent samples, and the
dataset settings this pipeline rejects."""

import pytest
import torch
from torch.utils.data import DistributedSampler, SequentialSampler

from hrpose.codecs import MSRAHeatmap
from hrpose.config import get_cfg
from hrpose.datasets import COCO_KEYPOINTS, DatasetConfigError, ShardSampler, build_dataset
from hrpose.datasets import loader as loader_module
from hrpose.datasets.loader import build_dataset_files


@pytest.mark.parametrize(("num", "world"), [(0, 2), (1, 4), (10, 3), (11, 4), (118, 8), (5, 1)])
def test_shard_sampler_covers_every_index_exactly_once(num, world):
    shards = [list(ShardSampler(num, r, world)) for r in range(world)]
    merged = sorted(i for shard in shards for i in shard)
    assert merged == list(range(num))
    assert all(len(ShardSampler(num, r, world)) == len(shards[r]) for r in range(world))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert all(shard == sorted(shard) for shard in shards)


def test_shard_sampler_rejects_bad_rank():
    with pytest.raises(ValueError):
        ShardSampler(10, 3, 3)


def test_samplers_by_mode(sample_data_root, data_cfg, monkeypatch, make_dataset):
    cfg = data_cfg(sample_data_root)
    train, val = make_dataset(cfg, is_train=True), make_dataset(cfg, is_train=False)
    monkeypatch.setattr(loader_module, "get_world_size", lambda: 3)
    monkeypatch.setattr(loader_module, "get_rank", lambda: 1)
    shard = loader_module.build_sampler(val, False, True, True, 0)
    assert isinstance(shard, ShardSampler) and list(shard) == list(range(1, len(val), 3))
    assert isinstance(loader_module.build_sampler(train, True, True, True, 0), DistributedSampler)
    assert isinstance(loader_module.build_sampler(val, False, False, True, 0), SequentialSampler)
    assert isinstance(loader_module.build_sampler(train, True, False, False, 0), SequentialSampler)


def test_train_order_depends_on_seed_and_epoch_only(sample_data_root, data_cfg, make_dataset):
    ds = make_dataset(data_cfg(sample_data_root), is_train=True)
    sampler = loader_module.EpochShuffleSampler(ds, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(len(ds))) and list(sampler) == first
    ds.set_epoch(1)
    assert list(sampler) != first
    ds.set_epoch(0)
    assert list(sampler) == first


def test_loader_settings(sample_data_root, data_cfg, make_loader):
    cfg = data_cfg(sample_data_root, "TRAIN.BATCH_SIZE_PER_GPU", "4", "TEST.BATCH_SIZE_PER_GPU", "3")
    train, val = make_loader(cfg, True), make_loader(cfg, False)
    assert train.batch_size == 4 and val.batch_size == 3 and not train.drop_last
    assert not train.pin_memory or torch.cuda.is_available()
    batch = next(iter(val))
    assert batch["image"].shape == (3, 3, 128, 96) and batch["meta"]["index"].tolist() == [0, 1, 2]


def _batches(make_loader, cfg, epoch):
    loader = make_loader(cfg, True)
    loader.dataset.set_epoch(epoch)
    return [(b["meta"]["index"], b["image"], b["heatmaps"]) for b in loader]


def test_samples_do_not_depend_on_worker_count(sample_data_root, data_cfg, make_loader):
    opts = ("TRAIN.BATCH_SIZE_PER_GPU", "8", "DATASET.PROB_HALF_BODY", "0.3", "DATASET.ROT_FACTOR", "45")
    single = _batches(make_loader, data_cfg(sample_data_root, *opts, "WORKERS", "0"), epoch=2)
    multi = _batches(make_loader, data_cfg(sample_data_root, *opts, "WORKERS", "2"), epoch=2)
    assert len(single) == len(multi)
    for (i0, im0, hm0), (i1, im1, hm1) in zip(single, multi, strict=True):
        assert i0.equal(i1) and im0.equal(im1) and hm0.equal(hm1)


def test_set_epoch_reaches_persistent_workers(sample_data_root, data_cfg, make_dataset, make_loader):
    cfg = data_cfg(sample_data_root, "WORKERS", "1", "TRAIN.SHUFFLE", "False",
                   "TRAIN.BATCH_SIZE_PER_GPU", "64")
    loader = make_loader(cfg, True)
    assert loader.persistent_workers
    epochs = []
    for epoch in (0, 1):
        loader.dataset.set_epoch(epoch)
        epochs.append(next(iter(loader))["meta"]["rotation"])
    reference = make_dataset(cfg, is_train=True)
    reference.set_epoch(1)
    expected = torch.tensor([reference[i]["meta"]["rotation"] for i in range(len(reference))],
                            dtype=torch.float64)
    assert not epochs[0].equal(epochs[1])
    torch.testing.assert_close(epochs[1], expected)


CODEC = MSRAHeatmap((192, 256), (48, 64), 2)


def _cfg(**dataset):
    cfg = get_cfg()
    cfg.DATASET.DATASET, cfg.DATASET.ROOT = "coco", "/nonexistent"
    for key, value in dataset.items():
        cfg.DATASET[key] = value
    return cfg


def test_unsupported_dataset_settings():
    with pytest.raises(DatasetConfigError, match="DATA_FORMAT = 'zip'.*zip archives is not supported"):
        build_dataset(_cfg(DATA_FORMAT="zip"), True, CODEC, COCO_KEYPOINTS)
    with pytest.raises(DatasetConfigError, match="DATASET.ROOT is empty"):
        build_dataset(_cfg(ROOT=""), True, CODEC, COCO_KEYPOINTS)


def test_dataset_files_by_layout_and_keys():
    assert build_dataset_files(_cfg(TRAIN_SET="train2017", ROOT="r"), True) == (
        "r/annotations/person_keypoints_train2017.json", "r/images/train2017")
    assert build_dataset_files(_cfg(DATASET="mpii", TEST_SET="valid", ROOT="r"), False) == (
        "r/annot/valid.json", "r/images")
    keys = _cfg(DATASET="crowdpose", ROOT="r", TEST_ANN_FILE="json/crowdpose_test.json",
                TEST_IMAGES="/data/imgs", TRAIN_ANN_FILE="/abs/train.json", TRAIN_IMAGES=".")
    assert build_dataset_files(keys, False) == ("r/json/crowdpose_test.json", "/data/imgs")
    assert build_dataset_files(keys, True) == ("/abs/train.json", "r/.")


def test_files_by_key_with_sub_folders_in_file_name(sample_variant_root, variant_cfg, make_dataset):
    """PoseTrack18: file_name = images/<split>/<video>/<frame>.jpg below the root (TEST_IMAGES '.')."""
    root = sample_variant_root("posetrack18")
    ds = make_dataset(variant_cfg("posetrack18", root), is_train=False)
    path = ds.records[0].image_path
    assert path.startswith(f"{root}/./images/val/") and path.count("/") - str(root).count("/") == 5
    assert ds[0]["image"].shape == (3, 128, 96)  # the image is found and decoded


@pytest.mark.parametrize("variant", ["crowdpose", "aic", "posetrack18", "halpe", "ochuman", "mpii"])
def test_every_benchmark_layout_loads_by_its_sample_yaml(sample_variant_root, variant_cfg, make_dataset,
                                                         variant):
    cfg = variant_cfg(variant, sample_variant_root(variant))
    for is_train in (True, False):
        ds = make_dataset(cfg, is_train)
        item = ds[len(ds) - 1]
        assert len(ds) > 0 and item["heatmaps"].shape[0] == cfg.MODEL.NUM_JOINTS
        assert ds.keypoint_set.num_keypoints == cfg.MODEL.NUM_JOINTS
        assert item["target_weight"].sum() > 0
