"""Rebuild a pose model from a checkpoint: self-describing training checkpoints or plain state_dicts.

* A training checkpoint (``last.pth`` / ``best.pth``, see ``hrpose.utils.checkpoint``) holds
  ``model`` (state_dict), ``config`` (yaml string from ``cfg.dump()``) and ``keypoint_set``
  (``KeypointSet.to_dict()``): nothing else is needed.
* A plain state_dict (the reference's ``final_state.pth``, an official model-zoo file, hrpose's
  ``final.pth``) says nothing about the architecture: the experiment yaml must be given.
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import yaml
from yacs.config import CfgNode

from hrpose.config import ConfigError, cfg_from_string, load_cfg
from hrpose.datasets.keypoints import KeypointSet, build_keypoint_set, check_same_keypoints
from hrpose.models import build_model, load_state_dict
from hrpose.utils.checkpoint import CheckpointError, load_checkpoint, state_dict_of

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model in eval mode on the CPU, the frozen config it was built from, and its keypoint set."""

    model: torch.nn.Module
    cfg: CfgNode
    keypoint_set: KeypointSet
    source: str  # where the weights came from (a path, or 'random init')


def is_self_describing(state: dict) -> bool:
    """True for a training checkpoint that carries its config (``model`` + ``config`` keys)."""
    return isinstance(state.get("config"), str) and isinstance(state.get("model"), dict)


def build_inference_model(cfg: CfgNode) -> torch.nn.Module:
    """``build_model(cfg, is_train=False)`` in eval mode (no pretrained backbone is loaded)."""
    return build_model(cfg, is_train=False).eval()


# settings that a checkpoint's weights were trained for but that its state_dict shapes do not show: testing
# with other values runs without error and silently scores worse
TRAINED_FOR_KEYS = ("MODEL.CODEC", "MODEL.IMAGE_SIZE", "MODEL.HEATMAP_SIZE", "MODEL.SIGMA",
                    "DATASET.COLOR_RGB")


def checked_keypoint_set(state: dict, cfg: CfgNode, source: str) -> KeypointSet:
    """The keypoint set to use with ``cfg`` and checkpoint ``state`` (loaded from ``source``).

    A training checkpoint's stored keypoint set must be the config's (count, names and their order:
    ``KeypointSetError`` / ``ConfigError`` naming both otherwise); the config's set for a checkpoint that
    stores none. A warning names each ``TRAINED_FOR_KEYS`` setting where the checkpoint's stored config
    and ``cfg`` differ (e.g. the UDP codec or RGB input it was trained with)."""
    if isinstance(state.get("config"), str):
        _warn_on_changed_settings(state["config"], cfg, source)
    if isinstance(state.get("keypoint_set"), dict):
        kset = KeypointSet.from_dict(state["keypoint_set"])
        if kset.num_keypoints != cfg.MODEL.NUM_JOINTS:
            raise ConfigError(f"checkpoint keypoint set {kset.name!r} has {kset.num_keypoints} keypoints but "
                              f"MODEL.NUM_JOINTS = {cfg.MODEL.NUM_JOINTS}")
        check_same_keypoints(kset, build_keypoint_set(cfg), source)
        return kset
    return build_keypoint_set(cfg)


def _warn_on_changed_settings(stored_config: str, cfg: CfgNode, source: str) -> None:
    """Only the ``TRAINED_FOR_KEYS`` are read from the stored yaml: a stored config that no longer merges
    into this hrpose's defaults (an older or newer version) must not stop a load that ``cfg`` drives."""
    try:
        stored = yaml.safe_load(stored_config)
    except yaml.YAMLError:
        stored = None
    if not isinstance(stored, dict):
        logger.warning("%s: its stored config is not readable yaml; the settings it was trained with are "
                       "not compared with the config's", source)
        return
    for key in TRAINED_FOR_KEYS:
        node, leaf = key.split(".")
        trained = stored.get(node, {}).get(leaf) if isinstance(stored.get(node), dict) else None
        if trained is not None and _plain(trained) != _plain(cfg[node][leaf]):
            logger.warning("%s was trained with %s = %r but the config says %r: its predictions are decoded "
                           "and scored with the config's value", source, key, _plain(trained),
                           _plain(cfg[node][leaf]))


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def load_pose_model(checkpoint: str | os.PathLike | None = None, cfg_path: str | None = None,
                    opts: Sequence[str] = (), allow_random_init: bool = False) -> LoadedModel:
    """The model, config and keypoint set behind a checkpoint (and/or an experiment yaml).

    Args:
        checkpoint: a self-describing training checkpoint or a plain state_dict; None only with
            ``allow_random_init`` (random weights, e.g. to check an ONNX export).
        cfg_path: experiment yaml. Required for a plain state_dict; with a self-describing checkpoint it
            replaces the stored config (a warning says so).
        opts: ``KEY VALUE`` overrides applied last (e.g. ``TEST.FLIP_TEST False``).
    Raises:
        CheckpointError / ConfigError with the file name and what was expected.
    """
    if checkpoint is None:
        if cfg_path is None or not allow_random_init:
            raise CheckpointError("a checkpoint is required (self-describing training checkpoint, or a "
                                  "plain state_dict together with --cfg)")
        cfg = load_cfg(cfg_path, opts)
        logger.warning("NO CHECKPOINT: building %s from %s with RANDOM weights", cfg.MODEL.NAME, cfg_path)
        return LoadedModel(build_inference_model(cfg), cfg, build_keypoint_set(cfg), "random init")
    state = load_checkpoint(checkpoint)
    source = str(checkpoint)
    if is_self_describing(state):
        if cfg_path is not None:
            logger.warning("%s carries its own config; using %s instead as requested", source, cfg_path)
            cfg = load_cfg(cfg_path, opts)
        else:
            cfg = cfg_from_string(state["config"], opts, source)
        model = build_inference_model(cfg)
        load_state_dict(model, state["model"], source)
        return LoadedModel(model, cfg, checked_keypoint_set(state, cfg, source), source)
    if cfg_path is None:
        raise CheckpointError(
            f"{source} is a plain state_dict without a stored config: pass the experiment yaml it was "
            "trained with (--cfg FILE / cfg_path=...), e.g. experiments/coco/hrnet/w32_256x192.yaml")
    cfg = load_cfg(cfg_path, opts)
    model = build_inference_model(cfg)
    load_state_dict(model, state_dict_of(state, source), source)
    return LoadedModel(model, cfg, build_keypoint_set(cfg), source)
