"""Evaluation on the config's test set: the code shared by ``tools/test.py`` and validation in training.

    evaluator = build_evaluator(cfg, device, codec, keypoint_set, distributed)   # reads the config
    stats = evaluator.run(model, output_dir)                                      # or oracle=True

* ``build_evaluator`` builds the evaluation loader once (GT boxes or the detector json per
  ``TEST.USE_GT_BBOX``; every rank its shard), the ``TestOptions``, the scoring settings with the metric
  (``TEST.METRIC``: ``coco`` AP, ``crowdpose`` AP + AP(E/M/H), ``wholebody`` AP per COCO-WholeBody
  part, ``pckh`` for MPII; '' = by ``DATASET.DATASET``), and loads the ground truth, so that a GT file
  the metric cannot use fails before any training;
* ``run`` predicts (``oracle=True`` decodes the GT target heatmaps instead of running a model), then on
  rank 0: the metric (OKS metrics: rescoring + OKS-NMS + results json + COCOeval; PCKh: results json +
  the PCKh table), writing ``<output_dir>/results/keypoints_<set>_<boxes>_results.json`` (``<boxes>``:
  ``gt`` or the detector json's file stem), and logs the markdown table;
* it returns the metric's numbers (``METRIC_STAT_NAMES``) on every rank (broadcast from rank 0); ``{}``
  for a test set without annotations (the json is written; upload it to the COCO server).

The model's train/eval mode is restored afterwards.
"""

import logging
import pathlib
from dataclasses import dataclass

import torch
from yacs.config import CfgNode

from hrpose.datasets import KeypointSet, build_dataloader
from hrpose.datasets.loader import build_dataset_files
from hrpose.datasets.mpii import load_mpii_ground_truth, mpii_gt_file
from hrpose.engine.options import TestOptions, build_test_options
from hrpose.engine.predict import predict, predict_oracle
from hrpose.evaluation import (
    CROWDPOSE_STAT_NAMES,
    PCKH_STAT_NAMES,
    STAT_NAMES,
    WHOLEBODY_STAT_NAMES,
    evaluate_coco,
    evaluate_pckh,
    format_results_table,
    wholebody_stat_names,
)
from hrpose.evaluation.coco_eval import load_oks_ground_truth
from hrpose.utils.dist import broadcast_object, is_main_process

logger = logging.getLogger(__name__)

METRIC_STAT_NAMES = {"coco": STAT_NAMES, "crowdpose": CROWDPOSE_STAT_NAMES, "pckh": PCKH_STAT_NAMES,
                     "wholebody": WHOLEBODY_STAT_NAMES}  # wholebody: COCO-WholeBody's parts
PRIMARY_STAT = {"coco": "AP", "crowdpose": "AP", "pckh": "Mean", "wholebody": "AP"}  # selects best.pth
# TEST.METRIC '' by DATASET.DATASET; else coco
DATASET_METRICS = {"mpii": "pckh", "crowdpose": "crowdpose", "coco_wholebody": "wholebody"}
ORACLE_HINT_BELOW = 0.95  # an oracle AP (PCKh / 100) below this gets a hint (tools/test.py --oracle)


def results_json_path(output_dir, image_set: str, box_source: str = "gt") -> pathlib.Path:
    """``<output_dir>/results/keypoints_<image_set>_<box_source>_results.json``; ``box_source`` is
    ``gt`` or the detector json's file stem, so GT-box and detector-box runs never overwrite each other."""
    return pathlib.Path(output_dir) / "results" / f"keypoints_{image_set}_{box_source}_results.json"


@dataclass(frozen=True)
class ScoringOptions:
    """Rescoring, NMS and COCOeval settings (``TEST.IN_VIS_THRE / OKS_THRE / SOFT_NMS / EVAL_BACKEND``)
    and the metric (``TEST.METRIC`` resolved: ``coco`` | ``crowdpose`` | ``pckh``)."""

    in_vis_thre: float = 0.2
    oks_thre: float = 0.9
    soft_nms: bool = False
    backend: str = "pycocotools"
    metric: str = "coco"

    def __post_init__(self):
        if self.metric not in METRIC_STAT_NAMES:
            raise ValueError(f"TEST.METRIC = {self.metric!r}: expected one of {sorted(METRIC_STAT_NAMES)}")


@dataclass(frozen=True)
class TestSet:
    """The evaluated set: its name (results file, log), its ground truth (a COCO json, or for PCKh the
    MPII ``gt_<set>.mat``; a json without annotations, such as test-dev's image info, or None yields the
    results json only), whether its boxes are the GT ones, and where they come from (``gt`` or the
    detector json's file stem: part of the results file name)."""

    __test__ = False  # not a pytest test class despite the name

    name: str
    annotation_file: str | None
    gt_boxes: bool
    box_source: str = "gt"


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
        # A GT file the metric cannot use fails here, before training, not at the first validation. It is
        # not kept: a COCO GT object is ~10x its json in RAM, on every rank, for the whole run; ``score``
        # loads it again on rank 0 when it is needed (about a second for val2017).
        if is_main_process():
            load_metric_ground_truth(scoring, test_set, keypoint_set)

    @property
    def stat_names(self) -> tuple[str, ...]:
        """The names of the numbers ``run`` returns, in order."""
        if self.scoring.metric == "wholebody":  # per part of the keypoint set
            return wholebody_stat_names([part.name for part in self.keypoint_set.parts])
        return METRIC_STAT_NAMES[self.scoring.metric]

    @property
    def primary_stat(self) -> str:
        """The number that ranks models (``AP``; PCKh: ``Mean``)."""
        return PRIMARY_STAT[self.scoring.metric]

    def results_path(self, output_dir) -> pathlib.Path:
        """The results json ``run`` writes under ``output_dir``."""
        return results_json_path(output_dir, self.test_set.name, self.test_set.box_source)

    def run(self, model: torch.nn.Module | None, output_dir, oracle: bool = False,
            name: str = "model") -> dict[str, float]:
        """See the module docstring. ``model`` may be None with ``oracle=True``; ``name`` heads the table."""
        if oracle and not self.test_set.gt_boxes:
            raise ValueError("--oracle decodes each GT person's own target heatmaps: it needs "
                             "TEST.USE_GT_BBOX True (detector boxes have no target)")
        if oracle:
            predictions, name = predict_oracle(self.loader, self.codec, self.options), "oracle"
        else:
            predictions = predict(model, self.loader, self.device, self.codec, self.keypoint_set,
                                  self.options)
        logger.info("predicted %d boxes of %s%s", len(predictions), self.test_set.name,
                    " (oracle)" if oracle else "")
        stats: dict[str, float] = {}
        if is_main_process():
            stats = self.score(predictions, self.results_path(output_dir))
            if stats:
                logger.info("%s on %s (%d boxes):\n%s", name, self.test_set.name, len(predictions),
                            format_results_table(name, stats, self.stat_names))
        return broadcast_object(stats)

    def score(self, predictions, out_json) -> dict[str, float]:
        """The metric of ``scoring.metric`` on ``predictions`` (writes ``out_json``)."""
        ground_truth = load_metric_ground_truth(self.scoring, self.test_set, self.keypoint_set)
        if self.scoring.metric == "pckh":
            return evaluate_pckh(predictions, ground_truth, out_json)
        s = self.scoring
        return evaluate_coco(predictions, self.keypoint_set, ground_truth, out_json,
                             in_vis_thre=s.in_vis_thre, oks_thre=s.oks_thre, soft_nms=s.soft_nms,
                             backend=s.backend, metric=s.metric)


def load_metric_ground_truth(scoring: ScoringOptions, test_set: TestSet,
                             keypoint_set: KeypointSet | None = None):
    """The ground truth ``Evaluator.score`` needs, loaded once: a COCO GT object (CrowdPose's for the
    crowdpose metric; the keypoint set's json parts merged), ``MpiiGroundTruth`` for PCKh; None when the
    set has none (results json only)."""
    path = test_set.annotation_file
    if path is None:
        return None
    if scoring.metric == "pckh":
        return load_mpii_ground_truth(path)
    return load_oks_ground_truth(path, scoring.metric, scoring.backend, keypoint_set)


def oracle_hint(stats: dict[str, float], metric: str, codec: str, image_size) -> str:
    """What an oracle score (the ceiling of heatmap resolution and decoding) means, when it needs saying:

    * with the UDP codec, always: its DARK decoding recovers the centre of a Gaussian target exactly
      (``tests/codecs/test_udp.py``), so the oracle loses only labelled keypoints that lie outside their
      person's crop (a box that does not cover the whole person) and says nothing about a network;
    * otherwise below ``ORACLE_HINT_BELOW``: what would raise it (the UDP codec, a larger input).

    '' otherwise (or when there are no stats)."""
    key = PRIMARY_STAT[metric]
    if key not in stats:
        return ""
    if codec == "udp":
        return (f"the oracle {key} is {stats[key]:.3f} with MODEL.CODEC udp, whose decoding inverts the "
                "Gaussian targets exactly: no quantisation is lost, only labelled keypoints outside their "
                "person's crop (box smaller than the person); a network's blurred heatmaps score lower")
    value = stats[key] / (100.0 if metric == "pckh" else 1.0)
    if value >= ORACLE_HINT_BELOW:
        return ""
    width, height = (int(v) for v in image_size)
    raise_it = ["MODEL.CODEC udp (unbiased encoding and decoding)"] if codec == "msra" else []
    raise_it.append(f"a larger MODEL.IMAGE_SIZE than [{width}, {height}] (e.g. [{width * 3 // 2}, "
                    f"{height * 3 // 2}]; HEATMAP_SIZE = IMAGE_SIZE / 4)")
    return (f"the oracle {key} is {stats[key]:.3f}: that is the ceiling of the codec and heatmap "
            f"resolution, not a data problem. Small OKS sigmas (or small persons) make quarter-pixel "
            f"quantisation costly; raising it: {'; or '.join(raise_it)}")


def build_evaluator(cfg: CfgNode, device: torch.device, codec, keypoint_set: KeypointSet,
                    distributed: bool = False) -> Evaluator:
    """The evaluator of ``cfg``'s test set (``DATASET.TEST_SET``, ``TEST.*``) on ``device``."""
    metric = cfg.TEST.METRIC or DATASET_METRICS.get(cfg.DATASET.DATASET, "coco")
    scoring = ScoringOptions(in_vis_thre=float(cfg.TEST.IN_VIS_THRE), oks_thre=float(cfg.TEST.OKS_THRE),
                             soft_nms=bool(cfg.TEST.SOFT_NMS), backend=str(cfg.TEST.EVAL_BACKEND),
                             metric=metric)
    test_set = build_test_set(cfg)
    loader = build_dataloader(cfg, False, codec, keypoint_set, distributed=distributed)
    return Evaluator(loader, codec, keypoint_set, device, build_test_options(cfg, device), scoring, test_set)


def build_test_set(cfg: CfgNode) -> TestSet:
    """``TestSet`` of ``DATASET.TEST_SET``: the annotation file of ``build_dataset_files`` (MPII: its
    ``gt_<set>.mat``, none for sets with 'test' in the name, as the reference), GT boxes per
    ``TEST.USE_GT_BBOX`` (always for MPII, whose boxes are the annotated ones)."""
    name = cfg.DATASET.TEST_SET
    ann_file, _ = build_dataset_files(cfg, is_train=False)
    if cfg.DATASET.DATASET == "mpii":
        return TestSet(name, None if "test" in name else mpii_gt_file(ann_file, name), True, "gt")
    gt_boxes = bool(cfg.TEST.USE_GT_BBOX)
    box_source = "gt" if gt_boxes else pathlib.Path(cfg.TEST.COCO_BBOX_FILE).stem or "det"
    return TestSet(name, ann_file, gt_boxes, box_source)
