"""Model-test fixtures: the tiny HRNet at its smallest input, shipped experiment configs, a fixed seed."""

import pytest
import torch
from yacs.config import CfgNode

from hrpose.config import get_cfg, load_cfg


@pytest.fixture
def tiny_hrnet_cfg(tiny_cfg) -> CfgNode:
    """A mutable copy of the tiny HRNet config at its smallest input: 32x64 (w x h), heatmaps 8x16."""
    cfg = tiny_cfg("MODEL.IMAGE_SIZE", "[32, 64]", "MODEL.HEATMAP_SIZE", "[8, 16]")
    cfg.defrost()
    return cfg


@pytest.fixture
def resnet_cfg():
    """``resnet_cfg(num_layers=18, filters=(16, 16, 16), kernels=(4, 4, 4), image_size=(32, 64))``: a
    mutable pose_resnet config (small deconvolution head; heatmaps = image_size / 4)."""

    def build(num_layers: int = 18, filters=(16, 16, 16), kernels=(4, 4, 4), image_size=(32, 64)) -> CfgNode:
        cfg = get_cfg()
        cfg.MODEL.NAME = "pose_resnet"
        cfg.MODEL.IMAGE_SIZE = list(image_size)
        cfg.MODEL.HEATMAP_SIZE = [s // 4 for s in image_size]
        cfg.MODEL.EXTRA.NUM_LAYERS = num_layers
        cfg.MODEL.EXTRA.NUM_DECONV_LAYERS = len(filters)
        cfg.MODEL.EXTRA.NUM_DECONV_FILTERS = list(filters)
        cfg.MODEL.EXTRA.NUM_DECONV_KERNELS = list(kernels)
        return cfg

    return build


@pytest.fixture
def experiment_cfg(repo_root):
    """``experiment_cfg('coco/hrnet/w32_256x192.yaml', *opts)``: a shipped yaml, loaded and frozen."""
    def load(relative: str, *opts: str) -> CfgNode:
        return load_cfg(str(repo_root / "experiments" / relative), list(opts))
    return load


@pytest.fixture(autouse=True)
def _seed():
    """Every model test starts from the same random state (the suite runs single-threaded, see the
    root conftest)."""
    torch.manual_seed(0)
