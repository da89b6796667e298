"""Data pipeline: COCO-format records, the top-down dataset, loaders, keypoint sets, sample data.

See docs/architecture.md (``hrpose.datasets``) for the contract and ``data/README.md`` for the layout.
"""

import importlib

# torch-free parts are imported eagerly; the Dataset, loaders and generator on first use, so that
# ``hrpose.datasets.transforms`` and ``keypoints`` serve a numpy-only (ONNX) deployment
from hrpose.datasets.keypoints import (
    COCO_KEYPOINTS,
    MPII_KEYPOINTS,
    KeypointSet,
    KeypointSetError,
    build_keypoint_set,
)

_LAZY = {
    "CocoFormatError": "coco",
    "PersonRecord": "coco",
    "load_coco_records": "coco",
    "DatasetConfigError": "loader",
    "ShardSampler": "loader",
    "build_dataloader": "loader",
    "build_dataset": "loader",
    "build_target_renderer": "loader",
    "make_sample_dataset": "synthetic",
    "ImageReadError": "topdown",
    "TopDownDataset": "topdown",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'hrpose.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "COCO_KEYPOINTS",
    "MPII_KEYPOINTS",
    "CocoFormatError",
    "DatasetConfigError",
    "ImageReadError",
    "KeypointSet",
    "KeypointSetError",
    "PersonRecord",
    "ShardSampler",
    "TopDownDataset",
    "build_dataloader",
    "build_dataset",
    "build_keypoint_set",
    "build_target_renderer",
    "load_coco_records",
    "make_sample_dataset",
]
