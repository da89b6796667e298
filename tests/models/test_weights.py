"""load_weights (strict checkpoint loading) and MODEL.PRETRAINED (ImageNet backbone) loading. The
published layouts (mmpose, ImageNet classifiers) are tested in test_layouts.py."""

import logging

import pytest
import torch

from hrpose.models import build_model, load_weights
from hrpose.models.weights import read_state_dict
from hrpose.utils.checkpoint import CheckpointError


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        return torch.equal(a.eval()(images), b.eval()(images))


@pytest.fixture
def trained(tiny_hrnet_cfg):
    """A tiny model whose weights and BN statistics differ from any fresh model's."""
    model = build_model(tiny_hrnet_cfg, is_train=True)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model(torch.randn(2, 3, 64, 32))  # train-mode forward: updates the BN running statistics
    return model


def test_round_trip(tmp_path, tiny_hrnet_cfg, trained):
    path = tmp_path / "model.pth"
    torch.save(trained.state_dict(), path)
    fresh = build_model(tiny_hrnet_cfg, is_train=False)
    report = load_weights(fresh, str(path))
    assert len(report.loaded) == len(trained.state_dict()) and not report.missing
    assert _same_outputs(trained, fresh)


@pytest.mark.parametrize("wrap", [
    lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DataParallel / DDP
    lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},  # torch.compile
    lambda sd: {f"module._orig_mod.{k}": v for k, v in sd.items()},
    lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3},  # reference ckpt
    lambda sd: {"model": sd, "epoch": 3, "best_ap": 0.5},
], ids=["module", "orig_mod", "module_orig_mod", "state_dict", "model"])
def test_wrapped_and_prefixed_checkpoints(tmp_path, tiny_hrnet_cfg, trained, wrap):
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(trained.state_dict()), path)
    fresh = build_model(tiny_hrnet_cfg, is_train=False)
    load_weights(fresh, str(path))
    assert _same_outputs(trained, fresh)


def test_loading_into_a_wrapped_model(tmp_path, tiny_hrnet_cfg, trained):
    torch.save(trained.state_dict(), tmp_path / "model.pth")
    fresh = build_model(tiny_hrnet_cfg, is_train=False)
    load_weights(torch.nn.DataParallel(fresh), str(tmp_path / "model.pth"))  # keys 'module.*'
    assert _same_outputs(trained, fresh)


def test_missing_num_batches_tracked_is_tolerated(tmp_path, tiny_hrnet_cfg, trained):
    state = {k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    fresh = build_model(tiny_hrnet_cfg, is_train=False)
    report = load_weights(fresh, str(tmp_path / "old.pth"))
    assert not report.missing
    assert _same_outputs(trained, fresh)


def test_16_joint_checkpoint_in_17_joint_model(tmp_path, tiny_hrnet_cfg):
    mpii_cfg = tiny_hrnet_cfg.clone()
    mpii_cfg.MODEL.NUM_JOINTS = 16
    torch.save(build_model(mpii_cfg).state_dict(), tmp_path / "mpii.pth")
    model = build_model(tiny_hrnet_cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights(model, str(tmp_path / "mpii.pth"))
    message = str(info.value)
    assert str(tmp_path / "mpii.pth") in message
    assert "final_layer.weight: checkpoint (16, 4, 1, 1) vs model (17, 4, 1, 1); " in message
    assert "final_layer.bias: checkpoint (16,) vs model (17,)" in message
    assert "16-joint checkpoint" in message and "MODEL.NUM_JOINTS 16" in message
    assert len(info.value.mismatched) == 2 and not info.value.missing and not info.value.unexpected
    unchanged = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert unchanged, "a failed strict load must leave the model as it was"


def test_non_strict_keeps_the_head_and_logs(tmp_path, tiny_hrnet_cfg, trained, caplog):
    mpii_cfg = tiny_hrnet_cfg.clone()
    mpii_cfg.MODEL.NUM_JOINTS = 16
    mpii = build_model(mpii_cfg)
    mpii.load_state_dict({k: v for k, v in trained.state_dict().items() if not k.startswith("final_layer")},
                         strict=False)
    torch.save(mpii.state_dict(), tmp_path / "mpii.pth")
    model = build_model(tiny_hrnet_cfg)
    head = model.final_layer.weight.clone()
    with caplog.at_level(logging.WARNING, logger="hrpose.models.weights"):
        report = load_weights(model, str(tmp_path / "mpii.pth"), strict=False)
    assert "final_layer.weight: checkpoint (16, 4, 1, 1)" in caplog.text
    assert len(report.mismatched) == 2
    assert torch.equal(model.final_layer.weight, head)
    assert torch.equal(model.conv1.weight, trained.conv1.weight)


def test_missing_and_unexpected_keys_are_listed_and_truncated(tmp_path, tiny_hrnet_cfg, trained):
    state = {k: v for k, v in trained.state_dict().items() if not k.startswith("stage3.")}
    state.update({f"extra_head.w{i}": torch.zeros(1) for i in range(12)})
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError) as info:
        load_weights(build_model(tiny_hrnet_cfg, is_train=False), str(tmp_path / "partial.pth"))
    message = str(info.value)
    num_missing = sum(1 for k in trained.state_dict() if k.startswith("stage3.")
                      and not k.endswith("num_batches_tracked"))
    assert f"{num_missing} missing from the checkpoint: stage3.0.branches.0.0.conv1.weight" in message
    assert "12 unexpected (not in the model): extra_head.w0; extra_head.w1;" in message
    assert "... and 2 more" in message


def test_file_not_found_names_the_path(tmp_path, tiny_hrnet_cfg):
    with pytest.raises(CheckpointError, match="nope.pth"):
        load_weights(build_model(tiny_hrnet_cfg, is_train=False), str(tmp_path / "nope.pth"))


def test_pretrained_errors(tmp_path, tiny_hrnet_cfg):
    tiny_hrnet_cfg.MODEL.PRETRAINED = str(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match=r"MODEL\.PRETRAINED.*missing\.pth"):
        build_model(tiny_hrnet_cfg, is_train=True)
    build_model(tiny_hrnet_cfg, is_train=False)  # not read at test time, as the reference
    state = build_model(tiny_hrnet_cfg, is_train=False).state_dict()
    state["conv1.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(state, tmp_path / "wrong.pth")
    tiny_hrnet_cfg.MODEL.PRETRAINED = str(tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"conv1\.weight: checkpoint \(8, 3, 3, 3\) vs model"):
        build_model(tiny_hrnet_cfg, is_train=True)


class Opaque:
    """An arbitrary pickled object, which weights_only loading refuses."""


def test_pretrained_with_nothing_in_common_is_an_error(tmp_path, tiny_hrnet_cfg):
    torch.save({"backbone.conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    tiny_hrnet_cfg.MODEL.PRETRAINED = str(tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"none of its 1 tensors belongs to a module within "
                                              r"PRETRAINED_LAYERS \['conv1'.*checkpoint keys: conv\.weight"):
        build_model(tiny_hrnet_cfg, is_train=True)


def test_checkpoints_load_with_weights_only(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match=r"pickled\.pth: .*not loaded \(weights_only=True\)"):
        read_state_dict(str(tmp_path / "pickled.pth"))
