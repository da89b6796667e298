"""Shared fixtures. Tests run on CPU in seconds; real-data tests skip when ../shared is absent."""

import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
COCO_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "coco_sample"


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def coco_sample_root() -> pathlib.Path:
    """Real COCO val2017 images (4 images, 14 persons) beside the checkout; skip when absent."""
    if not (COCO_SAMPLE / "annotations" / "person_keypoints_val2017.json").is_file():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    return COCO_SAMPLE
