"""Weights: the reference initialisation, ImageNet pretrained loading, and strict checkpoint loading.

``load_state_dict`` is THE strict loader: ``load_weights`` (a file), ``Predictor`` / ``tools/test.py`` /
``tools/infer.py`` (through ``hrpose.apis.loading``) and resume all go through it. Nothing here loads
silently: a mismatch raises ``CheckpointError`` naming the file and listing every missing, unexpected
and mis-shaped key; ``load_pretrained`` logs what it loaded, what stayed at its initial value and which
checkpoint keys it skipped, and why. Files are read by ``hrpose.utils.checkpoint`` (``weights_only=True``,
wrappers and prefixes handled there); the key layouts of mmpose and of the ImageNet classifiers are
recognised and renamed to the reference names by ``layouts.py`` before the comparison.
"""

import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from hrpose.utils.checkpoint import CheckpointError, load_checkpoint, state_dict_of, strip_prefixes

from .layouts import (
    IMAGENET,
    REFERENCE,
    classification_only,
    count_by_prefix,
    describe_counts,
    listing,
    to_reference,
    top_module,
)

logger = logging.getLogger(__name__)

INIT_STD = 0.001  # reference: every conv / deconv weight ~ N(0, 0.001), biases 0


@dataclass
class LoadReport:
    """What a load did. ``mismatched`` entries read 'key: checkpoint (a, b) vs model (c, d)'. For
    ``load_pretrained``, ``missing`` are the model keys that keep their initial value and ``skipped``
    counts the checkpoint tensors left out, by reason and top-level prefix."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    layout: str = REFERENCE  # the checkpoint's key layout (``layouts.detect_layout``)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> {prefix: count}


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


def _layout_hint(layout: str, model_state: Mapping[str, Tensor], checkpoint: Mapping[str, Tensor]) -> str:
    """A hint for an ImageNet classifier given as pose weights, or a v1/v2 head mix-up."""
    if layout == IMAGENET:
        return ("\n  hint: this is an ImageNet classification checkpoint (incre_modules, classifier, ...): "
                "use it as MODEL.PRETRAINED, which loads EXTRA.PRETRAINED_LAYERS only")
    has_v2 = [any(k.startswith("conv_layers.") for k in keys) for keys in (checkpoint, model_state)]
    if has_v2[0] != has_v2[1]:
        head = "v2" if has_v2[0] else "v1"
        return (f"\n  hint: the checkpoint has an HRNet{head.upper()} head: set MODEL.EXTRA.HEAD {head} to "
                "build the model it belongs to")
    return ""


def mismatch_message(path: str, report: LoadReport, hint: str = "") -> str:
    renamed = "" if report.layout == REFERENCE else f" ({report.layout} layout, renamed to reference names)"
    lines = [f"checkpoint {path}{renamed} does not match the model:"]
    for title, keys in (("mis-shaped", report.mismatched), ("missing from the checkpoint", report.missing),
                        ("unexpected (not in the model)", report.unexpected)):
        if keys:
            lines.append(f"  {len(keys)} {title}: {listing(keys)}")
    return "\n".join(lines) + hint


def load_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str, strict: bool = True,
                    scope: Collection[str] | None = None, pose_layouts: bool = True) -> LoadReport:
    """Load ``state_dict`` into ``model`` (in place; wrappers are looked through) and return what was loaded.

    ``source`` names where the tensors came from in messages (a path). Key prefixes 'module.' /
    '_orig_mod.' are removed and the mmpose 0.x / 1.x layouts renamed to the reference names
    (``layouts.to_reference``); a missing ``num_batches_tracked`` is tolerated. ``scope`` (top-level
    module names) restricts the comparison to those model modules; the others keep their values.
    ``pose_layouts=False`` skips the layout renaming (for a model that is not a pose network, such as the
    person detector, whose ``backbone.*`` keys are its own). With
    ``strict=True`` any missing, unexpected or mis-shaped key raises ``CheckpointError`` (and nothing is
    loaded); with ``strict=False`` the matching tensors load and the rest is logged as a warning.
    """
    model = unwrap_model(model)
    checkpoint, layout = strip_prefixes(dict(state_dict)), REFERENCE
    if pose_layouts:
        checkpoint, layout = to_reference(checkpoint, source)
    model_state = model.state_dict()
    compared = model_state
    if scope is not None:
        compared = {k: v for k, v in model_state.items() if top_module(k) in scope}
    report = compare_state_dicts(compared, checkpoint)
    report.layout = layout
    problems = report.missing or report.unexpected or report.mismatched
    hints = _joint_hint(model_state, checkpoint) + _layout_hint(layout, model_state, checkpoint)
    message = mismatch_message(source, report, hints) if problems else ""
    if problems and strict:
        raise CheckpointError(message, report.missing, report.unexpected, report.mismatched)
    if problems:
        logger.warning("strict=False: loading %d of %d model tensors; %s", len(report.loaded),
                       len(model_state), message)
    _assign(model, model_state, {k: checkpoint[k] for k in report.loaded})
    logger.info("loaded %d tensors from %s%s", len(report.loaded), source,
                "" if layout == REFERENCE else f" ({layout} layout)")
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

    Exactly the model modules named in ``layers`` (``EXTRA.PRETRAINED_LAYERS``; ``['*']`` = every
    module the checkpoint has) are loaded, strictly, through ``load_state_dict``: a tensor they lack, an
    unexpected one or a shape clash raises ``CheckpointError``. The classification-only tensors of an
    ImageNet HRNet / ResNet (``incre_modules``, ``downsamp_modules``, the classifier's ``final_layer.{0,1}``,
    ``classifier``, ``fc``, and the fusion rows of the multi-scale last module that a v1 pose head does
    not build) and checkpoint modules outside ``layers`` are skipped and logged with counts by prefix;
    the model's other modules (the pose head) keep their initial values.
    """
    model = unwrap_model(model)
    source = f"pretrained {path}"
    checkpoint, layout = to_reference(read_state_dict(path), source)
    model_keys = model.state_dict().keys()
    rest, classification = classification_only(checkpoint, model_keys)
    scope = {top_module(k) for k in rest} if "*" in layers else set(layers)
    selected = {k: v for k, v in rest.items() if top_module(k) in scope}
    if not selected:
        raise CheckpointError(f"{source}: none of its {len(checkpoint)} tensors belongs to a module within "
                              f"PRETRAINED_LAYERS {list(layers)}; checkpoint keys: "
                              f"{listing(list(checkpoint))}", unexpected=list(checkpoint))
    report = load_state_dict(model, selected, source, strict=True, scope=scope)
    report.layout = layout
    outside = count_by_prefix(k for k in rest if top_module(k) not in scope)
    report.skipped = {"classification-only": dict(classification), "outside PRETRAINED_LAYERS": dict(outside)}
    report.missing = [k for k in model_keys if top_module(k) not in scope and not _is_bn_counter(k)]
    logger.info("%s (%s layout): loaded %d tensors into %s", source, layout, len(report.loaded),
                "every module it has" if "*" in layers else f"PRETRAINED_LAYERS {list(layers)}")
    for reason, counts in report.skipped.items():
        if counts:
            logger.info("pretrained: skipped %d %s checkpoint tensors: %s", sum(counts.values()), reason,
                        describe_counts(counts))
    if report.missing:
        logger.info("pretrained: %d model tensors keep their initial values: %s", len(report.missing),
                    describe_counts(count_by_prefix(report.missing)))
    return report
