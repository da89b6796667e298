"""MPII in the reference's format: one ``PersonRecord`` per annotated person of ``annot/<set>.json``.

Layout (the reference's, ``data/README.md``)::

    <root>/annot/{train,valid,test}.json     a list of {"image", "center", "scale", "joints", "joints_vis"}
    <root>/annot/gt_valid.mat                the official validation ground truth (PCKh, needs scipy)
    <root>/images/<image>

Json coordinates are MATLAB's (1-based pixels); ``scale`` is the person height / 200. Records follow the
reference (``lib/dataset/mpii.py``): the centre moves down by ``15 * scale`` px and the scale grows by
1.25 (to keep the limbs in the crop), both then shift to 0-based pixels; ``scale`` is ``[s, s]`` (no
aspect-ratio fix); joints are ``joints - 1`` with ``v = joints_vis``. Sets with 'test' in their name
have no joints. Every entry is kept, in file order (PCKh pairs predictions with ``gt_<set>.mat`` columns
by that order).
"""

import logging
import os
from dataclasses import dataclass

import numpy as np

from hrpose.datasets import transforms as T
from hrpose.datasets.coco import PersonRecord
from hrpose.datasets.coco_json import load_json

logger = logging.getLogger(__name__)

CENTER_SHIFT = 15.0  # px per unit of scale: the reference moves the centre down (towards the legs)
SCALE_PADDING = 1.25


class MpiiFormatError(ValueError):
    """An MPII annotation file that cannot be used; the message names the file and the entry."""


def mpii_paths(root: str, image_set: str) -> tuple[str, str]:
    """Default (annotation json, image folder): ``<root>/annot/<set>.json`` and ``<root>/images``."""
    return os.path.join(root, "annot", f"{image_set}.json"), os.path.join(root, "images")


def mpii_gt_file(ann_file: str, image_set: str) -> str:
    """The official ground truth of ``image_set`` beside its json: ``<annot>/gt_<set>.mat``."""
    return os.path.join(os.path.dirname(ann_file), f"gt_{image_set}.mat")


def load_mpii_records(ann_file: str, image_folder: str, image_set: str,
                      num_keypoints: int) -> list[PersonRecord]:
    """Records of an MPII json (see the module docstring), in file order.

    ``image_id`` numbers the distinct image names 1, 2, ... in order of appearance (MPII has no ids);
    ``area`` is ``prod(scale * 200)`` as for COCO records. ``MpiiFormatError`` names the file and entry.
    """
    entries = load_json(ann_file, f"MPII annotation file for image set {image_set!r}")
    if not isinstance(entries, list):
        raise MpiiFormatError(f"{ann_file}: expected a list of {{image, center, scale, joints, joints_vis}} "
                              "entries (the reference's annot/<set>.json)")
    with_joints = "test" not in image_set
    image_ids: dict[str, int] = {}
    records = []
    for index, entry in enumerate(entries):
        center, scale, keypoints = _parse_entry(entry, index, ann_file, num_keypoints, with_joints)
        image_id = image_ids.setdefault(entry["image"], len(image_ids) + 1)
        size = scale * T.PIXEL_STD
        records.append(PersonRecord(
            image_id=image_id, image_path=os.path.join(image_folder, entry["image"]), center=center,
            scale=scale, box_xywh=np.concatenate([center - size / 2, size]), score=1.0,
            area=float(np.prod(scale.astype(np.float64) * T.PIXEL_STD)), keypoints=keypoints, ann_id=index))
    logger.info("%s: %d person records from %d images", ann_file, len(records), len(image_ids))
    return records


def _parse_entry(entry, index: int, ann_file: str, num_keypoints: int, with_joints: bool):
    """(center [2], scale [2], keypoints [K, 3]) of one json entry, 0-based pixels, as the reference."""
    where = f"{ann_file}: entry {index}"
    if not isinstance(entry, dict) or not {"image", "center", "scale"} <= set(entry):
        raise MpiiFormatError(f"{where}: expected 'image', 'center' and 'scale' (and 'joints', 'joints_vis')")
    center = np.array(entry["center"], dtype=np.float64).reshape(2)
    s = float(entry["scale"])
    if center[0] != -1:  # the reference's guard (-1 marks an unknown centre)
        center[1] += CENTER_SHIFT * s
        s *= SCALE_PADDING
    keypoints = np.zeros((num_keypoints, 3))
    if with_joints:
        joints = np.asarray(entry.get("joints", ()), dtype=np.float64)
        visible = np.asarray(entry.get("joints_vis", ()), dtype=np.float64).reshape(-1)
        if joints.shape != (num_keypoints, 2) or visible.shape != (num_keypoints,):
            raise MpiiFormatError(f"{where}: 'joints' {list(joints.shape)} / 'joints_vis' "
                                  f"{list(visible.shape)}; expected [{num_keypoints}, 2] / [{num_keypoints}] "
                                  "(MODEL.NUM_JOINTS)")
        keypoints[:, :2] = joints - 1.0
        keypoints[:, 2] = visible
    return center - 1.0, np.array([s, s]), keypoints


# --- the official ground truth, annot/gt_<set>.mat ----------------------------------------------------

# ``dataset_joints`` of gt_valid.mat: the 16 MPII joints, in the order of the json and of the keypoint set.
MPII_GT_JOINTS = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head", "rwri",
                  "relb", "rsho", "lsho", "lelb", "lwri")


@dataclass(frozen=True, eq=False)
class MpiiGroundTruth:
    """The persons of ``gt_<set>.mat``, in its column order (= the json's entry order).

    Attributes:
        keypoints: float64 [N, 16, 2], 0-based pixels, joints in ``MPII_GT_JOINTS`` order.
        visible: bool [N, 16], False where the joint is missing (``jnt_missing``).
        head_boxes: float64 [N, 2, 2], the head rectangle's two corners (x, y), 0-based pixels.
        source: the file.
    """

    keypoints: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def _scipy_io(path):
    try:  # optional dependency: only the MPII ground truth (.mat) needs it
        import scipy.io
    except ImportError as err:
        raise ImportError(f"the MPII ground truth {path} is a MATLAB file: reading and writing it needs "
                          "scipy (pip install scipy, or pip install -e '.[mpii]')") from err
    return scipy.io


def load_mpii_ground_truth(path: str) -> MpiiGroundTruth:
    """Read ``gt_<set>.mat`` (``pos_gt_src`` [16, 2, N] 1-based, ``jnt_missing`` [16, N],
    ``headboxes_src`` [2, 2, N], ``dataset_joints``); joints are put in ``MPII_GT_JOINTS`` order."""
    if not os.path.isfile(path):
        raise MpiiFormatError(f"MPII ground truth not found: expected {path} (the reference's "
                              "annot/gt_valid.mat)")
    mat = _scipy_io(path).loadmat(path)
    missing = [k for k in ("pos_gt_src", "jnt_missing", "headboxes_src") if k not in mat]
    if missing:
        raise MpiiFormatError(f"{path}: no {missing} (expected the reference's gt_valid.mat layout)")
    order = list(range(len(MPII_GT_JOINTS)))
    if "dataset_joints" in mat:
        names = [str(np.ravel(n)[0]) for n in np.ravel(mat["dataset_joints"])]
        if sorted(names) != sorted(MPII_GT_JOINTS):
            raise MpiiFormatError(f"{path}: dataset_joints {names}; expected the 16 MPII joints "
                                  f"{MPII_GT_JOINTS}")
        order = [names.index(j) for j in MPII_GT_JOINTS]
    keypoints = np.transpose(np.asarray(mat["pos_gt_src"], dtype=np.float64), (2, 0, 1))[:, order] - 1.0
    visible = np.asarray(mat["jnt_missing"]).T[:, order] == 0
    head_boxes = np.transpose(np.asarray(mat["headboxes_src"], dtype=np.float64), (2, 0, 1)) - 1.0
    return MpiiGroundTruth(keypoints, visible, head_boxes, str(path))


def save_mpii_ground_truth(path: str, gt: MpiiGroundTruth) -> None:
    """Write ``gt`` in the layout ``load_mpii_ground_truth`` reads (1-based, MATLAB's)."""
    names = np.empty((1, len(MPII_GT_JOINTS)), dtype=object)
    names[0, :] = [np.array([j]) for j in MPII_GT_JOINTS]
    _scipy_io(path).savemat(path, {
        "dataset_joints": names,
        "pos_gt_src": np.transpose(gt.keypoints + 1.0, (1, 2, 0)),
        "jnt_missing": (~gt.visible).T.astype(np.uint8),
        "headboxes_src": np.transpose(gt.head_boxes + 1.0, (1, 2, 0)),
    })
