"""The top-down dataset: one person box -> (crop, heatmaps, target weights, meta).

Per sample: decode the image once (or take it from the per-process cache), sample the augmentation
parameters, build ONE image->crop affine with the flip folded in (``codec.image_affine``), warp the
crop, move the keypoints through the same matrix, and let the codec encode the targets (or, with
``targets_on_device``, hand out the keypoints the training loop renders them from). The image stays
uint8 (normalisation happens model-side, ``hrpose.models.normalize_images``); BGR->RGB is done on the
small crop, never on the full image.
"""

import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hrpose.datasets import transforms as T
from hrpose.datasets.augment import AugmentConfig, sample_augment_params, sample_rng
from hrpose.datasets.coco import PersonRecord
from hrpose.datasets.keypoints import KeypointSet

logger = logging.getLogger(__name__)

IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION  # as the reference: EXIF rotation ignored
DEFAULT_CACHE_BYTES = 2 << 30  # per process (each DataLoader worker has its own cache)
MAX_SKIPS = 100  # consecutive bad images tolerated under skip_bad_images before giving up


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded; the message names the path."""


def read_image(path: str) -> np.ndarray:
    """Decode ``path`` as BGR uint8 [H, W, 3]; ``ImageReadError`` naming the path when that fails."""
    image = cv2.imread(path, IMREAD_FLAGS)
    if image is None:  # checked before anything else touches the image (the reference did not)
        reason = ("file not found" if not os.path.isfile(path)
                  else "cannot be decoded (corrupt or not an image)")
        raise ImageReadError(f"image {path}: {reason}")
    return image


def crop_keypoints(keypoints: np.ndarray, matrix: np.ndarray, flip_index: np.ndarray | None = None):
    """Image keypoints [K, 3] (x, y, v) -> crop points float64 [K, 2] and visibility [K].

    ``matrix`` is the image->crop affine; when it has the flip folded in, pass ``flip_index``: the
    matrix already mirrors the positions, so only the left/right labels are swapped (this equals
    ``flip_keypoints`` followed by the un-mirrored matrix).
    """
    points = T.affine_points(keypoints[:, :2], matrix)
    visible = np.asarray(keypoints[:, 2])
    if flip_index is not None:
        points, visible = points[flip_index], visible[flip_index]
    return points, visible


class ImageCache:
    """Decoded images kept in RAM up to ``max_bytes`` (first come, first kept; no eviction, since
    access is random). One per process: each DataLoader worker fills its own copy."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.used = 0
        self._images: dict[str, np.ndarray] = {}

    def get(self, path: str) -> np.ndarray:
        image = self._images.get(path)
        if image is None:
            image = read_image(path)
            if self.used + image.nbytes <= self.max_bytes:
                image.flags.writeable = False  # shared by every later sample of this image
                self._images[path] = image
                self.used += image.nbytes
        return image


@dataclass(frozen=True)
class SampleOptions:
    """How a ``TopDownDataset`` makes its samples (from ``SEED``, ``DATASET.*``, ``LOSS.*``)."""

    seed: int = 0  # base of the per-sample random streams (seed, epoch, index)
    color_rgb: bool = False  # hand out RGB (True) or BGR (False) crops
    use_joint_weights: bool = False  # multiply target weights by the keypoint set's joint weights
    cache_bytes: int = 0  # keep decoded images in RAM up to this many bytes per process (0 = no cache)
    skip_bad_images: bool = False  # a missing/undecodable image is logged, counted and skipped
    targets_on_device: bool = False  # items carry heatmap-px keypoints instead of heatmaps (see make_sample)


class TopDownDataset(Dataset):
    """Top-down samples over a list of ``PersonRecord``.

    Args:
        records: person boxes (never modified).
        keypoint_set: the K keypoints (flip permutation, joint weights, upper body).
        codec: ``image_affine`` and ``encode`` (``hrpose.codecs``); with ``targets_on_device`` also
            ``heatmap_keypoints`` (the MSRA codec; ``hrpose.codecs.build_target_renderer`` checks it).
        augment: augmentation settings (training); None = evaluation: each record's centre/scale as is.
        options: ``SampleOptions``.
    """

    def __init__(self, records: list[PersonRecord], keypoint_set: KeypointSet, codec,
                 augment: AugmentConfig | None = None, options: SampleOptions = SampleOptions()):
        self.records = records
        self.keypoint_set = keypoint_set
        self.codec = codec
        self.augment = augment
        self.options = options
        self.bad_images = 0
        self._cache = ImageCache(options.cache_bytes) if options.cache_bytes > 0 else None
        self._flip_index = keypoint_set.flip_index
        self._part_ids = (tuple(keypoint_set.upper_body_ids), keypoint_set.lower_body_ids)
        self._joint_weights = np.asarray(keypoint_set.joint_weights, dtype=np.float32)
        # Shared memory, so set_epoch in the main process reaches persistent DataLoader workers.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def is_train(self) -> bool:
        return self.augment is not None

    @property
    def targets_on_device(self) -> bool:
        return self.options.targets_on_device

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's augmentation streams (every worker sees it, persistent ones included)."""
        self._epoch.fill_(int(epoch))

    def load_image(self, path: str) -> np.ndarray:
        """BGR uint8 [H, W, 3] (read-only when cached)."""
        return self._cache.get(path) if self._cache is not None else read_image(path)

    def __getitem__(self, index: int) -> dict:
        for attempt in range(MAX_SKIPS + 1):
            i = (int(index) + attempt) % len(self.records)
            try:
                image = self.load_image(self.records[i].image_path)
            except ImageReadError as err:
                if not self.options.skip_bad_images:
                    raise
                self.bad_images += 1
                logger.warning("%s; skipped (%d bad images so far in this process)", err, self.bad_images)
                continue
            return self.make_sample(i, image)
        raise ImageReadError(f"{MAX_SKIPS + 1} consecutive images from index {index} could not be read")

    def crop_params(self, index: int) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """(center, scale, rotation, flip) of sample ``index`` at the current epoch."""
        rec = self.records[index]
        if not self.is_train:
            return rec.center, rec.scale, 0.0, False
        rng = sample_rng(self.options.seed, self.epoch, index)
        p = sample_augment_params(rng, rec.center, rec.scale, rec.keypoints, self.augment, self._part_ids)
        return p.center, p.scale, p.rotation, p.flip

    def make_sample(self, index: int, image: np.ndarray) -> dict:
        """The sample of record ``index`` from its decoded BGR image [H, W, 3] (not modified).

        Returns ``image`` uint8 [3, H, W] tensor, ``heatmaps`` float32 [K, h, w], ``target_weight``
        float32 [K, 1], ``meta`` (centre/scale/rotation of the crop in original-image px before the
        flip, ``flipped``, ``joints`` = the record's original keypoints [K, 3], ``image_size`` [w, h]).
        With ``targets_on_device``: ``keypoints`` float32 [K, 2] in heatmap px (crop / stride) instead
        of ``heatmaps`` (K*2 floats instead of K*h*w), and ``target_weight`` = ``clip(v, 0, 1)`` before
        the window rule and the joint weights, which ``MSRATargetRenderer`` applies with the maps.
        """
        rec = self.records[index]
        height, width = image.shape[:2]
        center, scale, rotation, flip = self.crop_params(index)
        matrix = self.codec.image_affine(center, scale, rotation, flip_width=width if flip else None)
        crop = T.warp_image(image, matrix, self.codec.input_size)
        if self.options.color_rgb:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        points, visible = crop_keypoints(rec.keypoints, matrix, self._flip_index if flip else None)
        if self.targets_on_device:
            keypoints, weights = self.codec.heatmap_keypoints(points, visible)
            targets = {"keypoints": torch.from_numpy(keypoints)}
        else:
            heatmaps, weights = self.codec.encode(points, visible)
            if self.options.use_joint_weights:
                weights = weights * self._joint_weights
            targets = {"heatmaps": torch.from_numpy(heatmaps)}
        meta = {
            "index": int(index), "image_id": int(rec.image_id),
            "center": np.array(center, dtype=np.float32), "scale": np.array(scale, dtype=np.float32),
            "rotation": float(rotation), "score": float(rec.score), "area": float(rec.area),
            "joints": np.array(rec.keypoints, dtype=np.float32), "flipped": bool(flip),
            "image_size": np.array([width, height], dtype=np.int64),
        }
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))),
            **targets,
            "target_weight": torch.from_numpy(weights.astype(np.float32).reshape(-1, 1)),
            "meta": meta,
        }
