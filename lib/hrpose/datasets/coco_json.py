"""COCO-format json files: where they are (``coco_paths``), reading (``load_json``) and normalising
(``merge_keypoint_parts``, ``fill_missing_fields``). Every reader of a GT json goes through these: the
records loader (``coco.load_coco_records``) and the evaluation
(``hrpose.evaluation.coco_eval.load_ground_truth``).

Default layout (the reference's, ``data/README.md``)::

    <root>/annotations/person_keypoints_<set>.json   (image_info_<set>.json when 'test' is in <set>)
    <root>/images/<set>/<file_name>                  (folder test2017 for every set with 'test' in it)

``DATASET.{TRAIN,TEST}_ANN_FILE`` and ``DATASET.{TRAIN,TEST}_IMAGES`` replace either path (relative
paths are taken from the root: ``resolve_in_root``, applied by ``datasets.loader.build_dataset_files``);
``file_name`` may hold sub-folders (PoseTrack's ``images/val/<video>/``).
"""

import json
import logging
import os

logger = logging.getLogger(__name__)

PERSON_CATEGORY_ID = 1
PERSON_CATEGORY = {"id": PERSON_CATEGORY_ID, "name": "person", "supercategory": "person"}


class CocoFormatError(ValueError):
    """A COCO-format file that cannot be used; the message names the file and the entry."""


def annotation_file(root: str, image_set: str) -> str:
    """``<root>/annotations/person_keypoints_<set>.json``, or ``image_info_<set>.json`` for test sets."""
    prefix = "image_info" if "test" in image_set else "person_keypoints"
    return os.path.join(root, "annotations", f"{prefix}_{image_set}.json")


def image_folder(root: str, image_set: str) -> str:
    """``<root>/images/<set>``; every set with 'test' in its name (test-dev2017 ...) uses ``test2017``."""
    return os.path.join(root, "images", "test2017" if "test" in image_set else image_set)


def resolve_in_root(root: str, path: str, default: str) -> str:
    """``path`` joined to ``root`` when relative, as given when absolute; ``default`` when ``path`` is ''."""
    if not path:
        return default
    return path if os.path.isabs(path) else os.path.join(root, path)


def coco_paths(root: str, image_set: str) -> tuple[str, str]:
    """(annotation json, image folder) of ``image_set`` in the default layout above."""
    return annotation_file(root, image_set), image_folder(root, image_set)


def load_json(path: str, what: str):
    """Parsed json at ``path``; ``CocoFormatError`` naming ``path`` when it is missing or invalid."""
    if not os.path.isfile(path):
        raise CocoFormatError(f"{what} not found: expected {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise CocoFormatError(f"{what} {path} is not valid json: {err}") from None


def fill_missing_fields(data: dict, path: str) -> dict:
    """``data`` (a parsed COCO-format GT json) with the fields pycocotools needs present in every
    annotation, filled where absent as the datasets' own toolkits treat them:

    * ``iscrowd`` = 0 (CrowdPose / AI Challenger / PoseTrack jsons mark no crowd regions);
    * ``num_keypoints`` = the number of labelled keypoints (v > 0);
    * ``area`` = box ``w * h``: the OKS scale of the AI Challenger toolkit (COCO's own ``area`` is the
      segmentation area, which these datasets do not have; the CrowdPose metric always uses
      ``0.53 w h``, whatever the json says, as crowdposetools does);
    * ``categories`` absent: the person category (id 1).

    Returns a copy with new annotation dicts where something was filled (the input is not modified);
    logs how many annotations got each field. ``CocoFormatError`` naming the file and the annotation id
    when an annotation lacks both ``area`` and ``bbox``.
    """
    filled = {"iscrowd": 0, "num_keypoints": 0, "area": 0}
    annotations = []
    for ann in data.get("annotations", []):
        missing = [key for key in filled if key not in ann]
        if not missing:
            annotations.append(ann)
            continue
        ann = dict(ann)
        for key in missing:
            filled[key] += 1
            ann[key] = _missing_value(ann, key, path)
        annotations.append(ann)
    out = dict(data)
    if "annotations" in data:
        out["annotations"] = annotations
    if "categories" not in data:
        out["categories"] = [dict(PERSON_CATEGORY)]
    if any(filled.values()):
        logger.info("%s: filled absent fields (annotations per field): %s", path,
                    {k: v for k, v in filled.items() if v})
    return out


def _missing_value(ann: dict, key: str, path: str):
    if key == "iscrowd":
        return 0
    if key == "num_keypoints":
        return sum(1 for v in ann.get("keypoints", [])[2::3] if v > 0)
    box = ann.get("bbox")
    if not isinstance(box, (list, tuple)) or len(box) < 4:
        raise CocoFormatError(f"{path}: annotation id {ann.get('id')} has neither 'area' nor a 'bbox' "
                              "[x, y, w, h] to take the area from")
    return float(box[2]) * float(box[3])


def merge_keypoint_parts(data: dict, path: str, parts) -> dict:
    """``data`` (a parsed COCO-format GT json) with each person annotation's ``keypoints`` replaced by the
    ``[x, y, v]`` triplets of the fields of ``parts`` (``KeypointSet.parts``: name, field, size),
    concatenated in order (COCO-WholeBody: ``keypoints`` + ``foot_kpts`` + ``face_kpts`` +
    ``lefthand_kpts`` + ``righthand_kpts``), and ``num_keypoints`` = the labelled (v > 0) count of all of
    them. ``parts`` empty: ``data`` as it is.

    A person without a part's field has that part unlabelled (zeros; counted and logged); a field holding
    another number of values than ``3 * size`` is a ``CocoFormatError`` naming the file, the annotation id
    and the field. The person category's ``keypoints`` / ``skeleton`` lists describe the ``keypoints``
    field alone and are dropped. Returns a copy; ``data`` is not modified.
    """
    if not parts:
        return data
    absent = {part.field: 0 for part in parts}
    annotations = []
    for ann in data.get("annotations", []):
        if ann.get("category_id") != PERSON_CATEGORY_ID:
            annotations.append(ann)
            continue
        merged = []
        for part in parts:
            values = ann.get(part.field)
            if values is None:
                absent[part.field] += 1
                values = [0.0] * (3 * part.size)
            elif not isinstance(values, list) or len(values) != 3 * part.size:
                count = len(values) if isinstance(values, list) else type(values).__name__
                raise CocoFormatError(
                    f"{path}: annotation id {ann.get('id')} has {count} values in {part.field!r}; expected "
                    f"{3 * part.size} (the {part.name} part's {part.size} keypoints x 3)")
            merged += values
        labelled = sum(1 for v in merged[2::3] if v > 0)
        annotations.append({**ann, "keypoints": merged, "num_keypoints": labelled})
    out = dict(data)
    if "annotations" in data:
        out["annotations"] = annotations
    if "categories" in data:
        out["categories"] = [{k: v for k, v in c.items() if k not in ("keypoints", "skeleton")}
                             if c.get("id") == PERSON_CATEGORY_ID else c for c in data["categories"]]
    if any(absent.values()):
        logger.warning("%s: person annotations without a part's field, whose keypoints count as unlabelled "
                       "(annotations per field): %s", path, {k: v for k, v in absent.items() if v})
    return out
