"""load_cfg: shipped experiment yamls, the reference's yamls, and the config error paths.

``reference_yamls/`` holds the reference's 15 experiment files verbatim
(leoxiaobin/deep-high-resolution-net.pytorch, ``experiments/<dataset>/<arch>/<name>.yaml``, saved as
``<dataset>_<arch>_<name>.yaml``).
"""

import logging
import os
import pathlib

import pytest
import torch
from yacs.config import CfgNode

from hrpose.config import ConfigError, cfg_from_string, flatten_cfg, get_cfg, load_cfg, resolve_path
from hrpose.config.loading import merge_cfg_file
from hrpose.datasets import build_keypoint_set
from hrpose.models import build_model, count_parameters

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((REPO_ROOT / "experiments").rglob("*.yaml"))
REFERENCE_DIR = pathlib.Path(__file__).parent / "reference_yamls"
REFERENCE_YAMLS = sorted(REFERENCE_DIR.glob("*.yaml"))
OURS_WITH_REFERENCE = [f"{d}/{a}/{n}.yaml" for d, a, names in (
    ("coco", "hrnet", ("w32_256x192", "w32_384x288", "w48_256x192", "w48_384x288")),
    ("coco", "resnet", tuple(f"res{n}_{s}" for n in (50, 101, 152) for s in ("256x192", "384x288"))),
    ("mpii", "hrnet", ("w32_256x256", "w48_256x256")),
    ("mpii", "resnet", ("res50_256x256", "res101_256x256", "res152_256x256")),
) for n in names]

# Parameters of every architecture the shipped yamls use: (MODEL.NAME, width or depth, joints).
PARAMS = {
    ("pose_hrnet", 32, 17): 28_536_113, ("pose_hrnet", 48, 17): 63_595_745,
    ("pose_hrnet", 32, 16): 28_536_080, ("pose_hrnet", 48, 16): 63_595_696,
    ("pose_resnet", 50, 17): 33_999_697, ("pose_resnet", 101, 17): 52_991_825,
    ("pose_resnet", 152, 17): 68_635_473, ("pose_resnet", 50, 16): 33_999_440,
    ("pose_resnet", 101, 16): 52_991_568, ("pose_resnet", 152, 16): 68_635_216,
}

# Keys where our yamls knowingly differ from the reference's; none changes training or testing.
ALLOWED_DIFFERENCES = {
    "GPUS",  # one device per process; the global batch comes from torchrun's world size
    "WORKERS",  # 8 loader workers per process instead of 24 for one DataParallel process
    "LOG_DIR",  # '' = TensorBoard events beside the checkpoints
    "TEST.NMS_THRE",  # never used, by the reference either
}
ALLOWED_PREFIXES = ("DEBUG.",)  # debug images: off (they slowed the reference's training)
# The reference's MPII ResNet yamls carry COCO detection settings that MPII evaluation never reads.
COCO_ONLY_TEST_KEYS = {"TEST.COCO_BBOX_FILE", "TEST.USE_GT_BBOX", "TEST.IMAGE_THRE", "TEST.IN_VIS_THRE",
                       "TEST.OKS_THRE"}
PATH_KEYS = {"DATASET.ROOT", "MODEL.PRETRAINED", "TEST.COCO_BBOX_FILE"}


def _relative(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def _flatten(node: CfgNode) -> dict:
    """``flatten_cfg`` with the path keys normalised (the yamls spell the same paths differently)."""
    return {key: os.path.normpath(value) if key in PATH_KEYS and value else value
            for key, value in flatten_cfg(node).items()}


def _architecture(cfg: CfgNode) -> tuple:
    size = (cfg.MODEL.EXTRA.STAGE2.NUM_CHANNELS[0] if cfg.MODEL.NAME == "pose_hrnet"
            else cfg.MODEL.EXTRA.NUM_LAYERS)
    return cfg.MODEL.NAME, size, cfg.MODEL.NUM_JOINTS


def test_all_experiments_are_found():
    assert {_relative(p).removeprefix("experiments/") for p in EXPERIMENTS} >= set(OURS_WITH_REFERENCE)
    assert len(REFERENCE_YAMLS) == 15


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_relative)
def test_experiment_loads_and_builds(path):
    cfg = load_cfg(str(path))
    with torch.device("meta"):  # architecture, names and sizes without memory or compute
        model = build_model(cfg, is_train=False)
    expected = PARAMS.get(_architecture(cfg)) if cfg.MODEL.NAME in ("pose_hrnet", "pose_resnet") else None
    if cfg.MODEL.EXTRA.HEAD != "v1":  # PARAMS are the reference head's (HRNetV2: tests/models)
        expected = None
    if expected is not None:
        assert count_parameters(model) == expected
    # (build_model has checked HEATMAP_SIZE = IMAGE_SIZE / 4 and the input divisibility; the forward
    # shapes are tested in tests/models.)


@pytest.mark.parametrize("path", REFERENCE_YAMLS, ids=lambda p: p.name)
def test_reference_yaml_merges_unchanged(path):
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    load_cfg(str(path))  # and passes validation


@pytest.mark.parametrize("ours", OURS_WITH_REFERENCE)
def test_same_settings_as_the_reference(ours):
    dataset, arch, name = ours.removesuffix(".yaml").split("/")
    deconvs = "_d256x3" if arch == "resnet" else ""
    reference = REFERENCE_DIR / f"{dataset}_{arch}_{name}{deconvs}_adam_lr1e-3.yaml"
    ref_cfg, our_cfg = get_cfg(), get_cfg()
    ref_cfg.merge_from_file(str(reference))
    merge_cfg_file(our_cfg, str(REPO_ROOT / "experiments" / ours))  # with its _BASE_ chain
    ref_flat, our_flat = _flatten(ref_cfg), _flatten(our_cfg)
    allowed = ALLOWED_DIFFERENCES | (COCO_ONLY_TEST_KEYS if dataset == "mpii" else set())
    differences = {k: (ref_flat.get(k), our_flat.get(k)) for k in set(ref_flat) | set(our_flat)
                   if ref_flat.get(k) != our_flat.get(k) and k not in allowed
                   and not k.startswith(ALLOWED_PREFIXES)}
    assert not differences, f"{ours} differs from {reference.name} (reference, ours): {differences}"


def _write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return str(path)


def test_unknown_key_in_yaml_names_key_and_file(tmp_path):
    path = _write(tmp_path, "TRAIN:\n  LR: 0.01\n  LR_STEPS: [1, 2]\n")
    with pytest.raises(ConfigError) as info:
        load_cfg(path)
    assert "TRAIN.LR_STEPS" in str(info.value) and path in str(info.value)


def test_unknown_override_key():
    with pytest.raises(ConfigError, match="TEST.FLIP"):
        load_cfg(None, ["TEST.FLIP", "True"])


def test_bad_choice_value(tmp_path):
    with pytest.raises(ConfigError, match=r"MODEL\.NAME = 'pose_hrnet_w32'"):
        load_cfg(_write(tmp_path, "MODEL:\n  NAME: pose_hrnet_w32\n"))


def test_boolean_overrides_accept_yaml_spelling():
    cfg = load_cfg(None, ["AUTO_RESUME", "false", "TEST.FLIP_TEST", "TRUE", "DATASET.TEST_SET", "true"])
    assert cfg.AUTO_RESUME is False and cfg.TEST.FLIP_TEST is True
    assert cfg.DATASET.TEST_SET == "true"  # a string key keeps the word
    with pytest.raises(ConfigError, match="TRAIN.LR"):
        load_cfg(None, ["TRAIN.LR", "false"])


def test_stored_config_is_validated_like_a_yaml():
    text = get_cfg().dump().replace("NAME: pose_hrnet", "NAME: pose_hrnet_w32")
    with pytest.raises(ConfigError, match=r"run\.pth: MODEL\.NAME = 'pose_hrnet_w32'"):
        cfg_from_string(text, source="run.pth")
    assert cfg_from_string(get_cfg().dump(), ["AUTO_RESUME", "false"]).AUTO_RESUME is False


def test_unused_reference_key_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.config"):
        load_cfg(None, ["TRAIN.GAMMA1", "0.5"])
    assert "TRAIN.GAMMA1" in caplog.text and "no effect" in caplog.text


def test_typo_in_model_extra_is_an_error(tmp_path):
    text = (REPO_ROOT / "experiments/coco/hrnet/w32_256x192.yaml").read_text()
    cfg = load_cfg(_write(tmp_path, text.replace("FINAL_CONV_KERNEL", "FINAL_CONV_KERNEL_SIZE")))
    with pytest.raises(ConfigError, match=r"MODEL\.EXTRA\.FINAL_CONV_KERNEL_SIZE"):
        build_model(cfg, is_train=False)


def test_load_cfg_is_frozen_and_checks_its_inputs(tmp_path):
    cfg = load_cfg(None, ["TRAIN.LR", "0.01"])
    assert cfg.is_frozen() and cfg.TRAIN.LR == 0.01
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_cfg(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="KEY VALUE pairs, got an odd number"):
        load_cfg(None, ["TRAIN.LR"])
    with pytest.raises(ConfigError, match=r"MODEL\.IMAGE_SIZE = \[256\]; expected \[width, height\]"):
        load_cfg(None, ["MODEL.IMAGE_SIZE", "[256]"])


def test_data_dir_prefixes_relative_paths_only():
    assert resolve_path("/data", "coco") == os.path.join("/data", "coco")
    assert resolve_path("/data", "/abs/coco") == "/abs/coco"
    assert resolve_path("", "coco") == "coco" and resolve_path("/data", "") == ""
    cfg = load_cfg(None, ["DATA_DIR", "/data", "DATASET.ROOT", "coco", "MODEL.PRETRAINED", "/w/r50.pth",
                          "TEST.MODEL_FILE", "best.pth"])
    assert cfg.DATASET.ROOT == os.path.join("/data", "coco") and cfg.MODEL.PRETRAINED == "/w/r50.pth"
    assert cfg.TEST.MODEL_FILE == os.path.join("/data", "best.pth")


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("TRAIN:\n  LR: 0.001\n  LR_STEP: [170, 200\nTEST:\n  FLIP_TEST: true\n")
    with pytest.raises(ConfigError) as info:
        load_cfg(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: not valid YAML:") and "line" in message and "\n" not in message


# --- _BASE_: a yaml holds only what differs from its base ------------------------------------------------

def _yaml(path: pathlib.Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_base_is_relative_to_the_yaml_and_chains(tmp_path):
    _yaml(tmp_path / "base.yaml", "TRAIN:\n  LR: 0.01\n  LR_STEP: [5, 8]\nMODEL:\n  NUM_JOINTS: 14\n")
    _yaml(tmp_path / "sets" / "mid.yaml", "_BASE_: ../base.yaml\nTRAIN:\n  LR: 0.02\n")
    leaf = _yaml(tmp_path / "sets" / "deep" / "leaf.yaml", "_BASE_: ../mid.yaml\nTRAIN:\n  LR_STEP: [3]\n")
    cfg = load_cfg(leaf, ["TRAIN.END_EPOCH", "9"])
    # the leaf wins over its base, the base over the grandbase, the command line over all; lists are replaced
    assert (cfg.TRAIN.LR, cfg.TRAIN.LR_STEP, cfg.MODEL.NUM_JOINTS, cfg.TRAIN.END_EPOCH) == (0.02, [3], 14, 9)
    assert "_BASE_" not in cfg


def test_base_cycle_is_an_error_naming_the_chain(tmp_path):
    a = _yaml(tmp_path / "a.yaml", "_BASE_: b.yaml\n")
    _yaml(tmp_path / "b.yaml", "_BASE_: a.yaml\nTRAIN:\n  LR: 0.1\n")
    with pytest.raises(ConfigError, match=r"_BASE_ cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_cfg(a)
    itself = _yaml(tmp_path / "self.yaml", "_BASE_: self.yaml\n")
    with pytest.raises(ConfigError, match="_BASE_ cycle"):
        load_cfg(itself)


def test_base_errors_name_the_file_they_are_in(tmp_path):
    missing = _yaml(tmp_path / "child.yaml", "_BASE_: nope.yaml\n")
    message = r"config file not found: .*nope\.yaml \(the _BASE_ of .*child\.yaml\)"
    with pytest.raises(ConfigError, match=message):
        load_cfg(missing)
    _yaml(tmp_path / "typo_base.yaml", "TRAIN:\n  LR_STEPS: [1]\n")
    child = _yaml(tmp_path / "typo_child.yaml", "_BASE_: typo_base.yaml\n")
    with pytest.raises(ConfigError, match=r"typo_base\.yaml: unknown config key 'TRAIN.LR_STEPS'"):
        load_cfg(child)
    with pytest.raises(ConfigError, match=r"_BASE_ = \[1\]; expected the path of a yaml file"):
        load_cfg(_yaml(tmp_path / "list.yaml", "_BASE_: [1]\n"))


# Each benchmark's W32 yaml: short (the COCO W32 recipe is its _BASE_), at its papers' input size.
DATASET_YAMLS = {"mpii/hrnet/w32_256x256.yaml": ("mpii", 16, [256, 256]),
                 "crowdpose/hrnet/w32_256x192.yaml": ("crowdpose", 14, [192, 256]),
                 "ochuman/hrnet/w32_256x192.yaml": ("coco", 17, [192, 256]),
                 "aic/hrnet/w32_256x192.yaml": ("aic", 14, [192, 256]),
                 "posetrack18/hrnet/w32_256x192.yaml": ("posetrack18", 17, [192, 256]),
                 "halpe/hrnet/w32_256x192.yaml": ("halpe26", 26, [192, 256]),
                 "coco_wholebody/hrnet/w32_256x192.yaml": ("coco_wholebody", 133, [192, 256])}


@pytest.mark.parametrize("name", sorted(DATASET_YAMLS))
def test_dataset_yamls_are_short_and_inherit_the_w32_recipe(name):
    path = REPO_ROOT / "experiments" / name
    lines = path.read_text().splitlines()
    assert len(lines) <= 25 and any(line.startswith("_BASE_:") for line in lines)
    cfg = load_cfg(str(path))
    keypoint_set, joints, size = DATASET_YAMLS[name]
    assert build_keypoint_set(cfg).name == keypoint_set and cfg.MODEL.NUM_JOINTS == joints
    assert cfg.MODEL.IMAGE_SIZE == size and cfg.MODEL.EXTRA.STAGE4.NUM_CHANNELS == [32, 64, 128, 256]


def test_keypoint_set_and_metric_choices():
    assert load_cfg(None, ["DATASET.KEYPOINT_SET", "posetrack18"]).DATASET.KEYPOINT_SET == "posetrack18"
    assert load_cfg(None, ["DATASET.KEYPOINT_SET", "my/set.yaml"]).DATASET.KEYPOINT_SET == "my/set.yaml"
    with pytest.raises(ConfigError, match=r"DATASET.KEYPOINT_SET = 'crowd'; expected .*'crowdpose'"):
        load_cfg(None, ["DATASET.KEYPOINT_SET", "crowd"])
    with pytest.raises(ConfigError, match=r"TEST.METRIC = 'pck'; expected one of \['', 'coco', 'crowdpose', "
                                          r"'pckh', 'wholebody'\]"):
        load_cfg(None, ["TEST.METRIC", "pck"])
