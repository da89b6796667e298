"""Keypoint sets as data, including a CrowdPose-style 14-keypoint set that trains and evaluates by yaml."""

import re

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
    builtin_keypoint_set,
    builtin_keypoint_set_names,
    check_same_keypoints,
    keypoint_set_from_file,
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


# --- the keypoint sets shipped as data files ----------------------------------------------------------------

BUILTIN = {"coco": 17, "mpii": 16, "crowdpose": 14, "aic": 14, "posetrack18": 17, "halpe26": 26}
BUILTIN_ALL = [*BUILTIN, "coco_wholebody"]  # its face pairs have no left/right names: its own test


def _side(name: str) -> str:
    for left, right in (("left_", "right_"), ("l_", "r_")):
        if name.startswith(left):
            return "L" + name[len(left):]
        if name.startswith(right):
            return "R" + name[len(right):]
    return name


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_sets_are_consistent(name):
    ks = builtin_keypoint_set(name)
    assert ks.name == name and ks.num_keypoints == BUILTIN[name]
    idx = ks.flip_index
    np.testing.assert_array_equal(idx[idx], np.arange(ks.num_keypoints))
    for a, b in ks.flip_pairs:  # every pair is a left/right pair of the same part
        assert {_side(ks.names[a])[0], _side(ks.names[b])[0]} == {"L", "R"}
        assert _side(ks.names[a])[1:] == _side(ks.names[b])[1:]
    sided = {i for i, n in enumerate(ks.names) if _side(n) != n}
    assert sided == {i for pair in ks.flip_pairs for i in pair}  # and every sided keypoint is paired
    assert all(0 < s < 0.2 for s in ks.sigmas) and len(ks.skeleton) >= ks.num_keypoints - 3
    assert builtin_keypoint_set(name) == ks and KeypointSet.from_dict(ks.to_dict()) == ks
    assert name in builtin_keypoint_set_names()


def test_coco_wholebody_set():
    """133 keypoints in the toolkit's order, parts as the json stores them, the official sigmas per part."""
    ks = builtin_keypoint_set("coco_wholebody")
    assert ks.num_keypoints == 133 == len(set(ks.names)) == len(ks.sigmas)
    assert sorted(builtin_keypoint_set_names()) == sorted(BUILTIN_ALL)
    assert ks.names[:17] == COCO_KEYPOINTS.names and ks.sigmas[:17] == COCO_KEYPOINTS.sigmas
    assert [(p.name, p.field, p.size) for p in ks.parts] == [
        ("body", "keypoints", 17), ("foot", "foot_kpts", 6), ("face", "face_kpts", 68),
        ("left_hand", "lefthand_kpts", 21), ("right_hand", "righthand_kpts", 21)]
    slices = ks.part_slices
    assert ks.names[slices["foot"]][0] == "left_big_toe" and ks.names[slices["face"]][0] == "face-0"
    assert ks.names[slices["left_hand"]][0] == "left_hand_root" and ks.names[-1] == "right_pinky_finger4"
    idx = ks.flip_index
    np.testing.assert_array_equal(idx[idx], np.arange(133))  # flipping twice is the identity
    for i, name in enumerate(ks.names):  # every left_* with its right_*, and nothing else on a side
        if _side(name) != name:
            assert _side(ks.names[idx[i]]) == {"L": "R", "R": "L"}[_side(name)[0]] + _side(name)[1:]
    face = {a - 23: b - 23 for a, b in ks.flip_pairs if ks.names[a].startswith("face-")}
    assert face[0] == 16 and face[36] == 45 and face[48] == 54 and face[60] == 64 and len(face) == 29
    for centre in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):  # chin, nose bridge, lip middles stay put
        assert idx[23 + centre] == 23 + centre
    # the official sigmas (COCO-WholeBody evaluation/myeval_*.py): hands identical, a few spot values
    assert ks.sigmas[slices["left_hand"]] == ks.sigmas[slices["right_hand"]]
    assert ks.sigmas[17:23] == (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
    assert ks.sigmas[slices["face"]][47] == 0.034 and ks.sigmas[91:93] == (0.029, 0.022)
    assert set(ks.upper_body_ids) >= set(range(23, 133)) and 11 not in ks.upper_body_ids
    assert KeypointSet.from_dict(ks.to_dict()) == ks and "json_parts" not in COCO_KEYPOINTS.to_dict()


@pytest.mark.parametrize(("parts", "message"), [
    ("[{part: a, field: x, size: 1}]", r"json_parts sizes \[1\] must be > 0 and add up to the 2 keypoints"),
    ("[{part: a, field: x, size: 1}, {part: a, field: y, size: 1}]", r"json_parts names \['a', 'a'\]"),
    ("[{part: a, field: x}]", r"json_parts entry .*expected a mapping with keys \['part', 'field', 'size'\]"),
])
def test_bad_json_parts_name_the_file(tmp_path, parts, message):
    path = tmp_path / "parts.yaml"
    path.write_text(f"name: x\nkeypoints: [a, b]\nflip_pairs: []\nsigmas: [0.1, 0.1]\nupper_body: [a]\n"
                    f"json_parts: {parts}\n")
    with pytest.raises(KeypointSetError, match=f"keypoint set file {re.escape(str(path))}: .*{message}"):
        keypoint_set_from_file(path)


def test_builtin_files_keep_the_reference_sets():
    # the values the reference (lib/dataset/coco.py, mpii.py) hard-coded
    assert COCO_KEYPOINTS.flip_pairs == tuple((i, i + 1) for i in range(1, 17, 2))
    assert COCO_KEYPOINTS.upper_body_ids == tuple(range(11))
    assert COCO_KEYPOINTS.joint_weights == (1.0,) * 7 + (1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5)
    assert MPII_KEYPOINTS.flip_pairs == ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
    assert MPII_KEYPOINTS.upper_body_ids == tuple(range(7, 16))


def test_posetrack_head_points_are_not_flipped_as_eyes():
    """The issue: PoseTrack18's slots 1/2 (head bottom/top) were flipped as eyes with the COCO set."""
    posetrack = builtin_keypoint_set("posetrack18")
    assert posetrack.names[1:3] == ("head_bottom", "head_top")
    assert posetrack.flip_index[1] == 1 and posetrack.flip_index[2] == 2
    assert COCO_KEYPOINTS.flip_index[1] == 2


def test_keypoint_set_by_name_by_dataset_and_by_file(tmp_path):
    cfg = get_cfg()
    cfg.DATASET.DATASET, cfg.MODEL.NUM_JOINTS = "halpe", 26
    assert build_keypoint_set(cfg).name == "halpe26"  # DATASET.DATASET -> its set
    cfg.DATASET.DATASET, cfg.MODEL.NUM_JOINTS = "ochuman", 17
    assert build_keypoint_set(cfg) == COCO_KEYPOINTS
    cfg.DATASET.KEYPOINT_SET, cfg.MODEL.NUM_JOINTS = "aic", 14
    assert build_keypoint_set(cfg).sigmas[2] == pytest.approx(0.01057665)
    own = tmp_path / "three.yaml"
    own.write_text("name: three\nkeypoints: [top, left_hand, right_hand]\n"
                   "flip_pairs: [[left_hand, right_hand]]\n"
                   "sigmas: [0.05, 0.06, 0.06]\nupper_body: [top]\nskeleton: [[top, left_hand]]\n")
    cfg.DATASET.KEYPOINT_SET, cfg.MODEL.NUM_JOINTS = str(own), 3
    ks = build_keypoint_set(cfg)
    assert ks.flip_pairs == ((1, 2),) and ks.joint_weights == (1.0, 1.0, 1.0) and ks.skeleton == ((0, 1),)


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nkeypoints: [a, b]\nflip_pairs: [[a, c]]\nsigmas: [0.1, 0.1]\nupper_body: [a]\n",
     r"flip_pairs names \['c'\] that are not in 'keypoints'"),
    ("name: x\nkeypoints: [a, b]\nflip_pairs: []\nsigmas: [0.1]\nupper_body: [a]\n",
     "1 OKS sigmas for 2 keypoints"),
    ("name: x\nkeypoints: [a]\nflip_pairs: []\nsigmas: [0.1]\nupper: [a]\n",
     r"unknown keys \['upper'\], missing keys \['upper_body'\]"),
])
def test_bad_keypoint_set_file_names_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(KeypointSetError, match=f"keypoint set file {re.escape(str(path))}: .*{message}"):
        keypoint_set_from_file(path)
    with pytest.raises(KeypointSetError, match="keypoint set file not found"):
        keypoint_set_from_file(tmp_path / "nope.yaml")


def test_a_different_keypoint_set_is_an_error_naming_both():
    posetrack = builtin_keypoint_set("posetrack18")
    check_same_keypoints(COCO_KEYPOINTS, builtin_keypoint_set("coco"), "ckpt.pth")
    message = (r"ckpt\.pth was trained on keypoint set 'posetrack18' \(17 keypoints\) but the config gives "
               r"keypoint set 'coco' \(17 keypoints\).*1: 'head_bottom' vs 'left_eye'")
    with pytest.raises(KeypointSetError, match=message):
        check_same_keypoints(posetrack, COCO_KEYPOINTS, "ckpt.pth")
    with pytest.raises(KeypointSetError, match="'crowdpose' \\(14 keypoints\\).*'aic' \\(14 keypoints\\)"):
        check_same_keypoints(builtin_keypoint_set("crowdpose"), builtin_keypoint_set("aic"), "x")
