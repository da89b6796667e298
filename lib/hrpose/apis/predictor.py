"""``Predictor``: keypoints of the people in an image, from person boxes, a detector, or the whole image.

Coordinates: boxes and keypoints are image pixels, x right, y down, pixel centres at integers (COCO).
Boxes are ``xywh`` (top-left corner, width, height). Each box becomes ``center`` / ``scale`` exactly as
in training and evaluation (``hrpose.datasets.transforms.boxes_to_centers_scales``: aspect ratio of
``MODEL.IMAGE_SIZE``, padding 1.25), is cropped with the codec's affine, and the decoded heatmap
maxima are mapped back with the codec's inverse transform. Without boxes, the person boxes come from
``predictor.detector`` (a ``hrpose.apis.detector.PersonDetector``) when one is set, else the whole image
is one person.
"""

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from hrpose.apis.detector import PersonDetector
from hrpose.apis.io import iter_frames
from hrpose.apis.loading import build_inference_model, load_pose_model
from hrpose.apis.pipeline import FramePoses, PosePipeline
from hrpose.codecs import build_codec
from hrpose.datasets.keypoints import KeypointSet, build_keypoint_set
from hrpose.datasets.transforms import BOX_PADDING, boxes_to_centers_scales, warp_image
from hrpose.engine.options import TestOptions, build_test_options
from hrpose.engine.predict import decode_heatmaps, forward_heatmaps, prepare_model
from hrpose.models import load_weights
from hrpose.utils.dist import resolve_device

logger = logging.getLogger(__name__)

COLOR_ORDERS = ("bgr", "rgb")
REFERENCE_TEST_OPTIONS = TestOptions()  # frozen: safe to share as a default


class Predictor:
    """Top-down pose inference with batched crops and optional flip test.

    Args:
        model: ``images float [N, 3, H, W] (normalised) -> heatmaps [N, K, H/4, W/4]``; prepared for
            inference here (``hrpose.engine.predict.prepare_model``: device, eval, fuse BN, channels_last,
            compile as ``options`` say).
        codec: a ``hrpose.codecs`` codec (``input_size``, ``image_affine``, ``decode``, ``heatmap_to_image``).
        keypoint_set: gives K and the left/right flip permutation.
        options: ``TestOptions`` (flip test, shift, decoding, AMP, batch size, ...). Build them with
            ``hrpose.engine.build_test_options(cfg, device, **overrides)`` so that AMP is resolved for the
            device exactly as ``tools/test.py`` resolves it; the default is the reference test protocol.
        device: None or 'auto' (CUDA if present), 'cpu', 'cuda', 'cuda:N' or a ``torch.device``.
        color_rgb: the channel order the model was trained with (``DATASET.COLOR_RGB``).
        detector: where person boxes come from when ``predict`` gets none (e.g.
            ``hrpose.apis.build_detector(predictor.cfg, predictor.device)``); None: the whole image.
    """

    def __init__(self, model: torch.nn.Module, codec, keypoint_set: KeypointSet,
                 options: TestOptions = REFERENCE_TEST_OPTIONS, device=None, color_rgb: bool = False,
                 detector: PersonDetector | None = None):
        self.device = resolve_device(device)
        self.detector = detector
        self.options = options
        self.model = prepare_model(model, options, self.device)
        self.codec = codec
        self.keypoint_set = keypoint_set
        self.color_rgb = bool(color_rgb)
        self.cfg = None  # the config it was built from (set by from_config / from_checkpoint)
        input_w, input_h = codec.input_size
        self.aspect_ratio = float(input_w) / float(input_h)

    @classmethod
    def from_config(cls, cfg, weights: str | None = None, device=None, **overrides) -> "Predictor":
        """Build the model of ``cfg`` (``build_model(cfg, is_train=False)``), load ``weights`` if given.

        Test-time options come from ``cfg.TEST`` (``build_test_options``) and the channel order from
        ``DATASET.COLOR_RGB``; keyword ``overrides`` (``TestOptions`` field names) win.
        """
        model = build_inference_model(cfg)
        if weights:
            load_weights(model, weights)
        else:
            logger.warning("Predictor.from_config without weights: the model has RANDOM weights")
        return cls._from_parts(model, cfg, build_keypoint_set(cfg), device, overrides)

    @classmethod
    def from_checkpoint(cls, path, cfg_path: str | None = None, opts: Sequence[str] = (), device=None,
                        **overrides) -> "Predictor":
        """From a self-describing training checkpoint alone, or a plain state_dict plus ``cfg_path``.

        ``opts`` are ``KEY VALUE`` config overrides; see ``hrpose.apis.loading.load_pose_model``.
        """
        loaded = load_pose_model(path, cfg_path, opts)
        return cls._from_parts(loaded.model, loaded.cfg, loaded.keypoint_set, device, overrides)

    @classmethod
    def _from_parts(cls, model, cfg, keypoint_set, device, overrides: dict) -> "Predictor":
        device = resolve_device(device)
        options = build_test_options(cfg, device, **overrides)
        predictor = cls(model, build_codec(cfg), keypoint_set, options, device, bool(cfg.DATASET.COLOR_RGB))
        predictor.cfg = cfg
        return predictor

    @property
    def num_keypoints(self) -> int:
        return self.keypoint_set.num_keypoints

    def crop(self, image: np.ndarray, boxes_xywh: np.ndarray):
        """Crops for boxes ``[N, 4]``: (crops uint8 [N, H, W, 3], centers [N, 2], scales [N, 2])."""
        centers, scales = boxes_to_centers_scales(boxes_xywh, self.aspect_ratio, BOX_PADDING)
        size = self.codec.input_size
        crops = np.stack([warp_image(image, self.codec.image_affine(c, s, 0.0), size)
                          for c, s in zip(centers, scales, strict=True)])
        return crops, centers, scales

    def _heatmap_batches(self, crops: np.ndarray):
        """Heatmaps float32 [n, K, h, w] on the device, per batch of up to ``options.batch_size`` crops,
        by evaluation's forward (uint8 crops normalised on the device, mirrored crops in the same batch)."""
        flip_index = self.keypoint_set.flip_index if self.options.flip_test else None
        batch = self.options.batch_size
        for start in range(0, len(crops), batch):
            chunk = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch]))
            yield forward_heatmaps(self.model, chunk.permute(0, 3, 1, 2), self.device, flip_index,
                                   self.options)

    @torch.inference_mode()
    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """Heatmaps float32 [N, K, h, w] (flip-averaged with ``flip_test``) of crops uint8 [N, H, W, 3]."""
        return np.concatenate([out.cpu().numpy() for out in self._heatmap_batches(crops)])

    @torch.inference_mode()
    def _decode(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(coords [N, K, 2] heatmap px, scores [N, K]) of crops, decoded as evaluation decodes (on the
        device when the heatmaps are there, so only coordinates come back)."""
        parts = [decode_heatmaps(self.codec, out, self.options) for out in self._heatmap_batches(crops)]
        return np.concatenate([c for c, _ in parts]), np.concatenate([s for _, s in parts])

    def person_boxes(self, images, color: str = "bgr") -> list[np.ndarray]:
        """Person boxes float32 ``[N, 5]`` ``(x, y, w, h, score)`` of each image (uint8 ``[H, W, 3]`` in
        ``color`` order): the detector's (one batched call), or without a detector the whole image
        (score 1)."""
        images = [np.asarray(image) for image in images]
        if self.detector is None:
            return [np.array([[0.0, 0.0, im.shape[1], im.shape[0], 1.0]], dtype=np.float32) for im in images]
        if color not in COLOR_ORDERS:
            raise ValueError(f"color must be one of {COLOR_ORDERS}, got {color!r}")
        return self.detector.detect([im[:, :, ::-1] if color == "rgb" else im for im in images])

    def predict(self, image: np.ndarray, boxes=None, color: str = "bgr") -> np.ndarray:
        """Keypoints of each person box.

        Args:
            image: uint8 [H, W, 3] in ``color`` order ('bgr' as OpenCV reads, or 'rgb').
            boxes: [N, 4] ``(x, y, w, h)`` image pixels (extra columns such as a score are ignored),
                or None: the detector's boxes (``person_boxes``), or the whole image ``[0, 0, W, H]``
                when there is no detector.
        Returns:
            float32 [N, K, 3]: ``(x, y, score)`` in image pixels; ``score`` is the heatmap maximum.
        """
        return self.predict_batch([image], [boxes], color)[0]

    __call__ = predict

    def predict_batch(self, images, boxes_list, color: str = "bgr") -> list[np.ndarray]:
        """``predict`` for several images at once: the crops of all of them share the forward batches.

        Args:
            images: uint8 [H, W, 3] images in ``color`` order.
            boxes_list: per image, boxes [N, 4+] or None (as ``predict``); the Nones are detected together.
        Returns:
            per image, float32 [N, K, 3] ``(x, y, score)`` in image pixels.
        """
        if len(images) != len(boxes_list):
            raise ValueError(f"{len(images)} images but {len(boxes_list)} box arrays")
        missing = [i for i, b in enumerate(boxes_list) if b is None]
        found = dict(zip(missing, self.person_boxes([images[i] for i in missing], color) if missing else [],
                         strict=True))
        parts, counts = [], []
        for i, image in enumerate(images):
            boxes = _check_boxes(found.get(i, boxes_list[i]))
            counts.append(len(boxes))
            if len(boxes):
                parts.append(self.crop(self._to_model_order(image, color), boxes[:, :4]))
            else:
                self._to_model_order(image, color)  # validated all the same
        if not parts:
            return [np.zeros((0, self.num_keypoints, 3), dtype=np.float32) for _ in images]
        crops, centers, scales = (np.concatenate(p) for p in zip(*parts, strict=True))
        coords, scores = self._decode(crops)
        xy = self.codec.heatmap_to_image(coords, centers, scales)
        keypoints = np.concatenate([xy, scores[..., None]], axis=2).astype(np.float32)
        return np.split(keypoints, np.cumsum(counts)[:-1])

    def run(self, source, tracker=None, smoother=None, frame_batch: int = 1) -> Iterator[FramePoses]:
        """Poses of every frame of ``source``: an image file, a folder, a video file or a camera index
        (``hrpose.apis.io.iter_frames``), with boxes from ``self.detector`` (or the whole frame), and
        optionally a ``PoseTracker`` / ``KeypointSmoother``. Lazy: a camera runs until you stop reading.
        For box files use ``PosePipeline`` directly."""
        pipeline = PosePipeline(self, detector=self.detector, tracker=tracker, smoother=smoother,
                                frame_batch=frame_batch)
        return pipeline.run(iter_frames(source))

    def _to_model_order(self, image: np.ndarray, color: str) -> np.ndarray:
        """Validate ``image``; return it in the model's channel order (never modified in place)."""
        if color not in COLOR_ORDERS:
            raise ValueError(f"color must be one of {COLOR_ORDERS}, got {color!r}")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        if (color == "rgb") != self.color_rgb:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)


def _check_boxes(boxes) -> np.ndarray:
    """Boxes as float32 [N, 4+]; ValueError for any other shape."""
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.ndim != 2 or (boxes.size and boxes.shape[1] < 4):
        raise ValueError(f"boxes must be [N, 4] (x, y, w, h), got shape {boxes.shape}")
    return boxes
