"""CrowdPose AP / AP(E) / AP(M) / AP(H) on top of pycocotools, as the official crowdposetools computes them.

crowdposetools (Jeff-sjtu/CrowdPose ``crowdpose-api``) is COCOeval with three changes, reproduced here:

* the OKS scale and the area ranges of a GT person use ``0.53 * box w * h`` instead of its ``area``
  (``crowdpose_ground_truth`` writes that into ``area`` of a copy of the GT);
* the 14 CrowdPose sigmas (the keypoint set's);
* AP(E/M/H): images are split by their ``crowdIndex`` into easy ``< 0.2``, medium ``< 0.8``, hard ``>= 0.8``
  (the toolkit's ``get_type_result(first=0.2, second=0.8)``; the paper's text says 0.1 / 0.8, the
  published numbers use the toolkit), each split is evaluated on its own and its AP is the mean of the
  precision array over IoU thresholds, recall thresholds and max detections (all areas), rounded to
  4 decimals as the toolkit does; -1 when a split has no image with a scored person.

No maintained PyPI package qualifies: ``crowdposetools`` is not on PyPI, and ``xtcocotools``
(``keypoints_crowd``) ships wheels for CPython 3.10/3.11 only and its 1.14.3 wheels fail to import with
numpy 2. ``tests/evaluation/test_crowdpose_eval.py`` pins agreement with it on a fixture.
"""

import contextlib
import copy
import io
import logging

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.datasets.coco_json import CocoFormatError

logger = logging.getLogger(__name__)

AREA_FACTOR = 0.53  # crowdposetools: GT area = 0.53 x box area (OKS scale and area ranges)
CROWD_INDEX_EDGES = (0.2, 0.8)  # easy < 0.2 <= medium < 0.8 <= hard (crowdposetools' split)
CROWDPOSE_STAT_NAMES = ("AP", "AP .5", "AP .75", "AR", "AR .5", "AR .75", "AP (E)", "AP (M)", "AP (H)")


def crowdpose_ground_truth(gt: COCO, source: str = "the annotation file") -> COCO:
    """A copy of the COCO GT object ``gt`` with every annotation's ``area = 0.53 * w * h``; every image
    must carry ``crowdIndex`` (``CocoFormatError`` naming ``source`` otherwise)."""
    lacking = [img["id"] for img in gt.dataset.get("images", []) if "crowdIndex" not in img]
    if lacking:
        raise CocoFormatError(f"{source}: {len(lacking)} images have no 'crowdIndex' (e.g. image ids "
                              f"{lacking[:5]}); the CrowdPose metric needs it (TEST.METRIC coco scores "
                              "without it)")
    data = copy.copy(gt.dataset)
    data["annotations"] = [{**a, "area": AREA_FACTOR * float(a["bbox"][2]) * float(a["bbox"][3])}
                           for a in gt.dataset.get("annotations", [])]
    out = COCO()
    out.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        out.createIndex()
    return out


def crowd_index_splits(gt: COCO, edges=CROWD_INDEX_EDGES) -> tuple[list, list, list]:
    """Image ids (easy, medium, hard) by ``crowdIndex``: ``< edges[0]``, ``< edges[1]``, the rest."""
    splits: tuple[list, list, list] = ([], [], [])
    for img in gt.dataset["images"]:
        index = float(img["crowdIndex"])
        splits[0 if index < edges[0] else 1 if index < edges[1] else 2].append(img["id"])
    return splits


def crowdpose_eval(gt: COCO, records: list[dict], sigmas, edges=CROWD_INDEX_EDGES) -> dict[str, float]:
    """The 9 CrowdPose numbers (``CROWDPOSE_STAT_NAMES``) of COCO results ``records`` (not modified)
    against ``gt`` from ``crowdpose_ground_truth``; COCOeval's printout goes to the log."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        dt = gt.loadRes([dict(r) for r in records])
        coco_eval = COCOeval(gt, dt, "keypoints")
        coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
        s = coco_eval.stats
        stats = dict(zip(CROWDPOSE_STAT_NAMES[:6], (s[0], s[1], s[2], s[5], s[6], s[7]), strict=True))
        for name, image_ids in zip(CROWDPOSE_STAT_NAMES[6:], crowd_index_splits(gt, edges), strict=True):
            stats[name] = _split_ap(coco_eval, image_ids)
    logger.info("CrowdPose COCOeval:\n%s", buffer.getvalue().rstrip())
    return {name: float(value) for name, value in stats.items()}


def _split_ap(coco_eval: COCOeval, image_ids: list) -> float:
    """AP of the images ``image_ids`` alone, as crowdposetools' ``get_type_result``."""
    coco_eval.params.imgIds = list(image_ids)
    coco_eval.evaluate()
    coco_eval.accumulate()
    return round(float(np.mean(coco_eval.eval["precision"][:, :, :, 0, :])), 4)
