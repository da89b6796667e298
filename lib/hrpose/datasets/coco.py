"""COCO-format person records: one ``PersonRecord`` per person box (GT annotations or a detector json).

Files: the annotation json and image folder of ``coco_json.coco_paths`` (the reference's layout by
default, see ``data/README.md``); the detector json ``TEST.COCO_BBOX_FILE`` (COCO results format). Absent
``area`` / ``iscrowd`` / ``num_keypoints`` are filled by ``coco_json.fill_missing_fields``; a keypoint set
with ``json_parts`` (COCO-WholeBody) has its parts' fields concatenated by
``coco_json.merge_keypoint_parts`` first.

Coordinates are image pixels; boxes are ``[x, y, w, h]``. What is skipped is always counted and logged;
what cannot be used raises ``CocoFormatError`` naming the file (and annotation id).
"""

import json
import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from hrpose.datasets import transforms as T
from hrpose.datasets.coco_json import (  # noqa: F401 (annotation_file, image_folder: re-exported)
    PERSON_CATEGORY_ID,
    CocoFormatError,
    annotation_file,
    coco_paths,
    fill_missing_fields,
    image_folder,
    load_json,
    merge_keypoint_parts,
)

logger = logging.getLogger(__name__)

@dataclass(frozen=True, eq=False)
class PersonRecord:
    """One person box to crop. Arrays are read-only: a record is never modified after loading.

    Attributes:
        image_id: COCO image id.
        image_path: the image file.
        center: float32 [2], box centre (pixels).
        scale: float32 [2], box size / 200, fixed to the input aspect ratio and padded x1.25.
        box_xywh: float32 [4], the box the centre/scale came from (sanitised GT box or raw detection).
        score: box score (1.0 for GT boxes).
        area: ``prod(scale * 200)``, the padded box area the reference's rescoring, OKS-NMS and
            ``select_data`` use (not the COCO segmentation area).
        keypoints: float32 [K, 3] (x, y, v) as annotated (COCO v in {0, 1, 2}); zeros for detector boxes.
        ann_id: COCO annotation id, ``-1`` for detector boxes.
    """

    image_id: int
    image_path: str
    center: np.ndarray
    scale: np.ndarray
    box_xywh: np.ndarray
    score: float
    area: float
    keypoints: np.ndarray
    ann_id: int = -1

    def __post_init__(self):
        for name, dtype in (("center", np.float32), ("scale", np.float32), ("box_xywh", np.float32),
                            ("keypoints", np.float32)):
            value = np.array(getattr(self, name), dtype=dtype)  # a private copy, then frozen
            value.flags.writeable = False
            object.__setattr__(self, name, value)


class CocoImages:
    """The ``images`` table of an annotation (or image_info) json: id -> (path, width, height).

    File names come from the json's ``file_name``; without it ``%012d.<ext>`` as the reference.
    """

    def __init__(self, data: dict, ann_file: str, folder: str, extension: str = "jpg"):
        if not isinstance(data, dict) or "images" not in data:
            raise CocoFormatError(f"{ann_file}: no 'images' list (is this a COCO annotation file?)")
        self.info: dict[int, tuple[str, int, int]] = {}
        for img in data["images"]:
            name = img.get("file_name") or f"{int(img['id']):012d}.{extension}"
            self.info[int(img["id"])] = (os.path.join(folder, name), int(img["width"]), int(img["height"]))

    def __contains__(self, image_id: int) -> bool:
        return image_id in self.info

    def __len__(self) -> int:
        return len(self.info)


def check_keypoint_counts(data: dict, ann_file: str, num_keypoints: int) -> None:
    """Every person annotation holds ``3 * K`` keypoint values (and the category names K keypoints)."""
    for cat in data.get("categories", []):
        names = cat.get("keypoints")
        if cat.get("id") == PERSON_CATEGORY_ID and names and len(names) != num_keypoints:
            raise CocoFormatError(
                f"{ann_file}: category 'person' defines {len(names)} keypoints but the keypoint set has "
                f"{num_keypoints} (set DATASET.KEYPOINT_SET / DATASET.KEYPOINTS.* and MODEL.NUM_JOINTS)")
    for ann in data.get("annotations", []):
        if ann.get("category_id") != PERSON_CATEGORY_ID:
            continue
        kpts = ann.get("keypoints")
        if kpts is None or len(kpts) != 3 * num_keypoints:
            count = "no" if kpts is None else len(kpts)
            raise CocoFormatError(
                f"{ann_file}: annotation id {ann.get('id')} has {count} keypoint values; expected "
                f"{3 * num_keypoints} (K = {num_keypoints} keypoints x 3)")


def _record(image_id, path, box, score, keypoints, aspect_ratio, ann_id) -> PersonRecord:
    center, scale = T.box_to_center_scale(box, aspect_ratio)
    area = float(np.prod(scale.astype(np.float64) * T.PIXEL_STD))
    return PersonRecord(image_id=image_id, image_path=path, center=center, scale=scale, box_xywh=box,
                        score=float(score), area=area, keypoints=keypoints, ann_id=ann_id)


def gt_records(data: dict, images: CocoImages, ann_file: str, num_keypoints: int,
               aspect_ratio: float) -> list[PersonRecord]:
    """Records of the person annotations, as the reference: sanitised boxes (see
    ``transforms.sanitize_coco_box``), skipping crowd, zero-keypoint, no-area and non-person entries.

    Args:
        aspect_ratio: network input width / height (box -> centre/scale).
    Returns records in annotation order within image-id order of the ``images`` table.
    """
    check_keypoint_counts(data, ann_file, num_keypoints)
    by_image: dict[int, list[dict]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    unknown = sorted(set(by_image) - set(images.info))
    if unknown:
        raise CocoFormatError(f"{ann_file}: annotations refer to image ids missing from 'images': "
                              f"{unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    skipped = {"non-person": 0, "crowd": 0, "no keypoints": 0, "no area": 0,
               "joints with non-finite x/y (unlabelled)": 0}
    records = []
    for image_id, (path, width, height) in images.info.items():
        for ann in by_image.get(image_id, []):
            reason = _skip_reason(ann)
            box = None if reason else T.sanitize_coco_box(ann["bbox"], width, height)
            if reason is None and (box is None or float(ann.get("area", 1.0)) <= 0):
                reason = "no area"  # the reference also drops annotations whose 'area' is 0
            if reason:
                skipped[reason] += 1
                continue
            kpts = np.asarray(ann["keypoints"], dtype=np.float32).reshape(num_keypoints, 3)
            broken = (kpts[:, 2] > 0) & ~np.isfinite(kpts[:, :2]).all(axis=1)
            if broken.any():  # a labelled joint without a position cannot be a target: unlabel it, say so
                kpts[broken] = 0.0
                skipped["joints with non-finite x/y (unlabelled)"] += int(broken.sum())
            records.append(_record(image_id, path, box, 1.0, kpts, aspect_ratio, int(ann["id"])))
    logger.info("%s: %d person records from %d images; skipped %s", ann_file, len(records), len(images),
                {k: v for k, v in skipped.items() if v})
    if skipped["no area"]:
        logger.warning("%s: skipped %d person annotations whose box has no area", ann_file,
                       skipped["no area"])
    if skipped["joints with non-finite x/y (unlabelled)"]:
        logger.warning("%s: %d labelled joints have non-finite coordinates; they count as unlabelled",
                       ann_file, skipped["joints with non-finite x/y (unlabelled)"])
    return records


def _skip_reason(ann: dict) -> str | None:
    if ann.get("category_id") != PERSON_CATEGORY_ID:
        return "non-person"
    if ann.get("iscrowd", 0):
        return "crowd"
    if max(ann["keypoints"]) == 0:  # the reference's test: nothing annotated at all
        return "no keypoints"
    return None


def detection_records(det_file: str, images: CocoImages, num_keypoints: int, aspect_ratio: float,
                      score_threshold: float) -> list[PersonRecord]:
    """Records of a detector json (COCO results: ``image_id, category_id, bbox, score``).

    Keeps category 1 with ``score >= score_threshold``; boxes are used raw (no sanitising), as the
    reference. Entries whose image id is not in the annotation file's images are skipped with a
    logged count (evaluating a subset of images with a full detector file is legitimate); when no
    entry matches at all it raises, since the file then belongs to another image set.
    Boxes with no area (w or h <= 0, or not finite) are skipped with a logged count.
    """
    dets = load_json(det_file, "detector json (TEST.COCO_BBOX_FILE)")
    if not isinstance(dets, list) or not dets:
        raise CocoFormatError(f"detector json {det_file}: expected a non-empty list of "
                              "{image_id, category_id, bbox, score} entries")
    skipped = {"other category": 0, "low score": 0, "unknown image": 0, "no area": 0}
    unknown_ids: set[int] = set()
    records = []
    zeros = np.zeros((num_keypoints, 3), dtype=np.float32)
    for index, det in enumerate(dets):
        image_id, box, score, category = detection_entry(det, index, det_file)
        if category != PERSON_CATEGORY_ID:
            skipped["other category"] += 1
        elif score < score_threshold:
            skipped["low score"] += 1
        elif image_id not in images:
            skipped["unknown image"] += 1
            unknown_ids.add(image_id)
        elif not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
            skipped["no area"] += 1
        else:
            path = images.info[image_id][0]
            records.append(_record(image_id, path, box, score, zeros, aspect_ratio, -1))
    matched = len(dets) - skipped["unknown image"] - skipped["other category"]
    if skipped["unknown image"] and matched == 0:
        raise CocoFormatError(
            f"detector json {det_file}: none of its image ids are in the annotation file's images "
            f"(e.g. {sorted(unknown_ids)[:5]}); it belongs to another image set")
    if skipped["unknown image"]:
        logger.warning("%s: skipped %d boxes on %d image ids not in the annotation file (e.g. %s)",
                       det_file, skipped["unknown image"], len(unknown_ids), sorted(unknown_ids)[:5])
    if skipped["no area"]:
        logger.warning("%s: skipped %d boxes with no area", det_file, skipped["no area"])
    logger.info("%s: %d boxes with score >= %g of %d entries; skipped %s", det_file, len(records),
                score_threshold, len(dets), {k: v for k, v in skipped.items() if v})
    return records


def detection_entry(det, index: int, det_file: str) -> tuple[int, list[float], float, int]:
    """``(image_id, box [x, y, w, h], score, category_id)`` of entry ``index`` of a detector json;
    ``CocoFormatError`` naming the file, the entry and what was expected when it is malformed."""
    def bad(what: str) -> CocoFormatError:
        return CocoFormatError(f"detector json {det_file}: entry {index} {json.dumps(det)[:200]}: {what}; "
                               "expected {\"image_id\": int, \"bbox\": [x, y, w, h], \"score\": number, "
                               "\"category_id\": 1}")
    if not isinstance(det, dict):
        raise bad("not an object")
    for key in ("image_id", "bbox", "score"):
        if key not in det:
            raise bad(f"no {key!r}")
    bbox = det["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) < 4 or not all(_is_number(v) for v in bbox[:4]):
        raise bad("'bbox' must be 4 numbers [x, y, w, h]")
    if not _is_number(det["score"]):
        raise bad("'score' must be a number")
    if not _is_number(det["image_id"]) or not _is_number(det.get("category_id", PERSON_CATEGORY_ID)):
        raise bad("'image_id' and 'category_id' must be integers")
    return (int(det["image_id"]), [float(v) for v in bbox[:4]], float(det["score"]),
            int(det.get("category_id", PERSON_CATEGORY_ID)))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def select_data(records: list[PersonRecord]) -> list[PersonRecord]:
    """The reference's ``select_data`` training filter (REFERENCE §2.7).

    Keeps a record when ``exp(-|mean(labelled joints) - center|^2 / (0.2^2 * 2 * area)) >
    0.2/16 * n + 0.45 - 0.2/16`` with ``n`` labelled joints and ``area = prod(scale * 200)``;
    records with no labelled joint are dropped.
    """
    kept = []
    for rec in records:
        labelled = rec.keypoints[:, 2] > 0
        n = int(labelled.sum())
        if n == 0:
            continue
        diff = rec.keypoints[labelled, :2].astype(np.float64).mean(axis=0) - rec.center
        ks = math.exp(-float(diff @ diff) / (0.2 ** 2 * 2.0 * rec.area))
        if ks > (0.2 / 16) * n + 0.45 - 0.2 / 16:
            kept.append(rec)
    logger.info("select_data kept %d of %d records", len(kept), len(records))
    return kept


def load_coco_records(root: str, image_set: str, num_keypoints: int, aspect_ratio: float,
                      use_gt_boxes: bool = True, det_file: str = "", score_threshold: float = 0.0,
                      extension: str = "jpg", ann_file: str = "", images: str = "",
                      json_parts=()) -> tuple[list[PersonRecord], str | None]:
    """Records of one COCO image set and the annotation file holding its GT (None for test sets).

    Args:
        root: dataset root (``DATASET.ROOT``).
        image_set: e.g. ``train2017``, ``val2017``, ``test-dev2017``.
        ann_file, images: annotation json and image folder, used as given (``build_dataset_files``
            resolves the config's); '' = the default layout under ``root`` (``coco_json.coco_paths``).
        num_keypoints: K; every person annotation must hold 3K values.
        aspect_ratio: input width / height.
        use_gt_boxes: GT annotation boxes (True) or the detector json ``det_file`` (False).
        score_threshold: minimum detector score (``TEST.IMAGE_THRE``).
        extension: file-name extension when an image entry has no ``file_name``.
        json_parts: the keypoint set's ``parts`` (``KeypointSet.parts``): the annotation fields whose
            triplets make up the K keypoints (``coco_json.merge_keypoint_parts``); () = ``keypoints``.
    """
    default_ann, default_images = coco_paths(root, image_set)
    ann_file, folder = ann_file or default_ann, images or default_images
    data = load_json(ann_file, f"COCO annotation file for image set {image_set!r}")
    if isinstance(data, dict):
        data = fill_missing_fields(merge_keypoint_parts(data, ann_file, json_parts), ann_file)
    images = CocoImages(data, ann_file, folder, extension)
    has_gt = "annotations" in data
    if use_gt_boxes:
        if not has_gt:
            raise CocoFormatError(
                f"{ann_file} has no 'annotations' (an image-info file): GT boxes are not available for "
                f"{image_set!r}; set TEST.USE_GT_BBOX False and TEST.COCO_BBOX_FILE to a detector json")
        records = gt_records(data, images, ann_file, num_keypoints, aspect_ratio)
    else:
        if not det_file:
            raise CocoFormatError("TEST.USE_GT_BBOX is False but TEST.COCO_BBOX_FILE is empty: "
                                  "give the detector json (COCO results format) or use GT boxes")
        if has_gt:
            check_keypoint_counts(data, ann_file, num_keypoints)
        records = detection_records(det_file, images, num_keypoints, aspect_ratio, score_threshold)
    return records, (ann_file if has_gt else None)
