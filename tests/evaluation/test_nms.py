import numpy as np
import pytest

from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.evaluation import nms_per_image, oks_iou, oks_matrix, oks_nms, soft_oks_nms

SIGMAS = np.array(COCO_KEYPOINTS.sigmas)


def _pose(rng, cx, cy, size=100.0):
    xy = rng.uniform(-size / 2, size / 2, (17, 2)) + (cx, cy)
    return np.concatenate([xy, rng.uniform(0.3, 1, (17, 1))], axis=1).astype(np.float32)


def _loop_oks(g, d, a_g, a_d, sigmas):
    """The reference's oks_iou, one detection at a time."""
    var = (sigmas * 2) ** 2
    out = np.zeros(len(d))
    for n in range(len(d)):
        dx, dy = d[n, :, 0] - g[:, 0], d[n, :, 1] - g[:, 1]
        e = (dx ** 2 + dy ** 2) / var / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        out[n] = np.sum(np.exp(-e)) / e.shape[0]
    return out


def _loop_nms(kps, scores, areas, thresh, sigmas):
    """The reference's greedy oks_nms (ties ordered as its argsort()[::-1] on small inputs)."""
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        ovr = _loop_oks(kps[i], kps[order[1:]], areas[i], areas[order[1:]], sigmas)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def _loop_soft_nms(kps, scores, areas, thresh, sigmas, max_dets=20):
    order = np.argsort(scores, kind="stable")[::-1]
    scores = scores[order]
    keep = []
    while order.size > 0 and len(keep) < max_dets:
        i = order[0]
        ovr = _loop_oks(kps[i], kps[order[1:]], areas[i], areas[order[1:]], sigmas)
        order, scores = order[1:], scores[1:] * np.exp(-ovr ** 2 / thresh)
        tmp = np.argsort(scores, kind="stable")[::-1]
        order, scores = order[tmp], scores[tmp]
        keep.append(i)
    return keep


def _clustered(seed, persons=4, copies=5):
    """Several persons, each detected ``copies`` times with small jitter (like a detector's duplicates)."""
    rng = np.random.default_rng(seed)
    kps, areas = [], []
    for p in range(persons):
        base = _pose(rng, 150 * p, 100)
        for _ in range(copies):
            jitter = rng.normal(0, rng.uniform(0.5, 8), (17, 2))
            kps.append(base + np.concatenate([jitter, np.zeros((17, 1))], 1))
            areas.append(rng.uniform(5000, 20000))
    return np.array(kps, np.float32), rng.uniform(0, 1, len(kps)), np.array(areas)


def test_identical_poses_have_oks_one():
    pose = _pose(np.random.default_rng(0), 50, 50)
    assert oks_iou(pose, pose[None], 1000.0, np.array([1000.0]), SIGMAS) == pytest.approx([1.0])
    assert oks_iou(pose.ravel(), pose[None].reshape(1, -1), 1000.0, [1000.0], SIGMAS) == pytest.approx([1.0])


def test_oks_matches_reference_loop():
    kps, _, areas = _clustered(0)
    expected = _loop_oks(kps[0], kps[1:], areas[0], areas[1:], SIGMAS)
    assert oks_iou(kps[0], kps[1:], areas[0], areas[1:], SIGMAS) == pytest.approx(expected, rel=1e-6)
    matrix = oks_matrix(kps, areas, SIGMAS)
    assert matrix[0, 1:] == pytest.approx(expected, rel=1e-6)
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)


def test_hand_made_case_suppresses_duplicates_keeps_persons():
    rng = np.random.default_rng(1)
    a = _pose(rng, 100, 100)
    a_dup = a + np.array([1.0, -1.0, 0.0], np.float32)  # the same person, 1 px off
    b = _pose(rng, 400, 100)  # another person
    b_dup = b + np.array([0.5, 0.5, 0.0], np.float32)
    kps = np.stack([a_dup, a, b, b_dup])
    scores = np.array([0.8, 0.9, 0.7, 0.95])
    areas = np.full(4, 10000.0)
    assert oks_nms(kps, scores, areas, 0.9, SIGMAS).tolist() == [3, 1]
    # Same boxes split over two images: nothing crosses images; results grouped by first appearance.
    image_ids = np.array([5, 5, 9, 9])
    assert nms_per_image(image_ids, kps, scores, areas, 0.9, SIGMAS).tolist() == [1, 3]
    assert nms_per_image(np.array([9, 5, 5, 9]), kps, scores, areas, 0.9, SIGMAS).tolist() == [3, 0, 1, 2]
    # A loose threshold keeps everything, in score order.
    assert oks_nms(kps, scores, areas, 1.0, SIGMAS).tolist() == [3, 1, 0, 2]


def test_soft_nms_reorders_and_caps():
    rng = np.random.default_rng(2)
    a, b = _pose(rng, 100, 100), _pose(rng, 400, 100)
    kps = np.stack([a, a + np.float32(0.5), b])
    scores = np.array([0.9, 0.85, 0.6])
    areas = np.full(3, 10000.0)
    # The duplicate's score decays below the distinct person's; nothing is dropped.
    assert soft_oks_nms(kps, scores, areas, 0.9, SIGMAS).tolist() == [0, 2, 1]
    assert soft_oks_nms(kps, scores, areas, 0.9, SIGMAS, max_dets=2).tolist() == [0, 2]
    assert scores.tolist() == [0.9, 0.85, 0.6]  # inputs untouched


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_equals_reference_loops(seed):
    kps, scores, areas = _clustered(seed)
    for thresh in (0.5, 0.9):
        expected = _loop_nms(kps, scores, areas, thresh, SIGMAS)
        assert oks_nms(kps, scores, areas, thresh, SIGMAS).tolist() == expected
        assert (soft_oks_nms(kps, scores, areas, thresh, SIGMAS).tolist()
                == _loop_soft_nms(kps, scores, areas, thresh, SIGMAS))


def test_ties_follow_reference_order_and_empty_input():
    pose = _pose(np.random.default_rng(3), 0, 0)
    far = pose + np.float32(500)
    kps = np.stack([pose, far, pose + np.float32(1000)])
    assert oks_nms(kps, np.ones(3), np.full(3, 1e4), 0.9, SIGMAS).tolist() == [2, 1, 0]
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0), 0.9, SIGMAS).tolist() == []
    assert nms_per_image(np.zeros(0), np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0), 0.9, SIGMAS).size == 0


def test_all_images_at_once_equals_image_by_image():
    rng = np.random.default_rng(4)
    parts, ids = [], []
    for image_id, persons in enumerate([1, 1, 2, 3, 8, 60]):  # 5 .. 300 boxes per image
        kps, _, areas = _clustered(image_id, persons=persons, copies=5)
        parts.append((kps, areas))
        ids += [100 - image_id] * len(kps)
    kps = np.concatenate([p[0] for p in parts])
    areas = np.concatenate([p[1] for p in parts])
    scores = rng.uniform(0, 1, len(kps)).round(1)  # many exact ties
    perm = rng.permutation(len(kps))  # images interleaved
    kps, areas, scores, ids = kps[perm], areas[perm], scores[perm], np.array(ids)[perm]
    for thresh in (0.5, 0.9):
        expected = []
        for image_id in dict.fromkeys(ids.tolist()):  # first-appearance order
            rows = np.flatnonzero(ids == image_id)
            expected += rows[_loop_nms(kps[rows], scores[rows], areas[rows], thresh, SIGMAS)].tolist()
        assert nms_per_image(ids, kps, scores, areas, thresh, SIGMAS).tolist() == expected
