"""PoseTracker: ids through crossing trajectories, re-identification after a short gap, IoU and greedy
matching, the config builder."""

import numpy as np
import pytest

from hrpose.apis.tracking import PoseTracker, box_iou, build_tracker, greedy_match
from hrpose.datasets.keypoints import COCO_KEYPOINTS

SIGMAS = COCO_KEYPOINTS.sigmas
# A standing person in a 60 x 120 box: 17 COCO keypoints as fractions of the box (x, y).
TEMPLATE = np.array([[.5, .08], [.55, .06], [.45, .06], [.6, .08], [.4, .08], [.7, .25], [.3, .25], [.8, .42],
                     [.2, .42], [.85, .55], [.15, .55], [.62, .55], [.38, .55], [.62, .77], [.38, .77],
                     [.62, .97], [.38, .97]])


def person(x: float, y: float, w: float = 60.0, h: float = 120.0):
    """(box [5] x, y, w, h, score; keypoints [17, 3]) of the template person with its box at (x, y)."""
    keypoints = np.concatenate([TEMPLATE * [w, h] + [x, y], np.ones((17, 1))], axis=1)
    return np.array([x, y, w, h, 0.9]), keypoints


def frame(*people):
    boxes, keypoints = zip(*(person(*p) for p in people), strict=True)
    return np.stack(boxes), np.stack(keypoints)


def crossing_frames(n: int = 15):
    """A walks right, B walks left (8 px per frame), 3 px apart vertically; their boxes overlap for several
    frames, and at frame 6 each one's new position is 2 px from the other's last one (8 px from its own)."""
    a = [(40.0 + 8 * t, 50.0) for t in range(n)]
    b = [(126.0 - 8 * t, 53.0) for t in range(n)]
    return [frame(pa, pb) for pa, pb in zip(a, b, strict=True)]


@pytest.mark.parametrize("match", ["oks", "iou"])
def test_crossing_trajectories_keep_their_ids(match):
    tracker = PoseTracker(match, threshold=0.1, max_age=5, sigmas=SIGMAS)
    ids = np.array([tracker.update(boxes, keypoints) for boxes, keypoints in crossing_frames()])
    assert (ids[:, 0] == ids[0, 0]).all() and (ids[:, 1] == ids[0, 1]).all(), ids.T
    assert set(ids[0]) == {0, 1}
    # Without the motion prediction the nearest-track rule swaps them where they cross.
    still = PoseTracker(match, threshold=0.1, max_age=5, sigmas=SIGMAS, predict_motion=False)
    swapped = np.array([still.update(boxes, keypoints) for boxes, keypoints in crossing_frames()])
    assert not (swapped[:, 0] == swapped[0, 0]).all()


@pytest.mark.parametrize("match", ["oks", "iou"])
def test_reidentified_after_a_short_gap_new_id_after_a_long_one(match):
    tracker = PoseTracker(match, threshold=0.3, max_age=4, sigmas=SIGMAS)
    walker = [(20.0 + 5 * t, 40.0) for t in range(40)]
    standing = (300.0, 60.0)
    ids = {}
    for t, position in enumerate(walker):
        hidden = 10 <= t < 14 or 20 <= t < 26  # missed for 4 frames (<= max_age), then for 6 (> max_age)
        boxes, keypoints = frame(standing) if hidden else frame(standing, position)
        ids[t] = tracker.update(boxes, keypoints).tolist()
    assert all(ids[t][0] == 0 for t in ids)  # the standing person is never disturbed
    assert {ids[t][1] for t in range(0, 20) if len(ids[t]) > 1} == {1}  # back at t=14 with its id
    assert {ids[t][1] for t in range(26, 40)} == {2}  # gone too long: a new id, never a reused one
    assert tracker.next_id == 3 and sorted(t.track_id for t in tracker.tracks) == [0, 2]


def test_empty_frames_age_tracks_and_reset():
    tracker = PoseTracker("iou", max_age=1)
    assert tracker.update(*frame((0, 0))).tolist() == [0]
    for _ in range(2):
        assert tracker.update(np.zeros((0, 5))).tolist() == []
    assert tracker.tracks == [] and tracker.update(*frame((0, 0))).tolist() == [1]
    tracker.reset()
    assert tracker.update(np.array([[0, 0, 10, 10]])).tolist() == [0]  # IoU needs no keypoints
    with pytest.raises(ValueError, match="keypoints"):
        PoseTracker("oks", sigmas=SIGMAS).update(np.array([[0, 0, 10, 10]]))
    with pytest.raises(ValueError, match="TRACK.MATCH"):
        PoseTracker("centre")


def test_box_iou_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 20]])
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [500, 500, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 1, 0, 0], [0, 0, 0, 0]])
    sim = np.array([[0.9, 0.8, 0.1], [0.85, 0.2, np.nan]])
    assert greedy_match(sim, 0.15) == [(0, 0), (1, 1)]  # most similar first: row 1 cannot take column 0
    assert greedy_match(sim, 0.5) == [(0, 0)]
    assert greedy_match(np.zeros((0, 3)), 0.1) == [] and greedy_match(np.zeros((2, 0)), 0.1) == []


def test_build_tracker(tiny_cfg):
    tracker = build_tracker(tiny_cfg("TRACK.MATCH", "iou", "TRACK.MAX_AGE", "3", "TRACK.THRESHOLD", "0.4"),
                            COCO_KEYPOINTS)
    assert (tracker.match, tracker.max_age, tracker.threshold) == ("iou", 3, 0.4)
    np.testing.assert_allclose(tracker.sigmas, SIGMAS)
