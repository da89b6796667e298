"""The synthetic sample data in the reference's MPII format (``make_mpii_dataset``)::

    annot/train.json, annot/valid.json   lists of {"image", "center", "scale", "joints", "joints_vis"}
    annot/gt_valid.mat                   the PCKh ground truth (written with scipy)
    images/<9 digits>.jpg

One entry per labelled figure whose head lies in the image (MPII annotates a head box for every person).
Json coordinates are 1-based; ``scale`` is the figure's extent / 200 and ``center`` is placed so that the
loader's reference adjustment (down by 15 scale, ``datasets/mpii.py``) lands on the figure's centre;
``joints_vis`` is 1 for every labelled joint (MPII marks annotated joints, covered ones included).
The ground truth's head box is the square around the mannequin's head circle.
"""

import logging
import os
import time

import cv2
import numpy as np

from hrpose.datasets.keypoints import MPII_KEYPOINTS
from hrpose.datasets.mpii import CENTER_SHIFT, MpiiGroundTruth, save_mpii_ground_truth
from hrpose.datasets.synthetic import IMAGE_SIZE, JPEG_QUALITY, dump_json, keypoints_by_name, make_scene

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid")


def mpii_entry(points: dict, image: str) -> tuple[dict, np.ndarray] | None:
    """(json entry, head box [2, 2] 0-based) of one figure's ``named_points``; None when its head (top
    or bottom) is outside the image."""
    if points.get("head_top", (0, 0, 0))[2] == 0 or points.get("head_bottom", (0, 0, 0))[2] == 0:
        return None
    kpts = keypoints_by_name(points, MPII_KEYPOINTS.names)
    labelled = kpts[:, 2] > 0
    lo, hi = kpts[labelled, :2].min(axis=0), kpts[labelled, :2].max(axis=0)
    scale = float(max(hi - lo)) / 200.0
    center = (lo + hi) / 2 - (0.0, CENTER_SHIFT * scale)
    top, bottom = np.asarray(points["head_top"][:2]), np.asarray(points["head_bottom"][:2])
    radius = float(np.linalg.norm(top - bottom)) / 2
    mid = (top + bottom) / 2
    entry = {"image": image, "center": [round(float(v) + 1, 2) for v in center], "scale": round(scale, 4),
             "joints": [[round(float(x) + 1, 2), round(float(y) + 1, 2)] for x, y in kpts[:, :2]],
             "joints_vis": [int(v) for v in labelled]}
    return entry, np.stack([mid - radius, mid + radius])


def _write_split(out_dir: str, split: str, code: int, num_images: int, seed: int):
    entries, head_boxes = [], []
    for i in range(num_images):
        rng = np.random.default_rng([seed, 200 + code, i])
        canvas, scene = make_scene(rng, *IMAGE_SIZE, with_points=True)
        image = f"{(code + 1) * 100_000_000 + i + 1:09d}.jpg"
        cv2.imwrite(os.path.join(out_dir, "images", image), canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        for ann in scene:
            made = mpii_entry(ann["points"], image) if ann["num_keypoints"] else None
            if made is not None:
                entries.append(made[0])
                head_boxes.append(made[1])
    dump_json(os.path.join(out_dir, "annot", f"{split}.json"), entries)
    return entries, np.asarray(head_boxes, dtype=np.float64).reshape(-1, 2, 2)


def make_mpii_dataset(out_dir: str, seed: int = 0, num_train_images: int = 150,
                      num_val_images: int = 40) -> dict:
    """Write the MPII-format sample data under ``out_dir`` (``DATASET.ROOT`` with ``DATASET.DATASET
    mpii``); returns counts per split and the seconds taken. The same seed gives identical jsons."""
    start = time.perf_counter()
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    counts: dict = {}
    for code, (split, num) in enumerate(zip(SPLITS, (num_train_images, num_val_images), strict=True)):
        entries, head_boxes = _write_split(out_dir, split, code, int(num), int(seed))
        counts[split] = {"images": int(num), "persons": len(entries)}
    joints = np.array([e["joints"] for e in entries], dtype=np.float64).reshape(-1, 16, 2) - 1.0
    visible = np.array([e["joints_vis"] for e in entries], dtype=bool).reshape(-1, 16)
    save_mpii_ground_truth(os.path.join(out_dir, "annot", "gt_valid.mat"),
                           MpiiGroundTruth(joints, visible, head_boxes))
    counts["seconds"] = round(time.perf_counter() - start, 2)
    logger.info("mpii sample data in %s: %s", out_dir, counts)
    return counts
