"""Atomic checkpoint writes and the weights_only round trip of a full training checkpoint."""

import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from hrpose.config import load_cfg
from hrpose.datasets.keypoints import COCO_KEYPOINTS
from hrpose.utils import checkpoint as ckpt


def training_state(model, optimizer, scheduler):
    return {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": torch.amp.GradScaler("cpu").state_dict(), "epoch": 3, "best_ap": 0.5,
        "val_stats": {"AP": 0.5, "AP .5": 0.9}, "rng": ckpt.get_rng_state(), "config": load_cfg(None).dump(),
        "keypoint_set": COCO_KEYPOINTS.to_dict(), "hrpose_version": "0.1.0", "git_commit": "abc",
    }


def make_training(lr=1e-3):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [1, 2])
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    scheduler.step()
    return model, optimizer, scheduler


def test_full_training_checkpoint_round_trip(tmp_path):
    model, optimizer, scheduler = make_training()
    path = tmp_path / "last.pth"
    ckpt.save_checkpoint(path, training_state(model, optimizer, scheduler))
    state = ckpt.load_checkpoint(path)  # weights_only=True inside
    model2, optimizer2, scheduler2 = make_training(lr=0.5)
    model2.load_state_dict(state["model"])
    optimizer2.load_state_dict(state["optimizer"])
    scheduler2.load_state_dict(state["scheduler"])
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert optimizer2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert state["epoch"] == 3 and state["val_stats"]["AP .5"] == 0.9
    assert load_cfg(None).dump() == state["config"]
    assert state["keypoint_set"]["names"] == list(COCO_KEYPOINTS.names)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_rng_state_round_trip(tmp_path):
    ckpt.save_checkpoint(tmp_path / "rng.pth", {"rng": ckpt.get_rng_state()})
    expected = random.random(), np.random.rand(), torch.rand(1)
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path / "rng.pth")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("boom while writing")


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "last.pth"
    ckpt.save_checkpoint(path, {"epoch": 1})
    with pytest.raises(RuntimeError, match="boom"):
        ckpt.save_checkpoint(path, {"epoch": 2, "bad": Unpicklable()})
    assert ckpt.load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="missing.pth"):
        ckpt.load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="junk.pth"):
        ckpt.load_checkpoint(tmp_path / "junk.pth")


def test_strip_prefixes_and_model_only():
    assert list(ckpt.strip_prefixes({"module._orig_mod.a.weight": 1, "b": 2})) == ["a.weight", "b"]
    state = {"model": {}, "optimizer": {}, "epoch": 1, "rng": {}, "config": ""}
    assert set(ckpt.model_only(state)) == {"model", "epoch", "config"}


def test_checkpoint_error_carries_the_key_lists():
    err = ckpt.CheckpointError("checkpoint x.pth does not match", missing=("a",),
                               mismatched=["b: (1,) vs (2,)"])
    assert isinstance(err, RuntimeError) and str(err) == "checkpoint x.pth does not match"
    assert err.missing == ["a"] and err.unexpected == [] and err.mismatched == ["b: (1,) vs (2,)"]


def test_load_rejects_a_non_dict_and_a_truncated_file(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ckpt.CheckpointError, match=r"list\.pth: expected a dict, got list"):
        ckpt.load_checkpoint(tmp_path / "list.pth")
    ckpt.save_checkpoint(tmp_path / "full.pth", {"w": torch.zeros(100)})
    (tmp_path / "cut.pth").write_bytes((tmp_path / "full.pth").read_bytes()[:200])
    with pytest.raises(ckpt.CheckpointError, match=r"cut\.pth: the file is truncated or not a PyTorch"):
        ckpt.load_checkpoint(tmp_path / "cut.pth")


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3},
    lambda sd: {"model": {f"_orig_mod.{k}": v for k, v in sd.items()}, "config": "..."},
], ids=["plain", "state_dict", "model"])
def test_state_dict_of_unwraps_and_strips(wrap):
    state = {"conv.weight": torch.ones(2), "bn.running_mean": torch.zeros(2)}
    out = ckpt.state_dict_of(wrap(state), "x.pth")
    assert out.keys() == state.keys() and all(torch.equal(out[k], state[k]) for k in state)


def test_state_dict_of_names_a_non_tensor_entry():
    with pytest.raises(ckpt.CheckpointError, match=r"x\.pth: entry 'epoch' is a int, not a tensor"):
        ckpt.state_dict_of({"w": torch.zeros(1), "epoch": 3}, "x.pth")
    with pytest.raises(ckpt.CheckpointError, match=r"x\.pth: expected a state_dict"):
        ckpt.state_dict_of([torch.zeros(1)], "x.pth")


DISK_FULL_SCRIPT = """
import resource, signal, sys, torch
from hrpose.utils.checkpoint import CheckpointError, save_checkpoint
path = sys.argv[1]
save_checkpoint(path, {"w": torch.zeros(10)})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    save_checkpoint(path, {"w": torch.zeros(100000)})
except CheckpointError as err:
    print("ERROR", err)
"""


def _fill_a_tiny_file_system(path: pathlib.Path) -> bool:
    """Mount a 1 MiB tmpfs at ``path`` (root on Linux); False where mounting is not permitted."""
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_names_the_path_and_keeps_the_last_good_checkpoint(tmp_path):
    mount = tmp_path / "small"
    if _fill_a_tiny_file_system(mount):  # a real full disk
        try:
            path = mount / "last.pth"
            ckpt.save_checkpoint(path, {"epoch": 1, "w": torch.zeros(10)})
            with pytest.raises(ckpt.CheckpointError) as info:
                ckpt.save_checkpoint(path, {"epoch": 2, "w": torch.zeros(1_000_000)})
            message = str(info.value)
            assert f"could not write checkpoint {path}: no space left on device" in message
            assert f"the previous {path} is intact" in message
            assert ckpt.load_checkpoint(path)["epoch"] == 1
            assert [p.name for p in mount.iterdir()] == ["last.pth"]
        finally:
            subprocess.run(["umount", str(mount)], check=True)
    else:  # no permission to mount: a file-size limit makes the kernel refuse the write just the same
        path = tmp_path / "last.pth"
        proc = subprocess.run([sys.executable, "-c", DISK_FULL_SCRIPT, str(path)], capture_output=True,
                              text=True, timeout=60)
        assert f"ERROR could not write checkpoint {path}" in proc.stdout, proc.stderr[-2000:]
        assert f"the previous {path} is intact" in proc.stdout
        assert ckpt.load_checkpoint(path)["w"].numel() == 10
        assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_pickled_code_is_refused_without_advice_to_weaken_weights_only(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "payload": Evil()}, path)
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "not loaded (weights_only=True)" in message
    assert "weights_only=False" not in message and "weights_only` argument" not in message


class Evil:
    def __reduce__(self):
        return (print, ("this would have run",))
