"""Loading, validating and freezing a configuration."""

import logging
import os
import pathlib
from collections.abc import Sequence

import yaml
from yacs.config import CfgNode

from .defaults import _C, UNUSED_REFERENCE_KEYS

logger = logging.getLogger(__name__)

_CHOICES = {
    "MODEL.NAME": ("pose_hrnet", "pose_resnet"),
    "MODEL.CODEC": ("msra", "udp"),
    "MODEL.EXTRA.HEAD": ("v1", "v2"),
    "MODEL.TARGET_TYPE": ("gaussian",),
    "TRAIN.OPTIMIZER": ("adam", "adamw", "sgd"),
    "TRAIN.AMP": ("none", "bf16", "fp16"),
    "TEST.AMP": ("none", "bf16", "fp16"),
    "TEST.DECODE": ("standard", "dark"),
    "TEST.EVAL_BACKEND": ("pycocotools", "faster_coco_eval"),
    "TEST.METRIC": ("", "coco", "crowdpose", "pckh", "wholebody"),
    "DATASET.DATA_FORMAT": ("jpg", "png"),
    "DETECTOR.MODEL": ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
                       "fasterrcnn_mobilenet_v3_large_320_fpn"),  # hrpose.apis.detector.DETECTOR_MODELS
    "TRACK.MATCH": ("oks", "iou"),
}
# Numeric keys with their allowed closed range [low, high] (None = unbounded).
_RANGES = {
    "DETECTOR.SCORE_THRE": (0.0, 1.0), "DETECTOR.NMS_THRE": (0.0, 1.0), "DETECTOR.MAX_PERSONS": (1, None),
    "DETECTOR.MIN_SIZE": (0, None), "DETECTOR.BATCH_SIZE": (1, None), "TRACK.THRESHOLD": (0.0, 1.0),
    "TRACK.MAX_AGE": (0, None), "SMOOTH.MIN_CUTOFF": (1e-6, None), "SMOOTH.BETA": (0.0, None),
    "SMOOTH.D_CUTOFF": (1e-6, None),
}


BASE_KEY = "_BASE_"  # a yaml's base yaml (path relative to the yaml), merged before the yaml itself
# The built-in keypoint sets: listed from their folder, so that loading a config imports no hrpose.datasets
KEYPOINT_SET_DIR = pathlib.Path(__file__).resolve().parents[1] / "datasets" / "keypoint_sets"


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


def merge_cfg_file(cfg: CfgNode, path: str, _chain: tuple[str, ...] = ()) -> None:
    """Merge the yaml at ``path`` into ``cfg``; its ``_BASE_`` (a path relative to the yaml's folder) is
    merged first, recursively, so a yaml holds only what differs from its base. A cycle of bases, a missing
    base and unknown keys raise ``ConfigError`` naming the file (and the chain)."""
    real = os.path.realpath(path)
    if real in _chain:
        raise ConfigError(f"{path}: {BASE_KEY} cycle: {' -> '.join([*_chain[_chain.index(real):], real])}")
    if not os.path.isfile(path):
        base_of = f" (the {BASE_KEY} of {_chain[-1]})" if _chain else ""
        raise ConfigError(f"config file not found: {path}{base_of}")
    try:
        with open(path, encoding="utf-8") as f:
            node = CfgNode.load_cfg(f)
    except yaml.YAMLError as err:  # the parser's own text says where: keep it, in one line per part
        where = " ".join(str(err).split()).replace(' in "<unicode string>",', "")
        raise ConfigError(f"{path}: not valid YAML: {where}") from None
    base = node.pop(BASE_KEY, None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{path}: {BASE_KEY} = {base!r}; expected the path of a yaml file")
        merge_cfg_file(cfg, os.path.join(os.path.dirname(path), base), (*_chain, real))
    try:
        cfg.merge_from_other_cfg(node)
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f"{path}: {_describe(err)}") from None


def _merge(cfg: CfgNode, path: str | None, opts: Sequence[str]) -> None:
    if path is not None:
        merge_cfg_file(cfg, path)
    if len(opts) % 2:
        raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd number: {list(opts)}")
    try:
        cfg.merge_from_list(_yaml_booleans(cfg, opts))
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f"command-line override: {_describe(err)}") from None


def _yaml_booleans(cfg: CfgNode, opts: Sequence[str]) -> list[str]:
    """Overrides with ``true``/``false`` (any case, as a yaml file may write them) spelled ``True``/``False``
    for boolean keys, which yacs' literal_eval would otherwise read as a string and reject."""
    out = list(opts)
    for i in range(0, len(out) - 1, 2):
        value = out[i + 1]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            if isinstance(_get(cfg, out[i]), bool):
                out[i + 1] = value.capitalize()
    return out


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
    _validate_keypoint_set(cfg.DATASET.KEYPOINT_SET, source)
    for key, (low, high) in _RANGES.items():
        value = _get(cfg, key)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{source}: {key} = {value!r}; expected a value in [{low}, {high or 'inf'}]")
    for key in ("MODEL.IMAGE_SIZE", "MODEL.HEATMAP_SIZE"):
        value = _get(cfg, key)
        if len(value) != 2 or any(int(v) <= 0 for v in value):
            raise ConfigError(f"{source}: {key} = {list(value)}; expected [width, height] > 0")
    for key in UNUSED_REFERENCE_KEYS:
        if _get(cfg, key) != _get(_C, key):
            logger.warning("%s: %s is set to %r but has no effect (the reference never used it either)",
                           source, key, _get(cfg, key))


def _validate_keypoint_set(value: str, source: str) -> None:
    builtin = sorted(p.stem for p in KEYPOINT_SET_DIR.glob("*.yaml"))
    if value not in ("", "custom", *builtin) and not value.endswith((".yaml", ".yml")):
        raise ConfigError(f"{source}: DATASET.KEYPOINT_SET = {value!r}; expected '' (the set of "
                          f"DATASET.DATASET), one of {builtin}, a keypoint-set .yaml file, or 'custom'")


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


def cfg_from_string(text: str, opts: Sequence[str] = (), source: str = "checkpoint") -> CfgNode:
    """The frozen config stored as a yaml string (``cfg.dump()``), merged over the defaults, plus ``opts``.

    Paths inside were already resolved when the run saved them, so they are not joined with DATA_DIR
    again. Raises ``ConfigError`` naming ``source`` on unknown keys or bad values.
    """
    cfg = get_cfg()
    try:
        cfg.merge_from_other_cfg(CfgNode.load_cfg(text))
        cfg.merge_from_list(_yaml_booleans(cfg, opts))
    except (KeyError, ValueError, AssertionError, TypeError) as err:
        raise ConfigError(f"{source}: stored config does not merge into this hrpose's defaults: "
                          f"{err}") from None
    _validate(cfg, source)
    cfg.freeze()
    return cfg


def flatten_cfg(node: CfgNode, prefix: str = "") -> dict:
    """``{'A.B.C': value}`` for every leaf of ``node``."""
    flat = {}
    for key, value in node.items():
        if isinstance(value, CfgNode):
            flat.update(flatten_cfg(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
