"""Shared fixtures. Tests run on CPU in seconds; real-data tests skip when ../shared is absent.

* ``tiny_cfg`` / ``tiny_yaml`` / ``tiny_model``: THE tiny HRNet of the test suite (every code path of the
  architecture, milliseconds per forward on a CPU);
* ``sample_variant_root`` / ``variant_cfg``: the same kind of data in another benchmark's layout and
  keypoint set, with the config of its sample yaml;
* ``sample_data_root``: THE small synthetic COCO-format dataset, with ``data_cfg`` (a config on a
  COCO-layout folder) and ``make_dataset`` / ``make_loader`` (built with the config's own codec and
  keypoint set, as the trainer builds them);
* ``save_training_checkpoint`` / ``save_plain_state_dict``: the two kinds of checkpoint files.
* ``fake_detector``: a person detector with fixed boxes, for inference without a detector model.

Test modules never import each other: what they share is a fixture here (or in a folder's conftest.py
for what only that folder uses).
"""

import atexit
import os
import pathlib
import shutil
import socket
import tempfile

import numpy as np
import pytest
import torch

# CI and dev machines have 2 cores; one intra-op thread per test process avoids oversubscription
# (measured 5-10x slower W32 tests with the default thread count on a loaded 2-core machine).
torch.set_num_threads(1)

# The records cache (hrpose.datasets.records) of the whole session, and of the tools the tests start,
# lives in a temporary folder, not in the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="hrpose-tests-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
COCO_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "coco_sample"

# The tiny HRNet: stem 16, stage 1 = one Bottleneck (32 out), widths 4/8/16/32 with one block per branch;
# stage 4 has two modules so that the single-scale last module sits after a multi-scale one. Input 64x96
# (w x h), heatmaps 16x24; trained on RGB, tested with the reference's flip test.
TINY_HRNET_YAML = """\
MODEL:
  NAME: pose_hrnet
  NUM_JOINTS: 17
  IMAGE_SIZE: [64, 96]
  HEATMAP_SIZE: [16, 24]
  EXTRA:
    STEM_INPLANES: 16
    FINAL_CONV_KERNEL: 1
    PRETRAINED_LAYERS: [conv1, bn1, conv2, bn2, layer1, transition1, stage2, transition2, stage3,
                        transition3, stage4]
    STAGE1: {NUM_MODULES: 1, NUM_BRANCHES: 1, BLOCK: BOTTLENECK, NUM_BLOCKS: [1], NUM_CHANNELS: [8]}
    STAGE2: {NUM_MODULES: 1, NUM_BRANCHES: 2, BLOCK: BASIC, NUM_BLOCKS: [1, 1], NUM_CHANNELS: [4, 8],
             FUSE_METHOD: SUM}
    STAGE3: {NUM_MODULES: 1, NUM_BRANCHES: 3, BLOCK: BASIC, NUM_BLOCKS: [1, 1, 1], NUM_CHANNELS: [4, 8, 16],
             FUSE_METHOD: SUM}
    STAGE4: {NUM_MODULES: 2, NUM_BRANCHES: 4, BLOCK: BASIC, NUM_BLOCKS: [1, 1, 1, 1],
             NUM_CHANNELS: [4, 8, 16, 32], FUSE_METHOD: SUM}
DATASET:
  DATASET: coco
  COLOR_RGB: true
TEST:
  FLIP_TEST: true
  SHIFT_HEATMAP: true
  POST_PROCESS: true
"""

# A config on a COCO-layout folder for the data pipeline (no model): small 96x128 input, GT boxes.
DATA_OPTS = ("DATASET.DATASET", "coco", "DATASET.TRAIN_SET", "train2017", "DATASET.TEST_SET", "val2017",
             "MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2",
             "WORKERS", "0", "TEST.USE_GT_BBOX", "True")


CUDA_SKIP_REASON = "needs CUDA (GPU-only test)"  # the one skip reason CI allows (.ci/run)


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.cuda`` tests skip with ``CUDA_SKIP_REASON`` where CUDA is absent."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=CUDA_SKIP_REASON)
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


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


@pytest.fixture(scope="session")
def sample_variant_root(tmp_path_factory):
    """``sample_variant_root(variant, num_train_images=8, num_val_images=4) -> root``: the synthetic data in
    another benchmark's layout and keypoint set (crowdpose, mpii, aic, posetrack18, halpe, ochuman;
    ``hrpose.datasets.synthetic_variants``), generated once per session for each size."""
    from hrpose.datasets.synthetic_variants import make_variant_dataset

    made: dict = {}

    def build(variant: str, num_train_images: int = 8, num_val_images: int = 4) -> pathlib.Path:
        key = (variant, num_train_images, num_val_images)
        if key not in made:
            made[key] = tmp_path_factory.mktemp(f"sample_{variant}")
            make_variant_dataset(str(made[key]), variant, seed=0, num_train_images=num_train_images,
                                 num_val_images=num_val_images)
        return made[key]

    return build


@pytest.fixture(scope="session")
def variant_cfg():
    """``variant_cfg(variant, root, *KEY_VALUE)``: ``experiments/sample/hrnet_tiny_<variant>_sample.yaml``
    on ``root``, loaded like any experiment (``_BASE_`` included), with ``WORKERS 0``."""
    from hrpose.config import load_cfg

    def build(variant: str, root, *opts):
        path = REPO_ROOT / "experiments" / "sample" / f"hrnet_tiny_{variant}_sample.yaml"
        return load_cfg(str(path), ["DATASET.ROOT", str(root), "WORKERS", "0", *(str(o) for o in opts)])

    return build


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for torch.distributed rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the tiny HRNet ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_yaml(tmp_path_factory) -> pathlib.Path:
    """The tiny HRNet experiment yaml (``TINY_HRNET_YAML``) as a file, for ``--cfg`` / ``cfg_path``."""
    path = tmp_path_factory.mktemp("tiny_cfg") / "tiny_hrnet.yaml"
    path.write_text(TINY_HRNET_YAML)
    return path


@pytest.fixture(scope="session")
def tiny_cfg(tiny_yaml):
    """``tiny_cfg(*KEY_VALUE)``: the tiny HRNet config, loaded like any experiment (validated, frozen)."""
    from hrpose.config import load_cfg

    def build(*opts):
        return load_cfg(str(tiny_yaml), [str(o) for o in opts])

    return build


@pytest.fixture(scope="session")
def tiny_model():
    """``tiny_model(cfg, seed=0)``: ``build_model(cfg, is_train=False)`` in eval mode with seeded random
    weights and non-trivial BN statistics."""
    from hrpose.models import build_model

    def build(cfg, seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = build_model(cfg, is_train=False)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.1, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
        return model.eval()

    return build


# --- checkpoint files --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def save_training_checkpoint():
    """``save_training_checkpoint(path, cfg, model) -> str``: a self-describing checkpoint as training
    writes it (``hrpose.utils.checkpoint`` layout: model, config, keypoint set, ...)."""
    from hrpose.datasets.keypoints import build_keypoint_set
    from hrpose.utils.checkpoint import save_checkpoint

    def save(path, cfg, model) -> str:
        save_checkpoint(path, {"model": model.state_dict(), "config": cfg.dump(),
                               "keypoint_set": build_keypoint_set(cfg).to_dict(), "epoch": 1, "best_ap": -1.0,
                               "val_stats": {}, "hrpose_version": "test", "git_commit": "unknown"})
        return str(path)

    return save


@pytest.fixture(scope="session")
def save_plain_state_dict():
    """``save_plain_state_dict(path, model) -> str``: a bare state_dict (like an official model-zoo file)."""

    def save(path, model) -> str:
        torch.save(model.state_dict(), path)
        return str(path)

    return save


# --- the data pipeline -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def data_cfg():
    """``data_cfg(root, *KEY_VALUE)``: a frozen config on a COCO-layout ``root`` (``DATA_OPTS``)."""
    from hrpose.config import load_cfg

    def build(root, *opts):
        return load_cfg(None, [*DATA_OPTS, "DATASET.ROOT", str(root), *(str(o) for o in opts)])

    return build


def _pipeline_parts(cfg, is_train: bool):
    """(codec, keypoint set, target renderer) of ``cfg`` as the trainer builds them (a renderer only for
    training with ``TRAIN.TARGETS_ON_DEVICE``)."""
    from hrpose.codecs import build_codec, build_target_renderer
    from hrpose.datasets import build_keypoint_set

    codec, keypoint_set = build_codec(cfg), build_keypoint_set(cfg)
    renderer = build_target_renderer(cfg, codec, keypoint_set) if is_train else None
    return codec, keypoint_set, renderer


@pytest.fixture(scope="session")
def make_dataset():
    """``make_dataset(cfg, is_train)``: ``build_dataset`` with the config's own codec and keypoint set,
    and for training its target renderer (``TRAIN.TARGETS_ON_DEVICE``), as the trainer builds them."""
    from hrpose.datasets import build_dataset

    def build(cfg, is_train: bool):
        codec, keypoint_set, renderer = _pipeline_parts(cfg, is_train)
        return build_dataset(cfg, is_train, codec, keypoint_set, target_renderer=renderer)

    return build


@pytest.fixture(scope="session")
def make_loader():
    """``make_loader(cfg, is_train, distributed=False)``: ``build_dataloader`` as ``make_dataset``."""
    from hrpose.datasets import build_dataloader

    def build(cfg, is_train: bool, distributed: bool = False):
        codec, keypoint_set, renderer = _pipeline_parts(cfg, is_train)
        return build_dataloader(cfg, is_train, codec, keypoint_set, distributed=distributed,
                                target_renderer=renderer)

    return build


# --- inference -----------------------------------------------------------------------------------------

class FakeDetector:
    """A ``hrpose.apis.detector.PersonDetector`` with fixed boxes: person i at ``FRACTIONS[i]`` (x, y, w, h
    as fractions of the image size), scores 0.9, 0.8, ...; ``calls`` lists the batch size of each call."""

    FRACTIONS = ((0.1, 0.15, 0.3, 0.7), (0.55, 0.1, 0.3, 0.8))

    def __init__(self, persons: int = 2):
        self.persons = persons
        self.calls: list[int] = []

    def detect(self, images):
        self.calls.append(len(images))
        out = []
        for image in images:
            h, w = image.shape[:2]
            boxes = [[fx * w, fy * h, fw * w, fh * h, 0.9 - 0.1 * i]
                     for i, (fx, fy, fw, fh) in enumerate(self.FRACTIONS[: self.persons])]
            out.append(np.array(boxes, dtype=np.float32).reshape(-1, 5))
        return out


@pytest.fixture
def fake_detector():
    """``fake_detector(persons=2) -> FakeDetector``: fixed person boxes, no model (drives inference tests)."""
    return FakeDetector
