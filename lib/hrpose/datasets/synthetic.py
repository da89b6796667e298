"""Deterministic synthetic COCO-format sample data (mannequins, see ``mannequin.py``).

``make_sample_dataset(out_dir, seed)`` writes, laid out exactly like ``data/coco/``::

    annotations/person_keypoints_{train2017,val2017}.json
    images/{train2017,val2017}/%012d.jpg                      (JPEG quality 90)
    person_detection_results/COCO_val2017_detections_AP_H_56_person.json

Each image holds 1-4 labelled figures (40-200 px tall, some cut off by the border, some occluded by
another figure or a random rectangle: covered labelled joints get v=1, joints outside the image are
(0, 0, 0)), sometimes tiny unlabelled figures (annotations with no keypoints) and a crowd region
(iscrowd=1). The detector json holds jittered, scored boxes of the val persons, near-duplicates and
false positives. The same seed gives byte-identical jsons.
"""

import json
import logging
import math
import os
import time

import cv2
import numpy as np

from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.datasets.mannequin import draw_mannequin, head_radius, make_background, sample_mannequin

logger = logging.getLogger(__name__)

IMAGE_SIZE = (320, 240)  # (w, h) of every synthetic image
JPEG_QUALITY = 90
DETECTION_FILE = "COCO_val2017_detections_AP_H_56_person.json"
MIN_VISIBLE_PIXELS = 30  # a figure covered beyond this is not annotated at all
SPLITS = {"train2017": (0, 1), "val2017": (1, 1_000_001)}  # split code (rng), first image id


def _person_heights(rng: np.random.Generator, count: int, image_h: int) -> list[float]:
    """Heights in px, log-uniform in [40, 200], sorted ascending (far figures are drawn first)."""
    top = min(200.0, image_h * 0.85)
    return sorted(float(math.exp(rng.uniform(math.log(40), math.log(top)))) for _ in range(count))


def _pelvis_position(rng: np.random.Generator, height: float, width: int, image_h: int, boxes: list,
                     crowd: float = 0.0):
    """Pelvis (px) for a figure of ``height``: the least-overlapping of 4 candidates; 20% are pushed
    towards a border so that limbs get cut off. With probability ``crowd`` (crowded variants) it stands
    instead right beside an earlier figure, overlapping it."""
    if boxes and crowd > 0 and rng.random() < crowd:
        x0, y0, x1, y1 = boxes[int(rng.integers(len(boxes)))]
        x = (x0 + x1) / 2 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.35) * height
        y = (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * height
        boxes.append((x - 0.25 * height, y - 0.5 * height, x + 0.25 * height, y + 0.5 * height))
        return x, y
    best, best_overlap = None, math.inf
    for _ in range(4):
        if rng.random() < 0.2:
            x = rng.choice([rng.uniform(-0.1, 0.12), rng.uniform(0.88, 1.1)]) * width
            y = rng.uniform(0.3, 0.8) * image_h + (rng.random() < 0.5) * 0.35 * height
        else:
            x = rng.uniform(0.12, 0.88) * width
            y = rng.uniform(min(0.5 * height, image_h * 0.5), max(image_h - 0.45 * height, image_h * 0.5))
        box = (x - 0.25 * height, y - 0.5 * height, x + 0.25 * height, y + 0.5 * height)
        overlap = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
                      * max(0.0, min(box[3], b[3]) - max(box[1], b[1])) for b in boxes)
        if overlap < best_overlap:
            best, best_overlap = (x, y, box), overlap
    boxes.append(best[2])
    return best[:2]


def _draw(canvas: np.ndarray, rng: np.random.Generator, height: float, pelvis, rotation: float) -> tuple:
    mask = np.zeros(canvas.shape[:2], dtype=np.uint8)
    figure = sample_mannequin(rng, height, pelvis, rotation, facing_camera=bool(rng.random() < 0.75))
    draw_mannequin(canvas, mask, figure)
    return figure, mask


def _extras(rng, canvas, width, image_h) -> list[tuple]:
    """Tiny unlabelled figures and crowd groups, drawn behind everything: [(mask, is_crowd)]."""
    extras = []
    for _ in range(int(rng.random() < 0.25) * int(rng.integers(1, 3))):
        pelvis = (rng.uniform(0.05, 0.95) * width, rng.uniform(0.2, 0.6) * image_h)
        extras.append((_draw(canvas, rng, rng.uniform(14, 28), pelvis, rng.normal(0, 5))[1], False))
    if rng.random() < 0.08:
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.5) * image_h
        group = np.zeros(canvas.shape[:2], dtype=np.uint8)
        for _ in range(int(rng.integers(5, 9))):
            pelvis = (cx + rng.normal(0, 18), cy + rng.normal(0, 6))
            group |= _draw(canvas, rng, rng.uniform(22, 36), pelvis, rng.normal(0, 5))[1]
        extras.append((group, True))
    return extras


def _occluder(rng, canvas, boxes) -> np.ndarray:
    """With probability 0.25 a textured rectangle over part of a figure; returns its mask."""
    mask = np.zeros(canvas.shape[:2], dtype=np.uint8)
    if not boxes or rng.random() >= 0.25:
        return mask
    x0, y0, x1, y1 = boxes[int(rng.integers(len(boxes)))]
    w, h = (x1 - x0) * rng.uniform(0.5, 1.2), (y1 - y0) * rng.uniform(0.15, 0.4)
    ox, oy = rng.uniform(x0 - 0.3 * w, x1 - 0.7 * w), rng.uniform(y0, y1 - h)
    pts = (int(ox), int(oy)), (int(ox + w), int(oy + h))
    cv2.rectangle(mask, *pts, 255, -1)
    cv2.rectangle(canvas, *pts, tuple(int(v) for v in rng.integers(20, 235, 3)), -1)
    cv2.rectangle(canvas, *pts, (0, 0, 0), 1)
    return mask


def _annotation(mask: np.ndarray, keypoints: np.ndarray | None, iscrowd: int) -> dict | None:
    """COCO annotation fields of a visible silhouette ``mask`` (None when too little is visible)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < MIN_VISIBLE_PIXELS:
        return None
    height, width = mask.shape
    x0, y0 = max(0, int(xs.min()) - 2), max(0, int(ys.min()) - 2)  # a small margin, as COCO boxes have
    x1, y1 = min(width - 1, int(xs.max()) + 2), min(height - 1, int(ys.max()) + 2)
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32)).reshape(-1)
    kpts = np.zeros((17, 3)) if keypoints is None else keypoints
    return {"bbox": [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)], "area": float(len(xs)),
            "iscrowd": iscrowd, "num_keypoints": int((kpts[:, 2] > 0).sum()),
            "keypoints": [round(float(v), 2) for v in kpts.reshape(-1)], "category_id": 1,
            "segmentation": [[float(v) for v in hull]]}


def _keypoint(x: float, y: float, labelled: bool, covered: np.ndarray) -> tuple[float, float, int]:
    """(x, y, v): v=2 visible, 1 labelled but covered, (0, 0, 0) unlabelled or outside the image."""
    height, width = covered.shape
    if not labelled or not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        return 0.0, 0.0, 0
    return float(x), float(y), 1 if covered[int(round(y)), int(round(x))] else 2


def _keypoints(figure, covered: np.ndarray) -> np.ndarray:
    """[17, 3] (x, y, v) of the COCO keypoints (see ``_keypoint``)."""
    return np.array([_keypoint(x, y, figure.labelled[k], covered) for k, (x, y) in enumerate(figure.joints)])


def named_points(figure, covered: np.ndarray) -> dict[str, tuple[float, float, int]]:
    """Name -> (x, y, v) of the COCO keypoints and of the points other keypoint sets add: ``head_top`` and
    ``head_bottom`` (the head circle's ends along the body axis), ``neck`` (between the shoulders, where
    the neck meets the torso) and ``pelvis`` (between the hips). Used by ``synthetic_variants``."""
    names = COCO_KEYPOINTS.names
    points = {names[k]: _keypoint(x, y, figure.labelled[k], covered)
              for k, (x, y) in enumerate(figure.joints)}
    neck = (figure.joints[5] + figure.joints[6]) / 2
    up = figure.head_center - neck
    up = up / (np.linalg.norm(up) + 1e-9) * head_radius(figure.height)
    derived = {"head_top": figure.head_center + up, "head_bottom": figure.head_center - up, "neck": neck,
               "pelvis": (figure.joints[11] + figure.joints[12]) / 2}
    points.update({name: _keypoint(p[0], p[1], True, covered) for name, p in derived.items()})
    return points


# keypoint names of other sets -> the mannequin point they are drawn from (named_points)
POINT_ALIASES = {"head": "head_top", "top_head": "head_top", "upper_neck": "head_bottom", "thorax": "neck",
                 "hip": "pelvis"}


def keypoints_by_name(points: dict, names, unlabelled=()) -> np.ndarray:
    """[K, 3] (x, y, v) of the keypoints ``names`` (any keypoint set) from a figure's ``named_points``:
    ``l_`` / ``r_`` prefixes and ``POINT_ALIASES`` resolved; names without a point, and ``unlabelled``,
    are (0, 0, 0)."""
    out = np.zeros((len(names), 3))
    for k, name in enumerate(names):
        key = POINT_ALIASES.get(name, name)
        if key.startswith(("l_", "r_")):
            key = ("left_" if key[0] == "l" else "right_") + key[2:]
        if name not in unlabelled and key in points:
            out[k] = points[key]
    return out


def make_scene(rng: np.random.Generator, width: int, height: int, crowd: float = 0.0,
               with_points: bool = False) -> tuple[np.ndarray, list[dict]]:
    """One image (BGR uint8 [H, W, 3]) and its annotations (without ids).

    ``crowd`` > 0 (crowded variants): up to 2 more figures, placed beside others with that probability
    (0 draws exactly the COCO sample's scenes). ``with_points``: each annotation also holds ``points``
    (``named_points``; empty for unlabelled figures and crowd regions), to be removed before writing.
    """
    canvas = make_background(rng, width, height)
    extras = _extras(rng, canvas, width, height)
    boxes: list = []
    figures = []
    count = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.3, 0.2]))
    count += int(rng.integers(0, 3)) if crowd > 0 else 0
    for h in _person_heights(rng, count, height):
        pelvis = _pelvis_position(rng, h, width, height, boxes, crowd)
        rotation = rng.normal(0, 12) if rng.random() < 0.85 else rng.uniform(-70, 70)
        figures.append(_draw(canvas, rng, h, pelvis, rotation))
    occluder = _occluder(rng, canvas, boxes)
    annotations = []
    covered = occluder.copy()  # everything drawn after the current figure
    for figure, mask in reversed(figures):
        kpts = _keypoints(figure, covered)
        ann = _annotation(mask & ~covered, kpts, 0)
        if ann is not None and with_points:
            ann["points"] = named_points(figure, covered)
        covered |= mask
        if ann is not None:
            annotations.append(ann)
    for mask, is_crowd in extras:
        ann = _annotation(mask & ~covered, None, int(is_crowd))
        if ann is not None:
            annotations.append({**ann, "points": {}} if with_points else ann)
    return canvas, annotations[::-1]


def _detections(rng: np.random.Generator, image_id: int, anns: list[dict], width: int, height: int) -> list:
    """Detector-like boxes: jittered GT boxes (5% missed), near-duplicates, false positives."""
    dets = []
    for ann in anns:
        if ann["iscrowd"] or rng.random() < 0.05:
            continue
        x, y, w, h = ann["bbox"]
        base = float(np.clip(rng.normal(0.93 if ann["num_keypoints"] else 0.6, 0.08), 0.05, 1.0))
        for score in [base] + ([base * rng.uniform(0.2, 0.8)] if rng.random() < 0.3 else []):
            cx, cy = x + w / 2 + rng.normal(0, 0.05 * w), y + h / 2 + rng.normal(0, 0.05 * h)
            bw, bh = w * math.exp(rng.normal(0, 0.08)), h * math.exp(rng.normal(0, 0.08))
            dets.append((cx - bw / 2, cy - bh / 2, bw, bh, score))
    for _ in range(int(rng.poisson(1.0))):
        bh = rng.uniform(20, 0.8 * height)
        bw = bh * rng.uniform(0.3, 0.8)
        dets.append((rng.uniform(0, width - bw), rng.uniform(0, height - bh), bw, bh, rng.uniform(0.01, 0.5)))
    return [{"image_id": image_id, "category_id": 1, "bbox": [round(float(v), 2) for v in d[:4]],
             "score": round(float(d[4]), 4)} for d in dets]


def _categories() -> list[dict]:
    ks = COCO_KEYPOINTS
    return [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(ks.names),
             "skeleton": [[a + 1, b + 1] for a, b in ks.skeleton]}]


def _write_split(out_dir: str, split: str, num_images: int, seed: int, size) -> tuple[dict, list]:
    code, first_id = SPLITS[split]
    image_dir = os.path.join(out_dir, "images", split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations, detections = [], [], []
    for i in range(num_images):
        rng = np.random.default_rng([seed, code, i])
        image, anns = make_scene(rng, *size)
        image_id = first_id + i
        name = f"{image_id:012d}.jpg"
        cv2.imwrite(os.path.join(image_dir, name), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
        for ann in anns:
            annotations.append({"id": first_id * 10 + len(annotations) + 1, "image_id": image_id, **ann})
        detections += _detections(np.random.default_rng([seed, code, i, 1]), image_id, anns, *size)
    data = {"info": {"description": f"hrpose synthetic sample data (seed {seed})", "version": "1.0"},
            "licenses": [], "images": images, "annotations": annotations, "categories": _categories()}
    return data, detections


def dump_json(path: str, obj) -> None:
    """Write ``obj`` as compact json to ``path`` (parent folders created); the sample data's writer."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))


def make_sample_dataset(out_dir: str, seed: int = 0, num_train_images: int = 150, num_val_images: int = 40,
                        image_size=IMAGE_SIZE) -> dict:
    """Write the synthetic COCO-format dataset under ``out_dir``; returns counts per split.

    Args:
        out_dir: dataset root (use it as ``DATASET.ROOT``).
        seed: the whole dataset is a function of the seed (byte-identical jsons).
        num_train_images, num_val_images: images per split.
        image_size: (w, h) of every image.
    Returns ``{"train2017": {"images", "persons", "annotations"}, "val2017": {...}, "detections",
    "seconds"}`` where ``persons`` counts annotations with keypoints (what the GT-box pipeline loads).
    """
    start = time.perf_counter()
    counts: dict = {}
    for split, num in (("train2017", num_train_images), ("val2017", num_val_images)):
        data, dets = _write_split(out_dir, split, int(num), int(seed), tuple(image_size))
        dump_json(os.path.join(out_dir, "annotations", f"person_keypoints_{split}.json"), data)
        persons = sum(1 for a in data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
        counts[split] = {"images": len(data["images"]), "persons": persons,
                         "annotations": len(data["annotations"])}
        if split == "val2017":
            dump_json(os.path.join(out_dir, "person_detection_results", DETECTION_FILE), dets)
            counts["detections"] = len(dets)
    counts["seconds"] = round(time.perf_counter() - start, 2)
    logger.info("sample data in %s: %s", out_dir, counts)
    return counts
