"""The person-detector stage: images in, person boxes with scores out.

One small interface, ``PersonDetector.detect(images) -> boxes``, and one implementation on torchvision's
Faster R-CNN models (``TorchvisionDetector``). Images are uint8 ``[H, W, 3]`` in **BGR** order (as
OpenCV reads them); boxes are float32 ``[N, 5]`` rows ``(x, y, w, h, score)`` in image pixels (COCO
``xywh``: top-left corner and size), highest score first, the same format as the box files of
``hrpose.apis.io``.

Weights (``DETECTOR.WEIGHTS``): torchvision's COCO weights, taken from the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``) and downloaded there
once when missing; or a local file / a folder holding torchvision's file; or ``random`` (tests). They
are read by ``hrpose.utils.checkpoint`` (``torch.load(weights_only=True)``) and load strictly; a mismatch
raises ``CheckpointError`` listing the keys (``models.load_state_dict`` with ``pose_layouts=False``: a
detector's ``backbone.*`` keys are its own, not an mmpose checkpoint's).
"""

import logging
import pathlib
import re
import urllib.error
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torchvision.models import detection
from yacs.config import CfgNode

from hrpose.config import ConfigError
from hrpose.models.weights import load_state_dict, read_state_dict
from hrpose.utils.checkpoint import CheckpointError

logger = logging.getLogger(__name__)

# name -> (builder, torchvision's COCO weights). Keep in step with config/loading.py's DETECTOR.MODEL choices.
DETECTOR_MODELS = {
    "fasterrcnn_resnet50_fpn_v2": (detection.fasterrcnn_resnet50_fpn_v2,
                                   detection.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
    "fasterrcnn_mobilenet_v3_large_fpn": (detection.fasterrcnn_mobilenet_v3_large_fpn,
                                          detection.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (detection.fasterrcnn_mobilenet_v3_large_320_fpn,
                                              detection.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1),
}
RANDOM_WEIGHTS = "random"
COCO_PERSON = 1  # torchvision's COCO label of a person (its 91-entry category list)
_MAX_TO_MIN_SIZE = 1333 / 800  # torchvision's longer-side limit relative to the shorter side
_HASH = re.compile(r"-([a-f0-9]{8,})\.pth$")  # torchvision file names end in a hash prefix


@runtime_checkable
class PersonDetector(Protocol):
    """Anything that turns images into person boxes (inject your own detector through this)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per image (uint8 BGR ``[H, W, 3]``): float32 ``[N, 5]`` ``(x, y, w, h, score)``, best first."""
        ...


def weights_file_name(model: str) -> str:
    """torchvision's weights file name, e.g. ``fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth``."""
    return _entry(model)[1].url.rsplit("/", 1)[-1]


def _entry(model: str):
    """(builder, COCO weights enum) of ``model``; ValueError naming the key for an unknown name."""
    if model not in DETECTOR_MODELS:
        raise ConfigError(f"DETECTOR.MODEL = {model!r}: expected one of {sorted(DETECTOR_MODELS)}")
    return DETECTOR_MODELS[model]


def hub_weights_path(model: str) -> pathlib.Path:
    """Where torch hub keeps (or would download) ``model``'s weights."""
    return pathlib.Path(torch.hub.get_dir()) / "checkpoints" / weights_file_name(model)


def resolve_detector_weights(model: str, weights: str = "", download: bool = True) -> str | None:
    """The weights file for ``DETECTOR.WEIGHTS`` = ``weights``: None for ``random``; an existing file; the
    torchvision file inside a folder; for ``''`` the torch hub cache, downloading into it when allowed.

    Raises ``CheckpointError`` naming the file to fetch, its URL, and the options that point at a local
    copy (``DETECTOR.WEIGHTS`` / ``tools/infer.py --det-weights``) when the weights are not available.
    """
    name = weights_file_name(model)
    if weights == RANDOM_WEIGHTS:
        return None
    if weights:
        path = pathlib.Path(weights)
        path = path / name if path.is_dir() else path
        if not path.is_file():
            raise CheckpointError(f"detector weights not found: {path} (DETECTOR.WEIGHTS = {weights!r}; "
                                  f"expected a .pth file or a folder holding {name})")
        return str(path)
    cached = hub_weights_path(model)
    if cached.is_file():
        return str(cached)
    if not download:
        why = "downloading is off (DETECTOR.DOWNLOAD False, --offline)"
        raise CheckpointError(_missing_message(model, cached, why))
    return _download(model, cached)


def _missing_message(model: str, cached: pathlib.Path, why: str) -> str:
    url = _entry(model)[1].url
    return (f"detector weights {cached.name} for {model} are not in {cached.parent} and {why}. Fetch "
            f"{url} on a machine with network access, then either point DETECTOR.WEIGHTS (tools/infer.py "
            f"--det-weights) at the file or its folder, or copy it to {cached}. Or pass boxes instead "
            "(tools/infer.py --boxes FILE).")


def _download(model: str, cached: pathlib.Path) -> str:
    url = _entry(model)[1].url
    match = _HASH.search(cached.name)
    logger.info("downloading the %s detector weights (once) from %s to %s", model, url, cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=match.group(1) if match else None)
    except (urllib.error.URLError, OSError, RuntimeError) as err:  # offline, refused, or a bad hash
        raise CheckpointError(_missing_message(model, cached, f"the download failed ({err})")) from None
    return str(cached)


class TorchvisionDetector:
    """Person boxes from a torchvision Faster R-CNN (COCO classes), frames batched.

    Args:
        model: a ``DETECTOR_MODELS`` name.
        weights: a weights file (see ``resolve_detector_weights``), or None for random weights (the
            backbone too: nothing is downloaded).
        device: where the detector runs.
        score_thr: boxes scoring below are dropped.
        nms_thr: IoU of the detector's own (per-class) NMS.
        category_ids: COCO category ids kept (``(1,)`` = persons); empty keeps every class.
        max_persons: at most this many boxes per image, the highest-scoring ones.
        min_size: shorter image side the detector resizes to; 0 = the model's own (800, or 320).
        batch_size: frames per forward pass.
    """

    def __init__(self, model: str, weights: str | None, device: torch.device, score_thr: float = 0.5,
                 nms_thr: float = 0.5, category_ids: Sequence[int] = (COCO_PERSON,), max_persons: int = 50,
                 min_size: int = 0, batch_size: int = 4):
        builder = _entry(model)[0]
        sizes = dict(min_size=int(min_size), max_size=round(min_size * _MAX_TO_MIN_SIZE)) if min_size else {}
        # Keep more candidates than persons: the per-image cap applies to every class before our filter.
        net = builder(weights=None, weights_backbone=None, box_score_thresh=float(score_thr),
                      box_nms_thresh=float(nms_thr), box_detections_per_img=max(100, 4 * int(max_persons)),
                      **sizes)
        if weights is not None:
            _load_strict(net, weights)
        else:
            logger.warning("detector %s has RANDOM weights: its boxes mean nothing", model)
        self.name, self.weights, self.device = model, weights, device
        self.model = net.eval().to(device)
        self.score_thr, self.max_persons = float(score_thr), int(max_persons)
        self.batch_size = int(batch_size)
        self.category_ids = tuple(int(c) for c in category_ids)

    def __repr__(self) -> str:
        return (f"TorchvisionDetector({self.name}, weights={self.weights or 'random'}, device={self.device}, "
                f"score_thr={self.score_thr}, categories={list(self.category_ids) or 'all'})")

    @torch.inference_mode()
    def detect(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per image (uint8 BGR ``[H, W, 3]``): float32 ``[N, 5]`` ``(x, y, w, h, score)``, best first."""
        boxes = []
        for start in range(0, len(images), self.batch_size):
            batch = [self._to_tensor(image) for image in images[start:start + self.batch_size]]
            boxes += [self._person_boxes(out) for out in self.model(batch)]
        return boxes

    def _to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """BGR uint8 [H, W, 3] -> RGB float [3, H, W] in [0, 1] on the device (the model normalises)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"detector input must be uint8 [H, W, 3] (BGR), got {image.dtype} {image.shape}")
        rgb = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1])).to(self.device)
        return rgb.permute(2, 0, 1).float().div_(255.0)

    def _person_boxes(self, out: dict) -> np.ndarray:
        """torchvision's ``{boxes x1y1x2y2, labels, scores}`` (by score) -> float32 [N, 5] xywh + score."""
        keep = out["scores"] >= self.score_thr
        if self.category_ids:
            keep &= torch.isin(out["labels"], torch.tensor(self.category_ids, device=out["labels"].device))
        xyxy, scores = out["boxes"][keep][: self.max_persons], out["scores"][keep][: self.max_persons]
        xywh = torch.cat([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2], scores[:, None]], dim=1)
        return xywh.float().cpu().numpy()


def _load_strict(net: torch.nn.Module, path: str) -> None:
    """All of ``net``'s tensors from ``path``, or ``CheckpointError`` naming it and the mismatched keys."""
    load_state_dict(net, read_state_dict(path), path, pose_layouts=False)


def build_detector(cfg: CfgNode, device: torch.device) -> TorchvisionDetector:
    """The ``DETECTOR.*`` detector on ``device``; its weights resolved (and downloaded once if allowed)."""
    det = cfg.DETECTOR
    weights = resolve_detector_weights(det.MODEL, det.WEIGHTS, bool(det.DOWNLOAD))
    return TorchvisionDetector(det.MODEL, weights, device, det.SCORE_THRE, det.NMS_THRE, det.CATEGORY_IDS,
                               det.MAX_PERSONS, det.MIN_SIZE, det.BATCH_SIZE)
