"""TestOptions / TrainOptions: values from the config, keyword overrides, unknown overrides rejected, AMP
resolved for the device (a warning and float32 on the CPU), bad values rejected, frozen."""

import dataclasses
import logging

import pytest
import torch

from hrpose.config import get_cfg, load_cfg
from hrpose.engine.options import TestOptions, TrainOptions, build_test_options, build_train_options

CPU = torch.device("cpu")
TEST_OPTS = ["TEST.FLIP_TEST", "True", "TEST.SHIFT_HEATMAP", "True", "TEST.DECODE", "dark",
             "TEST.POST_PROCESS", "False", "TEST.FUSE_BN", "True", "TEST.CHANNELS_LAST", "True",
             "TEST.COMPILE", "max-autotune", "TEST.BATCH_SIZE_PER_GPU", "7"]


def test_test_options_come_from_the_config():
    options = build_test_options(load_cfg(None, TEST_OPTS), CPU)
    assert options == TestOptions(flip_test=True, shift_heatmap=True, decode="dark", post_process=False,
                                  amp="none", fuse_bn=True, channels_last=True, compile="max-autotune",
                                  batch_size=7)
    defaults = build_test_options(load_cfg(None), CPU)  # the reference's defaults: no flip, no shift
    assert not defaults.flip_test and not defaults.shift_heatmap and defaults.batch_size == 32


def test_overrides_win_and_unknown_ones_are_rejected():
    cfg = load_cfg(None, TEST_OPTS)
    options = build_test_options(cfg, CPU, flip_test=False, batch_size=1, decode="standard")
    assert not options.flip_test and options.batch_size == 1 and options.decode == "standard"
    assert options.fuse_bn  # the rest still from the config
    with pytest.raises(TypeError, match=r"unknown test option\(s\) \['flip'\]"):
        build_test_options(cfg, CPU, flip=False)
    with pytest.raises(TypeError, match="max_batch"):
        build_test_options(cfg, CPU, max_batch=4)  # the old Predictor argument is batch_size now


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_is_resolved_to_none_on_the_cpu_with_a_warning(amp, caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        test = build_test_options(load_cfg(None, ["TEST.AMP", amp]), CPU)
        train = build_train_options(load_cfg(None, ["TRAIN.AMP", amp]), CPU)
    assert test.amp == train.amp == "none"
    assert f"TEST.AMP = {amp} is CUDA-only" in caplog.text
    assert f"TRAIN.AMP = {amp} is CUDA-only" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        assert build_test_options(load_cfg(None), CPU, amp=amp).amp == "none"  # an override as well
    assert "TEST.AMP" in caplog.text


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_on_cpu_keeps_it_per_phase(amp, caplog):
    with caplog.at_level(logging.WARNING, logger="hrpose.engine.amp"):
        cfg = load_cfg(None, ["TRAIN.AMP", amp, "TEST.AMP", amp, "TRAIN.AMP_ON_CPU", "True"])
        assert build_train_options(cfg, CPU).amp == amp
        assert build_test_options(cfg, CPU).amp == "none"  # TEST.AMP_ON_CPU is a key of its own
        cfg = load_cfg(None, ["TEST.AMP", amp, "TEST.AMP_ON_CPU", "True"])
        assert build_test_options(cfg, CPU).amp == amp
        assert build_test_options(cfg, CPU, amp="none").amp == "none"
    assert "TRAIN.AMP" not in caplog.text and "TEST.AMP = " in caplog.text  # only the one left off


def test_amp_on_cpu_is_off_by_default():
    cfg = get_cfg()
    assert cfg.TRAIN.AMP_ON_CPU is False and cfg.TEST.AMP_ON_CPU is False


def test_amp_is_kept_on_cuda():
    cuda = torch.device("cuda")  # resolving needs no GPU
    assert build_test_options(load_cfg(None, ["TEST.AMP", "bf16"]), cuda).amp == "bf16"
    assert build_train_options(load_cfg(None, ["TRAIN.AMP", "fp16"]), cuda).amp == "fp16"


def test_bad_values_are_rejected():
    cfg = get_cfg()  # not validated by load_cfg
    cfg.TEST.DECODE = "soft-argmax"
    with pytest.raises(ValueError, match=r"TEST.DECODE = 'soft-argmax'"):
        build_test_options(cfg, CPU)
    with pytest.raises(ValueError, match=r"TEST.DECODE = 'argmax'"):
        build_test_options(load_cfg(None), CPU, decode="argmax")
    with pytest.raises(ValueError, match=r"TEST.BATCH_SIZE_PER_GPU = 0"):
        build_test_options(load_cfg(None, ["TEST.BATCH_SIZE_PER_GPU", "0"]), CPU)
    with pytest.raises(ValueError, match=r"TEST.AMP = 'fp8'"):
        build_test_options(load_cfg(None), CPU, amp="fp8")


def test_train_options_come_from_the_config():
    cfg = load_cfg(None, ["TRAIN.CHANNELS_LAST", "True", "TRAIN.WARMUP_ITERS", "50",
                          "TRAIN.MAX_NONFINITE_STEPS", "3", "PRINT_FREQ", "9"])
    assert build_train_options(cfg, CPU) == TrainOptions(amp="none", channels_last=True, warmup_iters=50,
                                                         max_nonfinite_steps=3, print_freq=9)


def test_options_are_frozen():
    options = TestOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.flip_test = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainOptions().amp = "bf16"
