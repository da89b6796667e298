"""UDP codec: unbiased targets, DARK-UDP decoding and the UDP inverse transform round-trip."""

import numpy as np
import pytest

from hrpose.codecs import HeatmapCodec, UDPHeatmap, build_codec, refine
from hrpose.config import get_cfg
from hrpose.datasets import transforms as T

SETTINGS = [((192, 256), (48, 64), 2), ((288, 384), (72, 96), 3)]
MARGIN = 6  # heatmap px from the border beyond which the DARK blur sees the whole blob


def _loop_udp_target(point, heatmap_size, sigma):
    """One joint, written out: Gaussian at the float point inside the 3-sigma window of its rounding."""
    w, h = heatmap_size
    mu = [int(point[0] + 0.5), int(point[1] + 0.5)]
    ul = [int(mu[0] - 3 * sigma), int(mu[1] - 3 * sigma)]
    br = [int(mu[0] + 3 * sigma + 1), int(mu[1] + 3 * sigma + 1)]
    out = np.zeros((h, w), np.float64)
    for y in range(max(0, ul[1]), min(br[1], h)):
        for x in range(max(0, ul[0]), min(br[0], w)):
            out[y, x] = np.exp(-((x - point[0]) ** 2 + (y - point[1]) ** 2) / (2 * sigma ** 2))
    return out


def _in_crop(rng, codec, n, margin):
    """Random crop points whose heatmap coordinate is at least ``margin`` from every border."""
    lo = np.full(2, margin, np.float64)
    hi = np.asarray(codec.heatmap_size, np.float64) - 1 - margin
    return rng.uniform(lo, hi, size=(n, 2)) / codec.factor


def test_build_and_affine():
    cfg = get_cfg()
    cfg.MODEL.CODEC = "udp"
    cfg.MODEL.IMAGE_SIZE, cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA = [192, 256], [48, 64], 2
    codec = build_codec(cfg)
    assert isinstance(codec, UDPHeatmap) and isinstance(codec, HeatmapCodec) and codec.udp is True
    c, s = np.array([300.5, 200.25], np.float32), np.array([1.2, 1.6], np.float32)
    for flip_width in (None, 640):
        expected = T.get_affine_matrix(c, s, -20.0, (192, 256), udp=True, flip_width=flip_width)
        np.testing.assert_array_equal(codec.image_affine(c, s, -20.0, flip_width), expected)


@pytest.mark.parametrize("input_size, heatmap_size, sigma", SETTINGS)
def test_encode_values_and_weights(input_size, heatmap_size, sigma):
    codec = UDPHeatmap(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(0)
    w, h = input_size
    pts = rng.uniform([-0.2 * w, -0.2 * h], [1.2 * w, 1.2 * h], size=(17, 2))
    pts[0] = [-1000, 50]  # window fully outside: weight 0
    pts[1] = [np.nan, 3.0]  # not finite: weight 0
    vis = rng.integers(0, 3, 17)
    vis[:2] = 2
    heatmaps, weights = codec.encode(pts, vis)
    assert heatmaps.shape == (17, heatmap_size[1], heatmap_size[0]) and heatmaps.dtype == np.float32
    assert weights.dtype == np.float32 and weights[0] == 0 and weights[1] == 0
    for k in range(2, 17):
        expected = _loop_udp_target(pts[k] * codec.factor, heatmap_size, sigma) * (weights[k] > 0.5)
        np.testing.assert_allclose(heatmaps[k], expected, atol=1e-6, rtol=0)
        if vis[k] == 0:
            assert weights[k] == 0 and not heatmaps[k].any()


def test_pixel_centre_keypoint_peaks_at_one():
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    corner = np.array([[0.0, 0.0], [191.0, 255.0]])  # the first and last crop pixels ...
    heatmaps, weights = codec.encode(corner, np.ones(2))
    assert heatmaps[0, 0, 0] == 1.0 and heatmaps[1, 63, 47] == 1.0  # ... land on heatmap pixels
    np.testing.assert_array_equal(weights, [1, 1])


@pytest.mark.parametrize("input_size, heatmap_size, sigma", SETTINGS)
def test_encode_decode_round_trip(input_size, heatmap_size, sigma):
    codec = UDPHeatmap(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(1)
    pts = _in_crop(rng, codec, 200, MARGIN)
    heatmaps, _ = codec.encode(pts, np.ones(len(pts)))
    coords, scores = codec.decode(heatmaps[None])
    assert np.abs(coords[0] - pts * codec.factor).max() < 0.05
    assert scores.min() > 0.9
    dark, _ = codec.decode(heatmaps[None], method="dark")
    np.testing.assert_array_equal(dark, coords)  # UDP always refines with DARK-UDP


def test_border_keypoints_stay_bounded():
    """Near the border the DARK blur is biased (as in mmpose); the result stays near the truth."""
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 1, size=(300, 2)) * (np.asarray(codec.input_size) - 1)
    heatmaps, _ = codec.encode(pts, np.ones(len(pts)))
    coords, _ = codec.decode(heatmaps[None])
    error = np.abs(coords[0] - pts * codec.factor)
    assert np.isfinite(error).all() and error.max() < 1.5


def test_image_round_trip():
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(3)
    center, scale = np.array([320.0, 240.0], np.float32), np.array([0.96, 1.28], np.float32)
    matrix = codec.image_affine(center, scale, 0.0)
    points = T.affine_points(_in_crop(rng, codec, 17, MARGIN), T.invert_affine(matrix))
    heatmaps, _ = codec.encode(T.affine_points(points, matrix), np.ones(17))
    coords, _ = codec.decode(heatmaps[None])
    back = codec.heatmap_to_image(coords, center[None], scale[None])[0]
    assert np.abs(back - points).max() < 0.1


def test_heatmap_to_image_equals_inverse_udp_affine(random_boxes):
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    centers, scales, coords = random_boxes(5, seed=4)
    out = codec.heatmap_to_image(coords, centers, scales)
    to_crop = (np.asarray(codec.input_size) - 1) / (np.asarray(codec.heatmap_size) - 1)
    for n in range(5):
        inv = T.udp_affine(centers[n], scales[n], 0, codec.input_size, inverse=True)
        np.testing.assert_allclose(out[n], T.affine_points(coords[n] * to_crop, inv), atol=1e-6, rtol=0)


def test_decode_edge_cases():
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    hm = np.zeros((1, 2, 64, 48), np.float32)
    hm[0, 1, 10, 20] = 1.0
    copy = hm.copy()
    coords, scores = codec.decode(hm)
    np.testing.assert_array_equal(coords[0, 0], [0.0, 0.0])  # empty map: origin, as the reference
    assert np.isfinite(coords).all()
    np.testing.assert_array_equal(codec.decode(hm, post_process=False)[0][0, 1], [20.0, 10.0])
    np.testing.assert_array_equal(hm, copy)
    with pytest.raises(ValueError, match="method"):
        codec.decode(hm, method="quarter")


def _loop_dark_udp(hm, coords):
    """mmpose-style DARK-UDP, one joint at a time on an edge-padded log map (test oracle)."""
    out = coords.copy()
    logs = np.log(np.clip(refine.blur_keep_max(hm), 1e-3, 50.0)).astype(np.float64)
    for n in range(hm.shape[0]):
        for k in range(hm.shape[1]):
            if hm[n, k].max() <= 0:
                continue
            m = np.pad(logs[n, k], 1, mode="edge")
            x, y = int(coords[n, k, 0]) + 1, int(coords[n, k, 1]) + 1
            dx, dy = 0.5 * (m[y, x + 1] - m[y, x - 1]), 0.5 * (m[y + 1, x] - m[y - 1, x])
            dxx = m[y, x + 1] - 2 * m[y, x] + m[y, x - 1]
            dyy = m[y + 1, x] - 2 * m[y, x] + m[y - 1, x]
            dxy = 0.5 * (m[y + 1, x + 1] - m[y, x + 1] - m[y + 1, x] + 2 * m[y, x] - m[y, x - 1]
                         - m[y - 1, x] + m[y - 1, x - 1])
            hessian = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
            out[n, k] -= np.linalg.solve(hessian, [dx, dy])
    return out


def test_dark_udp_equals_per_joint_loop():
    rng = np.random.default_rng(6)
    codec = UDPHeatmap((192, 256), (48, 64), 2)
    pts = rng.uniform(-10, 200, size=(2, 17, 2))
    hm = np.stack([codec.encode(p, np.ones(17))[0] for p in pts])
    hm += 0.05 * rng.random(hm.shape).astype(np.float32)  # network-like noise
    hm[0, 0] = 0.0
    coords, _ = refine.argmax_coords(hm)
    np.testing.assert_allclose(refine.dark_udp_refine(hm, coords), _loop_dark_udp(hm, coords), atol=1e-6)
