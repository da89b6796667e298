"""Augmentation parameters: distributions, half-body, and the (seed, epoch, index) streams."""

import numpy as np

from hrpose.datasets.augment import AugmentConfig, half_body_box, sample_augment_params, sample_rng
from hrpose.datasets.keypoints import COCO_KEYPOINTS

PARTS = (COCO_KEYPOINTS.upper_body_ids, COCO_KEYPOINTS.lower_body_ids)
CENTER, SCALE = np.array([100.0, 120.0], np.float32), np.array([0.6, 0.8], np.float32)


def _person(rng):
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 0] = rng.uniform(70, 130, 17)
    kpts[:, 1] = np.linspace(40, 200, 17)
    kpts[:, 2] = 2
    return kpts


def _draws(config, n=4000, kpts=None):
    kpts = _person(np.random.default_rng(0)) if kpts is None else kpts
    return [sample_augment_params(sample_rng(0, 0, i), CENTER, SCALE, kpts, config, PARTS) for i in range(n)]


def test_same_seed_epoch_index_same_params_and_epochs_differ():
    config = AugmentConfig(scale_factor=0.35, rot_factor=45, prob_half_body=0.3)
    kpts = _person(np.random.default_rng(0))

    def draw(seed, epoch, index):
        return sample_augment_params(sample_rng(seed, epoch, index), CENTER, SCALE, kpts, config, PARTS)

    a, b = draw(0, 3, 7), draw(0, 3, 7)
    assert (a.rotation, a.flip, a.half_body) == (b.rotation, b.flip, b.half_body)
    np.testing.assert_array_equal(a.scale, b.scale)
    np.testing.assert_array_equal(a.center, b.center)
    others = [draw(0, e, 7) for e in range(4, 10)] + [draw(1, 3, 7)]
    assert any(not np.array_equal(o.scale, a.scale) for o in others)


def test_distributions_match_the_reference():
    draws = _draws(AugmentConfig(scale_factor=0.35, rot_factor=45, prob_half_body=0.0))
    factors = np.array([d.scale[0] / SCALE[0] for d in draws])
    rotations = np.array([d.rotation for d in draws])
    assert factors.min() >= 0.65 - 1e-6 and factors.max() <= 1.35 + 1e-6
    assert abs(factors.mean() - 1.0) < 0.02
    assert abs((rotations != 0).mean() - 0.6) < 0.03
    assert np.abs(rotations).max() <= 90.0
    assert abs(np.mean([d.flip for d in draws]) - 0.5) < 0.03
    assert all(d.half_body == "" for d in draws)


def test_no_flip_when_disabled():
    assert not any(d.flip for d in _draws(AugmentConfig(flip=False), n=200))


def test_half_body_is_upper_or_lower_50_50():
    draws = _draws(AugmentConfig(prob_half_body=0.3, num_joints_half_body=8))
    kinds = np.array([d.half_body for d in draws])
    assert abs((kinds != "").mean() - 0.3) < 0.03
    upper = (kinds == "upper").sum() / (kinds != "").sum()
    assert abs(upper - 0.5) < 0.05  # the reference's randn() < 0.5 gave 0.69


def test_half_body_needs_more_than_threshold_joints():
    kpts = _person(np.random.default_rng(0))
    kpts[8:, 2] = 0  # 8 labelled joints, threshold 8 -> never
    assert all(d.half_body == "" for d in _draws(AugmentConfig(prob_half_body=1.0), n=100, kpts=kpts))


def test_half_body_box_geometry():
    kpts = np.zeros((17, 3), np.float32)
    kpts[11:17, :2] = [[10, 100], [30, 100], [10, 140], [30, 140], [10, 180], [30, 180]]
    kpts[11:17, 2] = 2
    center, scale, name = half_body_box(kpts, PARTS, want_upper=True, aspect_ratio=0.75)
    assert name == "lower"  # upper has no labelled joint: fall back to the lower body
    np.testing.assert_allclose(center, [20, 140])
    # w=20, h=80 -> w = 60 (aspect 0.75), then /200 and x1.5
    np.testing.assert_allclose(scale, [60 / 200 * 1.5, 80 / 200 * 1.5], rtol=1e-6)
    kpts[11:, 2] = 0
    assert half_body_box(kpts, PARTS, want_upper=True, aspect_ratio=0.75) is None
