"""resolve_amp (the one "AMP only on CUDA" rule, and its ``*.AMP_ON_CPU`` exception) and autocast (a no-op
for 'none')."""

import contextlib
import logging

import pytest
import torch

from hrpose.engine.amp import AMP_DTYPES, autocast, resolve_amp

CPU = torch.device("cpu")


def test_the_amp_table():
    assert AMP_DTYPES == {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_is_cuda_only(amp, caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        assert resolve_amp(amp, CPU, "TRAIN.AMP") == "none"
    assert f"TRAIN.AMP = {amp} is CUDA-only; running in float32 on cpu" in caplog.text
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        assert resolve_amp(amp, torch.device("meta")) == "none"  # any device but CUDA


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_allow_cpu_keeps_the_amp_on_the_cpu_only(amp, caplog):
    """``TRAIN/TEST.AMP_ON_CPU``: the CUDA code path on the CPU (tests, benchmarks), silently."""
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        assert resolve_amp(amp, CPU, "TRAIN.AMP", allow_cpu=True) == amp
        assert resolve_amp(amp, torch.device("meta"), allow_cpu=True) == "none"  # the CPU only
    assert not [r for r in caplog.records if "cpu" in r.getMessage()]


def test_the_warning_names_the_switch_that_allows_the_cpu(caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        resolve_amp("bf16", CPU, "TEST.AMP")
    assert "set TEST.AMP_ON_CPU True to run it there" in caplog.text


def test_none_is_silent_and_unknown_names_are_rejected(caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        assert resolve_amp("none", CPU) == "none"
    assert not caplog.records
    with pytest.raises(ValueError, match=r"TEST.AMP = 'float16': expected one of \['bf16', 'fp16', 'none'\]"):
        resolve_amp("float16", CPU, "TEST.AMP")
    with pytest.raises(ValueError, match=r"TEST.AMP = 'fp8'"):
        resolve_amp("fp8", CPU, "TEST.AMP", allow_cpu=True)


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_cuda_keeps_the_requested_amp(amp):
    assert resolve_amp(amp, torch.device("cuda", 0)) == amp  # the rule needs no GPU to be checked


def test_autocast_none_is_a_no_op():
    context = autocast(CPU, "none")
    assert isinstance(context, contextlib.nullcontext)
    layer = torch.nn.Linear(4, 4)
    with context:
        assert layer(torch.randn(2, 4)).dtype == torch.float32
        assert not torch.is_autocast_enabled("cpu")


def test_autocast_casts_to_the_resolved_dtype():
    """On the CPU, autocast itself works (resolve_amp keeps training and evaluation off it unless
    ``*.AMP_ON_CPU``)."""
    layer = torch.nn.Linear(4, 4)
    with autocast(CPU, "bf16"):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16


@pytest.mark.cuda
def test_autocast_on_cuda():
    layer = torch.nn.Linear(4, 4).cuda()
    with autocast(torch.device("cuda"), "fp16"):
        assert layer(torch.randn(2, 4, device="cuda")).dtype == torch.float16
