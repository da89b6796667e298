"""The synthetic sample data in the layouts and keypoint sets of the other benchmarks.

``make_variant_dataset(out_dir, variant, seed)`` draws the mannequin scenes of ``synthetic.py`` and
writes them as that benchmark's files, with its keypoints (mapped by name from the mannequin's points,
``synthetic.keypoints_by_name``; a keypoint the mannequin has no point for is unlabelled) and the quirks of
its json that hrpose must cope with:

* ``crowdpose``: ``json/crowdpose_{trainval,test}.json``, ``images/<id>.jpg``; 14 keypoints; crowded
  scenes of varied density with each image's ``crowdIndex``; no ``area`` in the annotations;
* ``aic``: ``annotations/aic_{train,val}.json``, ``images/{train,val}/``; 14 keypoints; no ``area``
  and no ``iscrowd``;
* ``posetrack18``: ``annotations/posetrack18_{train,val}.json`` with ``file_name`` =
  ``images/<split>/<video>/<frame>.jpg`` (sub-folders below the root), crowd regions as the images'
  ``ignore_regions_x/y``, ``bbox_head`` and ``track_id``; no ``area`` / ``iscrowd`` / ``num_keypoints``;
  head bottom / head top in slots 1 and 2, ears unlabelled as in the real data;
* ``halpe``: ``annotations/halpe_{train,val}.json``, ``images/{train,val}/``; 26 keypoints (the six
  foot keypoints unlabelled: the mannequins have no feet);
* ``ochuman``: ``ochuman_coco_format_{val,test}_range_0.00_1.00.json``, ``images/``; COCO's 17
  keypoints in heavily overlapping scenes;
* ``wholebody``: ``annotations/coco_wholebody_{train,val}_v1.0.json``, ``images/{train2017,val2017}/``
  (COCO's layout); 133 keypoints stored as COCO-WholeBody does, in the fields of the keypoint set's
  ``json_parts`` (``keypoints`` = body, ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``,
  ``righthand_kpts``) with ``*_valid`` flags and face / hand boxes; only the body is labelled (the
  mannequins have no feet, faces or hands);
* ``mpii``: the reference's MPII format (``synthetic_mpii.py``).

The same seed gives byte-identical jsons.
"""

import logging
import os
import time
from dataclasses import dataclass

import cv2
import numpy as np

from hrpose.datasets.keypoints import builtin_keypoint_set
from hrpose.datasets.synthetic import IMAGE_SIZE, JPEG_QUALITY, dump_json, keypoints_by_name, make_scene
from hrpose.datasets.synthetic_mpii import make_mpii_dataset

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Variant:
    """How one benchmark stores its data (see the module docstring)."""

    keypoint_set: str
    splits: tuple[str, str]  # (train, test) image-set names
    ann_file: str  # relative to the root; '{split}' is filled in
    images: str  # the folder file_name is relative to ('{split}' filled in): DATASET.*_IMAGES
    file_name: str  # format string of image_id, split, video, frame
    dropped: tuple[str, ...] = ()  # annotation fields the benchmark's json does not have
    crowd_levels: tuple[float, ...] = (0.0,)  # per image, one is drawn (synthetic.make_scene's crowd)
    unlabelled: tuple[str, ...] = ()  # keypoints the benchmark never labels


VARIANTS = {
    "crowdpose": Variant("crowdpose", ("trainval", "test"), "json/crowdpose_{split}.json", "images",
                         "{image_id}.jpg", dropped=("area", "segmentation"), crowd_levels=(0.0, 0.5, 1.0)),
    "aic": Variant("aic", ("train", "val"), "annotations/aic_{split}.json", "images/{split}",
                   "{image_id:016x}.jpg", dropped=("area", "iscrowd", "segmentation")),
    "posetrack18": Variant("posetrack18", ("train", "val"), "annotations/posetrack18_{split}.json", ".",
                           "images/{split}/{video:06d}_mpii_{split}/{frame:06d}.jpg",
                           dropped=("area", "iscrowd", "num_keypoints", "segmentation"),
                           unlabelled=("left_ear", "right_ear")),
    "halpe": Variant("halpe26", ("train", "val"), "annotations/halpe_{split}.json", "images/{split}",
                     "{image_id:012d}.jpg"),
    "ochuman": Variant("coco", ("val", "test"), "ochuman_coco_format_{split}_range_0.00_1.00.json", "images",
                       "{image_id:06d}.jpg", crowd_levels=(0.8,)),
    "wholebody": Variant("coco_wholebody", ("train", "val"), "annotations/coco_wholebody_{split}_v1.0.json",
                         "images/{split}2017", "{image_id:012d}.jpg"),
}
FRAMES_PER_VIDEO = 5  # posetrack18: consecutive images form a "video" folder


def crowd_index(annotations: list[dict]) -> float:
    """CrowdPose's crowd index of an image: the mean over its labelled persons of (other persons'
    labelled joints inside the person's box) / (the person's labelled joints); 0 without persons."""
    persons = [(np.asarray(a["bbox"]), np.asarray(a["keypoints"]).reshape(-1, 3)) for a in annotations
               if not a.get("iscrowd") and (np.asarray(a["keypoints"])[2::3] > 0).any()]
    ratios = []
    for i, (box, kpts) in enumerate(persons):
        others = np.concatenate([k[k[:, 2] > 0, :2] for j, (_, k) in enumerate(persons) if j != i] or
                                [np.zeros((0, 2))])
        inside = ((others[:, 0] >= box[0]) & (others[:, 0] <= box[0] + box[2]) & (others[:, 1] >= box[1])
                  & (others[:, 1] <= box[1] + box[3])).sum()
        ratios.append(inside / (kpts[:, 2] > 0).sum())
    return round(float(np.mean(ratios)), 4) if ratios else 0.0


def _convert(ann: dict, variant: Variant, names) -> dict:
    kpts = keypoints_by_name(ann.pop("points"), names, variant.unlabelled)
    ann = {**ann, "keypoints": [round(float(v), 2) for v in kpts.reshape(-1)],
           "num_keypoints": int((kpts[:, 2] > 0).sum())}
    return {k: v for k, v in ann.items() if k not in variant.dropped}


def _split_parts(ann: dict, parts) -> dict:
    """``ann`` with its K keypoints stored as the json parts' fields (COCO-WholeBody's layout): each part's
    triplets in its field, ``<part>_valid`` (any labelled point) and, for the face and hands,
    ``<part>_box`` (the labelled points' extent; zeros without any); ``num_keypoints`` counts the
    ``keypoints`` field (the body), as COCO-WholeBody's does."""
    kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
    out, start = dict(ann), 0
    for part in parts:
        values = kpts[start:start + part.size]
        start += part.size
        labelled = values[:, 2] > 0
        out[part.field] = [round(float(v), 2) for v in values.reshape(-1)]
        if part.field == "keypoints":
            out["num_keypoints"] = int(labelled.sum())
            continue
        stem = part.field.removesuffix("_kpts")
        out[f"{stem}_valid"] = bool(labelled.any())
        if stem != "foot":
            box = [0.0] * 4
            if labelled.any():
                lo, hi = values[labelled, :2].min(0), values[labelled, :2].max(0)
                box = [*lo, *(hi - lo)]
            out[f"{stem}_box"] = [round(float(v), 2) for v in box]
    return out


def _posetrack_extras(image: dict, anns: list[dict], points: list[dict]) -> list[dict]:
    """Crowd regions become the image's ignore regions; persons get a head box and a track id."""
    image["ignore_regions_x"], image["ignore_regions_y"] = [], []
    kept = []
    for ann, pts in zip(anns, points, strict=True):
        if ann.get("_crowd"):
            hull = np.asarray(ann["_hull"]).reshape(-1, 2)
            image["ignore_regions_x"].append(hull[:, 0].round(1).tolist())
            image["ignore_regions_y"].append(hull[:, 1].round(1).tolist())
            continue
        top = np.asarray(pts.get("head_top", (0, 0, 0)))
        bottom = np.asarray(pts.get("head_bottom", (0, 0, 0)))
        side = float(np.linalg.norm(top[:2] - bottom[:2]))
        center = (top[:2] + bottom[:2]) / 2
        ann["bbox_head"] = [round(float(v), 2) for v in (*(center - side / 2), side, side)]
        ann["track_id"] = len(kept)
        kept.append(ann)
    return kept


def _write_split(out_dir: str, variant: Variant, split: str, code: int, num_images: int, seed: int,
                 stream: int) -> dict:
    ks = builtin_keypoint_set(variant.keypoint_set)
    names = ks.names
    images, annotations = [], []
    for i in range(num_images):
        rng = np.random.default_rng([seed, 100 + code, i, stream])
        crowd = float(rng.choice(variant.crowd_levels))
        canvas, scene = make_scene(rng, *IMAGE_SIZE, crowd=crowd, with_points=True)
        image_id = (code + 1) * 100_000 + i + 1
        video, frame = divmod(i, FRAMES_PER_VIDEO)
        file_name = variant.file_name.format(image_id=image_id, split=split, video=video + 1, frame=frame)
        path = os.path.join(out_dir, variant.images.format(split=split), file_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        image = {"id": image_id, "file_name": file_name, "width": IMAGE_SIZE[0], "height": IMAGE_SIZE[1]}
        points = [dict(a["points"]) for a in scene]
        anns = [{"id": image_id * 100 + j + 1, "image_id": image_id, "_crowd": a["iscrowd"],
                 "_hull": a["segmentation"][0], **_convert(dict(a), variant, names)}
                for j, a in enumerate(scene)]
        if variant.keypoint_set == "posetrack18":
            image.update(vid_id=video + 1, frame_id=image_id, is_labeled=True)
            anns = _posetrack_extras(image, anns, points)
        elif "iscrowd" in variant.dropped:  # a json without iscrowd has no crowd regions
            anns = [a for a in anns if not a["_crowd"]]
        if variant.keypoint_set == "crowdpose":
            image["crowdIndex"] = crowd_index(anns)
        if ks.parts:
            anns = [_split_parts(a, ks.parts) for a in anns]
        images.append(image)
        annotations += [{k: v for k, v in a.items() if not k.startswith("_")} for a in anns]
    # the category names the keypoints of the 'keypoints' field: all K, or the first part (the body)
    first = ks.parts[0].size if ks.parts else ks.num_keypoints
    categories = [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(ks.names[:first]),
                   "skeleton": [[a + 1, b + 1] for a, b in ks.skeleton if max(a, b) < first]}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    dump_json(os.path.join(out_dir, variant.ann_file.format(split=split)), data)
    persons = sum(1 for a in annotations if any(v > 0 for v in a["keypoints"][2::3]))
    return {"images": len(images), "persons": persons, "annotations": len(annotations)}


def make_variant_dataset(out_dir: str, variant: str, seed: int = 0, num_train_images: int = 150,
                         num_val_images: int = 40) -> dict:
    """Write the synthetic data as benchmark ``variant`` (``VARIANTS`` or ``mpii``) under ``out_dir``;
    returns counts per split (``persons``: annotations with a labelled keypoint) and the seconds taken."""
    if variant == "mpii":
        return make_mpii_dataset(out_dir, seed, num_train_images, num_val_images)
    if variant not in VARIANTS:
        raise ValueError(f"unknown sample-data variant {variant!r}; expected one of "
                         f"{sorted([*VARIANTS, 'mpii'])}")
    start = time.perf_counter()
    spec = VARIANTS[variant]
    stream = list(VARIANTS).index(variant)  # each variant its own scenes
    sizes = zip(spec.splits, (num_train_images, num_val_images), strict=True)
    counts = {split: _write_split(out_dir, spec, split, code, num, seed, stream)
              for code, (split, num) in enumerate(sizes)}
    counts["seconds"] = round(time.perf_counter() - start, 2)
    logger.info("%s sample data in %s: %s", variant, out_dir, counts)
    return counts
