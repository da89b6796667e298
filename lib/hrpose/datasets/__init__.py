"""Data pipeline: COCO-format and MPII records, the top-down dataset, loaders, keypoint sets, sample data.

See docs/architecture.md (``hrpose.datasets``) for the contract and ``data/README.md`` for the layout.
"""

from hrpose.datasets.coco import CocoFormatError, PersonRecord, load_coco_records
from hrpose.datasets.keypoints import (
    COCO_KEYPOINTS,
    MPII_KEYPOINTS,
    KeypointSet,
    KeypointSetError,
    build_keypoint_set,
    builtin_keypoint_set,
)
from hrpose.datasets.loader import DatasetConfigError, ShardSampler, build_dataloader, build_dataset
from hrpose.datasets.mpii import MpiiFormatError
from hrpose.datasets.synthetic import make_sample_dataset
from hrpose.datasets.topdown import ImageReadError, SampleOptions, TopDownDataset

__all__ = [
    "COCO_KEYPOINTS",
    "MPII_KEYPOINTS",
    "CocoFormatError",
    "DatasetConfigError",
    "ImageReadError",
    "KeypointSet",
    "KeypointSetError",
    "MpiiFormatError",
    "PersonRecord",
    "SampleOptions",
    "ShardSampler",
    "TopDownDataset",
    "build_dataloader",
    "build_dataset",
    "build_keypoint_set",
    "builtin_keypoint_set",
    "load_coco_records",
    "make_sample_dataset",
]
