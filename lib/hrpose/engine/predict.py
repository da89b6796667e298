"""Prediction over an evaluation loader -> ``PosePredictions`` (image pixels), flip test on the device.

``predict(model, loader, device, codec, keypoint_set, options)`` runs the network with ``TestOptions``;
``predict_oracle(loader, codec, options)`` decodes the codec's own target heatmaps instead (the AP
ceiling set by the heatmap resolution and the codec). ``prepare_model``, ``forward_heatmaps`` and
``decode_heatmaps`` are the steps ``Predictor`` shares, so evaluation and inference agree exactly.

Decoding: on an accelerator, MSRA ``standard`` runs there (``codecs.msra_torch.decode_standard``, equal
to the numpy codec), so only coords [B,K,2] and scores [B,K] come back to the host instead of the
heatmaps [B,K,h,w]. ``dark``, the UDP codec, and every decoding on the CPU use the numpy codec (on the
CPU there is no transfer to save, and numpy's argmax is ~4x faster than torch's there).

Distributed: each rank predicts the shard its loader's sampler gives it (the evaluation sampler shards
without padding); the shards are gathered with ``all_gather_objects`` and ordered by the dataset index
in ``meta['index']``, keeping the first copy of any repeated index, so every box counts exactly once.
Every rank returns the same full predictions, in dataset order.
"""

import logging

import numpy as np
import torch

from hrpose.codecs import MSRAHeatmap, flip_heatmaps_back
from hrpose.codecs.msra_torch import decode_standard
from hrpose.datasets.keypoints import KeypointSet
from hrpose.datasets.transforms import PIXEL_STD
from hrpose.engine.amp import autocast
from hrpose.engine.options import TestOptions
from hrpose.evaluation import PosePredictions
from hrpose.models import fuse_conv_bn, normalize_images
from hrpose.utils.dist import all_gather_objects, get_world_size
from hrpose.utils.progress import ProgressLog

logger = logging.getLogger(__name__)


def prepare_model(model: torch.nn.Module, options: TestOptions, device: torch.device) -> torch.nn.Module:
    """``model`` ready for inference as ``options`` say: on ``device``, eval mode, NHWC weights with
    ``channels_last``, BatchNorm folded with ``fuse_bn``, compiled with ``compile``."""
    model = model.to(device).eval()
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if options.fuse_bn:
        model = fuse_conv_bn(model)
    if options.compile:
        model = torch.compile(model, mode=options.compile)
    return model


@torch.inference_mode()
def predict(model: torch.nn.Module, loader, device: torch.device, codec, keypoint_set: KeypointSet,
            options: TestOptions) -> PosePredictions:
    """Predict every box of ``loader`` (batches of uint8 ``image`` [B,3,H,W] and ``meta``).

    Args:
        model: heatmap network ``[B,3,H,W] float -> [B,K,h,w]``; put in eval mode for the call (its
            previous mode is restored).
        device: where the forward, the flip-back and the averaging run.
        codec: ``decode`` + ``heatmap_to_image`` (``hrpose.codecs``).
        keypoint_set: its ``flip_index`` pairs the channels for the flip test.
        options: flip test, shift, decoding, AMP, channels_last (``build_test_options``).
    Returns:
        ``PosePredictions`` in dataset order (keypoint scores = decoded heatmap maxima; box score from
        ``meta['score']``; area ``prod(scale * 200)``).
    """
    flip_index = keypoint_set.flip_index if options.flip_test else None
    was_training = model.training
    model.eval()
    parts = []
    progress = ProgressLog("predict", _num_boxes(loader), "boxes", logger)
    try:
        for batch in loader:
            heatmaps = forward_heatmaps(model, batch["image"], device, flip_index, options)
            coords, scores = decode_heatmaps(codec, heatmaps, options)
            parts.append(_batch_predictions(codec, batch["meta"], coords, scores))
            progress.update(len(coords))
    finally:
        model.train(was_training)
    return gather_predictions(parts, keypoint_set.num_keypoints)


def _num_boxes(loader) -> int:
    """Boxes this process will predict (its sampler's share of the dataset); 0 when unknown."""
    for part in (getattr(loader, "sampler", None), getattr(loader, "dataset", None)):
        if part is not None:
            return len(part)
    return 0


def decode_heatmaps(codec, heatmaps: torch.Tensor, options: TestOptions, on_device: bool | None = None):
    """``codec.decode`` of heatmaps [B,K,h,w] on any device -> (coords float64 [B,K,2], scores float32 [B,K])
    as numpy, with ``options.decode`` / ``post_process``. MSRA ``standard`` decodes in torch where the
    heatmaps are when ``on_device`` (default: when they are not on the CPU); the values are the numpy
    codec's either way."""
    if on_device is None:
        on_device = heatmaps.device.type != "cpu"
    if on_device and options.decode == "standard" and isinstance(codec, MSRAHeatmap):
        coords, scores = decode_standard(heatmaps.float(), options.post_process)
        return coords.cpu().numpy().astype(np.float64), scores.cpu().numpy()
    return codec.decode(heatmaps.float().cpu().numpy(), method=options.decode,
                        post_process=options.post_process)


def forward_heatmaps(model, images: torch.Tensor, device: torch.device, flip_index,
                     options: TestOptions) -> torch.Tensor:
    """Heatmaps float32 [B,K,h,w] on ``device`` for uint8 images [B,3,H,W].

    With ``flip_index`` ([K] permutation), the mirrored crops run in the same forward
    (``cat([x, x.flip(3)])``) and the result is ``(out + flip_back(out_mirrored)) / 2``, with the
    reference's one-column shift when ``options.shift_heatmap``.
    """
    x = normalize_images(images.to(device, non_blocking=True))
    n = x.shape[0]
    if flip_index is not None:
        x = torch.cat([x, x.flip(3)], dim=0)
    if options.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, options.amp):
        out = model(x)
    if isinstance(out, (list, tuple)):  # multi-output heads: the last output, as the reference
        out = out[-1]
    out = out.float()
    if flip_index is None:
        return out
    return (out[:n] + flip_heatmaps_back(out[n:], flip_index, options.shift_heatmap)) * 0.5


def predict_oracle(loader, codec, options: TestOptions) -> PosePredictions:
    """Decode the loader's own target ``heatmaps`` (encoded from the GT keypoints through the test-mode
    affine) as if a network had predicted them: the AP upper bound of the codec and heatmap size.

    Keypoint scores are the decoded maxima; joints with target weight 0 get score 0. No flip test.
    Meant for GT boxes (each box then carries its own person's targets).
    """
    parts = []
    num_keypoints = None
    for batch in loader:
        heatmaps = batch["heatmaps"].float().numpy()
        num_keypoints = heatmaps.shape[1]
        coords, scores = codec.decode(heatmaps, method=options.decode, post_process=options.post_process)
        weights = batch["target_weight"].float().numpy().reshape(scores.shape)
        parts.append(_batch_predictions(codec, batch["meta"], coords, np.where(weights > 0, scores, 0.0)))
    return gather_predictions(parts, num_keypoints or 0)


def _batch_predictions(codec, meta: dict, coords: np.ndarray, scores: np.ndarray):
    """(dataset indices [B], PosePredictions of the batch) from decoded heatmap coordinates."""
    centers = _numpy(meta["center"]).astype(np.float32)
    scales = _numpy(meta["scale"]).astype(np.float32)
    xy = codec.heatmap_to_image(coords, centers, scales)
    keypoints = np.concatenate([xy, np.asarray(scores, dtype=np.float64)[..., None]], axis=-1)
    preds = PosePredictions(
        image_ids=_numpy(meta["image_id"]), keypoints=keypoints, box_scores=_numpy(meta["score"]),
        areas=np.prod(scales.astype(np.float64) * PIXEL_STD, axis=1), centers=centers, scales=scales)
    return _numpy(meta["index"]).astype(np.int64), preds


def _numpy(value) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def gather_predictions(parts: list, num_keypoints: int) -> PosePredictions:
    """Concatenate this rank's ``(indices, predictions)`` parts, gather all ranks' parts, order by
    dataset index and drop repeated indices (first copy kept). Every rank returns the result."""
    if parts:
        local = (np.concatenate([p[0] for p in parts]), PosePredictions.concat([p[1] for p in parts]))
    else:
        local = (np.zeros(0, dtype=np.int64), PosePredictions.empty(num_keypoints))
    shards = all_gather_objects(local) if get_world_size() > 1 else [local]
    non_empty = [s for s in shards if len(s[1])] or shards[:1]
    indices = np.concatenate([s[0] for s in non_empty])
    preds = PosePredictions.concat([s[1] for s in non_empty])
    order = np.argsort(indices, kind="stable")
    first = np.ones(order.size, dtype=bool)
    first[1:] = indices[order][1:] != indices[order][:-1]
    if not first.all():
        logger.warning("predict: %d repeated dataset indices dropped while gathering", int((~first).sum()))
    return preds.select(order[first])
