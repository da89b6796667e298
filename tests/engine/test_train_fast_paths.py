"""Every training fast path on the CPU, through the code that runs on a GPU.

The tiny HRNet trains on the sample data with the objects ``tools/train.py`` builds
(``trainer.build_training`` / ``wrap_model``, ``build_dataloader``, ``train_one_epoch``), once in float32
with the defaults (fused Adam) and once per switch or combination that users pick: the non-fused
optimizer, channels_last, targets rendered on the device, bf16, fp16 with the GradScaler, bf16 +
channels_last + targets on the device, fp16 + channels_last, and ``torch.compile`` (a smaller model:
compiling the HRNet takes minutes on a 2-core CPU). AMP runs on the CPU through ``TRAIN.AMP_ON_CPU``.
The last section counts the host syncs per training step (none in the default path).

Each run checks that its switch is really on (output dtype, memory format, fused kernels, keypoints in
the batches, the compiled wrapper) and that it learns like float32:

* ``GRAD``: relative L2 difference of the first step's gradients (same weights, same batch) to float32.
  Measured: non-fused / targets on device 0, channels_last 7.6e-4, fp16 7.5e-2 .. 8.9e-2, bf16 0.28 ..
  0.31 (bf16 keeps 8 mantissa bits; this tiny model's gradients partly cancel). AMP must also differ
  (> 1e-4): a switch that silently stayed in float32 fails.
* ``TRAJECTORY``: every epoch's mean loss within this fraction of float32's. Measured <= 6.4% (Adam turns
  rounding-level gradient differences into LR-sized steps in its first updates).
* the loss falls: the last epoch's mean < ``FALL`` x the loss at the initial weights (measured 0.45 ..
  0.48 for every variant).
"""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from benchmarks.syncs import count_epoch_syncs, count_syncs
from hrpose.codecs import build_codec
from hrpose.datasets import build_dataloader, build_keypoint_set
from hrpose.engine import trainer
from hrpose.engine.optim import build_optimizer
from hrpose.engine.options import build_train_options
from hrpose.engine.train_loop import TrainStep, train_one_epoch
from hrpose.losses import build_loss

CPU = torch.device("cpu")
EPOCHS = 4  # of 3 batches of 8 crops, after the first step
GRAD = {"fp32": 1e-2, "fp16": 0.2, "bf16": 0.5}  # max relative gradient difference, by precision
TRAJECTORY = 0.15
FALL = 0.6
SWITCHES = {  # name: (config overrides, precision)
    "non-fused optimizer": (("TRAIN.FUSED_OPTIMIZER", "False"), "fp32"),
    "channels_last": (("TRAIN.CHANNELS_LAST", "True"), "fp32"),
    "targets on device": (("TRAIN.TARGETS_ON_DEVICE", "True"), "fp32"),
    "bf16": (("TRAIN.AMP", "bf16"), "bf16"),
    "fp16": (("TRAIN.AMP", "fp16"), "fp16"),
    "bf16 + channels_last + targets on device": (
        ("TRAIN.AMP", "bf16", "TRAIN.CHANNELS_LAST", "True", "TRAIN.TARGETS_ON_DEVICE", "True"), "bf16"),
    "fp16 + channels_last": (("TRAIN.AMP", "fp16", "TRAIN.CHANNELS_LAST", "True"), "fp16"),
}


@dataclass
class Trained:
    first_loss: float  # at the initial weights
    losses: list  # epoch means
    grads: torch.Tensor  # the first step's gradients, flattened, float64
    run: trainer.Training
    batches: list
    seen: dict  # what the model saw: output dtypes, input memory formats


@pytest.fixture(scope="module")
def switch_cfg(tiny_cfg, sample_data_root):
    """``switch_cfg(*KEY_VALUE)``: the tiny HRNet on the sample data, 64x64, no augmentation, fixed order,
    AMP allowed on the CPU."""

    def build(*opts):
        return tiny_cfg(
            "DATASET.ROOT", sample_data_root, "DATASET.TRAIN_SET", "train2017", "DATASET.TEST_SET", "val2017",
            "TEST.USE_GT_BBOX", "True", "WORKERS", "0", "PRINT_FREQ", "2", "MODEL.IMAGE_SIZE", "[64, 64]",
            "MODEL.HEATMAP_SIZE", "[16, 16]", "TRAIN.BATCH_SIZE_PER_GPU", "8", "TRAIN.SHUFFLE", "False",
            "DATASET.FLIP", "False", "DATASET.SCALE_FACTOR", "0.0", "DATASET.ROT_FACTOR", "0",
            "DATASET.PROB_HALF_BODY", "0.0", "TRAIN.LR", "3e-3", "TRAIN.AMP_ON_CPU", "True", *opts)

    return build


def train(cfg, epochs: int = EPOCHS, device: torch.device = CPU) -> Trained:
    """Build as the trainer does, take one step on the first batch, then train ``epochs`` epochs."""
    torch.manual_seed(0)
    codec, keypoint_set = build_codec(cfg), build_keypoint_set(cfg)
    run = trainer.build_training(cfg, device, codec, keypoint_set)
    run.step.model = trainer.wrap_model(run.bare, cfg, device)
    seen = {"dtype": set(), "channels_last": set()}
    run.bare.register_forward_hook(lambda module, args, out: seen["dtype"].add(out.dtype))
    run.bare.register_forward_pre_hook(lambda module, args: seen["channels_last"].add(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    batches = list(build_dataloader(cfg, True, codec, keypoint_set, target_renderer=run.step.target_renderer))
    first = train_one_epoch(run.step, batches[:1], device, 0)
    assert first["skipped_steps"] == 0
    grads = torch.cat([p.grad.flatten().double().cpu() for p in run.bare.parameters()])
    losses = [train_one_epoch(run.step, batches, device, epoch)["loss"] for epoch in range(1, epochs + 1)]
    return Trained(first["loss"], losses, grads, run, batches, seen)


@pytest.fixture(scope="module")
def reference(switch_cfg) -> Trained:
    """Float32, eager, NCHW, fused Adam, targets from the loader: the defaults."""
    return train(switch_cfg())


def assert_learns_like(variant: Trained, reference: Trained, precision: str) -> None:
    grad_diff = float((variant.grads - reference.grads).norm() / reference.grads.norm())
    assert grad_diff <= GRAD[precision], grad_diff
    if precision != "fp32":
        assert grad_diff > 1e-4, "AMP did not change the gradients: did it run at all?"
    for ours, theirs in zip(variant.losses, reference.losses, strict=True):
        assert abs(ours - theirs) <= TRAJECTORY * theirs, (variant.losses, reference.losses)
    assert variant.losses[-1] < FALL * variant.first_loss, (variant.first_loss, variant.losses)


def test_the_default_path_learns_with_fused_adam_in_float32(reference):
    assert all(group["fused"] for group in reference.run.step.optimizer.param_groups)
    assert reference.seen == {"dtype": {torch.float32}, "channels_last": {False}}
    assert reference.run.step.scaler is None and reference.run.step.target_renderer is None
    assert reference.losses[-1] < FALL * reference.first_loss, (reference.first_loss, reference.losses)


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_switch_is_on_and_learns_like_float32(name, switch_cfg, reference):
    opts, precision = SWITCHES[name]
    variant = train(switch_cfg(*opts))
    step, settings = variant.run.step, dict(zip(opts[::2], opts[1::2], strict=True))
    expected_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert variant.seen["dtype"] == {expected_dtype}
    assert step.options.amp == settings.get("TRAIN.AMP", "none")
    assert (step.scaler is not None) == (precision == "fp16")
    channels_last = settings.get("TRAIN.CHANNELS_LAST") == "True"
    assert variant.seen["channels_last"] == {channels_last}
    conv = next(m for m in variant.run.bare.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    fused = settings.get("TRAIN.FUSED_OPTIMIZER") != "False"
    assert all(bool(group["fused"]) == fused for group in step.optimizer.param_groups)
    on_device = settings.get("TRAIN.TARGETS_ON_DEVICE") == "True"
    assert (step.target_renderer is not None) == on_device
    first_batch = variant.batches[0]
    assert ("keypoints" in first_batch) == on_device and ("heatmaps" in first_batch) != on_device
    assert_learns_like(variant, reference, precision)


def test_targets_on_the_device_train_to_the_same_weights(switch_cfg, reference):
    variant = train(switch_cfg("TRAIN.TARGETS_ON_DEVICE", "True"))
    assert variant.losses == reference.losses and variant.first_loss == reference.first_loss
    for ours, theirs in zip(variant.run.bare.parameters(), reference.run.bare.parameters(), strict=True):
        assert torch.equal(ours, theirs)


def test_fp16_scaler_skips_a_forced_overflow_step_and_keeps_learning(switch_cfg):
    """fp16 + GradScaler + fused Adam: the overflowing step leaves weights, moments and the step count
    alone and halves the scale; training goes on and the loss keeps falling."""
    variant = train(switch_cfg("TRAIN.AMP", "fp16"), epochs=1)
    step, batches = variant.run.step, variant.batches
    before = [p.detach().clone() for p in variant.run.bare.parameters()]
    first_param = next(variant.run.bare.parameters())
    state_before = {k: v.clone() for k, v in step.optimizer.state[first_param].items()}
    scale = step.scaler.get_scale()
    overflow = variant.run.bare.register_forward_hook(lambda module, args, out: out * float("inf"))
    stats = train_one_epoch(step, batches[:1], CPU, 2)
    overflow.remove()
    assert stats["skipped_steps"] == 1 and step.scaler.get_scale() == scale / 2
    assert all(torch.equal(a, b) for a, b in zip(before, variant.run.bare.parameters(), strict=True))
    state_after = step.optimizer.state[first_param]
    assert all(torch.equal(state_before[k], state_after[k]) for k in state_before)  # moments, step count
    later = [train_one_epoch(step, batches, CPU, epoch)["loss"] for epoch in range(3, 6)]
    assert later[-1] < variant.losses[-1] and stats["skipped_steps"] == 1


def tiny_conv_net() -> nn.Module:
    """3 convolutions, 17 heatmaps at stride 4: compiles in seconds on a CPU (the HRNet takes minutes)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 17, 1))


def train_small(cfg, batches, epochs: int) -> tuple[list, torch.Tensor, nn.Module]:
    """``tiny_conv_net`` wrapped (``wrap_model``: torch.compile per ``TRAIN.COMPILE``) and trained with
    the trainer's optimizer, loss and options; the losses, first-step gradients and the wrapped model."""
    bare = tiny_conv_net()
    model = trainer.wrap_model(bare, cfg, CPU)
    step = TrainStep(model, build_loss(cfg), build_optimizer(cfg, bare), build_train_options(cfg, CPU))
    losses = [train_one_epoch(step, batches[:1], CPU, 0)["loss"]]
    grads = torch.cat([p.grad.flatten().double() for p in bare.parameters()])
    losses += [train_one_epoch(step, batches, CPU, epoch)["loss"] for epoch in range(1, epochs + 1)]
    return losses, grads, model


@pytest.mark.slow
def test_compiled_model_learns_like_eager(switch_cfg, reference):
    """``TRAIN.COMPILE default`` (inductor, C++ on the CPU) on a small network: float32 rounding only."""
    full = [batch for batch in reference.batches if len(batch["image"]) == 8]  # one shape: one compile
    eager_losses, eager_grads, _ = train_small(switch_cfg("TRAIN.LR", "1e-2"), full, epochs=3)
    losses, grads, model = train_small(switch_cfg("TRAIN.LR", "1e-2", "TRAIN.COMPILE", "default"), full,
                                       epochs=3)
    assert isinstance(model, torch._dynamo.eval_frame.OptimizedModule)
    assert float((grads - eager_grads).norm() / eager_grads.norm()) < 1e-4
    assert losses[0] == pytest.approx(eager_losses[0], rel=1e-5)
    assert losses == pytest.approx(eager_losses, rel=TRAJECTORY)
    assert losses[-1] < FALL * losses[0], losses


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["bf16 + channels_last + targets on device", "fp16 + channels_last"])
def test_fast_recipes_learn_like_float32_on_cuda(name, switch_cfg):
    """The same checks on the GPU, against float32 on the GPU (cuDNN, fused CUDA kernels)."""
    cuda = torch.device("cuda")
    reference = train(switch_cfg(), device=cuda)
    opts, precision = SWITCHES[name]
    variant = train(switch_cfg(*opts), device=cuda)
    assert all(group["fused"] for group in variant.run.step.optimizer.param_groups)
    assert variant.seen["dtype"] == {torch.bfloat16 if precision == "bf16" else torch.float16}
    assert_learns_like(variant, reference, precision)


# --- host syncs: none per step in the default path -----------------------------------------------------

@pytest.fixture(scope="module")
def sync_cfg(tiny_cfg, sample_data_root):
    def build(*opts):
        return tiny_cfg("DATASET.ROOT", sample_data_root, "DATASET.TRAIN_SET", "train2017", "WORKERS", "0",
                        "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]",
                        "TRAIN.BATCH_SIZE_PER_GPU", "2", "TRAIN.AMP_ON_CPU", "True", "PRINT_FREQ", "4", *opts)

    return build


@pytest.mark.parametrize("opts", [
    (),  # the default path: float32, fused Adam
    ("TRAIN.TARGETS_ON_DEVICE", "True"),
    ("TRAIN.AMP", "bf16", "TRAIN.CHANNELS_LAST", "True"),
    ("TRAIN.AMP", "fp16"),  # GradScaler + fused Adam: the scaler hands found_inf to the kernel
], ids=["default", "targets-on-device", "bf16-channels-last", "fp16-scaler"])
def test_no_host_sync_per_step_only_one_read_every_print_freq(sync_cfg, opts):
    """The tiny HRNet, built as the trainer builds it, 10 steps with PRINT_FREQ 4: the only syncs are the
    three reads (iterations 4, 8 and the last), one ``tolist`` each."""
    result = count_epoch_syncs(sync_cfg(*opts), torch.device("cpu"), iters=10)
    assert result["reads"] == 3 and result["calls"] == {"tolist": 3}, result
    assert result["syncs_per_step"] == 0


@pytest.mark.cuda
@pytest.mark.parametrize("opts", [(), ("TRAIN.AMP", "bf16", "TRAIN.CHANNELS_LAST", "True",
                                       "TRAIN.TARGETS_ON_DEVICE", "True"), ("TRAIN.AMP", "fp16")])
def test_no_host_sync_per_step_on_cuda(sync_cfg, opts):
    """On the GPU, CUDA's own sync detector (``torch.cuda.set_sync_debug_mode``) agrees: the syncs it
    flags do not grow with the number of steps (one read per epoch here)."""
    cuda = torch.device("cuda")
    flagged = {}
    for iters in (8, 16):
        result = count_epoch_syncs(sync_cfg("PRINT_FREQ", "100", *opts), cuda, iters=iters)
        assert result["calls"] == {"tolist": 1}, result
        flagged[iters] = result["cuda_flagged"]
    assert flagged[16] == flagged[8], flagged


def test_a_non_fused_optimizer_syncs_every_step(sync_cfg):
    """The fallback (``TRAIN.FUSED_OPTIMIZER False``): the step is decided on the host (and torch's
    single-tensor Adam reads its step counters), which the counter sees."""
    result = count_epoch_syncs(sync_cfg("TRAIN.FUSED_OPTIMIZER", "False"), torch.device("cpu"), iters=4)
    assert result["calls"]["item"] >= 4 and result["syncs_per_step"] >= 1


def test_the_sync_counter_sees_every_kind_of_sync():
    values = torch.arange(3.0)
    with count_syncs() as counter:
        values.sum().item()
        bool(values.any())
        float(values[0])
        values.tolist()
        values.cpu()
        values.numpy()
        values + 1  # not a sync
    assert counter.calls == {"item": 3, "tolist": 1, "cpu": 1, "numpy": 1}
    assert "tolist" not in vars(torch.Tensor)  # the wrappers are gone afterwards
