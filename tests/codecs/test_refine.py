"""hrpose.codecs.refine, directly and through the MSRA codec's decode: the reference argmax + quarter offset
(incl. its quirks) and DARK sub-pixel refinement."""

import math

import cv2
import numpy as np
import pytest

from hrpose.codecs import MSRAHeatmap, refine

CODEC = MSRAHeatmap((192, 256), (48, 64), 2)  # heatmaps [.., 64, 48]: H = 64, W = 48


def _reference_decode(hm):
    """The reference get_max_preds + quarter offset, one joint at a time (test oracle)."""
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    for i in range(n):
        for j in range(k):
            idx = int(np.argmax(hm[i, j]))
            if hm[i, j].reshape(-1)[idx] <= 0:
                continue
            x, y = float(idx % w), float(idx // w)
            px, py = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                m = hm[i, j]
                x += np.sign(m[py][px + 1] - m[py][px - 1]) * 0.25
                y += np.sign(m[py + 1][px] - m[py - 1][px]) * 0.25
            coords[i, j] = x, y
    return coords


def _peak_map(x, y, right=0.5, left=0.2, down=0.1, up=0.3):
    hm = np.zeros((1, 1, 64, 48), np.float32)
    hm[0, 0, y, x] = 1.0
    if x + 1 < 48:
        hm[0, 0, y, x + 1] = right
    if x - 1 >= 0:
        hm[0, 0, y, x - 1] = left
    if y + 1 < 64:
        hm[0, 0, y + 1, x] = down
    if y - 1 >= 0:
        hm[0, 0, y - 1, x] = up
    return hm


def test_known_peak_gets_quarter_offset():
    coords, scores = CODEC.decode(_peak_map(10, 20))
    assert coords.dtype == np.float64 and scores.dtype == np.float32
    np.testing.assert_array_equal(coords[0, 0], [10.25, 19.75])  # right > left, up > down
    assert scores[0, 0] == 1.0


@pytest.mark.parametrize("x, y, expected", [
    (1, 20, [1.0, 20.0]),  # column 1: strict 1 < px excludes it (reference quirk): no offset at all
    (2, 20, [2.25, 19.75]),
    (46, 20, [46.25, 19.75]),  # px = W - 2 < W - 1 passes; right neighbour 0.5 > left 0.2
    (47, 20, [47.0, 20.0]),  # last column: no offset
    (10, 1, [10.0, 1.0]),  # row 1 excluded as well
    (10, 62, [10.25, 61.75]),
])
def test_strict_bounds(x, y, expected):
    coords, _ = CODEC.decode(_peak_map(x, y))
    np.testing.assert_array_equal(coords[0, 0], expected)


def test_zero_and_negative_maps_decode_to_origin():
    hm = np.zeros((2, 3, 64, 48), np.float32)
    hm[1] -= 1.0
    hm[1, 2, 5, 7] = -0.5  # the max is negative: coords zeroed too
    coords, scores = CODEC.decode(hm)
    np.testing.assert_array_equal(coords, 0.0)
    np.testing.assert_array_equal(scores[1], [-1.0, -1.0, -0.5])


def test_first_maximum_wins_and_no_post_process():
    hm = np.zeros((1, 1, 64, 48), np.float32)
    hm[0, 0, 30, 40] = hm[0, 0, 10, 5] = 0.9
    hm[0, 0, 10, 6] = 0.5
    coords, _ = CODEC.decode(hm, post_process=False)
    np.testing.assert_array_equal(coords[0, 0], [5.0, 10.0])
    coords, _ = CODEC.decode(hm)
    np.testing.assert_array_equal(coords[0, 0], [5.25, 10.0])


def test_vectorised_equals_reference_loop():
    rng = np.random.default_rng(0)
    hm = rng.standard_normal((4, 17, 64, 48)).astype(np.float32)
    hm[0, :3] = 0.0  # empty maps
    hm[1, 0, :, :] = -1.0
    hm[2, :, :, :2] += 10 * rng.random((17, 64, 2)).astype(np.float32)  # maxima near the border
    hm[3, :, :, 5] = 5.0  # ties: the first one wins
    coords, scores = CODEC.decode(hm)
    np.testing.assert_array_equal(coords, _reference_decode(hm))
    np.testing.assert_array_equal(scores, hm.reshape(4, 17, -1).max(axis=2))


def _gaussian(cx, cy, sigma=2.0, size=(48, 64)):
    xs, ys = np.arange(size[0]), np.arange(size[1])[:, None]
    return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def test_dark_recovers_subpixel_centre():
    rng = np.random.default_rng(3)
    centres = rng.uniform([4, 4], [43, 59], size=(20, 2))
    hm = np.stack([_gaussian(cx, cy) for cx, cy in centres])[None] * 0.8
    coords, scores = CODEC.decode(hm, method="dark")
    assert np.abs(coords[0] - centres).max() < 0.05
    np.testing.assert_array_equal(scores, hm.reshape(1, 20, -1).max(axis=2))  # original maxvals
    standard, _ = CODEC.decode(hm)
    assert np.abs(standard[0] - centres).max() > 0.05  # the quarter offset cannot do this


def test_dark_leaves_border_and_empty_maps_alone():
    hm = np.zeros((1, 3, 64, 48), np.float32)
    hm[0, 0] = _gaussian(0.3, 30.0)  # argmax at column 0: no room for the Taylor step
    hm[0, 1] = _gaussian(20.0, 62.8)  # argmax at the last row
    coords, _ = CODEC.decode(hm, method="dark")
    np.testing.assert_array_equal(coords[0], [[0.0, 30.0], [20.0, 63.0], [0.0, 0.0]])


def test_decode_does_not_mutate_and_rejects_bad_input():
    hm = np.random.default_rng(4).random((2, 3, 64, 48)).astype(np.float32)
    copy = hm.copy()
    CODEC.decode(hm, method="dark")
    CODEC.decode(hm)
    np.testing.assert_array_equal(hm, copy)
    with pytest.raises(ValueError, match="method"):
        CODEC.decode(hm, method="soft-argmax")
    with pytest.raises(ValueError, match=r"\[N, K, h, w\]"):
        CODEC.decode(hm[0])


def test_blur_equals_per_map_opencv():
    """The one-call blur equals DarkPose's per-map zero padding + cv2.GaussianBlur, max kept."""
    rng = np.random.default_rng(5)
    hm = rng.random((2, 4, 64, 48)).astype(np.float32)
    hm[1, 3] = 0.0  # max <= 0: unchanged
    out = refine.blur_keep_max(hm)
    for n in range(2):
        for k in range(4):
            padded = np.zeros((74, 58), np.float32)
            padded[5:-5, 5:-5] = hm[n, k]
            expected = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
            if hm[n, k].max() > 0:
                expected *= hm[n, k].max() / expected.max()
            np.testing.assert_allclose(out[n, k], expected, rtol=1e-6, atol=1e-7)


def test_the_steps_compose_to_the_codec_decode():
    rng = np.random.default_rng(6)
    hm = rng.standard_normal((3, 5, 64, 48)).astype(np.float32)
    copy = hm.copy()
    coords, maxvals = refine.argmax_coords(hm)
    np.testing.assert_array_equal(coords, CODEC.decode(hm, post_process=False)[0])
    np.testing.assert_array_equal(maxvals, CODEC.decode(hm)[1])
    shifted = refine.quarter_offset(hm, coords)
    np.testing.assert_array_equal(shifted, CODEC.decode(hm)[0])
    assert set(np.unique(np.abs(shifted - coords))) <= {0.0, 0.25}
    np.testing.assert_array_equal(refine.dark_refine(hm, coords), CODEC.decode(hm, method="dark")[0])
    np.testing.assert_array_equal(hm, copy)  # every step returns new arrays
