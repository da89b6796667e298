"""Fixtures of the data-pipeline tests: a writable copy of the sample data, and a CrowdPose-style
14-keypoint COCO-format dataset derived from it (with the config keys of its keypoint set)."""

import json
import shutil
import types

import numpy as np
import pytest

# CrowdPose order; built from the COCO-17 synthetic annotations (head = eye midpoint, neck = shoulders)
CROWDPOSE_NAMES = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                   "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                   "right_ankle", "head", "neck"]
CROWDPOSE_OPTS = [
    "DATASET.KEYPOINT_SET", "custom", "MODEL.NUM_JOINTS", "14",
    "DATASET.KEYPOINTS.NAMES", str(CROWDPOSE_NAMES),
    "DATASET.KEYPOINTS.FLIP_PAIRS", "[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]",
    "DATASET.KEYPOINTS.SIGMAS", "[0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, "
                                "0.089, 0.089, 0.079, 0.079]",
    "DATASET.KEYPOINTS.UPPER_BODY_IDS", "[0, 1, 2, 3, 4, 5, 12, 13]",
    "DATASET.KEYPOINTS.SKELETON", "[[12, 13], [13, 0], [13, 1], [0, 2], [2, 4], [1, 3], [3, 5], [0, 6], "
                                  "[1, 7], [6, 8], [8, 10], [7, 9], [9, 11]]",
]


@pytest.fixture
def sample_copy(sample_data_root, tmp_path):
    """A writable copy of the small sample dataset (for tests that break files)."""
    root = tmp_path / "data"
    shutil.copytree(sample_data_root, root)
    return root


def _to_crowdpose(ann: dict) -> dict:
    k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
    out = np.zeros((14, 3))
    out[:12] = k[5:17]
    for dst, (a, b) in ((12, (1, 2)), (13, (5, 6))):
        if k[a, 2] > 0 and k[b, 2] > 0:
            out[dst] = [(k[a, 0] + k[b, 0]) / 2, (k[a, 1] + k[b, 1]) / 2, min(k[a, 2], k[b, 2])]
    return {**ann, "keypoints": out.reshape(-1).round(2).tolist(),
            "num_keypoints": int((out[:, 2] > 0).sum())}


@pytest.fixture(scope="session")
def crowdpose(sample_data_root, tmp_path_factory):
    """COCO-format data with 14 CrowdPose-style keypoints per person (images shared with the sample):
    ``root``, the keypoint ``names`` and the ``opts`` (KEY VALUE) that declare the keypoint set."""
    root = tmp_path_factory.mktemp("crowdpose")
    (root / "annotations").mkdir()
    (root / "images").symlink_to(sample_data_root / "images", target_is_directory=True)
    for split in ("train2017", "val2017"):
        data = json.loads((sample_data_root / "annotations" / f"person_keypoints_{split}.json").read_text())
        data["annotations"] = [_to_crowdpose(a) for a in data["annotations"]]
        data["categories"][0]["keypoints"] = CROWDPOSE_NAMES
        data["categories"][0]["skeleton"] = []
        (root / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(data))
    return types.SimpleNamespace(root=root, names=CROWDPOSE_NAMES, opts=CROWDPOSE_OPTS)
