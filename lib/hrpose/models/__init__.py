"""Models: ``build_model(cfg)`` (pose_hrnet, pose_resnet), checkpoint loading, normalisation, fusion and
size/cost summaries. See docs/architecture.md for the contracts."""

from .build import build_model
from .fuse import fuse_conv_bn
from .hrnet import PoseHighResolutionNet, StageSpec
from .normalize import normalize_images
from .pose_resnet import PoseResNet
from .summary import count_parameters, reference_gflops, true_flops
from .weights import LoadReport, load_pretrained, load_state_dict, load_weights

__all__ = [
    "LoadReport",
    "PoseHighResolutionNet",
    "PoseResNet",
    "StageSpec",
    "build_model",
    "count_parameters",
    "fuse_conv_bn",
    "load_pretrained",
    "load_state_dict",
    "load_weights",
    "normalize_images",
    "reference_gflops",
    "true_flops",
]
