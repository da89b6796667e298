"""load_pose_model: self-describing checkpoints, plain state_dicts with a yaml, random init, and the
errors that name the file and what was expected."""

import logging

import pytest
import torch

from hrpose.apis.loading import is_self_describing, load_pose_model
from hrpose.config import ConfigError, cfg_from_string
from hrpose.datasets.keypoints import COCO_KEYPOINTS, MPII_KEYPOINTS, KeypointSetError, builtin_keypoint_set
from hrpose.utils.checkpoint import CheckpointError, save_checkpoint


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_self_describing_checkpoint_round_trip(tiny_cfg, tiny_model, save_training_checkpoint, tmp_path):
    cfg = tiny_cfg()
    model = tiny_model(cfg, seed=2)
    path = save_training_checkpoint(tmp_path / "best.pth", cfg, model)
    loaded = load_pose_model(path)
    assert loaded.source == path and loaded.cfg.dump() == cfg.dump() and loaded.cfg.is_frozen()
    assert loaded.keypoint_set == COCO_KEYPOINTS and not loaded.model.training
    assert _same_weights(loaded.model, model)
    overridden = load_pose_model(path, opts=["TEST.FLIP_TEST", "False"])
    assert not overridden.cfg.TEST.FLIP_TEST and cfg.TEST.FLIP_TEST


def test_a_given_yaml_replaces_the_stored_config(tiny_cfg, tiny_yaml, tiny_model, save_training_checkpoint,
                                                 tmp_path, caplog):
    cfg = tiny_cfg("TEST.DECODE", "dark")
    path = save_training_checkpoint(tmp_path / "best.pth", cfg, tiny_model(cfg))
    with caplog.at_level(logging.WARNING, logger="hrpose.apis.loading"):
        loaded = load_pose_model(path, cfg_path=str(tiny_yaml))
    assert loaded.cfg.TEST.DECODE == "standard"  # the yaml's, not the stored one
    assert "carries its own config" in caplog.text and str(tiny_yaml) in caplog.text


def test_plain_state_dict_with_yaml(tiny_cfg, tiny_yaml, tiny_model, save_plain_state_dict, tmp_path):
    model = tiny_model(tiny_cfg(), seed=5)
    path = save_plain_state_dict(tmp_path / "plain.pth", model)
    loaded = load_pose_model(path, cfg_path=str(tiny_yaml))
    assert _same_weights(loaded.model, model) and loaded.keypoint_set == COCO_KEYPOINTS
    with pytest.raises(CheckpointError, match=r"plain\.pth is a plain state_dict.*--cfg"):
        load_pose_model(path)


def test_mismatched_weights_name_the_keys(tiny_cfg, tiny_model, save_training_checkpoint, tmp_path):
    cfg = tiny_cfg()
    wrong = tiny_cfg("MODEL.EXTRA.STAGE4.NUM_CHANNELS", "[8, 16, 32, 48]")
    path = save_training_checkpoint(tmp_path / "wrong.pth", cfg, tiny_model(wrong))
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_pose_model(path)


def test_random_init_only_when_allowed(tiny_yaml):
    with pytest.raises(CheckpointError, match="a checkpoint is required"):
        load_pose_model(None, cfg_path=str(tiny_yaml))
    with pytest.raises(CheckpointError, match="a checkpoint is required"):
        load_pose_model(None, allow_random_init=True)
    loaded = load_pose_model(None, cfg_path=str(tiny_yaml), allow_random_init=True)
    assert loaded.source == "random init" and not loaded.model.training


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope\.pth"):
        load_pose_model(tmp_path / "nope.pth")


def test_stored_keypoint_set_must_match_num_joints(tiny_cfg, tiny_model, tmp_path):
    cfg = tiny_cfg()
    state = {"model": tiny_model(cfg).state_dict(), "config": cfg.dump(),
             "keypoint_set": MPII_KEYPOINTS.to_dict()}
    save_checkpoint(tmp_path / "mixed.pth", state)
    assert is_self_describing(state) and not is_self_describing({"model": {}})
    with pytest.raises(ConfigError, match="16 keypoints but MODEL.NUM_JOINTS = 17"):
        load_pose_model(tmp_path / "mixed.pth")


def test_stored_config_with_an_unknown_key_names_the_source():
    with pytest.raises(ConfigError, match=r"old\.pth: stored config does not merge"):
        cfg_from_string("TRAIN:\n  NO_SUCH_KEY: 1\n", source="old.pth")
    cfg = cfg_from_string("TEST:\n  FLIP_TEST: true\n", ["TEST.SHIFT_HEATMAP", "False"])
    assert cfg.TEST.FLIP_TEST and not cfg.TEST.SHIFT_HEATMAP and cfg.is_frozen()


def test_stored_keypoint_set_must_be_the_configs(tiny_cfg, tiny_model, tiny_yaml, tmp_path):
    """The issue: a PoseTrack18 checkpoint with a COCO config loaded silently (its head_top/head_bottom
    flipped as eyes). Same count, other names: an error naming both sets."""
    cfg = tiny_cfg()
    posetrack = builtin_keypoint_set("posetrack18")
    save_checkpoint(tmp_path / "posetrack.pth", {"model": tiny_model(cfg).state_dict(), "config": cfg.dump(),
                                                 "keypoint_set": posetrack.to_dict()})
    with pytest.raises(KeypointSetError, match=r"posetrack\.pth was trained on keypoint set 'posetrack18'.*"
                                                r"config gives keypoint set 'coco'"):
        load_pose_model(tmp_path / "posetrack.pth", cfg_path=str(tiny_yaml))
    loaded = load_pose_model(tmp_path / "posetrack.pth", cfg_path=str(tiny_yaml),
                             opts=["DATASET.KEYPOINT_SET", "posetrack18"])
    assert loaded.keypoint_set == posetrack


def test_settings_the_checkpoint_was_trained_with_are_checked(tiny_cfg, tiny_yaml, tiny_model,
                                                              save_training_checkpoint, tmp_path, caplog):
    """A UDP-trained, RGB checkpoint tested with an MSRA / BGR yaml loads (the weights fit) but each changed
    setting is named in a warning; the stored config itself gives none."""
    cfg = tiny_cfg("MODEL.CODEC", "udp", "DATASET.COLOR_RGB", "True")
    path = save_training_checkpoint(tmp_path / "udp.pth", cfg, tiny_model(cfg))
    with caplog.at_level(logging.WARNING, logger="hrpose.apis.loading"):
        load_pose_model(path)
    assert "was trained with" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="hrpose.apis.loading"):
        loaded = load_pose_model(path, cfg_path=str(tiny_yaml), opts=["DATASET.COLOR_RGB", "False"])
    assert loaded.cfg.MODEL.CODEC == "msra"
    assert "trained with MODEL.CODEC = 'udp' but the config says 'msra'" in caplog.text
    assert "DATASET.COLOR_RGB = True but the config says False" in caplog.text
    assert "MODEL.IMAGE_SIZE" not in caplog.text


def test_a_stored_config_that_no_longer_merges_does_not_block_a_yaml_driven_load(tiny_cfg, tiny_yaml,
                                                                                 tiny_model, tmp_path):
    """A checkpoint from another hrpose version (a key this one lacks) still loads with --cfg; only the
    trained-for settings are read from its stored config."""
    cfg = tiny_cfg("MODEL.CODEC", "udp")
    stored = cfg.dump().replace("TEST:\n", "TEST:\n  NO_SUCH_KEY: 1\n")
    save_checkpoint(tmp_path / "other.pth", {"model": tiny_model(cfg).state_dict(), "config": stored,
                                             "keypoint_set": COCO_KEYPOINTS.to_dict()})
    loaded = load_pose_model(tmp_path / "other.pth", cfg_path=str(tiny_yaml))
    assert loaded.cfg.MODEL.CODEC == "msra" and loaded.keypoint_set == COCO_KEYPOINTS
