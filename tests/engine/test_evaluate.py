"""Evaluator on the sample data: the GT-box oracle's AP, the results json path, a model run, a test set
without annotations (results json only), and the oracle's need for GT boxes."""

import json
import logging

import pytest
import torch

from hrpose.codecs import build_codec
from hrpose.datasets import build_keypoint_set
from hrpose.engine.evaluate import build_evaluator, results_json_path
from hrpose.engine.options import build_test_options
from hrpose.evaluation import STAT_NAMES

CPU = torch.device("cpu")
DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


@pytest.fixture(scope="session")
def make_evaluator():
    """``make_evaluator(cfg)``: ``build_evaluator`` on the CPU with the config's codec and keypoint set."""

    def build(cfg):
        return build_evaluator(cfg, CPU, build_codec(cfg), build_keypoint_set(cfg))

    return build


def test_results_json_path(tmp_path):
    assert results_json_path(tmp_path, "val2017") == tmp_path / "results" / "keypoints_val2017_results.json"
    path = results_json_path("out", "test-dev2017")
    assert path.as_posix() == "out/results/keypoints_test-dev2017_results.json"


def test_oracle_writes_results_and_needs_gt_boxes(sample_data_root, data_cfg, make_evaluator, tmp_path):
    evaluator = make_evaluator(data_cfg(sample_data_root))
    stats = evaluator.run(None, tmp_path, oracle=True)
    assert stats["AP"] > 0.8
    assert (tmp_path / "results" / "keypoints_val2017_results.json").is_file()
    detector_boxes = data_cfg(sample_data_root, "TEST.USE_GT_BBOX", "False",
                              "TEST.COCO_BBOX_FILE", sample_data_root / DETECTIONS)
    with pytest.raises(ValueError, match="TEST.USE_GT_BBOX True"):
        make_evaluator(detector_boxes).run(None, tmp_path, oracle=True)


def test_model_run_scores_every_stat_and_restores_the_mode(sample_data_root, tiny_cfg, tiny_model,
                                                            make_evaluator, tmp_path, caplog):
    cfg = tiny_cfg("DATASET.ROOT", sample_data_root, "DATASET.TEST_SET", "val2017",
                   "TEST.USE_GT_BBOX", "True", "WORKERS", "0")
    evaluator = make_evaluator(cfg)
    assert evaluator.options == build_test_options(cfg, CPU)
    model = tiny_model(cfg).train()
    with caplog.at_level(logging.INFO, logger="hrpose.engine.evaluate"):
        stats = evaluator.run(model, tmp_path, name="tiny")
    assert list(stats) == list(STAT_NAMES) and all(v == -1.0 or 0.0 <= v <= 1.0 for v in stats.values())
    assert model.training  # the mode is restored
    people = json.loads(results_json_path(tmp_path, "val2017").read_text())
    assert people and {p["image_id"] for p in people} <= {img["id"] for img in json.loads(
        (sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())["images"]}
    assert "| tiny | " in caplog.text and "predicted" in caplog.text


def test_set_without_annotations_writes_the_json_only(sample_data_root, tiny_cfg, tiny_model, make_evaluator,
                                                     tmp_path):
    """A test-dev-like set: image info without annotations, detector boxes, images under images/test2017."""
    root = tmp_path / "testdev"
    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    images = sample_data_root / "images" / "val2017"
    (root / "images" / "test2017").symlink_to(images, target_is_directory=True)
    info = json.loads((sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    del info["annotations"]
    (root / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(info))
    cfg = tiny_cfg("DATASET.ROOT", root, "DATASET.TEST_SET", "test-dev2017", "TEST.USE_GT_BBOX", "False",
                   "TEST.COCO_BBOX_FILE", sample_data_root / DETECTIONS, "WORKERS", "0")
    out = tmp_path / "out"
    assert make_evaluator(cfg).run(tiny_model(cfg), out) == {}
    assert json.loads(results_json_path(out, "test-dev2017").read_text())
