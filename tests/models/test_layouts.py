"""Published checkpoint layouts: mmpose 0.x / 1.x pose files and the ImageNet classifiers (official
HRNet-Image-Classification, timm), generated from the architectures (``layouts`` fixture,
tests/models/conftest.py), load strictly; what cannot be mapped is an error listing the keys; ImageNet
initialisation loads exactly PRETRAINED_LAYERS; a converted mmpose checkpoint gives identical heatmaps."""

import collections
import importlib.util

import pytest
import torch

from hrpose.apis.loading import load_pose_model
from hrpose.engine.options import build_test_options
from hrpose.engine.predict import forward_heatmaps
from hrpose.models import build_model, load_pretrained, load_state_dict, load_weights
from hrpose.models.layouts import IMAGENET, MMPOSE_0, MMPOSE_1, REFERENCE, detect_layout
from hrpose.utils.checkpoint import CheckpointError

HRNET = "coco/hrnet/"
POSE_LAYOUTS = [MMPOSE_0, MMPOSE_1]
BACKBONE = ["conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2", "transition2", "stage3",
            "transition3", "stage4"]


def _cfg(tiny_hrnet_cfg, head: str):
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.EXTRA.HEAD = head
    return cfg


def _as_reference(layouts, cfg, layout: str, tensors: dict, counters: bool = True) -> dict:
    """The same tensors under the reference names: both key lists come from the same walk, in order."""
    source = [(k, s) for k, s, _ in layouts.keys(layout, cfg, counters) if not k.startswith("data_")]
    reference = [(k, s) for k, s, _ in layouts.keys(REFERENCE, cfg, counters)]
    assert [s for _, s in source] == [s for _, s in reference]
    return {ref: tensors[src] for (src, _), (ref, _) in zip(source, reference, strict=True)}


def _meta_model(cfg):
    with torch.device("meta"):
        return build_model(cfg, is_train=False)


@pytest.mark.parametrize("relative", ["w32_256x192.yaml", "w32_v2_256x192.yaml", "w18_small_v1_256x192.yaml",
                                      "w18_small_v2_256x192.yaml"])
def test_the_reference_walk_is_hrpose_state_dict(experiment_cfg, layouts, relative):
    """The generator's reference names (REFERENCE.md §2.3) are hrpose's keys, shapes and order."""
    cfg = experiment_cfg(HRNET + relative)
    state = _meta_model(cfg).state_dict()
    walked = [(k, s) for k, s, _ in layouts.keys(REFERENCE, cfg)]
    assert walked == [(k, tuple(v.shape)) for k, v in state.items()]


@pytest.mark.parametrize("relative, millions", [
    ("w18_small_v1_256x192.yaml", 13.2), ("w18_small_v2_256x192.yaml", 15.6), ("w18_256x192.yaml", 21.3),
    ("w32_256x192.yaml", 41.2), ("w48_256x192.yaml", 77.5)])
def test_imagenet_layouts_have_the_published_parameter_counts(experiment_cfg, layouts, relative, millions):
    """HRNet-Image-Classification's README: HRNet-W18-C-Small-v1 13.2M, -v2 15.6M, W18-C 21.3M, W32-C
    41.2M, W48-C 77.5M; the generated classifier layouts have exactly as many parameters."""
    entries = layouts.keys(IMAGENET, experiment_cfg(HRNET + relative))
    params = sum(torch.Size(shape).numel() for _, shape, is_param in entries if is_param)
    assert round(params / 1e6, 1) == millions


@pytest.mark.parametrize("layout", POSE_LAYOUTS)
@pytest.mark.parametrize("head", ["v1", "v2"])
def test_mmpose_files_load_strictly_with_identical_outputs(tmp_path, tiny_hrnet_cfg, layouts, layout, head):
    cfg = _cfg(tiny_hrnet_cfg, head)
    tensors = layouts.tensors(layouts.keys(layout, cfg, preprocessor=layout == MMPOSE_1))
    torch.save({"meta": {"mmpose_version": "test"}, "state_dict": tensors}, tmp_path / "mmpose.pth")
    torch.save(_as_reference(layouts, cfg, layout, tensors), tmp_path / "reference.pth")
    converted, reference = build_model(cfg, is_train=False), build_model(cfg, is_train=False)
    report = load_weights(converted, tmp_path / "mmpose.pth")
    assert report.layout == layout and len(report.loaded) == len(converted.state_dict())
    assert load_weights(reference, tmp_path / "reference.pth").layout == REFERENCE
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(converted.eval()(images), reference.eval()(images))


@pytest.mark.parametrize("wrap", [lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
                                  lambda sd: {"model": {f"_orig_mod.{k}": v for k, v in sd.items()}}],
                         ids=["state_dict+module", "model+orig_mod"])
def test_wrapped_mmpose_files_load(tmp_path, tiny_hrnet_cfg, layouts, wrap):
    tensors = layouts.tensors(layouts.keys(MMPOSE_1, tiny_hrnet_cfg))
    torch.save(wrap(tensors), tmp_path / "wrapped.pth")
    report = load_weights(build_model(tiny_hrnet_cfg, is_train=False), tmp_path / "wrapped.pth")
    assert report.layout == MMPOSE_1 and len(report.loaded) == len(tensors)


@pytest.mark.parametrize("layout", [REFERENCE, *POSE_LAYOUTS])
def test_published_w32_key_lists_load_strictly(experiment_cfg, layouts, layout):
    cfg = experiment_cfg(HRNET + "w32_256x192.yaml")
    tensors = layouts.tensors(layouts.keys(layout, cfg), device="meta")
    assert detect_layout(tensors) == layout
    report = load_state_dict(_meta_model(cfg), tensors, f"W32 {layout}")
    assert len(report.loaded) == 1754 and not report.missing and not report.unexpected


def test_a_mismatched_mmpose_checkpoint_lists_the_keys(experiment_cfg, layouts):
    w32, w48 = experiment_cfg(HRNET + "w32_256x192.yaml"), experiment_cfg(HRNET + "w48_256x192.yaml")
    tensors = layouts.tensors(layouts.keys(MMPOSE_1, w48), device="meta")
    with pytest.raises(CheckpointError) as info:
        load_state_dict(_meta_model(w32), tensors, "hrnet_w48_mmpose.pth")
    message = str(info.value)
    assert message.startswith("checkpoint hrnet_w48_mmpose.pth (mmpose 1.x layout, renamed to reference "
                              "names) does not match the model:")
    pairs = zip(layouts.keys(REFERENCE, w32), layouts.keys(REFERENCE, w48), strict=True)
    differing = sum(a[1] != b[1] for a, b in pairs)
    first = "transition1.0.0.weight: checkpoint (48, 256, 3, 3) vs model (32, 256, 3, 3)"
    assert f"{differing} mis-shaped: {first}" in message
    stage2 = "stage2.0.branches.0.0.conv1.weight: checkpoint (48, 48, 3, 3) vs model (32, 32, 3, 3)"
    assert stage2 in info.value.mismatched
    assert len(info.value.mismatched) == differing and not info.value.missing and not info.value.unexpected


def test_keys_without_a_reference_name_are_listed(tiny_hrnet_cfg, layouts):
    tensors = layouts.tensors(layouts.keys(MMPOSE_1, tiny_hrnet_cfg))
    tensors["neck.0.weight"] = torch.zeros(1)
    tensors["head.loss_module.weight"] = torch.zeros(1)
    model = build_model(tiny_hrnet_cfg, is_train=False)
    with pytest.raises(CheckpointError, match=r"mm\.pth \(mmpose 1\.x layout\): 2 keys have no hrpose "
                                              r"counterpart.*neck\.0\.weight; head\.loss_module\.weight"):
        load_state_dict(model, tensors, "mm.pth")


def test_another_input_normalisation_is_an_error(tiny_hrnet_cfg, layouts):
    tensors = layouts.tensors(layouts.keys(MMPOSE_1, tiny_hrnet_cfg, preprocessor=True))
    tensors["data_preprocessor.mean"] = torch.zeros(3, 1, 1)
    with pytest.raises(CheckpointError, match=r"data_preprocessor\.mean = \[0\.0, 0\.0, 0\.0\].*ImageNet"):
        load_state_dict(build_model(tiny_hrnet_cfg, is_train=False), tensors, "mm.pth")


def test_a_v1_checkpoint_in_a_v2_model_says_which_head(tiny_hrnet_cfg, layouts):
    tensors = layouts.tensors(layouts.keys(MMPOSE_0, tiny_hrnet_cfg))
    with pytest.raises(CheckpointError, match=r"HRNetV1 head: set MODEL\.EXTRA\.HEAD v1") as info:
        load_state_dict(build_model(_cfg(tiny_hrnet_cfg, "v2"), is_train=False), tensors, "mm.pth")
    assert "conv_layers.0.weight" in info.value.missing


def _expected_skips(layouts, cfg, counters: bool) -> collections.Counter:
    """Classification-only tensors by prefix: every ImageNet key the pose model lacks."""
    pose = {k for k, _, _ in layouts.keys(REFERENCE, cfg, counters)}
    skipped = collections.Counter()
    for key, _, _ in layouts.keys(IMAGENET, cfg, counters):
        if key not in pose:
            parts = key.split(".")
            skipped[".".join(parts[:4]) if parts[0].startswith("stage") else parts[0]] += 1
    return skipped


@pytest.mark.parametrize("counters", [False, True], ids=["official", "timm"])
@pytest.mark.parametrize("head", ["v1", "v2"])
def test_imagenet_init_loads_exactly_the_pretrained_layers(tmp_path, tiny_hrnet_cfg, layouts, counters, head):
    """Official files (PyTorch 0.4.0: no BN counters) and timm's (with them), into either head."""
    cfg = _cfg(tiny_hrnet_cfg, head)
    tensors = layouts.tensors(layouts.keys(IMAGENET, cfg, counters), seed=1)
    torch.save(tensors, tmp_path / "hrnet_imagenet.pth")
    model = build_model(cfg, is_train=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_pretrained(model, str(tmp_path / "hrnet_imagenet.pth"), BACKBONE)
    state = model.state_dict()
    for key, value in state.items():
        if key.split(".")[0] in BACKBONE and not key.endswith("num_batches_tracked"):
            assert torch.equal(value, tensors[key]), key
        elif key.split(".")[0] not in BACKBONE:
            assert torch.equal(value, before[key]), key  # the pose head keeps its init
    assert report.layout == IMAGENET
    assert report.skipped["classification-only"] == _expected_skips(layouts, cfg, counters)
    assert set(report.skipped["classification-only"]) >= {"incre_modules", "downsamp_modules", "final_layer",
                                                          "classifier"}
    assert ("stage4.1.fuse_layers.3" in report.skipped["classification-only"]) == (head == "v1")
    assert report.skipped["outside PRETRAINED_LAYERS"] == {}
    assert {k.split(".")[0] for k in report.missing} == ({"final_layer"} | ({"conv_layers"} if head == "v2"
                                                                             else set()))


def test_imagenet_init_logs_counts_by_prefix(tmp_path, tiny_hrnet_cfg, layouts, caplog):
    torch.save(layouts.tensors(layouts.keys(IMAGENET, tiny_hrnet_cfg)), tmp_path / "imagenet.pth")
    tiny_hrnet_cfg.MODEL.PRETRAINED = str(tmp_path / "imagenet.pth")
    tiny_hrnet_cfg.MODEL.EXTRA.PRETRAINED_LAYERS = ["conv1", "bn1", "conv2", "bn2", "layer1"]
    with caplog.at_level("INFO", logger="hrpose.models.weights"):
        model = build_model(tiny_hrnet_cfg, is_train=True)
    assert model.stage2[0].branches[0][0].conv1.weight.std() < 0.01  # outside the list: reference init
    log = caplog.text
    assert "classification-only checkpoint tensors: stage4.1.fuse_layers.1 " in log
    assert "incre_modules 96, downsamp_modules 21, final_layer 7, classifier 2" in log
    assert "outside PRETRAINED_LAYERS checkpoint tensors: transition1 " in log and "stage4 " in log
    assert "keep their initial values: transition1 " in log and "final_layer 2" in log


def test_imagenet_shape_clash_and_missing_tensors_are_errors(tmp_path, tiny_hrnet_cfg, layouts):
    other = tiny_hrnet_cfg.clone()
    other.MODEL.EXTRA.STAGE3.NUM_CHANNELS = [4, 8, 12]
    other.MODEL.EXTRA.STAGE4.NUM_CHANNELS = [4, 8, 12, 32]
    torch.save(layouts.tensors(layouts.keys(IMAGENET, other)), tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"mis-shaped: .*transition2\.2\.0\.0\.weight: checkpoint "
                                              r"\(12, 8, 3, 3\) vs model \(16, 8, 3, 3\)"):
        load_pretrained(build_model(tiny_hrnet_cfg), str(tmp_path / "other.pth"), BACKBONE)
    tensors = layouts.tensors(layouts.keys(IMAGENET, tiny_hrnet_cfg))
    torch.save({k: v for k, v in tensors.items() if not k.startswith("stage3.")}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing from the checkpoint: stage3\.0\.branches\.0\.0"):
        load_pretrained(build_model(tiny_hrnet_cfg), str(tmp_path / "partial.pth"), BACKBONE)


def test_an_imagenet_checkpoint_as_pose_weights_says_so(tmp_path, tiny_hrnet_cfg, layouts):
    torch.save(layouts.tensors(layouts.keys(IMAGENET, tiny_hrnet_cfg)), tmp_path / "imagenet.pth")
    with pytest.raises(CheckpointError, match=r"ImageNet classification checkpoint.*MODEL\.PRETRAINED"):
        load_weights(build_model(tiny_hrnet_cfg, is_train=False), tmp_path / "imagenet.pth")


@pytest.mark.parametrize("layout, head", [(MMPOSE_1, "v1"), (MMPOSE_0, "v2")])
def test_converted_mmpose_checkpoint_gives_identical_heatmaps(tmp_path, repo_root, tiny_yaml, tiny_hrnet_cfg,
                                                              layouts, layout, head):
    """tools/convert_checkpoint.py on an mmpose file vs the same tensors under the reference names:
    max |heatmap difference| = 0, and the converted file decodes as recorded (DARK) with no flags."""
    cfg = _cfg(tiny_hrnet_cfg, head)
    tensors = layouts.tensors(layouts.keys(layout, cfg), seed=3)
    torch.save({"meta": {}, "state_dict": tensors}, tmp_path / "mmpose.pth")
    torch.save(_as_reference(layouts, cfg, layout, tensors), tmp_path / "reference.pth")
    spec = importlib.util.spec_from_file_location("convert", repo_root / "tools" / "convert_checkpoint.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = [str(tmp_path / "mmpose.pth"), str(tmp_path / "hrpose.pth"), "--cfg", str(tiny_yaml), "--decode",
            "dark", "MODEL.EXTRA.HEAD", head]
    assert tool.main(args) == 0
    converted = load_pose_model(tmp_path / "hrpose.pth")  # the stored config alone
    assert converted.cfg.TEST.DECODE == "dark" and converted.cfg.MODEL.EXTRA.HEAD == head
    reference = build_model(cfg, is_train=False)
    load_weights(reference, tmp_path / "reference.pth")
    device = torch.device("cpu")
    options = build_test_options(converted.cfg, device)
    images = torch.randint(0, 256, (3, 3, 96, 64), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    flip = converted.keypoint_set.flip_index
    with torch.no_grad():
        ours = forward_heatmaps(converted.model.eval(), images, device, flip, options)
        theirs = forward_heatmaps(reference.eval(), images, device, flip, options)
    assert (ours - theirs).abs().max().item() == 0.0
