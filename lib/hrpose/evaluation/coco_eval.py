"""COCO keypoint evaluation over plain arrays: rescoring -> OKS-NMS -> results json -> COCOeval.

This is the reference's ``COCODataset.evaluate`` without the dataset: it takes a ``PosePredictions``
(one row per person box) and returns the 10 standard numbers (``STAT_NAMES``) as a dict.
"""

import contextlib
import io
import logging
import os
import time

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrpose.datasets.coco_json import CocoFormatError, fill_missing_fields, load_json, merge_keypoint_parts
from hrpose.datasets.keypoints import KeypointSet
from hrpose.evaluation.crowdpose_eval import crowdpose_eval, crowdpose_ground_truth
from hrpose.evaluation.nms import nms_per_image
from hrpose.evaluation.predictions import PosePredictions
from hrpose.evaluation.rescore import rescore
from hrpose.evaluation.results_json import results_arrays, results_records, write_results_json
from hrpose.evaluation.table import STAT_NAMES
from hrpose.evaluation.wholebody_eval import wholebody_eval, wholebody_slices

logger = logging.getLogger(__name__)

BACKENDS = ("pycocotools", "faster_coco_eval")
# COCOeval's 10 numbers | CrowdPose's 9 (crowdpose_eval.py) | COCO-WholeBody's per part (wholebody_eval.py)
OKS_METRICS = ("coco", "crowdpose", "wholebody")
PYCOCOTOOLS_ONLY_METRICS = ("crowdpose", "wholebody")  # their rules are implemented on pycocotools' COCOeval


def postprocess(predictions: PosePredictions, sigmas, in_vis_thre: float, oks_thre: float,
                soft_nms: bool) -> dict[str, np.ndarray]:
    """Rescore, NMS per image, round: the results (``results_arrays``) the json and COCOeval receive,
    images in order of first appearance, each image's persons in NMS order."""
    scores = rescore(predictions.keypoints[..., 2], predictions.box_scores, in_vis_thre)
    keep = nms_per_image(predictions.image_ids, predictions.keypoints, scores, predictions.areas,
                         oks_thre, sigmas, soft=soft_nms)
    p = predictions.select(keep)
    return results_arrays(p.image_ids, p.keypoints, scores[keep], p.centers, p.scales)


def evaluate_coco(predictions: PosePredictions, keypoint_set: KeypointSet, ann_file, out_json,
                  in_vis_thre: float, oks_thre: float, soft_nms: bool,
                  backend: str = "pycocotools", metric: str = "coco") -> dict[str, float]:
    """Reference COCO keypoint evaluation.

    Args:
        predictions: N person boxes (keypoints in image pixels, decoded scores).
        keypoint_set: gives the OKS sigmas (NMS and, for non-COCO-17 sets, COCOeval).
        ann_file: COCO GT json, or its GT object (``load_oks_ground_truth``). ``None``, or a json
            without annotations (test-dev's image info): then only the results json is written and
            ``{}`` is returned.
        out_json: results json path (written in every case).
        in_vis_thre: ``TEST.IN_VIS_THRE``; oks_thre: ``TEST.OKS_THRE``; soft_nms: ``TEST.SOFT_NMS``.
        backend: ``pycocotools`` or ``faster_coco_eval`` (optional package, same numbers).
        metric: ``coco`` (COCOeval), ``crowdpose`` (``crowdpose_eval``) or ``wholebody``
            (``wholebody_eval``; the keypoint set's parts); the last two always on pycocotools.
    Returns:
        ``{name: value}`` for the 10 ``STAT_NAMES`` (crowdpose: the 9 ``CROWDPOSE_STAT_NAMES``;
        wholebody: ``wholebody_stat_names``) in order.
    """
    if metric not in OKS_METRICS:
        raise ValueError(f"TEST.METRIC = {metric!r}: evaluate_coco scores one of {list(OKS_METRICS)}")
    if metric in PYCOCOTOOLS_ONLY_METRICS:
        backend = "pycocotools"
    if backend not in BACKENDS:
        raise ValueError(f"TEST.EVAL_BACKEND = {backend!r}: expected one of {list(BACKENDS)}")
    if backend == "faster_coco_eval" and ann_file is not None:
        _faster_coco_eval()  # fail before the work if the optional package is missing
    if len(predictions) == 0:
        raise ValueError("evaluate_coco: no predictions to evaluate (0 person boxes); check the test set, "
                         "TEST.USE_GT_BBOX / TEST.COCO_BBOX_FILE and TEST.IMAGE_THRE")
    if predictions.num_keypoints != keypoint_set.num_keypoints:
        raise ValueError(f"evaluate_coco: predictions have {predictions.num_keypoints} keypoints, "
                         f"keypoint set {keypoint_set.name!r} has {keypoint_set.num_keypoints}")
    results = postprocess(predictions, keypoint_set.sigmas, in_vis_thre, oks_thre, soft_nms)
    path = write_results_json(results, out_json)
    logger.info("wrote %d person results (%d boxes before NMS) to %s", results["image_ids"].size,
                len(predictions), path)
    gt = ann_file
    if isinstance(ann_file, (str, os.PathLike)):
        gt = load_oks_ground_truth(ann_file, metric, backend, keypoint_set)
    if gt is None:
        logger.info("no annotations for this set: results json only, at %s (upload it to the COCO server)",
                    path)
        return {}
    if metric == "crowdpose":
        return crowdpose_eval(gt, results_records(results), keypoint_set.sigmas)
    if metric == "wholebody":
        return wholebody_eval(gt, results_records(results), keypoint_set)
    return cocoeval(gt, results_records(results), keypoint_set.sigmas, backend)


def load_oks_ground_truth(ann_file, metric: str, backend: str = "pycocotools",
                          keypoint_set: KeypointSet | None = None):
    """The GT object ``evaluate_coco`` scores ``metric`` against (None without annotations): CrowdPose's
    (``load_crowdpose_ground_truth``), else ``load_ground_truth`` with the keypoint set's json parts;
    ``ValueError`` for ``wholebody`` with a keypoint set without parts."""
    if metric == "crowdpose":
        return load_crowdpose_ground_truth(ann_file)
    parts = keypoint_set.parts if keypoint_set is not None else ()
    if metric == "wholebody":
        if keypoint_set is None:
            raise ValueError("TEST.METRIC wholebody needs the keypoint set (its json_parts)")
        wholebody_slices(keypoint_set)  # fails unless the set has parts
    if metric in PYCOCOTOOLS_ONLY_METRICS:
        backend = "pycocotools"
    return load_ground_truth(ann_file, backend, parts)


def load_ground_truth(ann_file, backend: str = "pycocotools", json_parts=()):
    """The COCO GT object of ``ann_file``, or None when the file holds no annotations (an image-info
    file). A keypoint set's ``json_parts`` are concatenated into ``keypoints``
    (``hrpose.datasets.coco_json.merge_keypoint_parts``), then absent ``area`` / ``iscrowd`` /
    ``num_keypoints`` are filled (``fill_missing_fields``); the loading printout goes to the log."""
    data = load_json(str(ann_file), "ground-truth json")
    if not isinstance(data, dict) or "images" not in data:
        raise CocoFormatError(f"{ann_file}: not a COCO-format ground truth (no 'images' list)")
    if not data.get("annotations"):
        return None
    coco_cls = _faster_coco_eval()[0] if backend == "faster_coco_eval" else COCO
    gt = coco_cls()
    gt.dataset = fill_missing_fields(merge_keypoint_parts(data, str(ann_file), json_parts), str(ann_file))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        gt.createIndex()
    logger.debug("%s", buffer.getvalue().rstrip())
    return gt


def load_crowdpose_ground_truth(ann_file, backend: str = "pycocotools"):
    """``load_ground_truth`` prepared for the CrowdPose metric (``crowdpose_ground_truth``); None without
    annotations. ``backend`` is accepted for symmetry: CrowdPose is always scored with pycocotools."""
    gt = load_ground_truth(ann_file)
    return None if gt is None else crowdpose_ground_truth(gt, str(ann_file))


def run_cocoeval(ann_file, records: list[dict], kpt_oks_sigmas=None,
                 backend: str = "pycocotools") -> dict[str, float]:
    """``cocoeval`` against the GT json ``ann_file``; ``ValueError`` naming it when it has no annotations."""
    gt = load_ground_truth(ann_file, backend)
    if gt is None:
        raise ValueError(f"{ann_file}: the annotation file has no annotations to evaluate against; "
                         "pass ann_file=None for a test set")
    return cocoeval(gt, records, kpt_oks_sigmas, backend, source=str(ann_file))


def cocoeval(gt, records: list[dict], kpt_oks_sigmas=None, backend: str = "pycocotools",
             source: str = "the annotation file") -> dict[str, float]:
    """COCOeval(gt, dt, 'keypoints') -> evaluate/accumulate/summarize; its printout goes to the log.

    ``gt``: a loaded COCO GT object (``load_ground_truth``). ``records``: COCO results dicts
    (``results_records``); they are not modified. ``kpt_oks_sigmas`` [K] replaces COCOeval's built-in
    COCO-17 sigmas unless it equals them (so COCO numbers are bit-identical to plain COCOeval and custom
    keypoint sets are evaluated with their own sigmas); ``None`` keeps the built-in ones.
    """
    eval_cls = _faster_coco_eval()[1] if backend == "faster_coco_eval" else COCOeval
    records = [dict(r) for r in records]  # loadRes adds fields; keep the caller's dicts intact
    unknown = {r["image_id"] for r in records} - set(gt.getImgIds())
    if unknown:
        raise ValueError(f"{source}: results name {len(unknown)} image ids that are not in the "
                         f"annotation file, e.g. {sorted(unknown)[:5]}")
    buffer = io.StringIO()
    start = time.perf_counter()
    logger.info("COCOeval (%s): %d results on %d images: evaluate ...", backend, len(records),
                len(gt.getImgIds()))
    with contextlib.redirect_stdout(buffer):
        dt = gt.loadRes(records)
        coco_eval = eval_cls(gt, dt, "keypoints")
        _set_sigmas(coco_eval.params, kpt_oks_sigmas)
        coco_eval.evaluate()
    logger.info("COCOeval: evaluate done in %.1f s; accumulate + summarize ...", time.perf_counter() - start)
    with contextlib.redirect_stdout(buffer):
        coco_eval.accumulate()
        coco_eval.summarize()
    logger.info("COCOeval (%s):\n%s", backend, buffer.getvalue().rstrip())
    stats = coco_eval.stats[:len(STAT_NAMES)]
    return {name: float(value) for name, value in zip(STAT_NAMES, stats, strict=True)}


def _set_sigmas(params, sigmas) -> None:
    if sigmas is None:
        return
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    builtin = np.asarray(params.kpt_oks_sigmas, dtype=np.float64).reshape(-1)
    if sigmas.shape != builtin.shape or not np.allclose(sigmas, builtin, rtol=0, atol=1e-9):
        params.kpt_oks_sigmas = sigmas


def _faster_coco_eval():
    try:  # optional dependency: imported only when TEST.EVAL_BACKEND asks for it
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as err:
        raise ImportError("TEST.EVAL_BACKEND = 'faster_coco_eval' needs the optional package: "
                          "pip install faster-coco-eval (or use TEST.EVAL_BACKEND pycocotools)") from err
    return COCO, COCOeval_faster
