"""Evaluator on the sample data: the GT-box oracle's AP, the results json path (by box source), a model
run, a test set without annotations (results json only), the oracle's need for GT boxes; the metric of each
benchmark (COCO AP, CrowdPose AP(E/M/H), PCKh) chosen from the config, its oracle on every benchmark's
sample layout, ground-truth problems found when the evaluator is built, and the oracle hint."""

import json
import logging
import pathlib
import shutil

import pytest
import torch

from hrpose.codecs import build_codec
from hrpose.datasets import build_keypoint_set
from hrpose.engine.evaluate import build_evaluator, oracle_hint, results_json_path
from hrpose.engine.options import build_test_options
from hrpose.evaluation import CROWDPOSE_STAT_NAMES, PCKH_STAT_NAMES, STAT_NAMES, WHOLEBODY_STAT_NAMES

CPU = torch.device("cpu")
DETECTIONS = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


@pytest.fixture(scope="session")
def make_evaluator():
    """``make_evaluator(cfg)``: ``build_evaluator`` on the CPU with the config's codec and keypoint set."""

    def build(cfg):
        return build_evaluator(cfg, CPU, build_codec(cfg), build_keypoint_set(cfg))

    return build


def test_results_json_path(tmp_path):
    expected = tmp_path / "results" / "keypoints_val2017_gt_results.json"
    assert results_json_path(tmp_path, "val2017") == expected
    path = results_json_path("out", "test-dev2017", "COCO_test-dev2017_detections_AP_H_609_person")
    assert path.as_posix() == ("out/results/keypoints_test-dev2017_COCO_test-dev2017_detections_AP_H_609"
                               "_person_results.json")


def test_oracle_writes_results_and_needs_gt_boxes(sample_data_root, data_cfg, make_evaluator, tmp_path):
    evaluator = make_evaluator(data_cfg(sample_data_root))
    stats = evaluator.run(None, tmp_path, oracle=True)
    assert stats["AP"] > 0.8
    assert (tmp_path / "results" / "keypoints_val2017_gt_results.json").is_file()
    detector_boxes = data_cfg(sample_data_root, "TEST.USE_GT_BBOX", "False",
                              "TEST.COCO_BBOX_FILE", sample_data_root / DETECTIONS)
    with pytest.raises(ValueError, match="TEST.USE_GT_BBOX True"):
        make_evaluator(detector_boxes).run(None, tmp_path, oracle=True)


def test_gt_and_detector_boxes_write_different_results(sample_data_root, tiny_cfg, tiny_model, make_evaluator,
                                                       tmp_path):
    """The issue: tests with GT boxes and with detector boxes wrote the same results file."""
    opts = ("DATASET.ROOT", sample_data_root, "DATASET.TEST_SET", "val2017", "WORKERS", "0")
    gt_boxes = make_evaluator(tiny_cfg(*opts, "TEST.USE_GT_BBOX", "True"))
    detector = make_evaluator(tiny_cfg(*opts, "TEST.USE_GT_BBOX", "False", "TEST.COCO_BBOX_FILE",
                                       sample_data_root / DETECTIONS, "TEST.IMAGE_THRE", "0.5"))
    model = tiny_model(tiny_cfg())
    for evaluator in (gt_boxes, detector):
        evaluator.run(model, tmp_path)
    paths = [e.results_path(tmp_path) for e in (gt_boxes, detector)]
    assert [p.name for p in paths] == ["keypoints_val2017_gt_results.json",
                                       "keypoints_val2017_COCO_val2017_detections_AP_H_56_person_results.json"]
    assert len(json.loads(paths[0].read_text())) != len(json.loads(paths[1].read_text()))


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
    people = json.loads(evaluator.results_path(tmp_path).read_text())
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
    stem = pathlib.Path(DETECTIONS).stem
    assert json.loads(results_json_path(out, "test-dev2017", stem).read_text())


# --- the metric of each benchmark, chosen from the config ------------------------------------------------

ORACLE = {  # variant -> (metric's numbers, primary number, lowest oracle value on the small sample)
    "crowdpose": (CROWDPOSE_STAT_NAMES, "AP", 0.8), "mpii": (PCKH_STAT_NAMES, "Mean", 95.0),
    "aic": (STAT_NAMES, "AP", 0.5), "posetrack18": (STAT_NAMES, "AP", 0.8), "halpe": (STAT_NAMES, "AP", 0.7),
    "ochuman": (STAT_NAMES, "AP", 0.7), "wholebody": (WHOLEBODY_STAT_NAMES, "AP", 0.7)}


@pytest.mark.parametrize("variant", sorted(ORACLE))
def test_oracle_on_every_benchmark_layout(sample_variant_root, variant_cfg, make_evaluator, tmp_path,
                                          variant):
    evaluator = make_evaluator(variant_cfg(variant, sample_variant_root(variant)))
    names, primary, lowest = ORACLE[variant]
    stats = evaluator.run(None, tmp_path, oracle=True)
    assert tuple(stats) == names == evaluator.stat_names and evaluator.primary_stat == primary
    assert stats[primary] >= lowest
    assert evaluator.results_path(tmp_path).is_file()


def test_metric_by_config(sample_variant_root, variant_cfg, make_evaluator, tmp_path):
    root = sample_variant_root("crowdpose")
    assert make_evaluator(variant_cfg("crowdpose", root)).scoring.metric == "crowdpose"
    coco = make_evaluator(variant_cfg("crowdpose", root, "TEST.METRIC", "coco"))
    assert tuple(coco.run(None, tmp_path, oracle=True)) == STAT_NAMES


def test_ground_truth_problems_stop_the_evaluator_before_training(sample_variant_root, variant_cfg,
                                                                   make_evaluator, tmp_path):
    """The issue: a GT json pycocotools could not use failed only at the first validation, after the
    training epochs. The evaluator now loads its ground truth when it is built (the trainer builds it
    before the first epoch)."""
    root = tmp_path / "crowdpose"
    shutil.copytree(sample_variant_root("crowdpose"), root)
    path = root / "json" / "crowdpose_test.json"
    data = json.loads(path.read_text())
    data["images"][0].pop("crowdIndex")
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"crowdpose_test\.json: 1 images have no 'crowdIndex'"):
        make_evaluator(variant_cfg("crowdpose", root))
    mpii = tmp_path / "mpii"
    shutil.copytree(sample_variant_root("mpii"), mpii)
    (mpii / "annot" / "gt_valid.mat").unlink()
    with pytest.raises(ValueError, match=r"MPII ground truth not found: expected .*annot/gt_valid\.mat"):
        make_evaluator(variant_cfg("mpii", mpii))


def test_oracle_hint():
    low = {"AP": 0.75}
    assert "MODEL.CODEC udp" in oracle_hint(low, "coco", "msra", [192, 256])
    assert "[288, 384]" in oracle_hint(low, "coco", "msra", [192, 256])
    assert oracle_hint({"AP": 0.97}, "coco", "msra", [192, 256]) == ""
    assert oracle_hint({"Mean": 91.0}, "pckh", "msra", [256, 256]) != ""
    # UDP loses no quantisation: its oracle is explained (high or low), never "use UDP / a larger input"
    for ap in (1.0, 0.75):
        udp = oracle_hint({"AP": ap}, "coco", "udp", [192, 256])
        assert "inverts the Gaussian targets exactly" in udp and "outside their person's crop" in udp
        assert "raising it" not in udp
    assert oracle_hint({"Mean": 99.0}, "pckh", "msra", [256, 256]) == ""
    assert oracle_hint({}, "coco", "msra", [1, 1]) == ""
