"""Model-test fixtures: a tiny HRNet config (every code path, milliseconds on CPU) and config loading."""

import pathlib

import pytest
import torch
from yacs.config import CfgNode

from hrpose.config import get_cfg, load_cfg

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def tiny_hrnet_extra() -> CfgNode:
    """Stem 16, stage 1 = one Bottleneck (32 out), widths 4/8/16/32, one block per branch; stage 4 has
    two modules so that the single-scale last module sits after a multi-scale one."""
    def stage(modules: int, branches: int) -> dict:
        return {"NUM_MODULES": modules, "NUM_BRANCHES": branches, "BLOCK": "BASIC",
                "NUM_BLOCKS": [1] * branches, "NUM_CHANNELS": [4 * 2**b for b in range(branches)],
                "FUSE_METHOD": "SUM"}

    return CfgNode({
        "STEM_INPLANES": 16,
        "STAGE1": {"NUM_MODULES": 1, "NUM_BRANCHES": 1, "BLOCK": "BOTTLENECK", "NUM_BLOCKS": [1],
                   "NUM_CHANNELS": [8]},
        "STAGE2": stage(1, 2), "STAGE3": stage(1, 3), "STAGE4": stage(2, 4),
        "FINAL_CONV_KERNEL": 1,
        "PRETRAINED_LAYERS": ["conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2",
                              "transition2", "stage3", "transition3", "stage4"],
    }, new_allowed=True)


@pytest.fixture
def tiny_hrnet_cfg() -> CfgNode:
    """A mutable cfg for the tiny HRNet: 17 joints, input 32x64 (w x h), heatmaps 8x16."""
    cfg = get_cfg()
    cfg.MODEL.NAME = "pose_hrnet"
    cfg.MODEL.IMAGE_SIZE = [32, 64]
    cfg.MODEL.HEATMAP_SIZE = [8, 16]
    cfg.MODEL.EXTRA = tiny_hrnet_extra()
    return cfg


@pytest.fixture
def experiment_cfg():
    """``experiment_cfg('coco/hrnet/w32_256x192.yaml', *opts)``: a shipped yaml, loaded and frozen."""
    def load(relative: str, *opts: str) -> CfgNode:
        return load_cfg(str(REPO_ROOT / "experiments" / relative), list(opts))
    return load


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seeded, and single-threaded: on a small, shared CPU the many small kernels of HRNet run 5-10x
    faster without OpenMP threads competing for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
