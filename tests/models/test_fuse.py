"""fuse_conv_bn: the fused copy computes what the eval-mode model computes."""

import pytest
import torch
from torch import nn

from hrpose.models import build_model, fuse_conv_bn


def _randomize_bn(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so that folding has something to fold."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(std=0.1)


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _check(model: nn.Module, images: torch.Tensor, num_bn: int) -> nn.Module:
    _randomize_bn(model)
    fused = fuse_conv_bn(model)
    assert model.training, "fuse_conv_bn must not change the model it is given"
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == num_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    with torch.no_grad():
        expected = model.eval()(images)
        assert _relative_error(fused(images), expected) < 1e-5
    return fused


def test_tiny_hrnet(tiny_hrnet_cfg):
    model = build_model(tiny_hrnet_cfg, is_train=True)
    num_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fused = _check(model, torch.randn(2, 3, 64, 32), num_bn)
    assert fused.conv1.bias is not None and isinstance(fused.bn1, nn.Identity)  # names are kept


def test_hrnet_w32(experiment_cfg):
    model = build_model(experiment_cfg("coco/hrnet/w32_256x192.yaml", "MODEL.PRETRAINED", ""))
    _check(model, torch.randn(1, 3, 64, 64), num_bn=292)


@pytest.mark.parametrize("deconv_with_bias", [False, True])
def test_pose_resnet_with_transposed_convs(resnet_cfg, deconv_with_bias):
    cfg = resnet_cfg(filters=(16, 8, 8), kernels=(4, 3, 2))
    cfg.MODEL.EXTRA.DECONV_WITH_BIAS = deconv_with_bias
    model = build_model(cfg)
    fused = _check(model, torch.randn(2, 3, 64, 32), num_bn=23)
    assert fused.deconv_layers[0].bias is not None


def test_only_convs_used_by_the_bn_alone_are_folded():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y  # y is used twice: folding would change the second use

    model = Branchy()
    _randomize_bn(model)
    fused = fuse_conv_bn(model)
    assert isinstance(fused.bn, nn.BatchNorm2d)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(fused(x), model.eval()(x))
