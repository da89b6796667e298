"""COCO keypoint evaluation over plain arrays: rescoring, OKS-NMS / soft-NMS, results json, COCOeval."""

from hrpose.evaluation.coco_eval import evaluate_coco, postprocess, run_cocoeval
from hrpose.evaluation.nms import nms_per_image, oks_iou, oks_matrix, oks_nms, soft_oks_nms
from hrpose.evaluation.predictions import PosePredictions
from hrpose.evaluation.rescore import rescore
from hrpose.evaluation.results_json import results_arrays, results_records, write_results_json
from hrpose.evaluation.table import STAT_NAMES, format_results_table

__all__ = [
    "STAT_NAMES",
    "PosePredictions",
    "evaluate_coco",
    "format_results_table",
    "nms_per_image",
    "oks_iou",
    "oks_matrix",
    "oks_nms",
    "postprocess",
    "rescore",
    "results_arrays",
    "results_records",
    "run_cocoeval",
    "soft_oks_nms",
    "write_results_json",
]
