"""Person rescoring of the reference: box score x mean of the confident keypoint scores."""

import numpy as np


def rescore(keypoint_scores: np.ndarray, box_scores: np.ndarray, in_vis_thre: float) -> np.ndarray:
    """Reference rescoring (``coco.py`` evaluate), vectorised.

    Args:
        keypoint_scores: [N, K] decoded keypoint scores (heatmap maxima).
        box_scores: [N] detector scores (1 for GT boxes).
        in_vis_thre: keypoints scoring strictly above it enter the mean (``TEST.IN_VIS_THRE``); the
            comparison is in float64, as the reference's numpy-1 scalar comparison was.
    Returns:
        float64 [N]: ``mean(s_k for s_k > in_vis_thre) * box_score``, with mean 0 when no keypoint passes.
    """
    s = np.asarray(keypoint_scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"rescore expects keypoint scores [N, K], got shape {s.shape}")
    passing = s > in_vis_thre
    count = passing.sum(axis=1)
    total = np.where(passing, s, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_scores, dtype=np.float64).reshape(-1)
