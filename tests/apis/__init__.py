"""Helpers shared by the inference and export tests: a tiny HRNet config and checkpoints built from it.

The tiny model keeps the reference stem and layer1 but has one small module per stage, so a forward on
a few 64x96 crops takes milliseconds on a CPU.
"""

import torch

from hrpose.config import get_cfg

TINY_HRNET_YAML = """
MODEL:
  NAME: pose_hrnet
  NUM_JOINTS: 17
  IMAGE_SIZE: [64, 96]
  HEATMAP_SIZE: [16, 24]
  SIGMA: 1
  EXTRA:
    PRETRAINED_LAYERS: ['*']
    FINAL_CONV_KERNEL: 1
    STAGE2: {NUM_MODULES: 1, NUM_BRANCHES: 2, BLOCK: BASIC, NUM_BLOCKS: [1, 1], NUM_CHANNELS: [8, 16]}
    STAGE3: {NUM_MODULES: 1, NUM_BRANCHES: 3, BLOCK: BASIC, NUM_BLOCKS: [1, 1, 1], NUM_CHANNELS: [8, 16, 32]}
    STAGE4:
      {NUM_MODULES: 1, NUM_BRANCHES: 4, BLOCK: BASIC, NUM_BLOCKS: [1, 1, 1, 1], NUM_CHANNELS: [8, 16, 32, 64]}
DATASET:
  DATASET: coco
  COLOR_RGB: true
TEST:
  FLIP_TEST: true
  SHIFT_HEATMAP: true
  POST_PROCESS: true
  BATCH_SIZE_PER_GPU: 8
"""


def write_tiny_yaml(path) -> str:
    """Write the tiny experiment yaml to ``path``; returns it as a string."""
    path.write_text(TINY_HRNET_YAML)
    return str(path)


def tiny_cfg(opts=()):
    """The tiny config, frozen (defaults + TINY_HRNET_YAML + ``opts``)."""
    from yacs.config import CfgNode

    cfg = get_cfg()
    cfg.merge_from_other_cfg(CfgNode.load_cfg(TINY_HRNET_YAML))
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def tiny_model(cfg, seed: int = 0) -> torch.nn.Module:
    """``build_model(cfg, is_train=False)`` with seeded random weights and non-trivial BN statistics."""
    from hrpose.models import build_model

    torch.manual_seed(seed)
    model = build_model(cfg, is_train=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def save_training_checkpoint(path, cfg, model) -> str:
    """A self-describing checkpoint as training writes it (hrpose.utils.checkpoint layout)."""
    from hrpose.datasets.keypoints import build_keypoint_set
    from hrpose.utils.checkpoint import save_checkpoint

    save_checkpoint(path, {"model": model.state_dict(), "config": cfg.dump(),
                           "keypoint_set": build_keypoint_set(cfg).to_dict(), "epoch": 1, "best_ap": -1.0,
                           "val_stats": {}, "hrpose_version": "test", "git_commit": "unknown"})
    return str(path)


def save_plain_state_dict(path, model) -> str:
    """A bare state_dict (like an official model-zoo file)."""
    torch.save(model.state_dict(), path)
    return str(path)
