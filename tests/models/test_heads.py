"""The heatmap heads (MODEL.EXTRA.HEAD): v1 is the reference's; v2 (HRNetV2) reads every branch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrpose.config import ConfigError, load_cfg
from hrpose.models import build_model, fuse_conv_bn
from hrpose.models.heads import upsample_concat
from hrpose.models.hrnet import HighResolutionModule


def _v2(tiny_hrnet_cfg):
    cfg = tiny_hrnet_cfg.clone()
    cfg.MODEL.EXTRA.HEAD = "v2"
    return cfg


def test_upsample_concat_is_the_size_based_bilinear_resize():
    """Scaling branch b by 2**b equals resizing it to branch 0's size (HRNet-Facial / mmpose's way)."""
    features = [torch.randn(2, 4 * 2**b, 24 // 2**b, 16 // 2**b) for b in range(4)]
    resized = [F.interpolate(f, size=(24, 16), mode="bilinear", align_corners=False) for f in features[1:]]
    expected = torch.cat([features[0], *resized], dim=1)
    assert torch.equal(upsample_concat(features), expected)


def test_v2_keeps_every_branch_of_the_last_module(tiny_hrnet_cfg):
    v1, v2 = build_model(tiny_hrnet_cfg, is_train=False), build_model(_v2(tiny_hrnet_cfg), is_train=False)
    last = [m for m in v2.modules() if isinstance(m, HighResolutionModule)][-1]
    assert len(last.fuse_layers) == 4
    assert [len(m.fuse_layers) for m in v1.modules() if isinstance(m, HighResolutionModule)][-1] == 1
    # tiny widths 4 + 8 + 16 + 32 = 60 concatenated channels, mixed 1x1, then K heatmaps
    assert v2.conv_layers[0].weight.shape == (60, 60, 1, 1) and v2.conv_layers[0].bias is not None
    assert v2.final_layer.weight.shape == (17, 60, 1, 1)
    extra = set(v2.state_dict()) - set(v1.state_dict())
    assert {k.split(".")[0] for k in extra} == {"stage4", "conv_layers"}
    assert set(v1.state_dict()) - set(v2.state_dict()) == set()  # same names, final_layer wider


def test_v2_forward_shapes_and_gradients(tiny_hrnet_cfg):
    model = build_model(_v2(tiny_hrnet_cfg), is_train=True)
    out = model(torch.randn(2, 3, 64, 32))
    assert out.shape == (2, 17, 16, 8)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing[:5]


def test_v2_folds_batchnorm_like_v1(tiny_hrnet_cfg):
    model = build_model(_v2(tiny_hrnet_cfg), is_train=True)
    model(torch.randn(4, 3, 64, 32))  # non-trivial BN statistics
    model.eval()
    fused = fuse_conv_bn(model)
    assert isinstance(fused.conv_layers[1], nn.Identity)
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(fused(images), model(images), rtol=1e-4, atol=1e-5)


def test_head_choices_are_checked(tiny_yaml, resnet_cfg):
    with pytest.raises(ConfigError, match=r"MODEL\.EXTRA\.HEAD = 'v3'; expected one of \['v1', 'v2'\]"):
        load_cfg(str(tiny_yaml), ["MODEL.EXTRA.HEAD", "v3"])
    cfg = resnet_cfg()
    cfg.MODEL.EXTRA.HEAD = "v2"
    with pytest.raises(ConfigError, match=r"pose_resnet has one head \(v1\)"):
        build_model(cfg, is_train=False)
    assert build_model(resnet_cfg(), is_train=False) is not None  # the default v1 is accepted
