"""Mixed precision: the ``TRAIN.AMP`` / ``TEST.AMP`` names and their autocast context."""

import contextlib

import torch

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device_type: str, amp: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to the dtype named by ``amp`` on ``device_type``; a no-op for 'none'."""
    if amp not in AMP_DTYPES:
        raise ValueError(f"AMP = {amp!r}: expected one of {sorted(AMP_DTYPES)}")
    if AMP_DTYPES[amp] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=AMP_DTYPES[amp])
