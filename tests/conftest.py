"""Shared fixtures. Tests run on CPU in seconds; real-data tests skip when ../shared is absent."""

import pathlib

import pytest
import torch

# CI and dev machines have 2 cores; one intra-op thread per test process avoids oversubscription
# (measured 5-10x slower W32 tests with the default thread count on a loaded 2-core machine).
torch.set_num_threads(1)

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


@pytest.fixture(scope="session")
def sample_data_root(tmp_path_factory) -> pathlib.Path:
    """A SMALL synthetic COCO-format dataset (8 train / 4 val images), generated once per session."""
    from hrpose.datasets.synthetic import make_sample_dataset

    root = tmp_path_factory.mktemp("sample_data")
    make_sample_dataset(str(root), seed=0, num_train_images=8, num_val_images=4)
    return root
