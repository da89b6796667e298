"""``benchmark.py eval``: post-processing time for N person boxes, hrpose vs a reference-style baseline.

Post-processing = heatmap decoding (argmax + quarter offset), inverse affine to image pixels,
rescoring, OKS-NMS per image and the results json; COCOeval itself is not timed (it is the same
pycocotools call in both). hrpose decodes as ``predict`` does with ``TEST.DECODE standard``
(``engine.predict.decode_heatmaps`` on heatmaps that lie on ``--device``; moving each chunk there is
not timed, since a network leaves its heatmaps on the device): numpy on the CPU, torch on a GPU. The
other of the two decodings is timed too, checked equal, and reported as ``alt_decode`` (not counted).
The default size is COCO val2017 with the 56.4-AP detector: 104,125 boxes over 5,000 images, 17
keypoints, 64x48 heatmaps.

Synthetic scene: each image holds a few persons and each person several jittered detections (so
OKS-NMS has real duplicates to remove), plus lone detections; every box's heatmaps hold one Gaussian
peak per joint, at the person's joint seen through that box, with a random amplitude (some below the
rescoring threshold).

With ``--cfg`` the network is timed too (``time_network``: every box, flip test, as evaluation runs it)
and ``end_to_end_s`` = network (forward + decoding of its heatmaps) + the post-processing after
decoding: COCO val2017 evaluation without the data loading, which ``benchmark.py data`` times.
Heatmaps are generated chunk by chunk (not timed) and both pipelines decode each chunk, so memory
stays bounded; decode times are summed over chunks. The two results are compared (kept boxes and
keypoints) so the speed-up is for the same output.
"""

import argparse
import pathlib
import tempfile
import time

import numpy as np
import torch

from hrpose.codecs import MSRAHeatmap, build_codec
from hrpose.config import load_cfg
from hrpose.datasets import build_keypoint_set
from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.datasets.transforms import BOX_PADDING, PIXEL_STD
from hrpose.engine.amp import AMP_DTYPES, resolve_amp
from hrpose.engine.options import TestOptions
from hrpose.engine.predict import decode_heatmaps, forward_heatmaps, prepare_model
from hrpose.evaluation import nms_per_image, rescore, results_arrays, write_results_json
from hrpose.models import build_model
from hrpose.utils.dist import resolve_device

from .common import device_facts, report, synchronize, time_calls
from .reference import eval_baseline as ref

COCO_SIGMAS = np.array(COCO_KEYPOINTS.sigmas)
DECODE = TestOptions(decode="standard", post_process=True)  # as TEST.DECODE standard, TEST.POST_PROCESS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--boxes", type=int, default=104125,
                        help="person boxes (COCO val2017 detections: 104125)")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--keypoints", type=int, default=17)
    parser.add_argument("--input_size", "--input-size", type=int, nargs=2, default=(192, 256),
                        metavar=("W", "H"))
    parser.add_argument("--chunk", type=int, default=128,
                        help="boxes per heatmap chunk (decoded like one batch; reference: 32 x 4 GPUs)")
    parser.add_argument("--in_vis_thre", type=float, default=0.2)
    parser.add_argument("--oks_thre", type=float, default=0.9)
    parser.add_argument("--no_baseline", "--no-baseline", action="store_true", help="time hrpose only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where hrpose decodes: cpu | cuda | cuda:N")
    network = parser.add_argument_group(
        "network (end to end)", "with --cfg, also time the network over every box with the flip test")
    network.add_argument("--cfg", default="", help="experiment yaml of the network (default init weights)")
    network.add_argument("--batch", type=int, default=256, help="boxes per forward (x2 crops with flip)")
    network.add_argument("--amp", choices=sorted(AMP_DTYPES), default="none")
    network.add_argument("--channels_last", "--channels-last", action="store_true")
    network.add_argument("--fuse_bn", "--fuse-bn", action="store_true")
    network.add_argument("--compile", default="", help="torch.compile mode ('' = eager)")


def make_scene(num_boxes: int, num_images: int, num_keypoints: int, heatmap_size, rng) -> dict:
    """Boxes of clustered detections and their heatmap peaks.

    Returns arrays: image_ids [N], centers [N,2], scales [N,2], box_scores [N], areas [N],
    peaks [N,K,2] (heatmap px), amplitudes [N,K].
    """
    w, h = heatmap_size
    image_ids = np.sort(rng.integers(0, num_images, num_boxes)) + 1
    # Up to 5 persons per image, each seen by several boxes; a third of the boxes are lone detections.
    lone = rng.random(num_boxes) < 1 / 3
    person_of_box = np.where(lone, (num_images + 1) * 8 + np.arange(num_boxes),
                             image_ids * 8 + rng.integers(0, 5, num_boxes))
    persons, person_index = np.unique(person_of_box, return_inverse=True)
    size = rng.uniform(40, 400, len(persons))
    centre = rng.uniform(50, 550, (len(persons), 2))
    template = rng.uniform(-0.5, 0.5, (len(persons), num_keypoints, 2)) * np.array([0.6, 1.0])
    joints = centre[:, None] + template * size[:, None, None]  # image px [P, K, 2]
    jitter = rng.normal(0, 0.05, (num_boxes, 3))
    box_h = size[person_index] * (1 + jitter[:, 2])
    centers = centre[person_index] + jitter[:, :2] * box_h[:, None]
    scales = np.stack([box_h * w / h, box_h], axis=1) * BOX_PADDING / PIXEL_STD
    scale_px = w / (scales[:, 0] * PIXEL_STD)  # heatmap px per image px (the reference uses the width)
    noise = rng.normal(0, 1.5, (num_boxes, num_keypoints, 2))
    peaks = (joints[person_index] + noise - centers[:, None]) * scale_px[:, None, None] + [w / 2, h / 2]
    return {"image_ids": image_ids, "centers": centers.astype(np.float32),
            "scales": scales.astype(np.float32),
            "box_scores": rng.uniform(0.05, 1.0, num_boxes).astype(np.float32),
            "areas": np.prod(scales * PIXEL_STD, axis=1).astype(np.float32),
            "peaks": np.clip(peaks, 0, [w - 1, h - 1]),
            "amplitudes": rng.uniform(0.05, 1.0, (num_boxes, num_keypoints))}


def heatmap_chunk(peaks: np.ndarray, amplitudes: np.ndarray, heatmap_size, sigma: float = 2.0) -> np.ndarray:
    """float32 [B, K, h, w] with ``amplitude * exp(-d^2 / 2 sigma^2)`` around each peak [B, K, 2]."""
    w, h = heatmap_size
    gx = np.exp(-((np.arange(w) - peaks[..., 0:1]) ** 2) / (2 * sigma ** 2)).astype(np.float32)
    gy = np.exp(-((np.arange(h) - peaks[..., 1:2]) ** 2) / (2 * sigma ** 2)).astype(np.float32)
    gy *= amplitudes[..., None].astype(np.float32)
    return gy[..., :, None] * gx[..., None, :]


class Stopwatch:
    """Accumulates wall seconds per stage name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def time(self, stage: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return out


def decode_all(scene: dict, codec: MSRAHeatmap, chunk: int, baseline: bool, device):
    """Decode every chunk with hrpose (and the baseline): keypoints [N,K,3] of each, their stopwatches,
    and an extra stopwatch (not counted in hrpose's total): ``argmax``, a bare numpy argmax pass
    (``decode(post_process=False)``, the memory-bound floor of the host path), and ``alt_decode``, the
    decoding that ``predict`` does not pick on this device (torch on the CPU, numpy on a GPU)."""
    n, k = scene["amplitudes"].shape
    ours, theirs = np.zeros((n, k, 3), np.float32), np.zeros((n, k, 3), np.float32)
    fast, slow, extra = Stopwatch(), Stopwatch(), Stopwatch()
    alt_on_device = device.type == "cpu"
    for lo in range(0, n, chunk):
        sl = slice(lo, min(lo + chunk, n))
        maps = heatmap_chunk(scene["peaks"][sl], scene["amplitudes"][sl], codec.heatmap_size)
        extra.time("argmax", codec.decode, maps, "standard", False)
        on_device = torch.from_numpy(maps).to(device)
        synchronize(device)
        coords, scores = fast.time("decode", decode_heatmaps, codec, on_device, DECODE)
        alt = extra.time("alt_decode", decode_heatmaps, codec, on_device, DECODE, alt_on_device)
        if not (np.array_equal(coords, alt[0]) and np.array_equal(scores, alt[1])):
            raise AssertionError("torch and numpy decoding differ")  # exact by construction
        ours[sl, :, :2] = fast.time("to_image", codec.heatmap_to_image, coords, scene["centers"][sl],
                                    scene["scales"][sl])
        ours[sl, :, 2] = scores
        if baseline:
            coords, maxvals = slow.time("argmax+max", ref.get_max_preds, maps)
            preds = slow.time("offset+to_image", ref.offset_and_transform, maps, coords, scene["centers"][sl],
                              scene["scales"][sl])
            theirs[sl, :, :2], theirs[sl, :, 2] = preds, maxvals[..., 0]
    return ours, theirs, fast, slow, extra


def time_network(args, device: torch.device) -> dict:
    """The ``--cfg`` network over ``--boxes`` boxes as ``predict`` runs it: ``forward_heatmaps`` with the
    flip test (both crops in one forward) and ``decode_heatmaps``, ``--batch`` boxes at a time, prepared
    by ``prepare_model``. The crops are one random uint8 batch in (pinned) host memory, copied to the
    device every time like a loader's batch; every batch is full (the box count is rounded up: one
    shape, one compilation); the first one is untimed (compilation, cuDNN autotuning). JPEG decoding and
    cropping are the data pipeline's (``benchmark.py data``)."""
    cfg = load_cfg(args.cfg, ["MODEL.PRETRAINED", ""])
    options = TestOptions(flip_test=True, shift_heatmap=True, decode="standard", post_process=True,
                          amp=resolve_amp(args.amp, device, "--amp", allow_cpu=True), fuse_bn=args.fuse_bn,
                          channels_last=args.channels_last, compile=args.compile, batch_size=args.batch)
    model = prepare_model(build_model(cfg, is_train=False), options, device)
    codec, flip_index = build_codec(cfg), build_keypoint_set(cfg).flip_index
    w, h = (int(v) for v in cfg.MODEL.IMAGE_SIZE)
    crops = torch.randint(0, 256, (args.batch, 3, h, w), dtype=torch.uint8)
    if device.type == "cuda":
        crops = crops.pin_memory()

    def one_batch():
        heatmaps = forward_heatmaps(model, crops, device, flip_index, options)
        return decode_heatmaps(codec, heatmaps, options)

    batches = -(-args.boxes // args.batch)
    with torch.inference_mode():
        seconds = sum(time_calls(one_batch, device, warmup=1, iters=batches))
    return {"cfg": args.cfg, "batch": args.batch, "amp": options.amp, "channels_last": args.channels_last,
            "fuse_bn": args.fuse_bn, "compile": args.compile, "boxes_timed": batches * args.batch,
            "s": round(seconds, 3), "crops_per_s": round(2 * batches * args.batch / seconds, 1)}


def hrpose_tail(scene, keypoints, args, out_json, watch: Stopwatch) -> np.ndarray:
    """Rescore, NMS, json with hrpose; returns the kept rows."""
    scores = watch.time("rescore", rescore, keypoints[..., 2], scene["box_scores"], args.in_vis_thre)
    keep = watch.time("nms", nms_per_image, scene["image_ids"], keypoints, scores, scene["areas"],
                      args.oks_thre, COCO_SIGMAS)
    results = watch.time("json", results_arrays, scene["image_ids"][keep], keypoints[keep], scores[keep],
                         scene["centers"][keep], scene["scales"][keep])
    watch.time("json", write_results_json, results, out_json)
    return keep


def baseline_tail(scene, keypoints, args, out_json, watch: Stopwatch) -> int:
    boxes = np.concatenate([scene["centers"], scene["scales"], scene["areas"][:, None],
                            scene["box_scores"][:, None]], axis=1)
    kept = watch.time("rescore+nms", ref.rescore_and_nms, keypoints, boxes, scene["image_ids"],
                      args.in_vis_thre, args.oks_thre, COCO_SIGMAS)
    return watch.time("json", ref.write_results, kept, out_json)


def run(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    rng = np.random.default_rng(args.seed)
    w, h = args.input_size
    codec = MSRAHeatmap((w, h), (w // 4, h // 4), 2)
    scene = make_scene(args.boxes, args.images, args.keypoints, codec.heatmap_size, rng)
    baseline = not args.no_baseline
    ours, theirs, fast, slow, extra = decode_all(scene, codec, args.chunk, baseline, device)
    with tempfile.TemporaryDirectory() as tmp:
        keep = hrpose_tail(scene, ours, args, pathlib.Path(tmp) / "ours.json", fast)
        kept_baseline = (baseline_tail(scene, theirs, args, pathlib.Path(tmp) / "ref.json", slow)
                         if baseline else None)
    result = {"bench": "eval", "boxes": args.boxes, "images": args.images, "keypoints": args.keypoints,
              "heatmap": list(codec.heatmap_size), "kept": int(keep.size),
              "hrpose_s": round(sum(fast.seconds.values()), 3),
              "hrpose_stages_s": {k: round(v, 3) for k, v in fast.seconds.items()},
              "decode_path": "numpy" if device.type == "cpu" else f"torch ({device})",
              "alt_decode": {"path": f"torch ({device})" if device.type == "cpu" else "numpy",
                             "s": round(extra.seconds["alt_decode"], 3)},
              "argmax_only_s": round(extra.seconds["argmax"], 3),  # numpy decode without refinement
              **device_facts(device)}
    summary = (f"eval post-processing, {args.boxes} boxes / {args.images} images: "
               f"hrpose {result['hrpose_s']} s")
    if args.cfg:
        result["network"] = time_network(args, device)
        after_decode = sum(v for k, v in fast.seconds.items() if k != "decode")
        result["end_to_end_s"] = round(result["network"]["s"] + after_decode, 3)
        summary += (f"; network {result['network']['s']} s ({result['network']['crops_per_s']} crops/s "
                    f"with flip), end to end without data loading {result['end_to_end_s']} s")
    if baseline:
        result.update(baseline_s=round(sum(slow.seconds.values()), 3),
                      baseline_stages_s={k: round(v, 3) for k, v in slow.seconds.items()},
                      baseline_kept=kept_baseline,
                      max_keypoint_diff_px=float(np.abs(ours[..., :2] - theirs[..., :2]).max()))
        result["speedup"] = round(result["baseline_s"] / result["hrpose_s"], 2)
        summary += f", reference-style {result['baseline_s']} s (x{result['speedup']})"
    report(result, summary)
