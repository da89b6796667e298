"""train_one_epoch with a toy model and dataset: overfitting, the non-finite guards (skipped on the device,
reported at the next read), logging, targets rendered on the device, and two gloo processes under DDP.
The host syncs per step are counted in test_train_fast_paths.py.

The toy (3 joints, 8x6 heatmaps, a 3-conv network) is deliberately not the suite's tiny HRNet: it
overfits a batch in a few dozen CPU steps, and its sizes make the debug-image and log checks exact.
"""

import logging
import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from hrpose.codecs import MSRAHeatmap, MSRATargetRenderer
from hrpose.engine.options import TrainOptions
from hrpose.engine.train_loop import TrainStep, train_one_epoch
from hrpose.losses import JointsLoss
from hrpose.utils import checkpoint as ckpt
from hrpose.utils.tensorboard import DebugImages

K, H, W = 3, 8, 6  # heatmap size; images are 4x larger


class TinyPoseData(Dataset):
    """``length`` samples cycling through ``distinct`` fixed (image, gaussian heatmaps) pairs."""

    def __init__(self, length: int, distinct: int = 4):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (distinct, 3, 4 * H, 4 * W), dtype=torch.uint8, generator=g)
        ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        centers = torch.randint(1, 5, (distinct, K, 2), generator=g)
        d2 = (xs - centers[..., 0, None, None]) ** 2 + (ys - centers[..., 1, None, None]) ** 2
        self.heatmaps = torch.exp(-d2 / 2.0).float()
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        j = i % len(self.images)
        return {"image": self.images[j], "heatmaps": self.heatmaps[j], "target_weight": torch.ones(K, 1),
                "meta": {"index": i}}


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, K, 1))


class NaNAt(nn.Module):
    """Wraps a model and returns NaN heatmaps on call number ``at`` (0-based)."""

    def __init__(self, model: nn.Module, at: int):
        super().__init__()
        self.model, self.at, self.calls = model, at, 0

    def forward(self, x):
        out = self.model(x)
        self.calls += 1
        bad = self.calls - 1 in self.at if isinstance(self.at, range) else self.calls - 1 >= self.at
        return out * float("nan") if bad else out


def run(model, loader, optimizer, epoch=0, scaler=None, target_renderer=None, writer=None, debug_images=None,
        **options):
    """One epoch on the CPU with the joints MSE; ``options`` are ``TrainOptions`` fields."""
    step = TrainStep(model, JointsLoss(), optimizer, TrainOptions(**options), scaler, target_renderer)
    return train_one_epoch(step, loader, torch.device("cpu"), epoch, writer, debug_images)


def test_tiny_model_overfits_one_batch():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    one_batch = DataLoader(TinyPoseData(4), batch_size=4)
    first = run(model, one_batch, optimizer)["loss"]  # the loss before the first step
    for epoch in range(1, 40):
        last = run(model, one_batch, optimizer, epoch, print_freq=1000)["loss"]
    assert last < first / 10, (first, last)


def test_summary_and_log_line(caplog):
    loader = DataLoader(TinyPoseData(12), batch_size=4)
    model = tiny_model()
    with caplog.at_level(logging.INFO, logger="hrpose.engine.train_loop"):
        stats = run(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), epoch=2, print_freq=2)
    assert stats["iters"] == 3 and stats["lr"] == 0.1 and stats["images_per_s"] > 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("epoch 2 [2/3]")
    assert "img/s" in lines[0] and "eta" in lines[0]


def test_warmup_scales_the_lr_of_the_first_steps(caplog):
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TinyPoseData(8), batch_size=4)
    with caplog.at_level(logging.INFO, logger="hrpose.engine.train_loop"):
        stats = run(model, loader, optimizer, warmup_iters=4, print_freq=1)
    assert stats["lr"] == pytest.approx(0.05)  # second of four warm-up steps
    assert "lr 2.50e-02" in caplog.records[0].getMessage()
    assert optimizer.param_groups[0]["lr"] == 0.1  # the scheduled LR is untouched


@pytest.mark.parametrize("fused", [True, False])  # skipped on the device / decided on the host
@pytest.mark.parametrize("print_freq", [20, 2])  # read at the end of the epoch / at iteration 3
def test_nan_guard_names_epoch_and_iteration_and_keeps_checkpoint(tmp_path, fused, print_freq):
    model = NaNAt(tiny_model(), at=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    loader = DataLoader(TinyPoseData(24), batch_size=4)
    last = tmp_path / "last.pth"
    ckpt.save_checkpoint(last, {"model": model.model.state_dict(), "epoch": 5})
    before = last.read_bytes()
    with pytest.raises(FloatingPointError, match=r"epoch 5, iteration 3 of 6"):
        run(model, loader, optimizer, epoch=5, print_freq=print_freq)
    assert last.read_bytes() == before
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no step was taken with NaN
    assert model.calls == (6 if print_freq == 20 else 4)  # the run stopped at the first read after it


def test_a_skipped_step_leaves_weights_and_adam_state_untouched():
    """Fused Adam told ``found_inf`` on the device: the NaN step changes nothing, the others train."""
    model = NaNAt(tiny_model(), at=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    loader = DataLoader(TinyPoseData(8), batch_size=4)
    run(model, loader, optimizer)  # iterations 0 and 1: finite
    weights = [p.detach().clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in optimizer.state[next(model.parameters())].items()}
    with pytest.raises(FloatingPointError, match=r"loss nan\) at epoch 1, iteration 0 of 2: the optimizer "
                                                 r"skipped that step \(2 non-finite steps"):
        run(model, loader, optimizer, epoch=1)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))
    after = optimizer.state[next(model.parameters())]
    assert int(after["step"]) == 2 and all(torch.equal(state[k], after[k]) for k in state)


def test_an_infinite_gradient_with_a_finite_loss_is_skipped_too():
    model = tiny_model()
    model[0].weight.register_hook(lambda grad: grad * float("inf"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    weights = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match=r"non-finite loss or gradient \(loss 0\.\d+\) at epoch 0"):
        run(model, DataLoader(TinyPoseData(4), batch_size=4), optimizer)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))


@pytest.mark.parametrize("fused", [True, False])
def test_fp16_scaler_skips_then_stops_after_repeated_skips(fused):
    model = NaNAt(tiny_model(), at=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    loader = DataLoader(TinyPoseData(40), batch_size=4)
    scaler = torch.amp.GradScaler("cpu")
    with pytest.raises(FloatingPointError, match=r"3 consecutive steps skipped .*epoch 0, iteration 3"):
        run(model, loader, optimizer, scaler=scaler, max_nonfinite_steps=3)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert scaler.get_scale() == 65536.0 / 2**9  # backed off once per skipped step (iterations 1 to 9)


def test_fp16_skips_below_the_limit_do_not_stop_the_run():
    model = NaNAt(tiny_model(), at=1)
    model.at = range(1, 3)  # two NaN steps, then finite again
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    stats = run(model, DataLoader(TinyPoseData(16), batch_size=4), optimizer,
                scaler=torch.amp.GradScaler("cpu"), max_nonfinite_steps=3)
    assert stats["skipped_steps"] == 2 and stats["iters"] == 4 and math.isfinite(stats["loss"])


class RecordingWriter:
    def __init__(self):
        self.images, self.scalars = {}, []

    def add_image(self, tag, image, step, dataformats):
        self.images[tag] = (image.shape, step, dataformats)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, step))


def test_debug_images_and_scalars_go_to_the_writer():
    model = tiny_model()
    writer = RecordingWriter()
    debug = DebugImages(interval=2, skeleton=((0, 1), (1, 2)))
    loader = DataLoader(TinyPoseData(12), batch_size=4)
    run(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), epoch=1, print_freq=3, writer=writer,
        debug_images=debug)
    assert set(writer.images) == {f"debug/{name}" for name in ("batch_gt", "batch_pred", "heatmaps_gt",
                                                                "heatmaps_pred")}
    assert writer.images["debug/heatmaps_gt"][0] == (4 * 4 * H, (K + 1) * 4 * W, 3)
    assert writer.images["debug/batch_gt"][1] == 4  # global iterations 4 (and 6 is past the epoch)
    assert ("train/loss", 5) in writer.scalars and ("train/images_per_s", 5) in writer.scalars


class KeypointData(Dataset):
    """Fixed crops and random keypoints; items carry the encoded maps, or (``on_device``) the keypoints."""

    def __init__(self, codec, on_device: bool, length: int = 8):
        rng = np.random.default_rng(0)
        self.images = torch.from_numpy(rng.integers(0, 256, (length, 3, 4 * H, 4 * W), dtype=np.uint8))
        self.points = rng.uniform(-4, [4 * W + 4, 4 * H + 4], size=(length, K, 2))
        self.visible = rng.integers(0, 3, size=(length, K))
        self.codec, self.on_device = codec, on_device

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if self.on_device:
            keypoints, weights = self.codec.heatmap_keypoints(self.points[i], self.visible[i])
            targets = {"keypoints": torch.from_numpy(keypoints)}
        else:
            heatmaps, weights = self.codec.encode(self.points[i], self.visible[i])
            targets = {"heatmaps": torch.from_numpy(heatmaps)}
        return {"image": self.images[i], **targets, "target_weight": torch.from_numpy(weights[:, None]),
                "meta": {"index": i}}


def test_targets_rendered_on_the_device_train_identically():
    codec = MSRAHeatmap((4 * W, 4 * H), (W, H), 1)
    results = []
    for on_device in (False, True):
        model = tiny_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        loader = DataLoader(KeypointData(codec, on_device), batch_size=4)
        renderer = MSRATargetRenderer(codec.heatmap_size, codec.sigma) if on_device else None
        writer = RecordingWriter()
        stats = run(model, loader, optimizer, target_renderer=renderer, writer=writer,
                    debug_images=DebugImages(interval=1))
        results.append((stats["loss"], [p.detach().clone() for p in model.parameters()]))
        assert "debug/heatmaps_gt" in writer.images
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


# --- DDP: two gloo processes on the CPU --------------------------------------------------------------

def ddp_worker(rank: int, world_size: int, out_dir: str) -> None:
    """One rank: DDP over a tiny model, one epoch on this rank's half of the data, save its weights."""
    torch.set_num_threads(1)
    # a file store, not rank 0's TCP store: with TCP, rank 0 could exit (closing the store's server)
    # while rank 1 is still tearing down, and rank 1 then aborted ("terminate called without an active
    # exception"), an occasional CI failure that a barrier before the teardown did not remove
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out_dir, 'store')}", rank=rank,
                            world_size=world_size)
    try:
        model = tiny_model()
        if rank == 1:  # a different init on rank 1: DDP must start every rank from rank 0's weights
            model.apply(_perturb)
        ddp = DistributedDataParallel(model)
        data = TinyPoseData(16, distinct=8)
        sampler = DistributedSampler(data, world_size, rank, shuffle=False)
        loader = DataLoader(data, batch_size=4, sampler=sampler)
        optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-2)
        stats = run(ddp, loader, optimizer, print_freq=100)
        torch.save({"params": {k: v for k, v in model.named_parameters()}, "loss": stats["loss"]},
                   os.path.join(out_dir, f"rank{rank}.pth"))
        dist.barrier()  # as cleanup_distributed: no rank tears gloo down while the other still uses it
    finally:
        dist.destroy_process_group()


def _perturb(module):
    if isinstance(module, torch.nn.Conv2d):
        torch.nn.init.normal_(module.weight)


@pytest.mark.slow
def test_ranks_hold_identical_weights_after_steps(tmp_path):
    mp.spawn(ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pth", weights_only=True) for r in (0, 1))
    assert rank0["loss"] == rank1["loss"]  # the logged loss is the mean over ranks
    for name, value in rank0["params"].items():
        assert torch.equal(value, rank1["params"][name]), name
    initial = dict(tiny_model().named_parameters())
    assert any(not torch.equal(initial[n], v) for n, v in rank0["params"].items())  # it did train
