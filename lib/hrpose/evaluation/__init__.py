"""Keypoint evaluation over plain arrays: rescoring, OKS-NMS / soft-NMS, results json, COCOeval, the
CrowdPose AP (easy/medium/hard), COCO-WholeBody AP per part, MPII PCKh."""

from hrpose.evaluation.coco_eval import evaluate_coco, postprocess, run_cocoeval
from hrpose.evaluation.crowdpose_eval import CROWDPOSE_STAT_NAMES, crowdpose_eval
from hrpose.evaluation.nms import nms_per_image, oks_iou, oks_matrix, oks_nms, soft_oks_nms
from hrpose.evaluation.pckh import PCKH_STAT_NAMES, evaluate_pckh, pckh_table
from hrpose.evaluation.predictions import PosePredictions
from hrpose.evaluation.rescore import rescore
from hrpose.evaluation.results_json import results_arrays, results_records, write_results_json
from hrpose.evaluation.table import STAT_NAMES, format_results_table
from hrpose.evaluation.wholebody_eval import WHOLEBODY_STAT_NAMES, wholebody_eval, wholebody_stat_names

__all__ = [
    "CROWDPOSE_STAT_NAMES",
    "PCKH_STAT_NAMES",
    "STAT_NAMES",
    "WHOLEBODY_STAT_NAMES",
    "PosePredictions",
    "crowdpose_eval",
    "evaluate_coco",
    "evaluate_pckh",
    "format_results_table",
    "nms_per_image",
    "oks_iou",
    "oks_matrix",
    "oks_nms",
    "pckh_table",
    "postprocess",
    "rescore",
    "results_arrays",
    "results_records",
    "run_cocoeval",
    "soft_oks_nms",
    "wholebody_eval",
    "wholebody_stat_names",
    "write_results_json",
]
