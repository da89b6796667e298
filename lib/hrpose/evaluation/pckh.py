"""MPII PCKh over plain arrays: the reference's evaluation (HRNet ``lib/dataset/mpii.py`` ``evaluate``).

A joint is correct when ``||pred - gt|| <= threshold * head_size`` with ``head_size = 0.6 * ||head box
diagonal||`` (``SC_BIAS``), counted over visible joints only. The table (percentages):

* Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle: PCKh@0.5 of the joint (the mean of left and right);
* Mean: correct / visible over all joints except pelvis and thorax (the PCKh@0.5 of the papers: 90.3 for
  HRNet-W32 on MPII val);
* Mean@0.1: the same at the reference's "0.1", which reads entry 11 of ``arange(0, 0.51, 0.01)``, i.e. a
  threshold of 0.11 (kept, so that numbers compare with the reference's 37.7 for W32).

A joint type with no visible instance has no PCKh (NaN in its row) and no weight in the means.
"""

import logging

import numpy as np

from hrpose.datasets.mpii import MPII_GT_JOINTS, MpiiGroundTruth
from hrpose.evaluation.predictions import PosePredictions
from hrpose.evaluation.rescore import rescore
from hrpose.evaluation.results_json import results_arrays, write_results_json

logger = logging.getLogger(__name__)

SC_BIAS = 0.6  # head size = 0.6 x head box diagonal
PCKH_THRESHOLD = 0.5
MEAN_AT_01_THRESHOLD = float(np.arange(0, 0.5 + 0.01, 0.01)[11])  # the reference's "Mean@0.1" (0.11)
PARTS = (("Head", ("head",)), ("Shoulder", ("lsho", "rsho")), ("Elbow", ("lelb", "relb")),
         ("Wrist", ("lwri", "rwri")), ("Hip", ("lhip", "rhip")), ("Knee", ("lkne", "rkne")),
         ("Ankle", ("lank", "rank")))
NOT_IN_MEAN = ("pelv", "thrx")
PCKH_STAT_NAMES = (*(name for name, _ in PARTS), "Mean", "Mean@0.1")


def head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """float64 [N]: ``SC_BIAS * ||corner1 - corner0||`` of head boxes [N, 2, 2]."""
    boxes = np.asarray(head_boxes, dtype=np.float64)
    return SC_BIAS * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)


def correct_joints(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, sizes: np.ndarray,
                   threshold: float) -> np.ndarray:
    """bool [N, K]: visible joints with ``||pred - gt|| <= threshold * size`` (pred, gt [N, K, 2])."""
    errors = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = errors / np.asarray(sizes, np.float64)[:, None]
    return (scaled <= threshold) & np.asarray(visible, bool)


def pckh_table(pred: np.ndarray, gt: MpiiGroundTruth, threshold: float = PCKH_THRESHOLD) -> dict[str, float]:
    """The PCKh table (``PCKH_STAT_NAMES`` -> percent) of predictions [N, 16, 2] (0-based pixels, MPII
    joint order) against ``gt``; ``threshold`` replaces 0.5 for the per-part rows and Mean."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != gt.keypoints.shape:
        raise ValueError(f"PCKh: predictions have shape {list(pred.shape)}, the ground truth {gt.source} "
                         f"{list(gt.keypoints.shape)} (one row per person, in the file's order)")
    sizes = head_sizes(gt.head_boxes)
    counts = gt.visible.sum(axis=0)
    index = {name: i for i, name in enumerate(MPII_GT_JOINTS)}
    in_mean = np.array([name not in NOT_IN_MEAN for name in MPII_GT_JOINTS]) & (counts > 0)

    def per_joint(thr: float) -> np.ndarray:
        correct = correct_joints(pred, gt.keypoints, gt.visible, sizes, thr).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100.0 * correct / counts

    pck = per_joint(threshold)
    table = {name: float(np.mean([pck[index[j]] for j in joints])) for name, joints in PARTS}
    weights = counts * in_mean / max(int((counts * in_mean).sum()), 1)
    table["Mean"] = float(np.sum(np.where(in_mean, pck, 0.0) * weights))
    table["Mean@0.1"] = float(np.sum(np.where(in_mean, per_joint(MEAN_AT_01_THRESHOLD), 0.0) * weights))
    return table


def evaluate_pckh(predictions: PosePredictions, gt: MpiiGroundTruth | None, out_json) -> dict[str, float]:
    """Write the predictions' results json (every box, dataset order; person score = mean keypoint
    score) and return the PCKh table against ``gt`` (``{}`` when None: a test set)."""
    if len(predictions) == 0:
        raise ValueError("evaluate_pckh: no predictions to evaluate (0 person boxes); check the test set")
    scores = rescore(predictions.keypoints[..., 2], predictions.box_scores, 0.0)
    path = write_results_json(results_arrays(predictions.image_ids, predictions.keypoints, scores,
                                             predictions.centers, predictions.scales), out_json)
    logger.info("wrote %d person results to %s", len(predictions), path)
    if gt is None:
        return {}
    if len(predictions) != len(gt):
        raise ValueError(f"PCKh: {len(predictions)} predictions but {len(gt)} persons in {gt.source}: the "
                         "test set's json and its gt_<set>.mat must list the same persons in the same order")
    return pckh_table(predictions.keypoints[..., :2], gt)
