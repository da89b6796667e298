"""``benchmark.py numerics``: how far each inference fast path moves the heatmaps and the keypoints.

Reference: the eval-mode model in float32, eager, NCHW. Variants: ``bf16`` (and on CUDA ``fp16``)
autocast, ``fuse_bn`` (``fuse_conv_bn``), ``channels_last``, ``compile`` (``torch.compile``, with
``--compile``) and ``all`` (every one of them at once, bf16). Each variant is a ``TestOptions``; the
model is prepared and run exactly as evaluation does (``engine.predict.prepare_model`` and
``forward_heatmaps``, no flip test). AMP is applied as asked, also on the CPU (evaluation itself runs
it on CUDA only). Inputs are real crops of ``--root``'s evaluation set (GT boxes), or random pixels when
it has none. For each variant: the largest absolute heatmap difference, also relative to the reference
heatmaps' range (max - min), and the decoded keypoints (argmax + quarter offset) compared in heatmap
pixels.

Without ``--weights`` the model has PyTorch's default init (as ``build_model(is_train=False)``): the
heatmap differences are then representative of the arithmetic, but keypoint differences on untrained,
nearly flat maps mostly measure ties between near-equal maxima.
"""

import argparse
import copy
import dataclasses
import os

import torch

from hrpose.codecs.msra_torch import decode_standard
from hrpose.config import load_cfg
from hrpose.datasets import build_dataset
from hrpose.engine.options import TestOptions
from hrpose.engine.predict import forward_heatmaps, prepare_model
from hrpose.models import build_model, load_weights
from hrpose.utils.dist import resolve_device

from .common import SAMPLE_ROOT, data_parts, device_facts, report

REFERENCE = TestOptions(flip_test=False)  # float32, eager, NCHW, BatchNorm as trained


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", required=True, help="experiment yaml (network and input size)")
    parser.add_argument("--weights", default="", help="checkpoint (training checkpoint or state_dict)")
    parser.add_argument("--root", default=SAMPLE_ROOT, help="COCO-layout data for real input crops")
    parser.add_argument("--set", default="val2017", help="image set of --root")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (default mode)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def input_images(cfg, root: str, image_set: str, batch: int, seed: int) -> tuple[torch.Tensor, str]:
    """uint8 [B,3,H,W] crops of ``root``'s ``image_set`` (GT boxes), or random pixels; and which."""
    if os.path.isfile(os.path.join(root, "annotations", f"person_keypoints_{image_set}.json")):
        data_cfg = cfg.clone()
        data_cfg.defrost()
        data_cfg.merge_from_list(["DATASET.ROOT", root, "DATASET.TEST_SET", image_set,
                                  "TEST.USE_GT_BBOX", True, "DATASET.DATASET", "coco"])
        codec, keypoint_set, _ = data_parts(data_cfg)
        dataset = build_dataset(data_cfg, False, codec, keypoint_set)
        items = [dataset[i % len(dataset)]["image"] for i in range(batch)]
        return torch.stack(items), f"{root}/{image_set}"
    w, h = cfg.MODEL.IMAGE_SIZE
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, h, w), dtype=torch.uint8, generator=generator), "random"


def variants(device: torch.device, with_compile: bool) -> dict[str, TestOptions]:
    """name -> the ``TestOptions`` of every fast path to compare with ``REFERENCE``."""
    out = {"bf16": dataclasses.replace(REFERENCE, amp="bf16"),
           "fuse_bn": dataclasses.replace(REFERENCE, fuse_bn=True),
           "channels_last": dataclasses.replace(REFERENCE, channels_last=True)}
    if device.type == "cuda":
        out["fp16"] = dataclasses.replace(REFERENCE, amp="fp16")
    if with_compile:
        out["compile"] = dataclasses.replace(REFERENCE, compile="default")
    out["all"] = dataclasses.replace(REFERENCE, amp="bf16", fuse_bn=True, channels_last=True,
                                     compile="default" if with_compile else "")
    return out


@torch.inference_mode()
def forward(model: torch.nn.Module, images: torch.Tensor, options: TestOptions) -> torch.Tensor:
    """float32 heatmaps [B,K,h,w] of uint8 images [B,3,H,W] (on the model's device), no flip test:
    evaluation's own forward."""
    return forward_heatmaps(model, images, images.device, None, options)


def compare(reference: torch.Tensor, other: torch.Tensor) -> dict:
    """Heatmap and decoded-keypoint differences of ``other`` [B,K,h,w] from ``reference``."""
    value_range = (reference.max() - reference.min()).item()
    max_abs = (other - reference).abs().max().item()
    ref_xy, ref_score = decode_standard(reference)
    xy, score = decode_standard(other)
    moved = (xy - ref_xy).norm(dim=-1)
    return {"max_abs": max_abs, "rel_range": max_abs / max(value_range, 1e-12),
            "kp_max_px": moved.max().item(), "kp_mean_px": moved.mean().item(),
            "kp_moved_fraction": (moved > 0).float().mean().item(),
            "score_max_abs": (score - ref_score).abs().max().item()}


def compare_fast_paths(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
                       with_compile: bool = False) -> tuple[dict, dict[str, dict]]:
    """(reference stats, {variant: ``compare`` result}) for ``model`` on ``device`` (``model`` is moved
    there and put in eval mode; each variant prepares its own copy)."""
    images = images.to(device)
    reference = forward(prepare_model(model, REFERENCE, device), images, REFERENCE)
    stats = {"min": reference.min().item(), "max": reference.max().item(), "shape": list(reference.shape)}
    results = {name: compare(reference, forward(prepare_model(copy.deepcopy(model), options, device), images,
                                                options))
               for name, options in variants(device, with_compile).items()}
    return stats, results


def run(args: argparse.Namespace) -> None:
    cfg = load_cfg(args.cfg, ["MODEL.PRETRAINED", ""] + list(args.opts or []))
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = build_model(cfg, is_train=False)
    if args.weights:
        load_weights(model, args.weights)
    images, source = input_images(cfg, args.root, args.set, args.batch, args.seed)
    stats, results = compare_fast_paths(model, images, device, args.compile)
    rounded = {name: {k: float(f"{v:.3g}") for k, v in r.items()} for name, r in results.items()}
    result = {"bench": "numerics", "cfg": args.cfg, "weights": args.weights or "default init",
              "input": source, "batch": args.batch, "heatmaps": stats, "variants": rounded,
              **device_facts(device)}
    report(result, "; ".join(f"{name}: max |diff| {r['max_abs']:.2e} ({r['rel_range']:.1e} of the "
                             f"range), keypoints moved up to {r['kp_max_px']:.2f} px"
                             for name, r in results.items()))
