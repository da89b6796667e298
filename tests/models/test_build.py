"""build_model: the MODEL.EXTRA schemas (unknown, missing, inconsistent keys), the size checks, the model
name, and the training init with MODEL.PRETRAINED."""

import logging

import pytest

from hrpose.config import ConfigError, load_cfg
from hrpose.models import build_model
from hrpose.models.build import REQUIRED, check_keys, check_model_sizes


@pytest.mark.parametrize("key, value, expected", [
    ("STAGE2.NUM_BRANCH", 2, r"MODEL\.EXTRA\.STAGE2\.NUM_BRANCH \(did you mean NUM_BRANCHES\?\)"),
    ("FINAL_CONV_KERNAL", 1, r"MODEL\.EXTRA\.FINAL_CONV_KERNAL"),
    ("NUM_DECONV_LAYERS", 3, r"MODEL\.EXTRA\.NUM_DECONV_LAYERS"),  # a pose_resnet key in an HRNet
])
def test_unknown_extra_key_is_an_error(tiny_hrnet_cfg, key, value, expected):
    node = tiny_hrnet_cfg.MODEL.EXTRA
    *parents, leaf = key.split(".")
    for parent in parents:
        node = node[parent]
    node[leaf] = value
    with pytest.raises(ConfigError, match=expected):
        build_model(tiny_hrnet_cfg, is_train=False)


def test_missing_and_inconsistent_extra(tiny_hrnet_cfg):
    cfg = tiny_hrnet_cfg.clone()
    del cfg.MODEL.EXTRA["STAGE4"]
    with pytest.raises(ConfigError, match=r"missing key\(s\) in MODEL\.EXTRA: MODEL\.EXTRA\.STAGE4"):
        build_model(cfg, is_train=False)
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.EXTRA.STAGE3.NUM_CHANNELS = [4, 8]
    with pytest.raises(ConfigError, match=r"MODEL\.EXTRA\.STAGE3: num_channels has 2 entries"):
        build_model(cfg, is_train=False)
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.EXTRA.STAGE2.BLOCK = "BASICC"
    with pytest.raises(ConfigError, match="BASICC"):
        build_model(cfg, is_train=False)


def test_image_and_heatmap_size_checked(tiny_hrnet_cfg):
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.IMAGE_SIZE = [48, 64]
    cfg.MODEL.HEATMAP_SIZE = [12, 16]
    with pytest.raises(ConfigError, match=r"MODEL\.IMAGE_SIZE = \[48, 64\].*multiples of 32"):
        build_model(cfg, is_train=False)
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.HEATMAP_SIZE = [16, 32]
    with pytest.raises(ConfigError, match=r"MODEL\.HEATMAP_SIZE = \[16, 32\].*\[8, 16\]"):
        build_model(cfg, is_train=False)


def test_unknown_model_name(tiny_hrnet_cfg):
    tiny_hrnet_cfg.MODEL.NAME = "pose_hrnet_w32"
    with pytest.raises(ConfigError, match="pose_hrnet_w32"):
        build_model(tiny_hrnet_cfg)


def test_a_shipped_yaml_builds_for_training_and_checks_its_pretrained_file(repo_root):
    path = str(repo_root / "experiments/coco/resnet/res50_256x192.yaml")
    cfg = load_cfg(path, ["MODEL.PRETRAINED", "no/such/dir/resnet50.pth"])
    with pytest.raises(FileNotFoundError, match="no/such/dir/resnet50.pth"):
        build_model(cfg, is_train=True)
    model = build_model(load_cfg(path, ["MODEL.PRETRAINED", ""]), is_train=True)
    assert model.final_layer.weight.shape == (17, 256, 1, 1)


def test_check_keys_fills_defaults_and_names_problems():
    schema = {"A": REQUIRED, "B": 3}
    assert check_keys({"A": 1}, schema, "X") == {"A": 1, "B": 3}
    with pytest.raises(ConfigError, match=r"missing key\(s\) in X: X\.A"):
        check_keys({"B": 1}, schema, "X")
    with pytest.raises(ConfigError, match=r"X\.BB \(did you mean B\?\)"):
        check_keys({"A": 1, "BB": 2}, schema, "X")


def test_check_model_sizes():
    check_model_sizes([192, 256], [48, 64], stride=4, divisor=32)
    with pytest.raises(ConfigError, match=r"IMAGE_SIZE = \[190, 256\].*multiples of 32"):
        check_model_sizes([190, 256], [48, 64], stride=4, divisor=32)
    with pytest.raises(ConfigError, match=r"HEATMAP_SIZE = \[48, 48\], but the model outputs \[48, 64\]"):
        check_model_sizes([192, 256], [48, 48], stride=4, divisor=32)


def test_test_time_models_keep_the_pytorch_init_and_skip_pretrained(tiny_hrnet_cfg, tmp_path, caplog):
    tiny_hrnet_cfg.MODEL.PRETRAINED = str(tmp_path / "absent.pth")
    eval_model = build_model(tiny_hrnet_cfg, is_train=False)  # the file is not read at test time
    assert eval_model.conv1.weight.std() > 0.01  # PyTorch's default init, not the reference's N(0, 0.001)
    tiny_hrnet_cfg.MODEL.INIT_WEIGHTS = False
    with caplog.at_level(logging.WARNING, logger="hrpose.models.build"):
        build_model(tiny_hrnet_cfg, is_train=True)
    assert "MODEL.INIT_WEIGHTS is False" in caplog.text and "absent.pth" in caplog.text
