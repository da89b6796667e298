"""Evaluate a model on the config's test set: the code shared by ``tools/test.py`` and training.

    evaluate_model(model, cfg, device, output_dir, loader=None, oracle=False) -> dict[str, float]

* builds the evaluation loader (``build_dataloader(cfg, is_train=False, distributed=<process group>)``:
  GT boxes or the detector json per ``TEST.USE_GT_BBOX``) unless ``loader`` is given (reuse it
  across epochs to skip re-reading the annotations);
* predicts with ``TEST.FLIP_TEST / SHIFT_HEATMAP / DECODE / POST_PROCESS / AMP / CHANNELS_LAST``
  (every rank its shard; ``oracle=True`` decodes the GT target heatmaps instead of running ``model``);
* on rank 0: rescoring + OKS-NMS + ``<output_dir>/results/keypoints_<TEST_SET>_results.json`` +
  COCOeval (``TEST.IN_VIS_THRE / OKS_THRE / SOFT_NMS / EVAL_BACKEND``), and logs the markdown table;
* returns the 10 COCO numbers (``hrpose.evaluation.STAT_NAMES``) on every rank (broadcast from rank
  0); ``{}`` for a test set without annotations (the json is written; upload it to the COCO server).

The model's train/eval mode is restored afterwards. Like the ``build_*`` functions this reads the
config; everything below it takes explicit arguments.
"""

import logging
import pathlib

import torch
from yacs.config import CfgNode

from hrpose.datasets import build_dataloader
from hrpose.engine.predict import predict, predict_oracle
from hrpose.evaluation import evaluate_coco, format_results_table
from hrpose.utils.dist import broadcast_object, is_distributed, is_main_process

logger = logging.getLogger(__name__)


def results_json_path(output_dir, image_set: str) -> pathlib.Path:
    """``<output_dir>/results/keypoints_<image_set>_results.json``."""
    return pathlib.Path(output_dir) / "results" / f"keypoints_{image_set}_results.json"


def evaluate_model(model: torch.nn.Module | None, cfg: CfgNode, device: torch.device, output_dir,
                   loader=None, oracle: bool = False) -> dict[str, float]:
    """See the module docstring. ``model`` may be None with ``oracle=True``."""
    test = cfg.TEST
    if oracle and not test.USE_GT_BBOX:
        raise ValueError("--oracle decodes each GT person's own target heatmaps: it needs "
                         "TEST.USE_GT_BBOX True (detector boxes have no target)")
    if loader is None:
        loader = build_dataloader(cfg, is_train=False, distributed=is_distributed())
    dataset = loader.dataset
    if oracle:
        predictions = predict_oracle(loader, dataset.codec, decode=test.DECODE,
                                     post_process=test.POST_PROCESS)
    else:
        predictions = predict(model, loader, device, dataset.codec, dataset.keypoint_set,
                              flip_test=test.FLIP_TEST, shift_heatmap=test.SHIFT_HEATMAP, decode=test.DECODE,
                              amp=test.AMP, channels_last=test.CHANNELS_LAST, post_process=test.POST_PROCESS)
    logger.info("predicted %d boxes of %s%s", len(predictions), dataset.image_set,
                " (oracle)" if oracle else "")
    stats: dict[str, float] = {}
    if is_main_process():
        stats = evaluate_coco(predictions, dataset.keypoint_set, dataset.annotation_file,
                              results_json_path(output_dir, dataset.image_set), in_vis_thre=test.IN_VIS_THRE,
                              oks_thre=test.OKS_THRE, soft_nms=test.SOFT_NMS, backend=test.EVAL_BACKEND)
        if stats:
            name = "oracle" if oracle else cfg.MODEL.NAME
            logger.info("%s on %s (%d boxes):\n%s", name, dataset.image_set, len(predictions),
                        format_results_table(name, stats))
    return broadcast_object(stats)
