"""LR schedule (drops at 0-based epochs 170 and 200 exactly), warm-up, optimizer choices, fused kernels."""

import warnings

import pytest
import torch
from torch import nn

from hrpose.config import load_cfg
from hrpose.engine.optim import (
    advance_scheduler,
    build_optimizer,
    build_scheduler,
    scaled_lr,
    warmup_factor,
)


def lrs_per_epoch(cfg, epochs):
    """The LR each 0-based epoch trains with, stepping the scheduler after the epoch's optimizer steps."""
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer.step()" warning
        for _ in range(epochs):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return lrs


def test_drops_take_effect_at_170_and_200():
    cfg = load_cfg(None, ["TRAIN.LR_STEP", "[170, 200]", "TRAIN.LR", "0.001", "TRAIN.END_EPOCH", "210"])
    lrs = lrs_per_epoch(cfg, 210)
    assert lrs[169] == pytest.approx(1e-3)
    assert lrs[170] == pytest.approx(1e-4)
    assert lrs[199] == pytest.approx(1e-4)
    assert lrs[200] == pytest.approx(1e-5)
    assert lrs[0] == pytest.approx(1e-3) and lrs[209] == pytest.approx(1e-5)


def test_resumed_scheduler_keeps_the_schedule():
    cfg = load_cfg(None, ["TRAIN.LR_STEP", "[170, 200]"])
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    advance_scheduler(scheduler, 169)
    state = scheduler.state_dict(), optimizer.state_dict()
    optimizer2 = build_optimizer(cfg, nn.Linear(2, 2))
    scheduler2 = build_scheduler(cfg, optimizer2)
    optimizer2.load_state_dict(state[1])
    scheduler2.load_state_dict(state[0])
    assert optimizer2.param_groups[0]["lr"] == pytest.approx(1e-3)  # epoch 169
    advance_scheduler(scheduler2, 1)
    assert optimizer2.param_groups[0]["lr"] == pytest.approx(1e-4)  # epoch 170


def test_warmup_is_linear_and_does_not_touch_the_schedule():
    assert [warmup_factor(i, 4) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with scaled_lr(optimizer, 0.5):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert optimizer.param_groups[0]["lr"] == 0.1


OPTIMIZERS = [("adam", torch.optim.Adam, 0.0), ("adamw", torch.optim.AdamW, 1e-4),
              ("sgd", torch.optim.SGD, 1e-4)]


@pytest.mark.parametrize("name, cls, wd", OPTIMIZERS)
def test_optimizer_choice_and_weight_decay(name, cls, wd):
    optimizer = build_optimizer(load_cfg(None, ["TRAIN.OPTIMIZER", name]), nn.Linear(2, 2))
    assert isinstance(optimizer, cls)
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(wd)  # adam: reference default, no WD


def test_adam_weight_decay_only_when_asked():
    optimizer = build_optimizer(load_cfg(None, ["TRAIN.ADAM_WD", "0.001"]), nn.Linear(2, 2))
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(1e-3)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_fused_kernels_on_the_cpu_unless_switched_off(name):
    """``TRAIN.FUSED_OPTIMIZER`` (default True) gives the fused kernels on the CPU as on CUDA: the
    training step hands them a device-side ``found_inf`` instead of syncing."""
    fused = build_optimizer(load_cfg(None, ["TRAIN.OPTIMIZER", name]), nn.Linear(2, 2))
    assert fused.param_groups[0]["fused"] is True
    plain = build_optimizer(load_cfg(None, ["TRAIN.OPTIMIZER", name, "TRAIN.FUSED_OPTIMIZER", "False"]),
                            nn.Linear(2, 2))
    assert not plain.param_groups[0]["fused"]
