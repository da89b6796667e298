"""MSRA codec: targets equal the reference per-joint loop; affine and inverse transform match transforms."""

import numpy as np
import pytest

from benchmarks.reference.target_baseline import generate_target_baseline
from hrpose.codecs import HeatmapCodec, MSRAHeatmap, build_codec
from hrpose.config import get_cfg
from hrpose.datasets import transforms as T

SETTINGS = [  # (input (w, h), heatmap (w, h), sigma)
    ((192, 256), (48, 64), 2),
    ((288, 384), (72, 96), 3),
    ((192, 256), (48, 64), 2.5),  # float sigma: the reference's float arange arithmetic
]


def _hard_joints(rng, input_size, n=17):
    """Random crop keypoints incl. off-crop, just-outside (partial patches) and negative ones."""
    w, h = input_size
    pts = rng.uniform([-0.3 * w, -0.3 * h], [1.3 * w, 1.3 * h], size=(n, 2))
    pts[0] = [-3.0, 10.0]  # negative x: int() truncates toward 0 (mu_x = 0, not -1)
    pts[1] = [w + 10.0, h * 0.5]  # just outside the right edge: partial patch
    pts[2] = [-1000.0, -1000.0]  # far off-crop: weight 0
    pts[3] = [w * 0.5, h + 20.0]  # below: partial patch
    return pts


@pytest.mark.parametrize("input_size, heatmap_size, sigma", SETTINGS)
def test_encode_equals_reference_loop(input_size, heatmap_size, sigma):
    codec = MSRAHeatmap(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(0)
    for _ in range(30):
        joints = _hard_joints(rng, input_size)
        vis = rng.integers(0, 3, size=17).astype(np.float32)  # COCO v in {0, 1, 2}
        heatmaps, weights = codec.encode(joints, vis)
        ref_maps, ref_weights = generate_target_baseline(joints, vis, input_size, heatmap_size, sigma)
        assert heatmaps.dtype == np.float32 and weights.dtype == np.float32
        assert heatmaps.shape == (17, heatmap_size[1], heatmap_size[0]) and weights.shape == (17,)
        np.testing.assert_array_equal(heatmaps, ref_maps)
        np.testing.assert_array_equal(weights, ref_weights[:, 0])


def test_special_cases():
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    joints = np.array([[-31.0, 100.0], [-40.0, 100.0], [96.0, 128.0], [96.0, 128.0], [-3.0, 128.0]])
    vis = np.array([1, 1, 0, 2, 1])
    heatmaps, weights = codec.encode(joints, vis)
    # br_x == 0 exactly (mu_x = int(-7.75 + 0.5) = -7, br = -7 + 7 = 0): the reference quirk,
    # an empty map that keeps weight 1.
    assert weights[0] == 1 and not heatmaps[0].any()
    assert weights[1] == 0 and not heatmaps[1].any()  # br_x = -1 < 0: outside
    assert weights[2] == 0 and not heatmaps[2].any()  # invisible
    assert weights[3] == 1 and heatmaps[3, 32, 24] == 1.0  # v = 2 clipped to 1, peak 1 at (24, 32)
    assert heatmaps[4, 32, 0] == 1.0  # mu_x = int(-0.25) = 0 (truncation toward zero)
    ref = generate_target_baseline(joints, vis, (192, 256), (48, 64), 2)
    np.testing.assert_array_equal(heatmaps, ref[0])


def test_encode_does_not_mutate_inputs():
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    joints = np.array([[10.5, 20.25], [100.0, 3.0]])
    vis = np.array([2.0, 1.0])
    joints_copy, vis_copy = joints.copy(), vis.copy()
    codec.encode(joints, vis)
    np.testing.assert_array_equal(joints, joints_copy)
    np.testing.assert_array_equal(vis, vis_copy)


def test_build_codec_and_protocol():
    cfg = get_cfg()
    cfg.MODEL.IMAGE_SIZE = [192, 256]
    cfg.MODEL.HEATMAP_SIZE = [48, 64]
    cfg.MODEL.SIGMA = 2
    codec = build_codec(cfg)
    assert isinstance(codec, MSRAHeatmap) and isinstance(codec, HeatmapCodec)
    assert codec.input_size == (192, 256) and codec.heatmap_size == (48, 64) and codec.sigma == 2
    assert codec.udp is False
    cfg.MODEL.CODEC = "bogus"
    with pytest.raises(ValueError, match="MODEL.CODEC"):
        build_codec(cfg)


@pytest.mark.parametrize("flip_width", [None, 640])
def test_image_affine_is_reference_affine(flip_width):
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    c, s = np.array([300.5, 200.25], np.float32), np.array([1.2, 1.6], np.float32)
    expected = T.get_affine_matrix(c, s, 30.0, (192, 256), udp=False, flip_width=flip_width)
    np.testing.assert_array_equal(codec.image_affine(c, s, 30.0, flip_width), expected)


def test_heatmap_to_image_equals_inverse_reference_affine(random_boxes):
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    centers, scales, coords = random_boxes(6, seed=1)
    out = codec.heatmap_to_image(coords, centers, scales)
    for n in range(6):
        inv = T.reference_affine(centers[n], scales[n], 0, (48, 64), inverse=True)
        np.testing.assert_allclose(out[n], T.affine_points(coords[n], inv), atol=1e-4, rtol=0)


def test_round_trip_bounded_by_quantisation():
    """image -> crop -> target -> decode -> image: error <= 0.5 cell (rounding) + 0.25 (quarter offset)."""
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(2)
    center, scale = np.array([320.0, 240.0], np.float32), np.array([1.5, 2.0], np.float32)
    matrix = codec.image_affine(center, scale, 0.0)
    crop = rng.uniform([12, 12], [180, 244], size=(17, 2))  # maps fully inside the heatmap interior
    points = T.affine_points(crop, T.invert_affine(matrix))
    heatmaps, _ = codec.encode(T.affine_points(points, matrix), np.ones(17))
    coords, scores = codec.decode(heatmaps[None])
    back = codec.heatmap_to_image(coords, center[None], scale[None])[0]
    cell = scale[0] * T.PIXEL_STD / codec.heatmap_size[0]  # image px per heatmap px
    assert np.abs(back - points).max() <= 0.75 * cell + 1e-6
    np.testing.assert_array_equal(scores, np.ones((1, 17), np.float32))
