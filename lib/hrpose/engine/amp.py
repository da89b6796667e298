"""Mixed precision: the ``TRAIN.AMP`` / ``TEST.AMP`` names, the rule for where they apply, and autocast.

``resolve_amp`` is the only place that decides whether AMP runs on a device; everything downstream
(training, evaluation, ``Predictor``, benchmarks) receives the resolved name and just autocasts to it.
"""

import contextlib
import logging

import torch

logger = logging.getLogger(__name__)

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str, device: torch.device, key: str = "AMP", allow_cpu: bool = False) -> str:
    """``amp`` ('none' | 'bf16' | 'fp16') as it applies on ``device``: itself on CUDA, 'none' elsewhere
    (with a warning naming ``key`` when AMP was asked for). Raises ``ValueError`` for an unknown name.

    ``allow_cpu`` (``TRAIN.AMP_ON_CPU`` / ``TEST.AMP_ON_CPU``, off by default) keeps ``amp`` on the CPU
    too: CPU autocast and ``GradScaler("cpu")`` run the very code path of CUDA, so tests and benchmarks
    exercise it without a GPU. It is off by default because bf16 / fp16 on a CPU without native
    support is far slower than float32 (docs/benchmarks.md) and changes the numbers of a CPU run.
    """
    if amp not in AMP_DTYPES:
        raise ValueError(f"{key} = {amp!r}: expected one of {sorted(AMP_DTYPES)}")
    if amp == "none" or device.type == "cuda" or (allow_cpu and device.type == "cpu"):
        return amp
    hint = f" (set {key}_ON_CPU True to run it there)" if device.type == "cpu" else ""
    logger.warning("%s = %s is CUDA-only; running in float32 on %s%s", key, amp, device, hint)
    return "none"


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` to the dtype named by an already resolved ``amp``; a no-op for
    'none'."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
