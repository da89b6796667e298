"""The torch MSRA paths equal the numpy codec exactly: targets rendered from keypoints, standard decoding."""

import numpy as np
import pytest
import torch

from hrpose.codecs import MSRAHeatmap, build_codec, build_target_renderer
from hrpose.codecs.msra_torch import MSRATargetRenderer, decode_standard
from hrpose.datasets import COCO_KEYPOINTS

SETTINGS = [  # (input (w, h), heatmap (w, h), sigma)
    ((192, 256), (48, 64), 2),
    ((288, 384), (72, 96), 3),
    ((192, 256), (48, 64), 2.5),  # float sigma: windows one shorter than the patch
    ((200, 250), (48, 64), 2),  # non-integer strides (4.1667, 3.9063)
]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _hard_keypoints(rng, codec, n=17):
    """Crop keypoints [n, 2] with the edge cases of the reference rules (see the comments)."""
    w, h = codec.input_size
    sx, sy = codec.stride
    pts = rng.uniform([-0.3 * w, -0.3 * h], [1.3 * w, 1.3 * h], size=(n, 2))
    pts[0] = [-31.0, 100.0]  # mu_x = int(-7.75 + 0.5) = -7 -> br_x == 0 with sigma 2: empty map, weight 1
    pts[1] = [-3.0, 10.0]  # negative x: int() truncates toward 0
    pts[2] = [w + 10.0, h * 0.5]  # just outside the right edge: partial patch
    pts[3] = [-1000.0, -1000.0]  # far off the crop: weight 0
    pts[4] = [np.nan, 5.0]  # not finite: weight 0
    pts[5] = [np.inf, 5.0]
    # rounding boundaries of int(x + 0.5), just below / at / above in float64 heatmap px
    pts[6] = [(10.5 - 1e-9) * sx, (20.5 + 1e-9) * sy]
    pts[7] = [(-0.5 - 1e-9) * sx, (0.5 - 1e-12) * sy]
    pts[8] = [(3.5 - 2e-8) * sx, (-1.5 + 1e-10) * sy]
    pts[9] = [(7.5 - 1e-7) * sx, 12.5 * sy]
    return pts


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("input_size, heatmap_size, sigma", SETTINGS)
def test_rendered_targets_equal_encode(input_size, heatmap_size, sigma, device):
    codec = MSRAHeatmap(input_size, heatmap_size, sigma)
    joint_weights = np.linspace(0.5, 1.5, 17).astype(np.float32)
    renderer = MSRATargetRenderer(codec.heatmap_size, codec.sigma, joint_weights)
    rng = np.random.default_rng(0)
    keypoints, weights, expected_maps, expected_weights = [], [], [], []
    for _ in range(24):
        pts = _hard_keypoints(rng, codec)
        vis = rng.choice([0, 1, 2, 0.3, 0.7], size=17).astype(np.float32)  # COCO v and fractional
        vis[0] = 1
        maps, w = codec.encode(pts, vis)
        expected_maps.append(maps)
        expected_weights.append(w * joint_weights)  # what the dataset does on the CPU
        kp, v = codec.heatmap_keypoints(pts, vis)
        keypoints.append(kp)
        weights.append(v[:, None])
    rendered, rendered_weights = renderer(torch.from_numpy(np.stack(keypoints)).to(device),
                                          torch.from_numpy(np.stack(weights)).to(device))
    assert rendered.dtype == torch.float32 and rendered.shape == (24, 17, heatmap_size[1], heatmap_size[0])
    assert rendered_weights.shape == (24, 17, 1) and rendered.device.type == device
    np.testing.assert_array_equal(rendered.cpu().numpy(), np.stack(expected_maps))
    np.testing.assert_array_equal(rendered_weights.cpu().numpy()[..., 0], np.stack(expected_weights))
    if codec.stride[0] == 4 and sigma == 2:  # joint 0 hits the br == 0 quirk: empty map, weight > 0
        assert (rendered_weights[:, 0] > 0).all() and not rendered[:, 0].any()


def test_heatmap_keypoints_keep_the_integer_centre():
    """float32 heatmap px whose int(x + 0.5) is the codec's float64 centre, even at the boundaries."""
    codec = MSRAHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(1)
    boundaries = rng.integers(-80, 80, size=(4000, 2)) - 0.5
    exact = boundaries + rng.choice([-1e-6, -1e-8, -1e-10, 0.0, 1e-10, 1e-8, 1e-6], size=(4000, 2))
    coords, _ = codec.heatmap_keypoints(exact * 4.0, np.ones(4000))
    assert coords.dtype == np.float32
    rounded_naively = np.trunc(exact.astype(np.float32).astype(np.float64) + 0.5) != np.trunc(exact + 0.5)
    assert rounded_naively.any()  # the case the ulp correction exists for does occur
    np.testing.assert_array_equal(np.trunc(coords.astype(np.float64) + 0.5), np.trunc(exact + 0.5))
    assert np.abs(coords - exact).max() < 1e-5


def test_renderer_is_msra_only(data_cfg, tmp_path):
    cfg = data_cfg(tmp_path, "TRAIN.TARGETS_ON_DEVICE", "True", "MODEL.CODEC", "udp")
    with pytest.raises(ValueError, match="TARGETS_ON_DEVICE supports MODEL.CODEC msra only"):
        build_target_renderer(cfg, build_codec(cfg), COCO_KEYPOINTS)


def _tricky_heatmaps(rng, n=64, k=17, h=32, w=24) -> np.ndarray:
    """Random maps with ties (few distinct values), zero and negative maps, border maxima."""
    maps = rng.integers(0, 4, size=(n, k, h, w)).astype(np.float32) * 0.25  # many tied maxima
    maps[::3] = rng.normal(0, 1, size=maps[::3].shape).astype(np.float32)  # unique maxima, some <= 0
    maps[1, :] = 0.0  # all-zero maps: coords 0
    maps[2, :] = -rng.uniform(0.1, 1, size=(k, h, w))  # maximum < 0: coords 0
    for j, (y, x) in enumerate([(0, 0), (1, 1), (h - 1, w - 1), (h - 2, w - 2), (2, 2), (0, 5), (5, 1)]):
        maps[4, j] = 0.0
        maps[4, j, y, x] = 1.0  # maxima on and next to the border (strict 1 < x < w - 1 bound)
    maps[5, 0, 10, 10] = maps[5, 0, 10, 11] = 5.0  # an exact tie between neighbours: the first wins
    maps[5, 1, 10, 9:12] = [2.0, 5.0, 2.0]  # equal neighbours: sign(0) = 0 offset
    return maps


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("post_process", [True, False])
def test_decode_standard_equals_codec(device, post_process):
    codec = MSRAHeatmap((96, 128), (24, 32), 2)
    maps = _tricky_heatmaps(np.random.default_rng(2))
    coords, scores = decode_standard(torch.from_numpy(maps).to(device), post_process)
    expected_coords, expected_scores = codec.decode(maps, "standard", post_process)
    assert coords.device.type == device and coords.shape == (64, 17, 2) and scores.shape == (64, 17)
    np.testing.assert_array_equal(coords.cpu().double().numpy(), expected_coords)
    np.testing.assert_array_equal(scores.cpu().numpy(), expected_scores)
    assert coords[5, 0].tolist() == [10.0 + 0.25 * post_process, 10.0]  # first of two tied maxima


def test_decode_standard_small_maps_and_shape_check():
    codec = MSRAHeatmap((8, 8), (2, 2), 1)
    maps = np.random.default_rng(3).normal(size=(3, 2, 2, 2)).astype(np.float32)
    coords, scores = decode_standard(torch.from_numpy(maps))
    np.testing.assert_array_equal(coords.double().numpy(), codec.decode(maps)[0])
    with pytest.raises(ValueError, match=r"\[N, K, h, w\]"):
        decode_standard(torch.zeros(2, 3, 4))


def test_build_target_renderer_follows_the_config(data_cfg, tmp_path):
    codec = MSRAHeatmap((96, 128), (24, 32), 2)
    assert build_target_renderer(data_cfg(tmp_path), codec, COCO_KEYPOINTS) is None
    cfg = data_cfg(tmp_path, "TRAIN.TARGETS_ON_DEVICE", "True", "LOSS.USE_DIFFERENT_JOINTS_WEIGHT", "True")
    codec = build_codec(cfg)
    renderer = build_target_renderer(cfg, codec, COCO_KEYPOINTS)
    weighted = np.asarray(COCO_KEYPOINTS.joint_weights, dtype=np.float32)
    reference = MSRATargetRenderer(codec.heatmap_size, codec.sigma, weighted)
    points = torch.from_numpy(np.random.default_rng(0).uniform(0, 24, (2, 17, 2)).astype(np.float32))
    ones = torch.ones(2, 17, 1)
    for got, want in zip(renderer(points, ones), reference(points, ones), strict=True):
        assert torch.equal(got, want)
