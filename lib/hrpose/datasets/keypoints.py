"""Keypoint sets as data: names, flip pairs, OKS sigmas, loss weights, upper body, skeleton.

The standard sets ship as yaml files in ``hrpose/datasets/keypoint_sets/`` (coco, mpii, crowdpose, aic,
posetrack18, halpe26, coco_wholebody); ``DATASET.KEYPOINT_SET`` names one of them or gives the path of
such a file, and ``custom`` reads the inline ``DATASET.KEYPOINTS.*`` keys. File format (every key but
``joint_weights``, ``skeleton`` and ``json_parts`` is required; pairs and body parts are written by
keypoint NAME)::

    name: crowdpose                      # what checkpoints and logs call the set
    keypoints: [left_shoulder, ...]      # K names, in the annotation order of the dataset's json
    flip_pairs: [[left_shoulder, right_shoulder], ...]   # swapped by a horizontal flip
    sigmas: [0.079, ...]                 # K OKS sigmas (COCO convention; COCOeval multiplies by 2)
    joint_weights: [1.0, ...]            # K loss weights (LOSS.USE_DIFFERENT_JOINTS_WEIGHT); default 1
    upper_body: [left_shoulder, ...]     # the half-body augmentation's upper part
    skeleton: [[head, neck], ...]        # limbs, for drawing only
    json_parts:                          # where a person's K keypoints are in the json (default: all
      - {part: body, field: keypoints, size: 17}   # K triplets in 'keypoints'); each part: its name,
      - {part: foot, field: foot_kpts, size: 6}    # the annotation field holding its triplets and how
      ...                                          # many; the sizes add up to K, in keypoint order

``json_parts`` is for datasets that store a person's keypoints in several annotation fields
(COCO-WholeBody: ``keypoints`` 17 body, ``foot_kpts`` 6, ``face_kpts`` 68, ``lefthand_kpts`` 21,
``righthand_kpts`` 21): every reader of the json (records and evaluation, through
``coco_json.merge_keypoint_parts``) concatenates the fields' ``[x, y, v]`` triplets, in this order, into
the K keypoints; the part names are what the per-part metric (``TEST.METRIC wholebody``) reports.
"""

import pathlib
from dataclasses import dataclass, field

import numpy as np
import yaml
from yacs.config import CfgNode

KEYPOINT_SET_DIR = pathlib.Path(__file__).resolve().parent / "keypoint_sets"
FILE_KEYS = ("name", "keypoints", "flip_pairs", "sigmas", "joint_weights", "upper_body", "skeleton",
             "json_parts")
PART_KEYS = ("part", "field", "size")  # one entry of json_parts
# DATASET.DATASET -> its keypoint set when DATASET.KEYPOINT_SET is '' (other names: the set of that name)
DATASET_KEYPOINT_SETS = {"ochuman": "coco", "halpe": "halpe26"}


class KeypointSetError(ValueError):
    """An inconsistent keypoint set definition, or a keypoint set that does not match another."""


@dataclass(frozen=True)
class KeypointPart:
    """``size`` consecutive keypoints of a set, stored as the json annotation field ``field``."""

    name: str
    field: str
    size: int


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
    parts: tuple[KeypointPart, ...] = field(default=())  # json_parts; () = all K in 'keypoints'

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
    def part_slices(self) -> dict[str, slice]:
        """Part name -> its keypoint indices (``json_parts`` order); {} for a set without parts."""
        out, start = {}, 0
        for part in self.parts:
            out[part.name] = slice(start, start + part.size)
            start += part.size
        return out

    @property
    def lower_body_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_keypoints) if i not in set(self.upper_body_ids))

    def to_dict(self) -> dict:
        """Plain, json-able description (stored in checkpoints)."""
        out = {
            "name": self.name,
            "names": list(self.names),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "sigmas": list(self.sigmas),
            "joint_weights": list(self.joint_weights),
            "upper_body_ids": list(self.upper_body_ids),
            "skeleton": [list(p) for p in self.skeleton],
        }
        if self.parts:  # absent for single-field sets: their stored form is unchanged
            out["json_parts"] = [{"part": p.name, "field": p.field, "size": p.size} for p in self.parts]
        return out

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
            parts=tuple(KeypointPart(str(p["part"]), str(p["field"]), int(p["size"]))
                        for p in d.get("json_parts", ())),
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
    _validate_parts(ks.parts, k, where)


def _validate_parts(parts: tuple[KeypointPart, ...], k: int, where: str) -> None:
    if not parts:
        return
    sizes = [p.size for p in parts]
    if any(s <= 0 for s in sizes) or sum(sizes) != k:
        raise KeypointSetError(f"{where}: json_parts sizes {sizes} must be > 0 and add up to the {k} "
                               "keypoints")
    for attr in ("name", "field"):
        values = [getattr(p, attr) for p in parts]
        if len(set(values)) != len(values) or not all(values):
            raise KeypointSetError(f"{where}: json_parts {attr}s {values} must be unique and non-empty")


def _indices(names: tuple[str, ...], items, key: str, where: str) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    unknown = [n for n in items if n not in index]
    if unknown:
        raise KeypointSetError(f"{where}: {key} names {unknown} that are not in 'keypoints'")
    return [index[n] for n in items]


def keypoint_set_from_file(path: str | pathlib.Path) -> KeypointSet:
    """The keypoint set described by the yaml file ``path`` (format in the module docstring).

    Raises ``KeypointSetError`` naming the file and the faulty key.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise KeypointSetError(f"keypoint set file not found: {path}")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    where = f"keypoint set file {path}"
    if not isinstance(data, dict):
        raise KeypointSetError(f"{where}: expected a mapping with keys {list(FILE_KEYS)}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    missing = [k for k in FILE_KEYS[:4] + ("upper_body",) if k not in data]
    if unknown or missing:
        raise KeypointSetError(f"{where}: unknown keys {unknown}, missing keys {missing}; expected "
                               f"{list(FILE_KEYS)} (joint_weights, skeleton and json_parts optional)")
    names = tuple(str(n) for n in data["keypoints"])
    parts = _parts_from_file(data.get("json_parts") or (), where)
    pairs = [_indices(names, p, "flip_pairs", where) for p in data["flip_pairs"]]
    limbs = [_indices(names, p, "skeleton", where) for p in data.get("skeleton") or ()]
    try:
        return KeypointSet(
            name=str(data["name"]), names=names, flip_pairs=tuple(tuple(p) for p in pairs),
            sigmas=tuple(float(s) for s in data["sigmas"]),
            joint_weights=tuple(float(w) for w in data.get("joint_weights") or (1.0,) * len(names)),
            upper_body_ids=tuple(_indices(names, data["upper_body"], "upper_body", where)),
            skeleton=tuple(tuple(p) for p in limbs), parts=parts)
    except KeypointSetError as err:
        raise KeypointSetError(f"{where}: {err}") from None


def _parts_from_file(entries, where: str) -> tuple[KeypointPart, ...]:
    parts = []
    for entry in entries:
        if not isinstance(entry, dict) or sorted(entry) != sorted(PART_KEYS):
            raise KeypointSetError(f"{where}: json_parts entry {entry!r}: expected a mapping with keys "
                                   f"{list(PART_KEYS)}, e.g. {{part: foot, field: foot_kpts, size: 6}}")
        if not isinstance(entry["size"], int) or isinstance(entry["size"], bool):
            raise KeypointSetError(f"{where}: json_parts entry {entry!r}: 'size' must be an integer")
        parts.append(KeypointPart(str(entry["part"]), str(entry["field"]), entry["size"]))
    return tuple(parts)


def builtin_keypoint_set_names() -> list[str]:
    """Names of the keypoint sets shipped with hrpose (``keypoint_sets/<name>.yaml``)."""
    return sorted(p.stem for p in KEYPOINT_SET_DIR.glob("*.yaml"))


def builtin_keypoint_set(name: str) -> KeypointSet:
    """The shipped keypoint set ``name`` (``coco``, ``mpii``, ``crowdpose``, ``aic``, ...)."""
    if name not in builtin_keypoint_set_names():
        raise KeypointSetError(f"no built-in keypoint set {name!r}; choose one of "
                               f"{builtin_keypoint_set_names()}, a keypoint set yaml file, or 'custom'")
    return keypoint_set_from_file(KEYPOINT_SET_DIR / f"{name}.yaml")


COCO_KEYPOINTS = builtin_keypoint_set("coco")
MPII_KEYPOINTS = builtin_keypoint_set("mpii")


def _inline_keypoint_set(node: CfgNode) -> KeypointSet:
    k = len(node.NAMES)
    return KeypointSet(
        name="custom",
        names=tuple(node.NAMES),
        flip_pairs=tuple(tuple(p) for p in node.FLIP_PAIRS),
        sigmas=tuple(float(s) for s in node.SIGMAS),
        joint_weights=tuple(float(w) for w in node.JOINT_WEIGHTS) or (1.0,) * k,
        upper_body_ids=tuple(node.UPPER_BODY_IDS),
        skeleton=tuple(tuple(p) for p in node.SKELETON),
    )


def build_keypoint_set(cfg: CfgNode) -> KeypointSet:
    """The keypoint set of ``DATASET.KEYPOINT_SET``: a built-in name, a yaml file (ends in .yaml/.yml),
    ``custom`` (the ``DATASET.KEYPOINTS.*`` keys), or '' = the set of ``DATASET.DATASET``
    (``DATASET_KEYPOINT_SETS``, else the set of the same name).

    Checks that ``MODEL.NUM_JOINTS`` equals its number of keypoints.
    """
    name = cfg.DATASET.KEYPOINT_SET
    if not name:
        name = DATASET_KEYPOINT_SETS.get(cfg.DATASET.DATASET, cfg.DATASET.DATASET)
    if name == "custom":
        kset = _inline_keypoint_set(cfg.DATASET.KEYPOINTS)
    elif name.endswith((".yaml", ".yml")):
        kset = keypoint_set_from_file(name)
    elif name in builtin_keypoint_set_names():
        kset = builtin_keypoint_set(name)
    else:
        raise KeypointSetError(
            f"DATASET.KEYPOINT_SET / DATASET.DATASET = {name!r}: no such keypoint set; choose one of "
            f"{builtin_keypoint_set_names()}, a keypoint set yaml file, or 'custom' (with "
            "DATASET.KEYPOINTS.*)")
    if kset.num_keypoints != cfg.MODEL.NUM_JOINTS:
        raise KeypointSetError(
            f"MODEL.NUM_JOINTS = {cfg.MODEL.NUM_JOINTS} but keypoint set {kset.name!r} has "
            f"{kset.num_keypoints} keypoints")
    return kset


def check_same_keypoints(stored: KeypointSet, configured: KeypointSet, source: str) -> None:
    """Raise ``KeypointSetError`` naming both sets unless ``stored`` (e.g. a checkpoint's, ``source``)
    has the same keypoint names, in the same order, as ``configured`` (the config's)."""
    if stored.names == configured.names:
        return
    pairs = zip(stored.names, configured.names, strict=False)  # the counts may differ
    differ = [f"{i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(pairs) if a != b][:5]
    raise KeypointSetError(
        f"{source} was trained on keypoint set {stored.name!r} ({stored.num_keypoints} keypoints) but the "
        f"config gives keypoint set {configured.name!r} ({configured.num_keypoints} keypoints); they differ "
        f"at "
        f"{differ or 'the count'}. Set DATASET.KEYPOINT_SET (and MODEL.NUM_JOINTS) to the checkpoint's set")
