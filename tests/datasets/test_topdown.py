"""The top-down dataset item: contract, a direct computation, flips, reproducibility, cache, colour, and
bad images (one clear error naming the file, or a logged, counted skip)."""

import logging
import re

import numpy as np
import pytest
import torch

from hrpose.codecs import build_codec, build_target_renderer
from hrpose.datasets import ImageReadError, build_keypoint_set
from hrpose.datasets import transforms as T
from hrpose.datasets.topdown import crop_keypoints, read_image

TRAIN_AUG = ("DATASET.PROB_HALF_BODY", "0.3", "DATASET.ROT_FACTOR", "45", "DATASET.SCALE_FACTOR", "0.35")


@pytest.fixture(scope="module")
def train_set(sample_data_root, data_cfg, make_dataset):
    return make_dataset(data_cfg(sample_data_root, *TRAIN_AUG), is_train=True)


def test_item_contract(train_set):
    item = train_set[0]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 128, 96)
    assert item["heatmaps"].dtype == torch.float32 and item["heatmaps"].shape == (17, 32, 24)
    assert item["target_weight"].dtype == torch.float32 and item["target_weight"].shape == (17, 1)
    meta = item["meta"]
    keys = {"index", "image_id", "center", "scale", "rotation", "score", "area", "joints", "flipped"}
    assert keys <= set(meta)
    assert meta["center"].dtype == np.float32 and meta["center"].shape == (2,)
    assert meta["scale"].dtype == np.float32 and meta["joints"].dtype == np.float32
    assert meta["joints"].shape == (17, 3)
    np.testing.assert_array_equal(meta["joints"], train_set.records[0].keypoints)
    batch = torch.utils.data.default_collate([train_set[0], train_set[1]])
    assert batch["meta"]["center"].shape == (2, 2) and batch["meta"]["flipped"].dtype == torch.bool


def test_test_mode_item_equals_direct_computation(sample_data_root, data_cfg, make_dataset):
    cfg = data_cfg(sample_data_root)
    ds = make_dataset(cfg, is_train=False)
    rec = ds.records[3]
    image = read_image(rec.image_path)
    matrix = T.reference_affine(rec.center, rec.scale, 0.0, (96, 128))
    crop = T.warp_image(image, matrix, (96, 128))
    points = T.affine_points(rec.keypoints[:, :2], matrix)
    heatmaps, weights = build_codec(cfg).encode(points, rec.keypoints[:, 2])
    item = ds[3]
    np.testing.assert_array_equal(item["image"].numpy(), crop.transpose(2, 0, 1))
    np.testing.assert_array_equal(item["heatmaps"].numpy(), heatmaps)
    np.testing.assert_array_equal(item["target_weight"].numpy()[:, 0], weights)
    meta = item["meta"]
    np.testing.assert_array_equal(meta["center"], rec.center)
    np.testing.assert_array_equal(meta["scale"], rec.scale)
    assert meta["rotation"] == 0.0 and not meta["flipped"] and meta["score"] == 1.0
    assert ds[3]["heatmaps"].equal(item["heatmaps"])  # no augmentation: always the same


def _flipped_index(ds):
    return next(i for i in range(len(ds)) if ds.crop_params(i)[3])


def test_flipped_item_equals_mirrored_keypoints_with_pairs_swapped(train_set):
    i = _flipped_index(train_set)
    rec, item = train_set.records[i], train_set[i]
    center, scale, rotation, flip = train_set.crop_params(i)
    width = int(item["meta"]["image_size"][0])
    # the pure-function path: mirror the keypoints (pairs swapped), crop around the mirrored centre
    mirrored = T.flip_keypoints(rec.keypoints, width, train_set.keypoint_set.flip_index)
    mirrored_center = np.array([width - 1 - center[0], center[1]], np.float32)
    plain = T.get_affine_matrix(mirrored_center, scale, rotation, (96, 128))
    expected = T.affine_points(mirrored[:, :2], plain)
    folded = train_set.codec.image_affine(center, scale, rotation, flip_width=width)
    points, visible = crop_keypoints(rec.keypoints, folded, train_set.keypoint_set.flip_index)
    np.testing.assert_allclose(points, expected, atol=1e-6)
    np.testing.assert_array_equal(visible, mirrored[:, 2])
    heatmaps, weights = train_set.codec.encode(expected, mirrored[:, 2])
    np.testing.assert_allclose(item["heatmaps"].numpy(), heatmaps, atol=1e-6)
    np.testing.assert_array_equal(item["target_weight"].numpy()[:, 0], weights)
    assert item["meta"]["flipped"]
    # and the crop is the crop of the mirrored image
    image = read_image(rec.image_path)
    mirrored_crop = T.warp_image(np.ascontiguousarray(image[:, ::-1]), plain, (96, 128))
    diff = np.abs(item["image"].numpy().transpose(1, 2, 0).astype(int) - mirrored_crop.astype(int))
    assert diff.mean() < 0.5


def test_same_seed_epoch_index_identical_and_epoch_changes_it(sample_data_root, data_cfg, make_dataset):
    a = make_dataset(data_cfg(sample_data_root, *TRAIN_AUG), is_train=True)
    b = make_dataset(data_cfg(sample_data_root, *TRAIN_AUG), is_train=True)
    for ds in (a, b):
        ds.set_epoch(5)
    assert a[2]["image"].equal(b[2]["image"]) and a[2]["heatmaps"].equal(b[2]["heatmaps"])
    before = a[2]["meta"]
    a.set_epoch(6)
    after = a[2]["meta"]
    assert (before["rotation"], before["flipped"], tuple(before["scale"])) != (
        after["rotation"], after["flipped"], tuple(after["scale"]))


def test_cache_gives_identical_samples_and_respects_budget(sample_data_root, data_cfg, make_dataset):
    plain = make_dataset(data_cfg(sample_data_root, *TRAIN_AUG), is_train=True)
    cached = make_dataset(data_cfg(sample_data_root, *TRAIN_AUG, "DATASET.CACHE_IMAGES", "True"),
                           is_train=True)
    for i in (0, 1, 0):
        assert cached[i]["image"].equal(plain[i]["image"])
    assert 0 < cached._cache.used <= cached._cache.max_bytes
    cached._cache.max_bytes = cached._cache.used  # full: new images are decoded but not kept
    n = len(cached._cache._images)
    cached[len(cached) - 1]
    assert len(cached._cache._images) == n


def test_color_rgb_reverses_channels(sample_data_root, data_cfg, make_dataset):
    bgr = make_dataset(data_cfg(sample_data_root), is_train=False)[0]["image"]
    rgb = make_dataset(data_cfg(sample_data_root, "DATASET.COLOR_RGB", "True"), is_train=False)[0]["image"]
    assert rgb.equal(bgr.flip(0))


def test_joint_weights(sample_data_root, data_cfg, make_dataset):
    plain = make_dataset(data_cfg(sample_data_root), is_train=False)[0]["target_weight"][:, 0]
    weighted = make_dataset(data_cfg(sample_data_root, "LOSS.USE_DIFFERENT_JOINTS_WEIGHT", "True"),
                             is_train=False)[0]["target_weight"][:, 0]
    ks = make_dataset(data_cfg(sample_data_root), is_train=False).keypoint_set
    ks_weights = torch.tensor(ks.joint_weights)
    torch.testing.assert_close(weighted, plain * ks_weights.float())


def test_records_are_not_modified_by_getitem(train_set):
    before = [(r.center.copy(), r.scale.copy(), r.keypoints.copy()) for r in train_set.records]
    for i in range(len(train_set)):
        train_set[i]
    for rec, (c, s, k) in zip(train_set.records, before, strict=True):
        np.testing.assert_array_equal(rec.center, c)
        np.testing.assert_array_equal(rec.scale, s)
        np.testing.assert_array_equal(rec.keypoints, k)


def test_targets_on_device_items_render_to_the_cpu_targets(sample_data_root, data_cfg, make_dataset):
    """TRAIN.TARGETS_ON_DEVICE: keypoints instead of maps; the rendered batch equals the encoded one."""
    opts = (*TRAIN_AUG, "LOSS.USE_DIFFERENT_JOINTS_WEIGHT", "True")
    cpu_cfg = data_cfg(sample_data_root, *opts)
    cpu = make_dataset(cpu_cfg, is_train=True)
    cfg = data_cfg(sample_data_root, *opts, "TRAIN.TARGETS_ON_DEVICE", "True")
    dev = make_dataset(cfg, is_train=True)
    assert build_target_renderer(cpu_cfg, cpu.codec, cpu.keypoint_set) is None
    assert not make_dataset(cfg, is_train=False).targets_on_device
    for ds in (cpu, dev):
        ds.set_epoch(3)
    item = dev[0]
    assert "heatmaps" not in item and item["keypoints"].dtype == torch.float32
    assert item["keypoints"].shape == (17, 2) and item["target_weight"].shape == (17, 1)
    indices = range(len(cpu))
    expected = torch.utils.data.default_collate([cpu[i] for i in indices])
    batch = torch.utils.data.default_collate([dev[i] for i in indices])
    renderer = build_target_renderer(cfg, dev.codec, dev.keypoint_set)
    heatmaps, weights = renderer(batch["keypoints"], batch["target_weight"])
    assert torch.equal(heatmaps, expected["heatmaps"]) and torch.equal(weights, expected["target_weight"])
    assert torch.equal(batch["image"], expected["image"])
    assert (weights == 0).any() and (weights > 0).any()


def test_targets_on_device_is_msra_only(sample_data_root, data_cfg, make_dataset):
    cfg = data_cfg(sample_data_root, "TRAIN.TARGETS_ON_DEVICE", "True", "MODEL.CODEC", "udp")
    with pytest.raises(ValueError, match="TRAIN.TARGETS_ON_DEVICE supports MODEL.CODEC msra only"):
        build_target_renderer(cfg, build_codec(cfg), build_keypoint_set(cfg))
    assert "heatmaps" in make_dataset(cfg, is_train=False)[0]  # evaluation is unaffected


# --- bad images: one clear error naming the file, or a logged, counted skip ---------------------------

def test_missing_image_names_the_path(sample_copy, data_cfg, make_dataset):
    ds = make_dataset(data_cfg(sample_copy), is_train=False)
    path = ds.records[0].image_path
    (sample_copy / path).unlink()
    with pytest.raises(ImageReadError, match=f"{re.escape(path)}.*not found"):
        ds[0]


def test_undecodable_jpeg_names_the_path(sample_copy, data_cfg, make_dataset):
    ds = make_dataset(data_cfg(sample_copy), is_train=True)
    path = ds.records[0].image_path
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ImageReadError, match=f"{re.escape(path)}.*cannot be decoded"):
        ds[0]


def test_skip_bad_images_logs_and_counts(sample_copy, data_cfg, caplog, make_dataset):
    ds = make_dataset(data_cfg(sample_copy, "DATASET.SKIP_BAD_IMAGES", "True"), is_train=False)
    bad = ds.records[0].image_path
    (sample_copy / bad).unlink()
    first_good = next(i for i, r in enumerate(ds.records) if r.image_path != bad)
    with caplog.at_level(logging.WARNING):
        item = ds[0]
    assert item["meta"]["index"] == first_good and ds.bad_images == first_good
    assert bad in caplog.text
