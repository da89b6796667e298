"""Mixed precision: the ``TRAIN.AMP`` / ``TEST.AMP`` names, the rule for where they apply, and autocast.

``resolve_amp`` is the only place that decides whether AMP runs on a device; everything downstream
(training, evaluation, ``Predictor``, benchmarks) receives the resolved name and just autocasts to it.
"""

import contextlib
import logging

import torch

logger = logging.getLogger(__name__)

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str, device: torch.device, key: str = "AMP") -> str:
    """``amp`` ('none' | 'bf16' | 'fp16') as it applies on ``device``: itself on CUDA, 'none' elsewhere
    (with a warning naming ``key`` when AMP was asked for). Raises ``ValueError`` for an unknown name."""
    if amp not in AMP_DTYPES:
        raise ValueError(f"{key} = {amp!r}: expected one of {sorted(AMP_DTYPES)}")
    if amp != "none" and device.type != "cuda":
        logger.warning("%s = %s is CUDA-only; running in float32 on %s", key, amp, device)
        return "none"
    return amp


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` to the dtype named by an already resolved ``amp``; a no-op for
    'none'."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
