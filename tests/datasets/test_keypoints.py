"""Keypoint sets as data, including a CrowdPose-style 14-keypoint set that trains and evaluates by yaml."""

import numpy as np
import pytest
import torch

from hrpose.codecs import build_codec
from hrpose.config import get_cfg, load_cfg
from hrpose.datasets.keypoints import (
    COCO_KEYPOINTS,
    MPII_KEYPOINTS,
    KeypointSet,
    KeypointSetError,
    build_keypoint_set,
)
from hrpose.engine.evaluate import build_evaluator


@pytest.mark.parametrize("ks", [COCO_KEYPOINTS, MPII_KEYPOINTS])
def test_flip_index_is_an_involution(ks):
    idx = ks.flip_index
    np.testing.assert_array_equal(idx[idx], np.arange(ks.num_keypoints))
    for a, b in ks.flip_pairs:
        assert idx[a] == b and idx[b] == a


def test_coco_left_right_names_pair_up():
    names = COCO_KEYPOINTS.names
    for a, b in COCO_KEYPOINTS.flip_pairs:
        assert names[a].replace("left", "right") == names[b]
    assert set(COCO_KEYPOINTS.upper_body_ids) | set(COCO_KEYPOINTS.lower_body_ids) == set(range(17))


def test_dict_round_trip():
    assert KeypointSet.from_dict(COCO_KEYPOINTS.to_dict()) == COCO_KEYPOINTS


def test_num_joints_mismatch_is_an_error():
    cfg = get_cfg()
    cfg.DATASET.DATASET = "coco"
    cfg.MODEL.NUM_JOINTS = 16
    with pytest.raises(KeypointSetError, match="NUM_JOINTS"):
        build_keypoint_set(cfg)


CROWDPOSE_YAML = """\
MODEL:
  NUM_JOINTS: 14
  IMAGE_SIZE: [96, 128]
  HEATMAP_SIZE: [24, 32]
DATASET:
  DATASET: coco
  ROOT: '{root}'
  TRAIN_SET: train2017
  TEST_SET: val2017
  KEYPOINT_SET: custom
  KEYPOINTS:
    NAMES: {names}
    FLIP_PAIRS: [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    SIGMAS: [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079]
    UPPER_BODY_IDS: [0, 1, 2, 3, 4, 5, 12, 13]
TEST:
  USE_GT_BBOX: true
WORKERS: 0
"""


def test_crowdpose_style_set_loads_by_config(crowdpose, data_cfg, make_dataset):
    cfg = data_cfg(crowdpose.root, *crowdpose.opts, "DATASET.PROB_HALF_BODY", "1.0",
                   "DATASET.NUM_JOINTS_HALF_BODY", "3")
    ks = build_keypoint_set(cfg)
    assert ks.num_keypoints == 14 and ks.names == tuple(crowdpose.names)
    train, val = make_dataset(cfg, is_train=True), make_dataset(cfg, is_train=False)
    assert len(train) > 0 and len(val) > 0
    for ds in (train, val):
        item = ds[0]
        assert item["heatmaps"].shape == (14, 32, 24) and item["target_weight"].shape == (14, 1)
        assert item["meta"]["joints"].shape == (14, 3)
    evaluator = build_evaluator(cfg, torch.device("cpu"), build_codec(cfg), ks)
    assert evaluator.test_set.annotation_file.endswith("person_keypoints_val2017.json")


def test_crowdpose_yaml_alone(crowdpose, tmp_path, make_dataset):
    path = tmp_path / "crowdpose.yaml"
    path.write_text(CROWDPOSE_YAML.format(root=crowdpose.root, names=crowdpose.names))
    cfg = load_cfg(str(path))
    assert cfg.MODEL.NUM_JOINTS == 14
    assert make_dataset(cfg, is_train=False)[0]["heatmaps"].shape[0] == 14


def test_coco_set_on_crowdpose_json_names_the_file(crowdpose, data_cfg, make_dataset):
    with pytest.raises(ValueError, match="person_keypoints_train2017.json"):
        make_dataset(data_cfg(crowdpose.root), is_train=True)
