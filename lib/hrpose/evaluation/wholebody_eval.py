"""COCO-WholeBody AP / AR per part and for the whole body, on top of pycocotools, as the official evaluation
computes them.

The official numbers (the toolkit's ``evaluation/myeval_{body,foot,face,lefthand,righthand,wholebody}.py``;
xtcocotools' ``COCOeval`` with iouType ``keypoints_body`` / ``_foot`` / ``_face`` / ``_lefthand`` /
``_righthand`` / ``_wholebody`` and ``use_area=True``, as mmpose's ``CocoWholeBodyMetric`` runs it) are
COCO keypoint AP over one slice of the keypoints (a part of the keypoint set's ``parts``, or all K for
the whole body), with these rules, reproduced here:

* OKS over the slice's keypoints with the slice's sigmas; the scale is the GT person's ``area`` (the COCO
  segmentation area, the same for every part);
* a GT person is ignored when it has no labelled (v > 0) keypoint IN THE SLICE (counted from the
  keypoints, not the json's ``num_keypoints``): the face AP is over the persons with a labelled face;
* a prediction none of whose slice keypoints has a score > 0 is dropped (xtcocotools);
* a prediction's area (which decides whether an unmatched prediction counts in the medium / large
  ranges) is the extent of its ``keypoints`` field, i.e. of the BODY part, whatever slice is scored:
  ``loadRes`` computes it from that field;
* each prediction's person score orders the matching in every slice (mmpose writes no part scores, so
  xtcocotools uses ``score`` for all).

``tests/evaluation/test_wholebody_eval.py`` pins agreement with xtcocotools on a fixture.
"""

import contextlib
import copy
import io
import logging

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.datasets.keypoints import KeypointSet
from hrpose.evaluation.table import STAT_NAMES

logger = logging.getLogger(__name__)

WHOLE_BODY = "wholebody"  # the slice of all K keypoints
AREA_FIELD = "keypoints"  # the json field whose extent is a prediction's area (loadRes)
PART_STATS = ("AP", "AR")  # what the table shows of each part


def _part_stat(part: str, stat: str) -> str:
    return f"{part.replace('_', ' ')} {stat}"


def wholebody_stat_names(part_names) -> tuple[str, ...]:
    """The whole body's 10 COCO numbers (``STAT_NAMES``), then ``<part> AP`` and ``<part> AR`` per part
    (underscores shown as spaces: ``left hand AP``)."""
    return (*STAT_NAMES, *(_part_stat(name, stat) for name in part_names for stat in PART_STATS))


# COCO-WholeBody's parts (keypoint set coco_wholebody): what TEST.METRIC wholebody reports for it
WHOLEBODY_STAT_NAMES = wholebody_stat_names(("body", "foot", "face", "left_hand", "right_hand"))


def wholebody_slices(keypoint_set: KeypointSet) -> dict[str, slice]:
    """Part name -> keypoint slice for every part of ``keypoint_set.parts``, then ``wholebody`` -> all K.
    ``ValueError`` when the set has no parts (the metric needs them)."""
    if not keypoint_set.parts:
        raise ValueError(f"TEST.METRIC wholebody scores the parts of a keypoint set with json_parts (e.g. "
                         f"coco_wholebody); keypoint set {keypoint_set.name!r} has none: use TEST.METRIC "
                         "coco")
    return {**keypoint_set.part_slices, WHOLE_BODY: slice(0, keypoint_set.num_keypoints)}


def part_ground_truth(gt: COCO, keypoints: slice) -> COCO:
    """A COCO GT object whose annotations hold only the keypoints ``keypoints`` of ``gt``'s (the K merged
    keypoints of ``coco_json.merge_keypoint_parts``), with ``num_keypoints`` = their labelled count."""
    start, stop = 3 * keypoints.start, 3 * keypoints.stop
    annotations = []
    for ann in gt.dataset.get("annotations", []):
        if "keypoints" in ann:
            part = ann["keypoints"][start:stop]
            ann = {**ann, "keypoints": part, "num_keypoints": sum(1 for v in part[2::3] if v > 0)}
        annotations.append(ann)
    return _coco_object({**gt.dataset, "annotations": annotations})


def part_results(gt: COCO, records: list[dict], keypoints: slice, area_keypoints: slice) -> COCO:
    """The results object of COCO results ``records`` (K keypoints each) for the slice ``keypoints``:
    predictions without a positive score in the slice dropped, ``area`` / ``bbox`` from the extent of
    ``area_keypoints`` (see the module docstring), ids as ``loadRes`` numbers the full list."""
    start, stop = 3 * keypoints.start, 3 * keypoints.stop
    annotations = []
    for index, record in enumerate(records):
        part = list(record["keypoints"][start:stop])
        if not any(v > 0 for v in part[2::3]):
            continue
        extent = record["keypoints"][3 * area_keypoints.start:3 * area_keypoints.stop]
        x0, x1 = np.min(extent[0::3]), np.max(extent[0::3])
        y0, y1 = np.min(extent[1::3]), np.max(extent[1::3])
        annotations.append({**record, "keypoints": part, "id": index + 1, "area": (x1 - x0) * (y1 - y0),
                            "bbox": [x0, y0, x1 - x0, y1 - y0]})
    data = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
            "annotations": annotations}
    return _coco_object(data)


def _coco_object(data: dict) -> COCO:
    out = COCO()
    out.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        out.createIndex()
    return out


def wholebody_part_stats(gt: COCO, records: list[dict],
                         keypoint_set: KeypointSet) -> dict[str, dict[str, float]]:
    """The 10 COCO numbers (``STAT_NAMES``) of every slice of ``wholebody_slices`` (parts, then
    ``wholebody``) for COCO results ``records`` (K keypoints each; not modified) against ``gt`` (the
    merged GT: ``coco_eval.load_ground_truth`` with the set's parts); -1 where a slice has no labelled
    person, as COCOeval. COCOeval's printout goes to the log."""
    slices = wholebody_slices(keypoint_set)
    unknown = {r["image_id"] for r in records} - set(gt.getImgIds())
    if unknown:
        raise ValueError(f"results name {len(unknown)} image ids that are not in the ground truth, e.g. "
                         f"{sorted(unknown)[:5]}")
    field_slices = {p.field: slices[p.name] for p in keypoint_set.parts}
    area_keypoints = field_slices.get(AREA_FIELD, slices[WHOLE_BODY])
    sigmas = np.asarray(keypoint_set.sigmas, dtype=np.float64)
    out = {}
    for name, keypoints in slices.items():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            coco_eval = COCOeval(part_ground_truth(gt, keypoints),
                                 part_results(gt, records, keypoints, area_keypoints), "keypoints")
            coco_eval.params.kpt_oks_sigmas = sigmas[keypoints]
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        logger.info("COCO-WholeBody %s:\n%s", name, buffer.getvalue().rstrip())
        out[name] = {n: float(v) for n, v in zip(STAT_NAMES, coco_eval.stats, strict=True)}
    return out


def wholebody_eval(gt: COCO, records: list[dict], keypoint_set: KeypointSet) -> dict[str, float]:
    """``wholebody_stat_names(part names)``: the whole body's 10 numbers, then AP and AR of each part."""
    stats = wholebody_part_stats(gt, records, keypoint_set)
    out = dict(stats.pop(WHOLE_BODY))
    for name, part in stats.items():
        out.update({_part_stat(name, stat): part[stat] for stat in PART_STATS})
    return out
