"""Evaluation on the config's test set: the code shared by ``tools/test.py`` and validation in training.

    evaluator = build_evaluator(cfg, device, codec, keypoint_set, distributed)   # reads the config
    stats = evaluator.run(model, output_dir)                                      # or oracle=True

* ``build_evaluator`` builds the evaluation loader once (GT boxes or the detector json per
  ``TEST.USE_GT_BBOX``; every rank its shard), the ``TestOptions`` and the scoring settings;
* ``run`` predicts (``oracle=True`` decodes the GT target heatmaps instead of running a model), then on
  rank 0: rescoring + OKS-NMS + ``<output_dir>/results/keypoints_<set>_results.json`` + COCOeval,
  and logs the markdown table;
* it returns the 10 COCO numbers (``hrpose.evaluation.STAT_NAMES``) on every rank (broadcast from
  rank 0); ``{}`` for a test set without annotations (the json is written; upload it to the COCO server).

The model's train/eval mode is restored afterwards.
"""

import logging
import pathlib
from dataclasses import dataclass

import torch
from yacs.config import CfgNode

from hrpose.datasets import KeypointSet, build_dataloader
from hrpose.datasets.coco import annotation_file
from hrpose.engine.options import TestOptions, build_test_options
from hrpose.engine.predict import predict, predict_oracle
from hrpose.evaluation import evaluate_coco, format_results_table
from hrpose.utils.dist import broadcast_object, is_main_process

logger = logging.getLogger(__name__)


def results_json_path(output_dir, image_set: str) -> pathlib.Path:
    """``<output_dir>/results/keypoints_<image_set>_results.json``."""
    return pathlib.Path(output_dir) / "results" / f"keypoints_{image_set}_results.json"


@dataclass(frozen=True)
class ScoringOptions:
    """Rescoring, NMS and COCOeval settings (``TEST.IN_VIS_THRE / OKS_THRE / SOFT_NMS / EVAL_BACKEND``)."""

    in_vis_thre: float = 0.2
    oks_thre: float = 0.9
    soft_nms: bool = False
    backend: str = "pycocotools"


@dataclass(frozen=True)
class TestSet:
    """The evaluated set: its name (results file, log), its COCO json (one without annotations, such as
    test-dev's image info, yields the results json only), and whether its boxes are the GT ones."""

    __test__ = False  # not a pytest test class despite the name

    name: str
    annotation_file: str
    gt_boxes: bool


class Evaluator:
    """Predicts the boxes of ``loader`` and scores them against ``annotation_file``.

    Args:
        loader: evaluation DataLoader (``build_dataloader(cfg, False, ...)``), kept for every ``run``.
        codec, keypoint_set: the ones the loader's dataset was built with.
        device: where the model runs.
        options: ``TestOptions``; scoring: ``ScoringOptions``.
        test_set: ``TestSet`` (name, annotation file, GT boxes or not: ``oracle`` needs GT boxes).
    """

    def __init__(self, loader, codec, keypoint_set: KeypointSet, device: torch.device, options: TestOptions,
                 scoring: ScoringOptions, test_set: TestSet):
        self.loader, self.codec, self.keypoint_set, self.device = loader, codec, keypoint_set, device
        self.options, self.scoring, self.test_set = options, scoring, test_set

    def run(self, model: torch.nn.Module | None, output_dir, oracle: bool = False,
            name: str = "model") -> dict[str, float]:
        """See the module docstring. ``model`` may be None with ``oracle=True``; ``name`` heads the table."""
        if oracle and not self.test_set.gt_boxes:
            raise ValueError("--oracle decodes each GT person's own target heatmaps: it needs "
                             "TEST.USE_GT_BBOX True (detector boxes have no target)")
        if oracle:
            predictions, name = predict_oracle(self.loader, self.codec, self.options), "oracle"
        else:
            predictions = predict(model, self.loader, self.device, self.codec, self.keypoint_set, self.options)
        logger.info("predicted %d boxes of %s%s", len(predictions), self.test_set.name,
                    " (oracle)" if oracle else "")
        stats: dict[str, float] = {}
        if is_main_process():
            stats = evaluate_coco(predictions, self.keypoint_set, self.test_set.annotation_file,
                                  results_json_path(output_dir, self.test_set.name),
                                  in_vis_thre=self.scoring.in_vis_thre, oks_thre=self.scoring.oks_thre,
                                  soft_nms=self.scoring.soft_nms, backend=self.scoring.backend)
            if stats:
                logger.info("%s on %s (%d boxes):\n%s", name, self.test_set.name, len(predictions),
                            format_results_table(name, stats))
        return broadcast_object(stats)


def build_evaluator(cfg: CfgNode, device: torch.device, codec, keypoint_set: KeypointSet,
                    distributed: bool = False) -> Evaluator:
    """The evaluator of ``cfg``'s test set (``DATASET.TEST_SET``, ``TEST.*``) on ``device``."""
    loader = build_dataloader(cfg, False, codec, keypoint_set, distributed=distributed)
    scoring = ScoringOptions(in_vis_thre=float(cfg.TEST.IN_VIS_THRE), oks_thre=float(cfg.TEST.OKS_THRE),
                             soft_nms=bool(cfg.TEST.SOFT_NMS), backend=str(cfg.TEST.EVAL_BACKEND))
    name = cfg.DATASET.TEST_SET
    test_set = TestSet(name, annotation_file(cfg.DATASET.ROOT, name), bool(cfg.TEST.USE_GT_BBOX))
    return Evaluator(loader, codec, keypoint_set, device, build_test_options(cfg, device), scoring, test_set)
