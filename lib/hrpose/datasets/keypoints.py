"""Keypoint sets as data: names, flip pairs, OKS sigmas, loss weights, upper body, skeleton."""

from dataclasses import dataclass, field

import numpy as np
from yacs.config import CfgNode


class KeypointSetError(ValueError):
    """An inconsistent keypoint set definition."""


@dataclass(frozen=True)
class KeypointSet:
    """Everything that depends on which K keypoints a dataset annotates (indices are 0-based)."""

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]  # OKS sigmas, COCO convention (not yet doubled)
    joint_weights: tuple[float, ...]
    upper_body_ids: tuple[int, ...]
    skeleton: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self):
        validate_keypoint_set(self)

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation ``p`` with ``flipped[k] = original[p[k]]`` (left and right swapped), int64 [K]."""
        index = np.arange(self.num_keypoints)
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return index

    @property
    def lower_body_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_keypoints) if i not in set(self.upper_body_ids))

    def to_dict(self) -> dict:
        """Plain, json-able description (stored in checkpoints)."""
        return {
            "name": self.name,
            "names": list(self.names),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "sigmas": list(self.sigmas),
            "joint_weights": list(self.joint_weights),
            "upper_body_ids": list(self.upper_body_ids),
            "skeleton": [list(p) for p in self.skeleton],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "KeypointSet":
        return cls(
            name=d["name"],
            names=tuple(d["names"]),
            flip_pairs=tuple(tuple(int(i) for i in p) for p in d["flip_pairs"]),
            sigmas=tuple(float(s) for s in d["sigmas"]),
            joint_weights=tuple(float(w) for w in d["joint_weights"]),
            upper_body_ids=tuple(int(i) for i in d["upper_body_ids"]),
            skeleton=tuple(tuple(int(i) for i in p) for p in d.get("skeleton", ())),
        )


def validate_keypoint_set(ks: KeypointSet) -> None:
    """Raise ``KeypointSetError`` naming the set and the faulty entry."""
    k = len(ks.names)
    where = f"keypoint set {ks.name!r}"
    if k == 0:
        raise KeypointSetError(f"{where}: no keypoint names")
    if len(set(ks.names)) != k:
        raise KeypointSetError(f"{where}: keypoint names are not unique: {list(ks.names)}")
    if len(ks.sigmas) != k:
        raise KeypointSetError(f"{where}: {len(ks.sigmas)} OKS sigmas for {k} keypoints")
    if any(s <= 0 for s in ks.sigmas):
        raise KeypointSetError(f"{where}: OKS sigmas must be > 0, got {list(ks.sigmas)}")
    if len(ks.joint_weights) != k:
        raise KeypointSetError(f"{where}: {len(ks.joint_weights)} joint weights for {k} keypoints")
    seen: set[int] = set()
    for pair in ks.flip_pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise KeypointSetError(f"{where}: flip pair {list(pair)} must name two different keypoints")
        for i in pair:
            if not 0 <= i < k:
                raise KeypointSetError(f"{where}: flip pair {list(pair)} has index {i} outside [0, {k})")
            if i in seen:
                raise KeypointSetError(f"{where}: keypoint {i} appears in more than one flip pair")
            seen.add(i)
    for i in ks.upper_body_ids:
        if not 0 <= i < k:
            raise KeypointSetError(f"{where}: upper-body id {i} outside [0, {k})")
    for limb in ks.skeleton:
        if len(limb) != 2 or not all(0 <= i < k for i in limb):
            raise KeypointSetError(f"{where}: skeleton limb {list(limb)} must hold two indices in [0, {k})")


COCO_KEYPOINTS = KeypointSet(
    name="coco",
    names=("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
           "right_knee", "left_ankle", "right_ankle"),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
            0.087, 0.087, 0.089, 0.089),
    joint_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5),
    upper_body_ids=tuple(range(11)),
    skeleton=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
              (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
)

MPII_KEYPOINTS = KeypointSet(
    name="mpii",
    names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
           "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    # MPII has no OKS protocol; these COCO-derived sigmas only serve OKS-NMS
    # (pelvis/thorax/neck/head borrow the hips/shoulders/nose values).
    sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.107, 0.079, 0.079, 0.026, 0.062, 0.072, 0.079,
            0.079, 0.072, 0.062),
    joint_weights=(1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5),
    upper_body_ids=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    skeleton=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (7, 12), (12, 11),
              (11, 10), (7, 13), (13, 14), (14, 15)),
)

BUILTIN_KEYPOINT_SETS = {"coco": COCO_KEYPOINTS, "mpii": MPII_KEYPOINTS}


def build_keypoint_set(cfg: CfgNode) -> KeypointSet:
    """The keypoint set named by ``DATASET.KEYPOINT_SET`` (default: by ``DATASET.DATASET``).

    Checks that ``MODEL.NUM_JOINTS`` equals its number of keypoints.
    """
    name = cfg.DATASET.KEYPOINT_SET or cfg.DATASET.DATASET
    if name == "custom":
        node = cfg.DATASET.KEYPOINTS
        k = len(node.NAMES)
        kset = KeypointSet(
            name="custom",
            names=tuple(node.NAMES),
            flip_pairs=tuple(tuple(p) for p in node.FLIP_PAIRS),
            sigmas=tuple(float(s) for s in node.SIGMAS),
            joint_weights=tuple(float(w) for w in node.JOINT_WEIGHTS) or (1.0,) * k,
            upper_body_ids=tuple(node.UPPER_BODY_IDS),
            skeleton=tuple(tuple(p) for p in node.SKELETON),
        )
    elif name in BUILTIN_KEYPOINT_SETS:
        kset = BUILTIN_KEYPOINT_SETS[name]
    else:
        raise KeypointSetError(
            f"DATASET.KEYPOINT_SET / DATASET.DATASET = {name!r}: no such keypoint set; "
            f"choose one of {sorted(BUILTIN_KEYPOINT_SETS)} or 'custom' (with DATASET.KEYPOINTS.*)")
    if kset.num_keypoints != cfg.MODEL.NUM_JOINTS:
        raise KeypointSetError(
            f"MODEL.NUM_JOINTS = {cfg.MODEL.NUM_JOINTS} but keypoint set {kset.name!r} has "
            f"{kset.num_keypoints} keypoints")
    return kset
