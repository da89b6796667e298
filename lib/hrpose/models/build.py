"""``build_model(cfg)``: the one place where the config becomes model constructor arguments.

``MODEL.EXTRA`` accepts any key (yacs ``new_allowed``) so that the reference yamls merge; a typo there
would otherwise be ignored silently. Each model therefore has a schema of its EXTRA keys below: unknown
keys and missing required keys raise ``ConfigError`` naming them. Optional keys default to the
reference's values (its ``MODEL_EXTRAS`` defaults or its hardcoded choices).
"""

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn
from yacs.config import CfgNode

from hrpose.config import ConfigError

from .hrnet import REFERENCE_STAGE1, PoseHighResolutionNet, StageSpec
from .pose_resnet import RESNET_SPECS, PoseResNet
from .weights import init_reference_weights, load_pretrained

logger = logging.getLogger(__name__)

REQUIRED = object()  # schema marker: the key has no default

# key -> default (or REQUIRED). STAGE1 and STEM_INPLANES are hrpose extensions (the official
# HRNet-ImageNet yamls spell STAGE1 this way); absent, they give the reference's hardcoded stem + layer1.
HRNET_EXTRA: dict[str, Any] = {
    "STAGE2": REQUIRED,
    "STAGE3": REQUIRED,
    "STAGE4": REQUIRED,
    "STAGE1": None,  # None = 4 Bottlenecks of 64 planes, as the reference
    "STEM_INPLANES": 64,
    "FINAL_CONV_KERNEL": 1,
    "PRETRAINED_LAYERS": ["*"],
    "HEAD": "v1",  # v1 = the reference (branch 0 only) | v2 = HRNetV2 (all branches concatenated), heads.py
}
HRNET_STAGE: dict[str, Any] = {
    "NUM_MODULES": REQUIRED,
    "NUM_BRANCHES": REQUIRED,
    "BLOCK": REQUIRED,
    "NUM_BLOCKS": REQUIRED,
    "NUM_CHANNELS": REQUIRED,
    "FUSE_METHOD": "SUM",
}
RESNET_EXTRA: dict[str, Any] = {
    "NUM_LAYERS": REQUIRED,
    "DECONV_WITH_BIAS": False,
    "NUM_DECONV_LAYERS": 3,
    "NUM_DECONV_FILTERS": [256, 256, 256],
    "NUM_DECONV_KERNELS": [4, 4, 4],
    "FINAL_CONV_KERNEL": 1,
    "PRETRAINED_LAYERS": ["*"],
    "HEAD": "v1",  # a default key of every MODEL.EXTRA (config/defaults.py); only v1 exists for ResNet
}


def check_keys(node: Mapping, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``node``'s values with the schema's defaults filled in; ConfigError for unknown/missing keys."""
    unknown = sorted(set(node) - set(schema))
    if unknown:
        hints = [f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k, schema, 1))
                 else k for k in unknown]
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(f'{where}.{h}' for h in hints)}; "
                          f"allowed: {sorted(schema)}")
    missing = sorted(k for k, v in schema.items() if v is REQUIRED and k not in node)
    if missing:
        raise ConfigError(f"missing key(s) in {where}: {', '.join(f'{where}.{k}' for k in missing)}")
    return {k: node[k] if k in node else default for k, default in schema.items()}


def _stage_spec(node: Any, where: str) -> StageSpec:
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where}: expected a block with keys {sorted(HRNET_STAGE)}, got {node!r}")
    values = check_keys(node, HRNET_STAGE, where)
    try:
        return StageSpec(num_modules=int(values["NUM_MODULES"]), num_branches=int(values["NUM_BRANCHES"]),
                         block=str(values["BLOCK"]), num_blocks=tuple(int(v) for v in values["NUM_BLOCKS"]),
                         num_channels=tuple(int(v) for v in values["NUM_CHANNELS"]),
                         fuse_method=str(values["FUSE_METHOD"]))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _layers(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of top-level module names (or ['*']), got {value!r}")
    return list(value)


def hrnet_args(cfg: CfgNode) -> dict[str, Any]:
    """``PoseHighResolutionNet`` keyword arguments (plus ``pretrained_layers``) from ``cfg.MODEL``."""
    extra = check_keys(cfg.MODEL.EXTRA, HRNET_EXTRA, "MODEL.EXTRA")
    stage1 = REFERENCE_STAGE1
    if extra["STAGE1"] is not None:
        stage1 = _stage_spec(extra["STAGE1"], "MODEL.EXTRA.STAGE1")
        if stage1.num_branches != 1 or stage1.num_modules != 1:
            raise ConfigError("MODEL.EXTRA.STAGE1: NUM_MODULES and NUM_BRANCHES must be 1 (stage 1 is a "
                              f"single residual layer), got {stage1.num_modules} and {stage1.num_branches}")
    if int(extra["FINAL_CONV_KERNEL"]) not in (1, 3):
        raise ConfigError(f"MODEL.EXTRA.FINAL_CONV_KERNEL = {extra['FINAL_CONV_KERNEL']}; expected 1 or 3")
    return {
        "num_joints": int(cfg.MODEL.NUM_JOINTS),
        "stages": [_stage_spec(extra[f"STAGE{n}"], f"MODEL.EXTRA.STAGE{n}") for n in (2, 3, 4)],
        "head": str(extra["HEAD"]),
        "stage1": stage1,
        "stem_channels": int(extra["STEM_INPLANES"]),
        "final_conv_kernel": int(extra["FINAL_CONV_KERNEL"]),
        "pretrained_layers": _layers(extra["PRETRAINED_LAYERS"], "MODEL.EXTRA.PRETRAINED_LAYERS"),
    }


def resnet_args(cfg: CfgNode) -> dict[str, Any]:
    """``PoseResNet`` keyword arguments (plus ``pretrained_layers``) from ``cfg.MODEL``."""
    extra = check_keys(cfg.MODEL.EXTRA, RESNET_EXTRA, "MODEL.EXTRA")
    if int(extra["NUM_LAYERS"]) not in RESNET_SPECS:
        raise ConfigError(f"MODEL.EXTRA.NUM_LAYERS = {extra['NUM_LAYERS']}; expected one of "
                          f"{sorted(RESNET_SPECS)}")
    num_deconv = int(extra["NUM_DECONV_LAYERS"])
    for key in ("NUM_DECONV_FILTERS", "NUM_DECONV_KERNELS"):
        if len(extra[key]) != num_deconv:
            raise ConfigError(f"MODEL.EXTRA.{key} has {len(extra[key])} entries but NUM_DECONV_LAYERS is "
                              f"{num_deconv}")
    if any(int(k) not in (2, 3, 4) for k in extra["NUM_DECONV_KERNELS"]):
        raise ConfigError(f"MODEL.EXTRA.NUM_DECONV_KERNELS = {list(extra['NUM_DECONV_KERNELS'])}; each "
                          "must be 2, 3 or 4")
    if int(extra["FINAL_CONV_KERNEL"]) not in (1, 3):
        raise ConfigError(f"MODEL.EXTRA.FINAL_CONV_KERNEL = {extra['FINAL_CONV_KERNEL']}; expected 1 or 3")
    if extra["HEAD"] != "v1":
        raise ConfigError(f"MODEL.EXTRA.HEAD = {extra['HEAD']!r}: pose_resnet has one head (v1); v2 "
                          "(HRNetV2) needs the branches of pose_hrnet")
    return {
        "num_layers": int(extra["NUM_LAYERS"]),
        "num_joints": int(cfg.MODEL.NUM_JOINTS),
        "deconv_filters": [int(v) for v in extra["NUM_DECONV_FILTERS"]],
        "deconv_kernels": [int(v) for v in extra["NUM_DECONV_KERNELS"]],
        "deconv_with_bias": bool(extra["DECONV_WITH_BIAS"]),
        "final_conv_kernel": int(extra["FINAL_CONV_KERNEL"]),
        "pretrained_layers": _layers(extra["PRETRAINED_LAYERS"], "MODEL.EXTRA.PRETRAINED_LAYERS"),
    }


def _hrnet_geometry(args: Mapping[str, Any]) -> tuple[int, int]:
    """(output stride, required input divisor)."""
    return 4, 4 * 2 ** (args["stages"][-1].num_branches - 1)


def _resnet_geometry(args: Mapping[str, Any]) -> tuple[int, int]:
    return 32 // 2 ** len(args["deconv_filters"]), 32


_MODELS: dict[str, tuple[Callable[[CfgNode], dict], type[nn.Module], Callable]] = {
    "pose_hrnet": (hrnet_args, PoseHighResolutionNet, _hrnet_geometry),
    "pose_resnet": (resnet_args, PoseResNet, _resnet_geometry),
}


def check_model_sizes(image_size: list[int], heatmap_size: list[int], stride: int, divisor: int) -> None:
    """IMAGE_SIZE must be a multiple of ``divisor`` and HEATMAP_SIZE = IMAGE_SIZE / ``stride``."""
    if any(int(s) % divisor for s in image_size):
        raise ConfigError(f"MODEL.IMAGE_SIZE = {list(image_size)}: width and height must be multiples of "
                          f"{divisor} for this architecture")
    expected = [int(s) // stride for s in image_size]
    if [int(s) for s in heatmap_size] != expected:
        raise ConfigError(f"MODEL.HEATMAP_SIZE = {list(heatmap_size)}, but the model outputs {expected} "
                          f"(MODEL.IMAGE_SIZE / {stride})")


def model_args(cfg: CfgNode) -> tuple[type[nn.Module], dict[str, Any], list[str]]:
    """Validate ``cfg.MODEL`` and return (model class, constructor kwargs, PRETRAINED_LAYERS)."""
    name = cfg.MODEL.NAME
    if name not in _MODELS:
        raise ConfigError(f"MODEL.NAME = {name!r}; expected one of {sorted(_MODELS)}")
    to_args, model_class, geometry = _MODELS[name]
    kwargs = to_args(cfg)
    layers = kwargs.pop("pretrained_layers")
    check_model_sizes(cfg.MODEL.IMAGE_SIZE, cfg.MODEL.HEATMAP_SIZE, *geometry(kwargs))
    return model_class, kwargs, layers


def build_model(cfg: CfgNode, is_train: bool = True) -> nn.Module:
    """The model for ``cfg.MODEL``: images ``[N, 3, H, W]`` -> heatmaps ``[N, NUM_JOINTS, H/4, W/4]``.

    With ``is_train`` and ``MODEL.INIT_WEIGHTS`` (as the reference): the reference init (normal 0.001),
    then ``MODEL.PRETRAINED`` if set, restricted to ``EXTRA.PRETRAINED_LAYERS``. Otherwise PyTorch's
    default init (weights are expected from a checkpoint). Raises ``ConfigError`` for an invalid MODEL
    section, ``FileNotFoundError`` for a missing MODEL.PRETRAINED.
    """
    model_class, kwargs, layers = model_args(cfg)
    model = model_class(**kwargs)
    pretrained = cfg.MODEL.PRETRAINED
    if not (is_train and cfg.MODEL.INIT_WEIGHTS):
        if is_train and pretrained:
            logger.warning("MODEL.INIT_WEIGHTS is False: MODEL.PRETRAINED %s is not loaded", pretrained)
        return model
    init_reference_weights(model)
    if pretrained:
        if not os.path.isfile(pretrained):
            raise FileNotFoundError(f"MODEL.PRETRAINED: no such file: {pretrained} (download the ImageNet "
                                    "weights there, or set MODEL.PRETRAINED '' to train from scratch)")
        load_pretrained(model, pretrained, layers)
    else:
        logger.info("MODEL.PRETRAINED is empty: training %s from the reference init", cfg.MODEL.NAME)
    return model
