"""The detector stage: torchvision models with random weights (nothing is downloaded), weights resolution,
the offline error, strict local weights, the config keys."""

import urllib.error

import cv2
import numpy as np
import pytest
import torch
from torchvision.models import detection

from hrpose.apis.detector import (
    DETECTOR_MODELS,
    PersonDetector,
    TorchvisionDetector,
    build_detector,
    hub_weights_path,
    resolve_detector_weights,
    weights_file_name,
)
from hrpose.config import ConfigError, load_cfg
from hrpose.utils.checkpoint import CheckpointError

CPU = torch.device("cpu")
LIGHT = "fasterrcnn_mobilenet_v3_large_320_fpn"


@pytest.fixture(scope="module")
def photo(coco_sample_root):
    return cv2.imread(str(coco_sample_root / "images" / "val2017" / "000000000785.jpg"))


def _well_formed(boxes: np.ndarray, image: np.ndarray, max_persons: int) -> None:
    h, w = image.shape[:2]
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 5
    assert 0 < len(boxes) <= max_persons
    assert (boxes[:, 2:4] > 0).all() and (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= w + 1e-3).all() and (boxes[:, 1] + boxes[:, 3] <= h + 1e-3).all()
    assert ((boxes[:, 4] >= 0) & (boxes[:, 4] <= 1)).all() and (np.diff(boxes[:, 4]) <= 0).all()


def test_random_weights_run_end_to_end_on_real_images(photo):
    """Untrained weights (backbone too): the scores are meaningless, so keep every class to get boxes."""
    torch.manual_seed(0)
    detector = TorchvisionDetector(LIGHT, None, CPU, score_thr=0.0, category_ids=(), max_persons=4,
                                   min_size=160, batch_size=2)
    assert isinstance(detector, PersonDetector)
    images = [photo, np.ascontiguousarray(photo[:, ::-1]), photo[:200]]  # two batches, different sizes
    out = detector.detect(images)
    assert len(out) == 3
    for boxes, image in zip(out, images, strict=True):
        _well_formed(boxes, image, 4)
    # Persons only: the class filter applies (a random head rarely ranks 'person' first: 0 boxes is fine).
    persons = TorchvisionDetector(LIGHT, None, CPU, score_thr=0.0, min_size=160).detect([photo])[0]
    assert persons.shape[1] == 5 and len(persons) <= 50
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([photo.astype(np.float32)])


def test_default_detector_builds_and_runs_with_random_weights(photo):
    torch.manual_seed(0)
    detector = TorchvisionDetector("fasterrcnn_resnet50_fpn_v2", None, CPU, score_thr=0.0, category_ids=(),
                                   max_persons=3, min_size=128)
    _well_formed(detector.detect([photo])[0], photo, 3)


def test_offline_without_weights_names_the_file_and_the_option(tmp_path, monkeypatch, tiny_cfg):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty hub cache
    name = weights_file_name("fasterrcnn_resnet50_fpn_v2")
    assert name == "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"
    assert hub_weights_path("fasterrcnn_resnet50_fpn_v2") == tmp_path / "torch" / "hub" / "checkpoints" / name
    with pytest.raises(CheckpointError) as err:
        build_detector(tiny_cfg("DETECTOR.DOWNLOAD", "False"), CPU)
    text = str(err.value)
    assert name in text and f"https://download.pytorch.org/models/{name}" in text
    assert "DETECTOR.WEIGHTS" in text and "--det-weights" in text and "DOWNLOAD" in text

    def offline(url, dst, hash_prefix=None, progress=True):  # what urllib raises without a network
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CheckpointError, match=r"download failed.*Name or service.*--det-weights"):
        resolve_detector_weights(LIGHT, "", download=True)
    assert not hub_weights_path(LIGHT).exists()


def test_local_weights_file_or_folder_load_strictly(tmp_path):
    torch.manual_seed(1)
    trained = detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).eval()
    folder = tmp_path / "weights"
    folder.mkdir()
    path = folder / weights_file_name(LIGHT)
    torch.save(trained.state_dict(), path)
    assert resolve_detector_weights(LIGHT, str(folder)) == str(path)
    assert resolve_detector_weights(LIGHT, str(path)) == str(path)
    assert resolve_detector_weights(LIGHT, "random") is None
    detector = TorchvisionDetector(LIGHT, str(path), CPU)
    loaded = detector.model.state_dict()
    assert loaded.keys() == trained.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in trained.state_dict().items())
    with pytest.raises(CheckpointError, match="not found.*missing.pth"):
        resolve_detector_weights(LIGHT, str(tmp_path / "missing.pth"))
    with pytest.raises(CheckpointError, match=f"expected a .pth file or a folder holding {path.name}"):
        resolve_detector_weights(LIGHT, str(tmp_path))
    other = tmp_path / "other.pth"
    torch.save({"backbone.body.0.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="other.pth does not match"):
        TorchvisionDetector(LIGHT, str(other), CPU)


def test_config_keys_are_validated_and_built(tiny_cfg):
    for name in DETECTOR_MODELS:  # every model is a valid DETECTOR.MODEL
        assert load_cfg(None, ["DETECTOR.MODEL", name]).DETECTOR.MODEL == name
    bad = (("DETECTOR.MODEL", "yolo"), ("DETECTOR.SCORE_THRE", "1.5"), ("DETECTOR.BATCH_SIZE", "0"),
           ("TRACK.MATCH", "center"), ("SMOOTH.MIN_CUTOFF", "0.0"))
    for key, value in bad:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_cfg(None, [key, value])
    cfg = tiny_cfg("DETECTOR.MODEL", LIGHT, "DETECTOR.WEIGHTS", "random", "DETECTOR.SCORE_THRE", "0.25",
                   "DETECTOR.MAX_PERSONS", "7", "DETECTOR.MIN_SIZE", "200", "DETECTOR.BATCH_SIZE", "3")
    detector = build_detector(cfg, CPU)
    assert (detector.name, detector.weights, detector.score_thr, detector.max_persons, detector.batch_size,
            detector.category_ids) == (LIGHT, None, 0.25, 7, 3, (1,))
    assert detector.model.transform.min_size == (200,) and detector.model.roi_heads.score_thresh == 0.25
