"""MPII PCKh: the reference's table (HRNet lib/dataset/mpii.py evaluate) reproduced against an independent,
loop-by-loop computation; 100 for the ground truth fed back; a public implementation's published test
case (mmeval's MpiiPCKAccuracy) reproduced exactly; the results file and clear errors."""

import json
import math

import numpy as np
import pytest

from hrpose.datasets.mpii import MPII_GT_JOINTS, MpiiGroundTruth
from hrpose.evaluation import (
    PCKH_STAT_NAMES,
    PosePredictions,
    evaluate_pckh,
    format_results_table,
    pckh_table,
)

PART_JOINTS = {"Head": ["head"], "Shoulder": ["lsho", "rsho"], "Elbow": ["lelb", "relb"],
               "Wrist": ["lwri", "rwri"], "Hip": ["lhip", "rhip"], "Knee": ["lkne", "rkne"],
               "Ankle": ["lank", "rank"]}


def expected_table(pred, gt_xy, visible, head_boxes, threshold=0.5) -> dict:
    """The reference's definitions, person by person and joint by joint: head size 0.6 x head box diagonal;
    a visible joint is correct when its error <= threshold x head size; parts average left and right;
    Mean weighs joints by their visible count without pelvis and thorax; "Mean@0.1" is at 0.11 (entry 11
    of the reference's 0:0.01:0.5 range)."""
    n, k = visible.shape

    def pck(thr):
        out = []
        for j in range(k):
            hits = count = 0
            for i in range(n):
                if not visible[i, j]:
                    continue
                (x0, y0), (x1, y1) = head_boxes[i]
                size = 0.6 * math.hypot(x1 - x0, y1 - y0)
                error = math.hypot(pred[i, j, 0] - gt_xy[i, j, 0], pred[i, j, 1] - gt_xy[i, j, 1])
                count += 1
                hits += error / size <= thr
            out.append((100.0 * hits / count, count))
        return out

    def mean(values):
        kept = [(v, c) for name, (v, c) in zip(MPII_GT_JOINTS, values, strict=True)
                if name not in ("pelv", "thrx")]
        return sum(v * c for v, c in kept) / sum(c for _, c in kept)

    at = pck(threshold)
    table = {part: sum(at[MPII_GT_JOINTS.index(j)][0] for j in joints) / len(joints)
             for part, joints in PART_JOINTS.items()}
    table["Mean"] = mean(at)
    table["Mean@0.1"] = mean(pck(0.11))
    return table


@pytest.fixture(scope="module")
def fixture():
    """40 persons: head sizes 12-60 px, 20% missing joints, errors from 0 to 1.2 head sizes, plus three
    errors exactly at 0.5 head size and three between 0.1 and 0.11 (the reference's "Mean@0.1")."""
    rng = np.random.default_rng(3)
    n = 40
    gt = rng.uniform(0, 500, (n, 16, 2))
    visible = rng.random((n, 16)) > 0.2
    corner = rng.uniform(0, 400, (n, 2))
    head_boxes = np.stack([corner, corner + rng.uniform(15, 70, (n, 2))], axis=1)
    sizes = 0.6 * np.linalg.norm(head_boxes[:, 1] - head_boxes[:, 0], axis=1)
    angle = rng.uniform(0, 2 * np.pi, (n, 16))
    radius = rng.uniform(0, 1.2, (n, 16)) * sizes[:, None]
    pred = gt + np.stack([np.cos(angle), np.sin(angle)], axis=2) * radius[..., None]
    head_boxes[0] = [[10, 10], [40, 50]]  # diagonal 50: head size 30, exactly representable
    visible[0, :] = True
    pred[0, :3] = gt[0, :3] + (15.0, 0.0)  # exactly 0.5 head size: correct (<=)
    pred[0, 3:6] = gt[0, 3:6] + (0.105 * 30, 0.0)  # misses 0.1, counts at the reference's 0.11
    return pred, MpiiGroundTruth(gt, visible, head_boxes, "fixture")


def test_reproduces_the_reference_table(fixture):
    pred, gt = fixture
    table = pckh_table(pred, gt)
    expected = expected_table(pred, gt.keypoints, gt.visible, gt.head_boxes)
    assert list(table) == list(PCKH_STAT_NAMES) == list(expected)
    for name in PCKH_STAT_NAMES:
        assert table[name] == pytest.approx(expected[name], abs=1e-9), name
    assert 20 < table["Mean"] < 80 and table["Mean@0.1"] < table["Mean"]


def test_ground_truth_fed_back_is_100(fixture):
    _, gt = fixture
    table = pckh_table(gt.keypoints.copy(), gt)
    assert all(value == pytest.approx(100.0) for value in table.values())


def test_mmeval_published_case():
    """mmeval tests/test_metrics/test_pck_accuracy.py, MpiiPCKAccuracy(thr=0.2, norm_item='head') with
    head_size 10: Head/Shoulder/Elbow 100, Wrist 50, Hip/Knee 100, Ankle 0, PCKh 78.5714..., PCKh@0.1 0.
    Its predictions are 0-based, its ground truth 1-based (MATLAB), as the reference's."""
    pred = np.array([[[2, 4], [6, 8], [6, 9], [7, 8], [3, 4], [7, 8], [8, 9], [8, 8], [1, 9], [2, 8], [4, 8],
                      [6, 9], [6, 2], [1, 2], [2, 3], [9, 9]]], dtype=np.float64)
    gt_one_based = np.array([[[1, 4], [6, 8], [6, 9], [7, 8], [3, 4], [1, 8], [8, 9], [8, 8], [1, 9], [2, 8],
                              [1, 7], [6, 9], [6, 2], [1, 2], [2, 3], [9, 9]]], dtype=np.float64)
    head_box = np.array([[[0.0, 0.0], [10.0 / 0.6, 0.0]]])  # head size 0.6 x 16.67 = 10
    gt = MpiiGroundTruth(gt_one_based - 1.0, np.ones((1, 16), bool), head_box, "mmeval")
    table = pckh_table(pred, gt, threshold=0.2)
    published = {"Head": 100, "Shoulder": 100, "Elbow": 100, "Wrist": 50, "Hip": 100, "Knee": 100,
                 "Ankle": 0.0, "Mean": 78.57142857142856, "Mean@0.1": 0.0}
    assert table == pytest.approx(published, abs=1e-12)


def _predictions(xy: np.ndarray) -> PosePredictions:
    n = len(xy)
    kpts = np.concatenate([xy, np.full((n, 16, 1), 0.8)], axis=2)
    return PosePredictions(np.arange(1, n + 1), kpts, np.ones(n), np.full(n, 1e4), np.zeros((n, 2)),
                           np.ones((n, 2)))


def test_evaluate_writes_results_and_checks_the_count(fixture, tmp_path):
    pred, gt = fixture
    out = tmp_path / "results" / "keypoints_valid_gt_results.json"
    predictions = _predictions(pred)  # float32 keypoints, as predicted
    assert evaluate_pckh(predictions, gt, out) == pckh_table(predictions.keypoints[..., :2], gt)
    people = json.loads(out.read_text())
    assert len(people) == 40 and len(people[0]["keypoints"]) == 48
    assert people[0]["score"] == pytest.approx(0.8)
    assert evaluate_pckh(_predictions(pred), None, tmp_path / "test.json") == {}  # a test set: json only
    with pytest.raises(ValueError, match="39 predictions but 40 persons in fixture"):
        evaluate_pckh(_predictions(pred[:39]), gt, out)
    with pytest.raises(ValueError, match="no predictions"):
        evaluate_pckh(PosePredictions.empty(16), gt, out)


def test_table_layout():
    table = format_results_table("pose_hrnet", dict.fromkeys(PCKH_STAT_NAMES, 90.3), PCKH_STAT_NAMES)
    lines = table.splitlines()
    assert lines[0] == "| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |"
    assert lines[2] == "| pose_hrnet | " + " | ".join(["90.300"] * 9) + " |"
