"""Geometry round trips of hrpose.datasets.transforms (the one convention)."""

import numpy as np
import pytest

from hrpose.datasets import transforms as T
from hrpose.datasets.keypoints import COCO_KEYPOINTS

OUT = (48, 64)


@pytest.mark.parametrize("udp", [False, True])
@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0])
def test_affine_then_inverse_is_identity(udp, rotation):
    center, scale = np.array([150.0, 90.0], np.float32), np.array([0.9, 1.2], np.float32)
    forward = T.get_affine_matrix(center, scale, rotation, OUT, udp=udp)
    inverse = T.invert_affine(forward)
    pts = np.random.default_rng(0).uniform(0, 300, (20, 2))
    back = T.affine_points(T.affine_points(pts, forward), inverse)
    np.testing.assert_allclose(back, pts, atol=1e-6)
    np.testing.assert_allclose(T.compose_affine(inverse, forward), [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_reference_inverse_matches_invert_affine():
    center, scale = np.array([100.0, 80.0], np.float32), np.array([0.6, 0.8], np.float32)
    inv = T.reference_affine(center, scale, 20.0, OUT, inverse=True)
    np.testing.assert_allclose(inv, T.invert_affine(T.reference_affine(center, scale, 20.0, OUT)), atol=1e-4)


def test_center_maps_to_crop_center():
    center, scale = np.array([100.0, 80.0], np.float32), np.array([0.6, 0.8], np.float32)
    ref = T.affine_points(center, T.get_affine_matrix(center, scale, 15.0, OUT))
    udp = T.affine_points(center, T.get_affine_matrix(center, scale, 15.0, OUT, udp=True))
    np.testing.assert_allclose(ref, [OUT[0] / 2, OUT[1] / 2], atol=1e-4)
    np.testing.assert_allclose(udp, [(OUT[0] - 1) / 2, (OUT[1] - 1) / 2], atol=1e-9)


def test_flip_keypoints_twice_is_identity():
    kpts = np.random.default_rng(1).uniform(0, 200, (17, 3))
    once = T.flip_keypoints(kpts, 320, COCO_KEYPOINTS.flip_index)
    np.testing.assert_allclose(T.flip_keypoints(once, 320, COCO_KEYPOINTS.flip_index), kpts)
    np.testing.assert_allclose(once[1, 0], 319 - kpts[2, 0])  # left eye <- mirrored right eye
    np.testing.assert_allclose(once[1, 1:], kpts[2, 1:])


def test_flip_folded_into_affine_equals_mirrored_image():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    center, scale = np.array([30.0, 25.0], np.float32), np.array([0.2, 0.27], np.float32)
    folded = T.get_affine_matrix(center, scale, 10.0, OUT, flip_width=80)
    mirrored_center = np.array([80 - 1 - center[0], center[1]], np.float32)
    plain = T.get_affine_matrix(mirrored_center, scale, 10.0, OUT)
    a = T.warp_image(image, folded, OUT).astype(int)
    b = T.warp_image(np.ascontiguousarray(image[:, ::-1]), plain, OUT).astype(int)
    assert np.abs(a - b).mean() < 0.5 and np.abs(a - b).max() <= 3


def test_box_helpers_agree():
    boxes = np.array([[10, 20, 30, 90], [0, 0, 100, 20], [5, 5, 75, 100]], np.float64)
    centers, scales = T.boxes_to_centers_scales(boxes, 0.75)
    for box, c, s in zip(boxes, centers, scales, strict=True):
        c1, s1 = T.box_to_center_scale(box, 0.75)
        np.testing.assert_allclose(c, c1)
        np.testing.assert_allclose(s, s1, rtol=1e-6)
        assert abs(s1[0] / s1[1] - 0.75) < 1e-5


def test_sanitize_box_as_reference():
    assert T.sanitize_coco_box([-5, 10, 20, 30], 100, 100) == [0.0, 10.0, 19.0, 29.0]
    assert T.sanitize_coco_box([90, 90, 50, 50], 100, 100) == [90.0, 90.0, 9.0, 9.0]
    assert T.sanitize_coco_box([10, 10, 0, 30], 100, 100) is None
