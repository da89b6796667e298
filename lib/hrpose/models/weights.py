"""Weights: the reference initialisation, ImageNet pretrained loading, and strict checkpoint loading.

``load_state_dict`` is THE strict loader: ``load_weights`` (a file), ``Predictor`` / ``tools/test.py`` /
``tools/infer.py`` (through ``hrpose.apis.loading``) and resume all go through it. Nothing here loads
silently: a mismatch raises ``CheckpointError`` naming the file and listing every missing, unexpected
and mis-shaped key; ``load_pretrained`` logs what it loaded, what stayed at its initial value and which
checkpoint keys it skipped, and why. Files are read by ``hrpose.utils.checkpoint`` (``weights_only=True``,
wrappers and prefixes handled there).
"""

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from hrpose.utils.checkpoint import CheckpointError, load_checkpoint, state_dict_of, strip_prefixes

logger = logging.getLogger(__name__)

INIT_STD = 0.001  # reference: every conv / deconv weight ~ N(0, 0.001), biases 0
MAX_LISTED = 10  # keys shown per list in messages; the rest are counted


@dataclass
class LoadReport:
    """What a load did. ``mismatched`` entries read 'key: checkpoint (a, b) vs model (c, d)'."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


def init_reference_weights(model: nn.Module) -> None:
    """The reference's training init, in place: conv and transposed-conv weights N(0, 0.001), their
    biases 0; BatchNorm weight 1, bias 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Tensors of a checkpoint file (``hrpose.utils.checkpoint.load_checkpoint`` + ``state_dict_of``)."""
    return state_dict_of(load_checkpoint(path), str(path))


def _is_bn_counter(key: str) -> bool:
    # Checkpoints from PyTorch < 0.4.1 have no BN batch counter; the model keeps its own (it only
    # matters for BN momentum=None, which no model here uses).
    return key.endswith("num_batches_tracked")


def compare_state_dicts(model_state: Mapping[str, Tensor], checkpoint: Mapping[str, Tensor]) -> LoadReport:
    """Sort checkpoint keys into loadable, unexpected and mis-shaped, and list the model keys it lacks
    (a missing ``num_batches_tracked`` is not reported)."""
    report = LoadReport()
    for key, value in checkpoint.items():
        if key not in model_state:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(model_state[key].shape):
            report.mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model "
                                     f"{tuple(model_state[key].shape)}")
        else:
            report.loaded.append(key)
    report.missing = [k for k in model_state if k not in checkpoint and not _is_bn_counter(k)]
    return report


def _listing(keys: Sequence[str], limit: int = MAX_LISTED) -> str:
    shown = "; ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def _joint_hint(model_state: Mapping[str, Tensor], checkpoint: Mapping[str, Tensor]) -> str:
    """A hint when the head's output channels (K) differ, e.g. an MPII checkpoint in a COCO model."""
    key = "final_layer.weight"
    if key not in model_state or key not in checkpoint:
        return ""
    ckpt_k, model_k = checkpoint[key].shape[0], model_state[key].shape[0]
    if ckpt_k == model_k:
        return ""
    return (f"\n  hint: the checkpoint predicts {ckpt_k} joints and the model {model_k}: a {ckpt_k}-joint "
            f"checkpoint (MPII has 16, COCO 17) was loaded into a {model_k}-joint model. Set "
            f"MODEL.NUM_JOINTS {ckpt_k} to use it as it is, or load with strict=False to keep all but the "
            "head (fine-tuning).")


def mismatch_message(path: str, report: LoadReport, hint: str = "") -> str:
    lines = [f"checkpoint {path} does not match the model:"]
    for title, keys in (("mis-shaped", report.mismatched), ("missing from the checkpoint", report.missing),
                        ("unexpected (not in the model)", report.unexpected)):
        if keys:
            lines.append(f"  {len(keys)} {title}: {_listing(keys)}")
    return "\n".join(lines) + hint


def load_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str,
                    strict: bool = True) -> LoadReport:
    """Load ``state_dict`` into ``model`` (in place; wrappers are looked through) and return what was loaded.

    ``source`` names where the tensors came from in messages (a path). Key prefixes 'module.' /
    '_orig_mod.' are removed; a missing ``num_batches_tracked`` is tolerated. With ``strict=True`` any
    missing, unexpected or mis-shaped key raises ``CheckpointError`` (and nothing is loaded); with
    ``strict=False`` the matching tensors load and the rest is logged as a warning.
    """
    model = unwrap_model(model)
    checkpoint = strip_prefixes(dict(state_dict))
    model_state = model.state_dict()
    report = compare_state_dicts(model_state, checkpoint)
    problems = report.missing or report.unexpected or report.mismatched
    message = mismatch_message(source, report, _joint_hint(model_state, checkpoint)) if problems else ""
    if problems and strict:
        raise CheckpointError(message, report.missing, report.unexpected, report.mismatched)
    if problems:
        logger.warning("strict=False: loading %d of %d model tensors; %s", len(report.loaded),
                       len(model_state), message)
    _assign(model, model_state, {k: checkpoint[k] for k in report.loaded})
    logger.info("loaded %d tensors from %s", len(report.loaded), source)
    return report


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load a checkpoint file into ``model`` (in place) and return what was loaded.

    Accepts a plain state_dict, ``{'state_dict': ...}`` or ``{'model': ...}``, with or without the
    'module.' / '_orig_mod.' prefixes (``torch.load(weights_only=True)``). Raises ``CheckpointError``
    naming ``path`` when it is missing, unreadable, or (``strict``) does not match; see
    ``load_state_dict``.
    """
    return load_state_dict(model, read_state_dict(path), str(path), strict)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside DataParallel / DistributedDataParallel and ``torch.compile`` wrappers, whose
    state_dict keys carry 'module.' / '_orig_mod.' prefixes (the same tensors, so loading into it loads
    into the wrapper too)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _assign(model: nn.Module, model_state: Mapping[str, Tensor], tensors: Mapping[str, Tensor]) -> None:
    # A complete dict through load_state_dict(strict=True): keys not in `tensors` keep their value.
    model.load_state_dict({**model_state, **tensors}, strict=True)


def load_pretrained(model: nn.Module, path: str, layers: Sequence[str]) -> LoadReport:
    """Initialise the backbone from an ImageNet checkpoint (``MODEL.PRETRAINED``), in place.

    Only checkpoint keys whose top-level name (before the first '.') is in ``layers``
    (``EXTRA.PRETRAINED_LAYERS``; ``['*']`` = all) are used. Logs (INFO) the number of tensors loaded,
    the model keys that stayed at their initial value, and the checkpoint keys skipped with the reason
    (outside PRETRAINED_LAYERS, or not in the model: e.g. the classification head, ``incre_modules`` or
    ``stage4.2.fuse_layers.1-3`` of the ImageNet HRNet). Mis-shaped keys raise ``CheckpointError``.
    """
    model = unwrap_model(model)
    checkpoint = read_state_dict(path)
    take_all = "*" in layers
    selected = {k: v for k, v in checkpoint.items() if take_all or k.split(".", 1)[0] in layers}
    outside = [k for k in checkpoint if k not in selected]
    model_state = model.state_dict()
    report = compare_state_dicts(model_state, selected)
    if report.mismatched:
        raise CheckpointError(f"pretrained {path}: {len(report.mismatched)} mis-shaped keys: "
                                   f"{_listing(report.mismatched)}", mismatched=report.mismatched)
    if not report.loaded:
        raise CheckpointError(f"pretrained {path}: none of its {len(checkpoint)} tensors matches a "
                                   f"model key within PRETRAINED_LAYERS {list(layers)}; checkpoint keys: "
                                   f"{_listing(list(checkpoint))}", unexpected=list(checkpoint))
    _assign(model, model_state, {k: selected[k] for k in report.loaded})
    logger.info("pretrained %s: loaded %d of %d checkpoint tensors into %d model tensors",
                path, len(report.loaded), len(checkpoint), len(model_state))
    kept = [k for k in report.missing if take_all or k.split(".", 1)[0] in layers]
    if kept:  # with '*' that is the head; with a list of layers, ones asked for and absent: a warning
        logger.log(logging.INFO if take_all else logging.WARNING, "pretrained: %d model tensors keep "
                   "their initial values (not in the checkpoint): %s", len(kept), _listing(kept))
    not_listed = [k for k in report.missing if k not in kept]
    if not_listed:
        logger.info("pretrained: %d model tensors keep their initial values (outside PRETRAINED_LAYERS): "
                    "%s", len(not_listed), _listing(not_listed))
    if outside:
        logger.info("pretrained: skipped %d checkpoint tensors outside PRETRAINED_LAYERS %s: %s",
                    len(outside), list(layers), _listing(outside))
    if report.unexpected:
        logger.info("pretrained: skipped %d checkpoint tensors that the model does not have: %s",
                    len(report.unexpected), _listing(report.unexpected))
    report.unexpected = outside + report.unexpected
    return report
