"""Person ids across video frames: greedy matching of each frame's poses to the live tracks.

Per frame (``PoseTracker.update``):

1. Every live track predicts where its person is now: its last box and keypoints shifted by its
   velocity (pixels per frame of the box centre, averaged over the last moves) times the frames since it
   was last seen. This is what keeps ids through crossings: two persons that pass each other are each
   matched to where their own motion leads, not to whichever track happens to be nearer.
2. Similarity of every (track, detection) pair: the IoU of the predicted and detected boxes
   (``match='iou'``, the default), or the OKS of the predicted keypoints and the detected ones
   (``match='oks'``, COCO formula with the keypoint set's sigmas and the mean of the two box areas).
   OKS separates overlapping persons better but needs steady keypoints: with a weak pose model (the
   synthetic-data one on COCO photos) its frame-to-frame values of one person went as low as 0.35,
   and a 24-frame pan over a COCO photo gave 22 ids for its 6 persons with OKS, 9 with IoU.
3. Greedy assignment: the most similar pair first, each track and detection used once, pairs below
   ``threshold`` never matched.
4. Matched tracks take the detection (age 0); unmatched detections start new tracks with the next id
   (ids count up from 0 and are never reused); unmatched tracks age by one frame and are dropped when
   their age exceeds ``max_age``, so a person missed for up to ``max_age`` frames gets its id back.

Coordinates are image pixels; boxes ``(x, y, w, h)`` (top-left corner and size), keypoints ``(x, y,
score)``. Pure numpy: usable with any pose source (the onnxruntime deployment of docs/deploy.md too).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hrpose.evaluation.nms import oks_iou

if TYPE_CHECKING:  # annotations only: the module stays numpy-only (docs/deploy.md)
    from yacs.config import CfgNode

MATCH_METHODS = ("oks", "iou")
VELOCITY_MOMENTUM = 0.5  # weight of the previous velocity when a track moves again


@dataclass
class Track:
    """One person over time: the last matched box [4] and keypoints [K, 3], velocity [2] px/frame."""

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    velocity: np.ndarray
    age: int = 0  # frames since the last match
    hits: int = 1  # frames matched so far

    def predicted(self) -> tuple[np.ndarray, np.ndarray]:
        """(box [4], keypoints [K, 3]) moved by the velocity over the frames since the last match."""
        shift = self.velocity * (self.age + 1)
        box = self.box.copy()
        box[:2] += shift
        keypoints = self.keypoints.copy()
        keypoints[:, :2] += shift
        return box, keypoints


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a [M, 4]`` and ``b [N, 4]`` (x, y, w, h): float64 ``[M, N]``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.clip(hi - lo, 0.0, None).prod(axis=2)
    union = a[:, 2:].prod(axis=1)[:, None] + b[:, 2:].prod(axis=1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_match(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` of ``similarity [M, N]``, most similar first, each row and column once,
    only pairs with similarity >= ``threshold`` (NaN never matches)."""
    sim = np.nan_to_num(np.asarray(similarity, dtype=np.float64), nan=-np.inf)
    order = np.argsort(-sim, axis=None, kind="stable")
    used_rows, used_cols, pairs = set(), set(), []
    for flat in order:
        row, col = divmod(int(flat), sim.shape[1])
        if sim[row, col] < threshold:
            break
        if row not in used_rows and col not in used_cols:
            pairs.append((row, col))
            used_rows.add(row)
            used_cols.add(col)
    return pairs


class PoseTracker:
    """Track ids for the persons of consecutive frames (see the module docstring for the algorithm).

    Args:
        match: 'oks' (keypoints; needs ``sigmas``) or 'iou' (boxes).
        threshold: minimum similarity (OKS or IoU) of a match.
        max_age: frames a track may go unseen and still be matched again.
        sigmas: [K] OKS sigmas (``keypoint_set.sigmas``), for 'oks'.
        predict_motion: shift tracks by their velocity before matching (off: match to the last position).
    """

    def __init__(self, match: str = "iou", threshold: float = 0.3, max_age: int = 10,
                 sigmas: Sequence[float] | None = None, predict_motion: bool = True):
        if match not in MATCH_METHODS:
            raise ValueError(f"TRACK.MATCH = {match!r}: expected one of {list(MATCH_METHODS)}")
        if match == "oks" and sigmas is None:
            raise ValueError("TRACK.MATCH = 'oks' needs the keypoint set's OKS sigmas")
        self.match, self.threshold, self.max_age = match, float(threshold), int(max_age)
        self.sigmas = None if sigmas is None else np.asarray(sigmas, dtype=np.float64)
        self.predict_motion = bool(predict_motion)
        self.tracks: list[Track] = []
        self.next_id = 0

    def reset(self) -> None:
        """Forget every track (a new video); ids start again from 0."""
        self.tracks, self.next_id = [], 0

    def update(self, boxes: np.ndarray, keypoints: np.ndarray | None = None) -> np.ndarray:
        """Track ids int64 ``[N]`` of this frame's persons: boxes ``[N, 4+]`` (x, y, w, h[, score]) and,
        for 'oks', keypoints ``[N, K, 3]`` (x, y, score)."""
        boxes = np.asarray(boxes, dtype=np.float64)
        boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
        if boxes.ndim != 2 or boxes.shape[1] < 4:
            raise ValueError(f"boxes must be [N, 4] (x, y, w, h), got shape {boxes.shape}")
        if keypoints is None and self.match == "oks":
            raise ValueError("PoseTracker(match='oks').update needs the keypoints")
        kpts = None if keypoints is None else np.asarray(keypoints, dtype=np.float64)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        for t, d in greedy_match(self._similarity(boxes[:, :4], kpts), self.threshold):
            self._move(self.tracks[t], boxes[d, :4], None if kpts is None else kpts[d])
            ids[d] = self.tracks[t].track_id
        matched = set(ids[ids >= 0].tolist())
        for track in self.tracks:
            if track.track_id not in matched:
                track.age += 1
        self.tracks = [t for t in self.tracks if t.age <= self.max_age]
        for d in np.flatnonzero(ids < 0):
            ids[d] = self._start(boxes[d, :4], None if kpts is None else kpts[d])
        return ids

    def _similarity(self, boxes: np.ndarray, keypoints: np.ndarray | None) -> np.ndarray:
        """[T, N] similarity of the (motion-predicted) live tracks and the detections."""
        sim = np.zeros((len(self.tracks), len(boxes)))
        if not len(self.tracks) or not len(boxes):
            return sim
        predicted = [t.predicted() if self.predict_motion else (t.box, t.keypoints) for t in self.tracks]
        if self.match == "iou":
            return box_iou(np.stack([b for b, _ in predicted]), boxes)
        areas = boxes[:, 2] * boxes[:, 3]
        for t, (box, kpts) in enumerate(predicted):
            sim[t] = oks_iou(kpts, keypoints, box[2] * box[3], areas, self.sigmas)
        return sim

    def _move(self, track: Track, box: np.ndarray, keypoints: np.ndarray | None) -> None:
        step = (_center(box) - _center(track.box)) / (track.age + 1)
        track.velocity = step if track.hits == 1 else (
            VELOCITY_MOMENTUM * track.velocity + (1.0 - VELOCITY_MOMENTUM) * step)
        track.box = box.copy()
        track.keypoints = _keypoints_or_box(keypoints, box)
        track.age, track.hits = 0, track.hits + 1

    def _start(self, box: np.ndarray, keypoints: np.ndarray | None) -> int:
        track = Track(self.next_id, box.copy(), _keypoints_or_box(keypoints, box), np.zeros(2))
        self.tracks.append(track)
        self.next_id += 1
        return track.track_id


def _center(box: np.ndarray) -> np.ndarray:
    return box[:2] + box[2:4] / 2.0


def _keypoints_or_box(keypoints: np.ndarray | None, box: np.ndarray) -> np.ndarray:
    """The keypoints [K, 3], or (IoU tracking without keypoints) the box centre as one point."""
    return keypoints.copy() if keypoints is not None else np.array([[*_center(box), 1.0]])


def build_tracker(cfg: "CfgNode", keypoint_set) -> PoseTracker:
    """The ``TRACK.*`` tracker, with the OKS sigmas of ``keypoint_set``."""
    return PoseTracker(cfg.TRACK.MATCH, cfg.TRACK.THRESHOLD, cfg.TRACK.MAX_AGE, keypoint_set.sigmas)
