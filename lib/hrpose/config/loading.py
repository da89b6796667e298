"""Loading, validating and freezing a configuration."""

import logging
import os
from collections.abc import Sequence

from yacs.config import CfgNode

from .defaults import _C, UNUSED_REFERENCE_KEYS

logger = logging.getLogger(__name__)

_CHOICES = {
    "MODEL.NAME": ("pose_hrnet", "pose_resnet"),
    "MODEL.CODEC": ("msra", "udp"),
    "MODEL.TARGET_TYPE": ("gaussian",),
    "TRAIN.OPTIMIZER": ("adam", "adamw", "sgd"),
    "TRAIN.AMP": ("none", "bf16", "fp16"),
    "TEST.AMP": ("none", "bf16", "fp16"),
    "TEST.DECODE": ("standard", "dark"),
    "TEST.EVAL_BACKEND": ("pycocotools", "faster_coco_eval"),
    "DATASET.KEYPOINT_SET": ("", "coco", "mpii", "custom"),
    "DATASET.DATA_FORMAT": ("jpg", "png"),
}


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message names the file and key."""


def get_cfg() -> CfgNode:
    """A mutable clone of the defaults (every key, see ``defaults.py``)."""
    return _C.clone()


def _get(cfg: CfgNode, dotted: str):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, CfgNode) or part not in node:
            return None
        node = node[part]
    return node


def _merge(cfg: CfgNode, path: str | None, opts: Sequence[str]) -> None:
    if path is not None:
        if not os.path.isfile(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            cfg.merge_from_file(path)
        except (KeyError, ValueError, AssertionError) as err:
            raise ConfigError(f"{path}: {_describe(err)}") from None
    if len(opts) % 2:
        raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd number: {list(opts)}")
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f"command-line override: {_describe(err)}") from None


def _describe(err: Exception) -> str:
    text = str(err.args[0]) if err.args else str(err)
    if text.startswith("Non-existent"):
        key = text.split(":", 1)[1].strip()
        return f"unknown config key {key!r} (no such key in hrpose.config.defaults)"
    return text


def _validate(cfg: CfgNode, source: str) -> None:
    for key, choices in _CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise ConfigError(f"{source}: {key} = {value!r}; expected one of {list(choices)}")
    for key in ("MODEL.IMAGE_SIZE", "MODEL.HEATMAP_SIZE"):
        value = _get(cfg, key)
        if len(value) != 2 or any(int(v) <= 0 for v in value):
            raise ConfigError(f"{source}: {key} = {list(value)}; expected [width, height] > 0")
    for key in UNUSED_REFERENCE_KEYS:
        if _get(cfg, key) != _get(_C, key):
            logger.warning("%s: %s is set to %r but has no effect (the reference never used it either)",
                           source, key, _get(cfg, key))


def resolve_path(data_dir: str, path: str) -> str:
    """``DATA_DIR``-relative paths as the reference: join when ``path`` is relative and DATA_DIR set."""
    if not path or not data_dir or os.path.isabs(path):
        return path
    return os.path.join(data_dir, path)


def load_cfg(path: str | None, opts: Sequence[str] = ()) -> CfgNode:
    """Defaults, then the yaml at ``path`` (may be None), then ``KEY VALUE`` ``opts``; validated, frozen.

    Raises ``ConfigError`` naming the file (or the override) and the key for unknown keys, type
    mismatches and values outside a key's choices.
    """
    cfg = get_cfg()
    _merge(cfg, path, opts)
    _validate(cfg, path or "config")
    for key in ("DATASET.ROOT", "MODEL.PRETRAINED", "TEST.MODEL_FILE"):
        node, leaf = key.split(".")
        cfg[node][leaf] = resolve_path(cfg.DATA_DIR, cfg[node][leaf])
    cfg.freeze()
    return cfg
