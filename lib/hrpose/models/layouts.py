"""Checkpoint key layouts: which program wrote a state_dict, and its tensors under the reference names.

The same HRNet tensors are published under several names:

``reference``
    hrpose and the official HRNet release (``pose_hrnet_w32_256x192.pth``): ``conv1.weight`` ..
    ``stage4.2.fuse_layers.0.*``, ``final_layer.{weight,bias}``; HRNetV2 adds ``conv_layers.{0,1}.*``.
``mmpose 0.x``
    ``TopDown``: ``backbone.<reference name>``, ``keypoint_head.final_layer.*``. A head with extra conv
    layers (HRNetV2) stores one Sequential ``keypoint_head.final_layer.{i}.*``: the highest index is the
    heatmap conv (``final_layer``), the lower ones are ``conv_layers.{i}``. SimpleBaseline heads keep
    ``keypoint_head.deconv_layers.*``.
``mmpose 1.x``
    ``TopdownPoseEstimator``: ``backbone.*``, ``head.{deconv_layers,conv_layers,final_layer}.*`` and,
    when the file has them, ``data_preprocessor.{mean,std}`` (the input normalisation, 0..255 units).
``mmpose backbone``
    ``backbone.*`` only (a backbone saved from mmpose).
``imagenet``
    HRNet-Image-Classification (``hrnet_w32-36af842e.pth``, ``hrnetv2_w18_imagenet_pretrained.pth``) and
    timm's ``hrnet_w*`` (same names): the reference backbone, a multi-scale last module
    (``stage4.<last>.fuse_layers.1..3``) and the classification head ``incre_modules``,
    ``downsamp_modules``, ``final_layer.{0,1}``, ``classifier``; torchvision ResNets: ``fc``. Its
    classification-only tensors are what ``classification_only`` picks out.

``to_reference`` renames the mmpose layouts; the one strict loader (``weights.load_state_dict``) then
compares the result with the model. Nothing is dropped silently: a key that has no reference name is an
error listing it.
"""

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping

import torch
from torch import Tensor

from hrpose.utils.checkpoint import CheckpointError

from .normalize import IMAGENET_MEAN, IMAGENET_STD

REFERENCE, MMPOSE_0, MMPOSE_1, MMPOSE_BACKBONE, IMAGENET = (
    "reference", "mmpose 0.x", "mmpose 1.x", "mmpose backbone", "imagenet")

# Top-level modules that only an ImageNet classifier has (HRNet-C head; torchvision ResNet's fc).
CLASSIFIER_MODULES = ("incre_modules", "downsamp_modules", "classifier", "fc")
# The classifier's ``final_layer`` is a Sequential (conv, BN, ReLU): ``final_layer.<i>.*``.
_CLASSIFIER_FINAL = re.compile(r"final_layer\.\d+\.")
# A fusion row of a module: ``stage<n>.<m>.fuse_layers.<row>.``.
_FUSE_ROW = re.compile(r"((stage\d+\.\d+\.fuse_layers)\.(\d+))\.")
_INDEXED = re.compile(r"final_layer\.(\d+)\.(.+)")
NORMALISATION = {"data_preprocessor.mean": IMAGENET_MEAN, "data_preprocessor.std": IMAGENET_STD}
MMPOSE_HEAD_MODULES = ("deconv_layers", "conv_layers", "final_layer")


MAX_LISTED = 10  # keys shown per list in messages; the rest are counted


def top_module(key: str) -> str:
    """The top-level module name of a state_dict key ('stage4' for 'stage4.2.fuse_layers.0.1.weight')."""
    return key.split(".", 1)[0]


def detect_layout(keys: Iterable[str]) -> str:
    """The layout of a state_dict from its key names (prefixes 'module.' / '_orig_mod.' removed)."""
    tops = {top_module(k) for k in keys}
    if "keypoint_head" in tops:
        return MMPOSE_0
    if tops & {"head", "data_preprocessor"}:
        return MMPOSE_1
    if "backbone" in tops:
        return MMPOSE_BACKBONE
    if tops & set(CLASSIFIER_MODULES):
        return IMAGENET
    return REFERENCE


def listing(keys: list[str], limit: int = MAX_LISTED) -> str:
    """'a; b; c, ... and 7 more': the first ``limit`` keys of a list, for messages."""
    shown = "; ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_normalisation(state: Mapping[str, Tensor], source: str) -> None:
    """mmpose 1.x stores its input normalisation (0..255 units); hrpose normalises with ImageNet's."""
    for key, expected in NORMALISATION.items():
        if key not in state:
            continue
        values = state[key].detach().float().flatten().cpu()
        want = torch.tensor(expected) * 255.0
        if values.shape != want.shape or not torch.allclose(values, want, atol=1e-3):
            wanted = [round(v, 3) for v in want.tolist()]
            raise CheckpointError(
                f"checkpoint {source}: {key} = {values.tolist()}, but hrpose feeds the network images "
                f"normalised with ImageNet's {wanted} (0..255 units); the weights were trained for another "
                "input normalisation", unexpected=[key])


def _mmpose_head_name(rest: str, layout: str, last_index: int | None) -> str | None:
    """Reference name of a head key after its 'keypoint_head.' / 'head.' prefix; None if it has none."""
    if layout == MMPOSE_0 and (indexed := _INDEXED.fullmatch(rest)):
        index, leaf = int(indexed.group(1)), indexed.group(2)
        return f"final_layer.{leaf}" if index == last_index else f"conv_layers.{index}.{leaf}"
    return rest if top_module(rest) in MMPOSE_HEAD_MODULES else None


def _last_final_index(keys: Iterable[str]) -> int | None:
    """mmpose 0.x: the highest ``i`` of ``keypoint_head.final_layer.{i}.*`` (None: a single conv)."""
    indices = [int(m.group(1)) for k in keys
               if k.startswith("keypoint_head.") and (m := _INDEXED.fullmatch(k[len("keypoint_head."):]))]
    return max(indices, default=None)


def to_reference(state: Mapping[str, Tensor], source: str) -> tuple[dict[str, Tensor], str]:
    """``(state under the reference names, layout)``. The reference and ImageNet layouts come back
    unchanged; mmpose layouts are renamed. ``CheckpointError`` naming ``source`` lists the keys that
    have no reference name (e.g. an mmpose ``neck.*``), or a normalisation other than ImageNet's."""
    layout = detect_layout(state)
    if layout in (REFERENCE, IMAGENET):
        return dict(state), layout
    _check_normalisation(state, source)
    last_index = _last_final_index(state) if layout == MMPOSE_0 else None
    renamed, unmapped = {}, []
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        if key in NORMALISATION:
            continue
        if prefix == "backbone":
            name = rest
        elif prefix in ("keypoint_head", "head"):
            name = _mmpose_head_name(rest, layout, last_index)
        else:
            name = None
        if name is None:
            unmapped.append(key)
        else:
            renamed[name] = value
    if unmapped:
        raise CheckpointError(f"checkpoint {source} ({layout} layout): {len(unmapped)} keys have no hrpose "
                              f"counterpart (only backbone.*, the head's deconv_layers / conv_layers / "
                              f"final_layer and data_preprocessor.mean/std map): {listing(unmapped)}",
                              unexpected=unmapped)
    return renamed, layout


def classification_only(state: Mapping[str, Tensor], model_keys: Collection[str]) -> tuple[dict, Counter]:
    """Split an ImageNet checkpoint (reference names) into (the rest, counts of the classification-only
    tensors by prefix). Classification-only: ``CLASSIFIER_MODULES``, the classifier's ``final_layer.<i>.*``
    and fusion rows of a multi-scale module that the model does not build (``stage4.2.fuse_layers.1`` ..
    for a v1 head: the classifier reads every branch of the last module, the pose head only branch 0).
    Keys of a v2 model's multi-scale last module are kept: it has them."""
    single_scale = {m.group(2) for k in model_keys if (m := _FUSE_ROW.match(k)) and m.group(3) == "0"}
    single_scale -= {m.group(2) for k in model_keys if (m := _FUSE_ROW.match(k)) and m.group(3) != "0"}
    rest, skipped = {}, Counter()
    for key, value in state.items():
        if key not in model_keys:
            if top_module(key) in CLASSIFIER_MODULES or _CLASSIFIER_FINAL.match(key):
                skipped[top_module(key)] += 1
                continue
            row = _FUSE_ROW.match(key)
            if row and row.group(3) != "0" and row.group(2) in single_scale:
                skipped[row.group(1)] += 1
                continue
        rest[key] = value
    return rest, skipped


def count_by_prefix(keys: Iterable[str]) -> Counter:
    """How many keys per top-level module name."""
    return Counter(top_module(k) for k in keys)


def describe_counts(counts: Mapping[str, int]) -> str:
    """'incre_modules 60, classifier 2' (in the order first seen)."""
    return ", ".join(f"{prefix} {n}" for prefix, n in counts.items())
