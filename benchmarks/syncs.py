"""``benchmark.py syncs``: host-device synchronisations per training step, counted on any device.

A sync is any call that makes the host wait for a tensor's value: ``.item()``, ``bool()`` / ``float()``
/ ``int()`` of a tensor (all of which run ``aten._local_scalar_dense``), a device-to-host copy
(``.cpu()``, ``.to("cpu")``, ``.tolist()``, ``.numpy()``). ``count_syncs`` counts them with a
``TorchDispatchMode`` (which also sees calls made from C++) plus wrappers of ``Tensor.tolist`` /
``numpy`` / ``cpu``, which on a CPU tensor dispatch nothing but are syncs on a GPU. So a CPU run
counts the syncs the same code makes on a GPU.

The benchmark builds the training objects as ``tools/train.py`` does (``engine.trainer.build_training``
and ``wrap_model``; by default for the sample model with the library's default ``TRAIN.FUSED_OPTIMIZER
True``, which the sample yaml switches off), loads ``--iters`` batches up front (the loader's own host
work is not the training step's), runs one epoch with ``PRINT_FREQ`` = ``--print_freq`` under
``count_syncs`` and reports the syncs, the host reads (one per ``PRINT_FREQ`` iterations and one at the
end) and the syncs per step beyond those reads.
"""

import argparse
import contextlib
import itertools
import warnings
from collections import Counter
from collections.abc import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hrpose.codecs import build_codec
from hrpose.config import load_cfg
from hrpose.datasets import build_dataloader, build_keypoint_set
from hrpose.engine.train_loop import train_one_epoch
from hrpose.engine.trainer import build_training, wrap_model
from hrpose.utils.dist import resolve_device

from .common import REPO, SAMPLE_ROOT, device_facts, ensure_sample_root, report

SAMPLE_CFG = str(REPO / "experiments" / "sample" / "hrnet_tiny_sample.yaml")
ATEN = torch.ops.aten
HOST_COPIES = (ATEN._to_copy.default, ATEN.copy_.default)
PYTHON_SYNCS = ("tolist", "numpy", "cpu")  # Tensor methods that dispatch nothing on a CPU tensor


class SyncCounter(TorchDispatchMode):
    """Counts ``aten._local_scalar_dense`` and device-to-host copies by kind (``self.calls``)."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()
        self.inside_python_sync = 0  # a wrapped tolist/numpy/cpu is counted once, not again here
        self.cuda_flagged: int | None = None  # syncs CUDA's detector reported (None without CUDA)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.inside_python_sync:
            if func is ATEN._local_scalar_dense.default:
                self.calls["item"] += 1
            elif func in HOST_COPIES and _device_to_host(func, args, kwargs):
                self.calls["to_host"] += 1
        return func(*args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _device_to_host(func, args, kwargs) -> bool:
    if func is ATEN.copy_.default:  # copy_(dst, src)
        return args[0].device.type == "cpu" and args[1].device.type != "cpu"
    target = kwargs.get("device")
    return args[0].device.type != "cpu" and target is not None and torch.device(target).type == "cpu"


@contextlib.contextmanager
def _cuda_sync_warnings() -> Iterator[list]:
    """Where CUDA is available: the warnings of CUDA's own sync detector
    (``torch.cuda.set_sync_debug_mode("warn")``) inside the block; else an empty list."""
    if not torch.cuda.is_available():
        yield []
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode(previous)


@contextlib.contextmanager
def count_syncs() -> Iterator[SyncCounter]:
    """``with count_syncs() as counter:`` ... ``counter.total`` / ``counter.calls``; on a machine with
    CUDA also ``counter.cuda_flagged``, the syncs CUDA's own detector reported (not in ``total``)."""
    counter = SyncCounter()
    originals = {name: getattr(torch.Tensor, name) for name in PYTHON_SYNCS}
    own = {name: name in vars(torch.Tensor) for name in PYTHON_SYNCS}  # else inherited from TensorBase

    def wrapped(name, method):
        def call(self, *args, **kwargs):
            counter.calls[name] += 1
            counter.inside_python_sync += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                counter.inside_python_sync -= 1
        return call

    for name, method in originals.items():
        setattr(torch.Tensor, name, wrapped(name, method))
    try:
        with counter, _cuda_sync_warnings() as flagged:
            yield counter
    finally:
        counter.cuda_flagged = len(flagged) if torch.cuda.is_available() else None
        for name, method in originals.items():
            if own[name]:
                setattr(torch.Tensor, name, method)
            else:
                delattr(torch.Tensor, name)


def count_epoch_syncs(cfg, device: torch.device, iters: int) -> dict:
    """Syncs of one training epoch of ``iters`` pre-loaded batches, built as the trainer builds it."""
    codec, keypoint_set = build_codec(cfg), build_keypoint_set(cfg)
    run = build_training(cfg, device, codec, keypoint_set)
    run.step.model = wrap_model(run.bare, cfg, device)
    loader = build_dataloader(cfg, True, codec, keypoint_set, target_renderer=run.step.target_renderer)
    batches = list(itertools.islice(_endless(loader), iters))
    train_one_epoch(run.step, batches[:1], device, 0)  # warm-up (compile, lazy state): not counted
    with count_syncs() as counter:
        train_one_epoch(run.step, batches, device, 1)
    print_freq = int(cfg.PRINT_FREQ)
    reads = iters // print_freq + (iters % print_freq != 0)
    return {"iters": iters, "syncs": counter.total, "calls": dict(counter.calls), "reads": reads,
            "syncs_per_step": (counter.total - reads) / iters, "cuda_flagged": counter.cuda_flagged}


def _endless(loader):
    while True:
        yield from loader


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", default=SAMPLE_CFG, help="experiment yaml (default: the sample job)")
    parser.add_argument("--iters", type=int, default=12)
    parser.add_argument("--print_freq", "--print-freq", type=int, default=4)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE overrides, e.g. TRAIN.AMP bf16 TRAIN.AMP_ON_CPU True")


def run(args: argparse.Namespace) -> None:
    # the library's default optimizer kernels (the sample yaml keeps torch's default Adam for its AP)
    opts = ["MODEL.PRETRAINED", "", "WORKERS", "0", "PRINT_FREQ", str(args.print_freq), "DATASET.ROOT",
            ensure_sample_root(SAMPLE_ROOT), "TRAIN.FUSED_OPTIMIZER", "True"] + list(args.opts or [])
    cfg = load_cfg(args.cfg, opts)
    device = resolve_device(args.device)
    result = {"bench": "syncs", "cfg": args.cfg, "opts": list(args.opts or []),
              **count_epoch_syncs(cfg, device, args.iters), **device_facts(device)}
    report(result, f"syncs: {result['syncs']} in {result['iters']} steps with {result['reads']} reads "
                   f"(PRINT_FREQ {args.print_freq}): {result['syncs_per_step']:g} per step beyond the reads")
