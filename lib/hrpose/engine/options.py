"""The per-phase options, each built from the config in exactly one place.

* ``TestOptions`` (``build_test_options``): how a model predicts at test time — flip test, decoding,
  AMP resolved for the device, model preparation (fuse BN, channels_last, compile), batch size. Used by
  evaluation (``tools/test.py``, validation during training) and by ``Predictor``, so the two agree.
* ``TrainOptions`` (``build_train_options``): how a training step runs — AMP resolved for the device,
  channels_last, warm-up, the non-finite guard, the log interval.

Both are frozen: a phase cannot change them underway. Library code below these functions takes the
options object, never the config.
"""

from dataclasses import dataclass

import torch
from yacs.config import CfgNode

from hrpose.engine.amp import resolve_amp

DECODE_METHODS = ("standard", "dark")


@dataclass(frozen=True)
class TestOptions:
    """Test-time behaviour (``TEST.*``). ``amp`` is already resolved for the device ('none' off CUDA)."""

    __test__ = False  # not a pytest test class despite the name

    flip_test: bool = True  # also run the mirrored crops and average the flipped-back heatmaps
    shift_heatmap: bool = True  # the reference's one-column shift of the flipped-back maps
    decode: str = "standard"  # standard (argmax + quarter offset) | dark
    post_process: bool = True  # sub-pixel refinement of the argmax (off = raw integer argmax)
    amp: str = "none"  # none | bf16 | fp16 autocast of the forward
    fuse_bn: bool = False  # fold BatchNorm into the convolutions before inference
    channels_last: bool = False  # NHWC input and weights
    compile: str = ""  # torch.compile mode ('' = eager)
    batch_size: int = 32  # crops per forward pass (the flip test doubles the tensor batch)

    def __post_init__(self):
        if self.decode not in DECODE_METHODS:
            raise ValueError(f"TEST.DECODE = {self.decode!r}: expected one of {list(DECODE_METHODS)}")
        if self.batch_size < 1:
            raise ValueError(f"TEST.BATCH_SIZE_PER_GPU = {self.batch_size}: expected >= 1")


@dataclass(frozen=True)
class TrainOptions:
    """Training-step behaviour (``TRAIN.*``, ``PRINT_FREQ``). ``amp`` is resolved for the device."""

    amp: str = "none"  # none | bf16 | fp16 (fp16 with a GradScaler)
    channels_last: bool = False
    warmup_iters: int = 0  # linear LR warm-up over the first iterations of the run
    max_nonfinite_steps: int = 20  # fp16: consecutive skipped steps before the run stops
    print_freq: int = 20  # iterations between log lines (and between host reads of the loss statistics)


def build_test_options(cfg: CfgNode, device: torch.device, **overrides) -> TestOptions:
    """``TestOptions`` from ``cfg.TEST``; ``overrides`` (field names) win; AMP resolved for ``device``
    (kept on the CPU only with ``TEST.AMP_ON_CPU``)."""
    test = cfg.TEST
    values = dict(flip_test=bool(test.FLIP_TEST), shift_heatmap=bool(test.SHIFT_HEATMAP),
                  decode=str(test.DECODE), post_process=bool(test.POST_PROCESS), amp=str(test.AMP),
                  fuse_bn=bool(test.FUSE_BN), channels_last=bool(test.CHANNELS_LAST),
                  compile=str(test.COMPILE), batch_size=int(test.BATCH_SIZE_PER_GPU))
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise TypeError(f"unknown test option(s) {unknown}; expected some of {sorted(values)}")
    values.update(overrides)
    values["amp"] = resolve_amp(values["amp"], device, "TEST.AMP", allow_cpu=bool(test.AMP_ON_CPU))
    return TestOptions(**values)


def build_train_options(cfg: CfgNode, device: torch.device) -> TrainOptions:
    """``TrainOptions`` from ``cfg.TRAIN`` and ``PRINT_FREQ``; AMP resolved for ``device`` (kept on the
    CPU only with ``TRAIN.AMP_ON_CPU``)."""
    amp = resolve_amp(cfg.TRAIN.AMP, device, "TRAIN.AMP", allow_cpu=bool(cfg.TRAIN.AMP_ON_CPU))
    return TrainOptions(amp=amp,
                        channels_last=bool(cfg.TRAIN.CHANNELS_LAST), warmup_iters=int(cfg.TRAIN.WARMUP_ITERS),
                        max_nonfinite_steps=int(cfg.TRAIN.MAX_NONFINITE_STEPS),
                        print_freq=int(cfg.PRINT_FREQ))

