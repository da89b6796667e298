"""SimpleBaseline (pose_resnet): sizes, torchvision-compatible backbone names, deconv geometry, grads."""

import pytest
import torch
from torch import nn

from hrpose.config import ConfigError
from hrpose.models import build_model, count_parameters
from hrpose.models.pose_resnet import PoseResNet

# Exact counts with 17 joints; the README rounds them to 34.0M / 53.0M / 68.6M.
PARAMS = {18: 15_376_721, 34: 25_484_881, 50: 33_999_697, 101: 52_991_825, 152: 68_635_473}


@pytest.mark.parametrize("num_layers", sorted(PARAMS))
def test_parameter_counts(num_layers):
    with torch.device("meta"):
        model = PoseResNet(num_layers, num_joints=17)
    assert count_parameters(model) == PARAMS[num_layers]


def test_resnet50_names_and_shapes_match_torchvision_backbone():
    with torch.device("meta"):
        model = PoseResNet(50, num_joints=17)
    state = model.state_dict()
    backbone = [k for k in state if not k.startswith(("deconv_layers.", "final_layer."))]
    assert len(backbone) == 318  # torchvision resnet50's 320 state_dict entries minus fc.weight, fc.bias
    expected = {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3),  # the stride sits on the 3x3 conv, as torchvision
        "layer3.5.bn3.running_mean": (1024,),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
        "deconv_layers.0.weight": (2048, 256, 4, 4),
        "deconv_layers.1.running_var": (256,),
        "deconv_layers.6.weight": (256, 256, 4, 4),
        "final_layer.weight": (17, 256, 1, 1),
        "final_layer.bias": (17,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert "deconv_layers.0.bias" not in state  # DECONV_WITH_BIAS false
    assert tuple(model(torch.zeros(1, 3, 256, 192, device="meta")).shape) == (1, 17, 64, 48)


@pytest.mark.parametrize("kernels", [(4, 4, 4), (3, 3, 3), (2, 2, 2), (4, 3, 2)])
def test_each_deconv_kernel_doubles_the_size(resnet_cfg, kernels):
    model = build_model(resnet_cfg(kernels=kernels), is_train=False)
    assert model(torch.zeros(1, 3, 64, 32)).shape == (1, 17, 16, 8)


def test_every_parameter_gets_gradient_and_reference_init(resnet_cfg):
    cfg = resnet_cfg()
    cfg.MODEL.EXTRA.DECONV_WITH_BIAS = True
    model = build_model(cfg, is_train=True)
    deconv = model.deconv_layers[0]
    assert isinstance(deconv, nn.ConvTranspose2d) and torch.all(deconv.bias == 0)
    assert abs(deconv.weight.std().item() - 0.001) < 2e-4
    model(torch.randn(2, 3, 64, 32)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


def test_extra_schema(resnet_cfg):
    cfg = resnet_cfg()
    cfg.MODEL.EXTRA.NUM_DECONV_FILTER = [256]
    with pytest.raises(ConfigError, match=r"EXTRA\.NUM_DECONV_FILTER \(did you mean NUM_DECONV_FILTERS"):
        build_model(cfg)
    cfg = resnet_cfg(num_layers=42)
    with pytest.raises(ConfigError, match=r"NUM_LAYERS = 42"):
        build_model(cfg)
    cfg = resnet_cfg(kernels=(4, 4))
    with pytest.raises(ConfigError, match="NUM_DECONV_KERNELS has 2 entries"):
        build_model(cfg)
    cfg = resnet_cfg(kernels=(5, 4, 4))
    with pytest.raises(ConfigError, match="must be 2, 3 or 4"):
        build_model(cfg)
    cfg = resnet_cfg()
    del cfg.MODEL.EXTRA["NUM_LAYERS"]
    with pytest.raises(ConfigError, match=r"MODEL\.EXTRA\.NUM_LAYERS"):
        build_model(cfg)


def test_two_deconvs_give_stride_8_and_the_heatmap_size_is_checked(resnet_cfg):
    cfg = resnet_cfg(filters=(16, 16), kernels=(4, 4))
    with pytest.raises(ConfigError, match=r"MODEL\.HEATMAP_SIZE = \[8, 16\], but the model outputs \[4, 8\]"):
        build_model(cfg)
    cfg.MODEL.HEATMAP_SIZE = [4, 8]
    assert build_model(cfg, is_train=False)(torch.zeros(1, 3, 64, 32)).shape == (1, 17, 8, 4)


def test_imagenet_resnet_checkpoint_loads_the_backbone(resnet_cfg, tmp_path, caplog):
    """A torchvision-style ImageNet ResNet: backbone keys load, fc.* is skipped and said so, the
    deconvolution head keeps the reference init."""
    backbone = build_model(resnet_cfg(), is_train=False)
    state = {k: v for k, v in backbone.state_dict().items() if not k.startswith(("deconv_", "final_"))}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    cfg = resnet_cfg()
    cfg.MODEL.PRETRAINED = str(tmp_path / "resnet18.pth")
    with caplog.at_level("INFO", logger="hrpose.models.weights"):
        model = build_model(cfg, is_train=True)
    assert torch.equal(model.layer4[1].conv2.weight, backbone.layer4[1].conv2.weight)
    assert model.deconv_layers[0].weight.std() < 0.01
    assert "skipped 2 classification-only checkpoint tensors: fc 2" in caplog.text
    assert "outside PRETRAINED_LAYERS" not in caplog.text  # PRETRAINED_LAYERS defaults to ['*']
    assert "keep their initial values: deconv_layers 15, final_layer 2" in caplog.text
