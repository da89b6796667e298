"""``PosePredictions``: the plain arrays the COCO evaluation works on (one row per person box)."""

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

# field name -> (dtype, shape after the leading N; 'K' is the number of keypoints)
_LAYOUT = {
    "image_ids": (np.int64, ()),
    "keypoints": (np.float32, ("K", 3)),
    "box_scores": (np.float32, ()),
    "areas": (np.float32, ()),
    "centers": (np.float32, (2,)),
    "scales": (np.float32, (2,)),
}


@dataclass(frozen=True, eq=False)
class PosePredictions:
    """Predicted poses of N person boxes, in image pixels.

    Attributes:
        image_ids: int64 [N], the COCO image id of each box.
        keypoints: float32 [N, K, 3], ``(x, y, score)`` per keypoint (score = decoded heatmap maximum).
        box_scores: float32 [N], detector score (1 for ground-truth boxes).
        areas: float32 [N], the area used by OKS-NMS: ``prod(scale * 200)`` (padded box), as the reference.
        centers: float32 [N, 2], box centre (pixels); written to the results json as an extra.
        scales: float32 [N, 2], box scale (size / 200, padded); written to the results json as an extra.

    The arrays are converted to these dtypes on construction (copies; the inputs are not kept) and
    their shapes are checked; ``ValueError`` names the offending field.
    """

    image_ids: np.ndarray
    keypoints: np.ndarray
    box_scores: np.ndarray
    areas: np.ndarray
    centers: np.ndarray
    scales: np.ndarray

    def __post_init__(self):
        keypoints = np.asarray(self.keypoints)
        if keypoints.ndim != 3 or keypoints.shape[2] != 3:
            raise ValueError(f"PosePredictions.keypoints must be [N, K, 3], got shape {keypoints.shape}")
        n, k = keypoints.shape[:2]
        for name, (dtype, tail) in _LAYOUT.items():
            value = np.array(getattr(self, name), dtype=dtype, copy=True)
            if name in ("box_scores", "areas", "image_ids"):
                value = value.reshape(-1) if value.size == n else value
            expected = (n, *(k if d == "K" else d for d in tail))
            if value.shape != expected:
                raise ValueError(f"PosePredictions.{name} must have shape {list(expected)}, "
                                 f"got {list(value.shape)}")
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[1])

    @classmethod
    def empty(cls, num_keypoints: int) -> "PosePredictions":
        """No boxes, K keypoints."""
        return cls(np.zeros(0), np.zeros((0, num_keypoints, 3)), np.zeros(0), np.zeros(0),
                   np.zeros((0, 2)), np.zeros((0, 2)))

    def select(self, index) -> "PosePredictions":
        """Rows ``index`` (int array, bool mask or slice), in that order."""
        return PosePredictions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: Sequence["PosePredictions"]) -> "PosePredictions":
        """Rows of all ``parts`` in order; they must share K. At least one part is required."""
        if not parts:
            raise ValueError("PosePredictions.concat needs at least one part")
        ks = {p.num_keypoints for p in parts}
        if len(ks) != 1:
            raise ValueError(f"PosePredictions.concat: parts have different keypoint counts {sorted(ks)}")
        return PosePredictions(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                  for f in fields(PosePredictions)})
