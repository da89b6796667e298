"""HRNet: reference state_dict layout, shapes, gradients, init, and the EXTRA schema."""

import pytest
import torch
from torch import nn

from hrpose.config import load_cfg
from hrpose.models import build_model
from hrpose.models.hrnet import HighResolutionModule

W32 = "coco/hrnet/w32_256x192.yaml"

# (key, shape) pairs measured on the reference model (REFERENCE.md §2.3), W32, 17 joints.
W32_SAMPLE_KEYS = {
    "conv1.weight": (64, 3, 3, 3),
    "conv2.weight": (64, 64, 3, 3),
    "bn1.num_batches_tracked": (),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.0.downsample.1.running_var": (256,),
    "layer1.3.conv3.weight": (256, 64, 1, 1),
    "transition1.0.0.weight": (32, 256, 3, 3),
    "transition1.0.1.weight": (32,),
    "transition1.1.0.0.weight": (64, 256, 3, 3),
    "transition1.1.0.1.running_mean": (64,),
    "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
    "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
    "stage2.0.fuse_layers.0.1.1.weight": (32,),
    "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
    "stage2.0.fuse_layers.1.0.0.1.bias": (64,),
    "transition2.2.0.0.weight": (128, 64, 3, 3),
    "stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
    "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
    "stage3.0.fuse_layers.0.2.0.weight": (32, 128, 1, 1),
    "transition3.3.0.0.weight": (256, 128, 3, 3),
    "stage4.1.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),
    "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
    "stage4.2.branches.3.3.bn2.running_var": (256,),
    "final_layer.weight": (17, 32, 1, 1),
    "final_layer.bias": (17,),
}


@pytest.fixture(scope="module")
def w32_meta(repo_root):
    """W32 on the meta device: shapes and names without memory or compute."""
    cfg = load_cfg(str(repo_root / "experiments" / W32))
    with torch.device("meta"):
        return build_model(cfg, is_train=False)


def test_w32_state_dict_matches_reference_layout(w32_meta):
    state = w32_meta.state_dict()
    assert len(state) == 1754
    assert sum(k.endswith("num_batches_tracked") for k in state) == 292
    assert sum(p.numel() for p in w32_meta.parameters()) == 28_536_113
    for key, shape in W32_SAMPLE_KEYS.items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    # transitions of unchanged branches are None (no keys); the last module fuses into row 0 only
    assert not any(k.startswith(("transition2.0.", "transition2.1.", "transition3.0.")) for k in state)
    assert not any(k.startswith(("stage4.2.fuse_layers.1", "stage4.2.fuse_layers.2")) for k in state)
    assert any(k.startswith("stage4.1.fuse_layers.3.") for k in state)


def test_w32_module_structure(w32_meta):
    modules = [m for m in w32_meta.modules() if isinstance(m, HighResolutionModule)]
    assert len(modules) == 8
    assert [len(m.fuse_layers) for m in modules] == [2, 3, 3, 3, 3, 4, 4, 1]
    assert sum(isinstance(m, nn.Upsample) for m in w32_meta.modules()) == 28
    up = w32_meta.stage2[0].fuse_layers[0][1]
    assert [type(m) for m in up] == [nn.Conv2d, nn.BatchNorm2d, nn.Upsample]
    down = w32_meta.stage3[0].fuse_layers[2][0]  # two steps: (conv, BN, ReLU) then (conv, BN)
    assert [len(step) for step in down] == [3, 2]


@pytest.mark.parametrize("image_size, heatmap", [((192, 256), (64, 48)), ((288, 384), (96, 72))])
def test_w32_output_shape(w32_meta, image_size, heatmap):
    images = torch.zeros(2, 3, image_size[1], image_size[0], device="meta")
    assert tuple(w32_meta(images).shape) == (2, 17, *heatmap)


def test_w32_forward_cpu(experiment_cfg):
    model = build_model(experiment_cfg(W32, "MODEL.PRETRAINED", ""), is_train=True).eval()
    with torch.no_grad():
        heatmaps = model(torch.randn(1, 3, 256, 192))
    assert heatmaps.shape == (1, 17, 64, 48)
    assert torch.isfinite(heatmaps).all()


def test_w32_every_parameter_gets_gradient(experiment_cfg):
    # 64x32 (h x w) is the smallest input for four branches: every side a multiple of 32
    model = build_model(experiment_cfg(W32, "MODEL.PRETRAINED", "", "MODEL.IMAGE_SIZE", "[32, 64]",
                                       "MODEL.HEATMAP_SIZE", "[8, 16]"), is_train=True)
    model(torch.randn(2, 3, 64, 32)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing[:5]}"


def test_tiny_hrnet_stem_stage1_and_gradients(tiny_hrnet_cfg):
    model = build_model(tiny_hrnet_cfg, is_train=True)
    state = model.state_dict()
    assert state["conv1.weight"].shape == (16, 3, 3, 3)
    assert state["layer1.0.conv3.weight"].shape == (32, 8, 1, 1)  # Bottleneck: 8 planes * 4
    assert state["transition1.0.0.weight"].shape == (4, 32, 3, 3)
    assert not any(k.startswith("layer1.1.") for k in state)  # one block
    out = model(torch.randn(2, 3, 64, 32))
    assert out.shape == (2, 17, 16, 8)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_reference_init(tiny_hrnet_cfg):
    model = build_model(tiny_hrnet_cfg, is_train=True)
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, nn.Conv2d)])
    assert abs(weights.std().item() - 0.001) < 2e-4
    assert torch.all(model.final_layer.bias == 0)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)


def test_input_not_multiple_of_32_raises(tiny_hrnet_cfg):
    model = build_model(tiny_hrnet_cfg, is_train=False)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 64, 48))
