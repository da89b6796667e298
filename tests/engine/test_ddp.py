"""Two gloo processes on CPU: DDP keeps the ranks' weights identical after a step, and the torchrun
launch of tools/train.py on the sample data completes with every val box evaluated once."""

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from hrpose.engine.train_loop import train_one_epoch
from hrpose.losses import JointsLoss
from tests.engine.test_train_loop import TinyPoseData, tiny_model

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """One rank: DDP over a tiny model, one epoch on this rank's half of the data, save its weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = tiny_model()
        if rank == 1:  # a different init on rank 1: DDP must start every rank from rank 0's weights
            model.apply(_perturb)
        ddp = DistributedDataParallel(model)
        data = TinyPoseData(16, distinct=8)
        sampler = DistributedSampler(data, world_size, rank, shuffle=False)
        loader = DataLoader(data, batch_size=4, sampler=sampler)
        optimizer = torch.optim.Adam(ddp.parameters(), lr=1e-2)
        stats = train_one_epoch(ddp, loader, JointsLoss(), optimizer, torch.device("cpu"), 0, print_freq=100)
        torch.save({"params": {k: v for k, v in model.named_parameters()}, "loss": stats["loss"]},
                   os.path.join(out_dir, f"rank{rank}.pth"))
    finally:
        dist.destroy_process_group()


def _perturb(module):
    if isinstance(module, torch.nn.Conv2d):
        torch.nn.init.normal_(module.weight)


def test_ranks_hold_identical_weights_after_steps(tmp_path):
    mp.spawn(ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pth", weights_only=True) for r in (0, 1))
    assert rank0["loss"] == rank1["loss"]  # the logged loss is the mean over ranks
    for name, value in rank0["params"].items():
        assert torch.equal(value, rank1["params"][name]), name
    initial = dict(tiny_model().named_parameters())
    assert any(not torch.equal(initial[n], v) for n, v in rank0["params"].items())  # it did train


def test_torchrun_two_processes_on_sample_data(repo_root, sample_data_root, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           str(repo_root / "tools" / "train.py"),
           "--cfg", str(repo_root / "experiments" / "sample" / "hrnet_tiny_sample.yaml"), "--device", "cpu",
           "DATASET.ROOT", str(sample_data_root), "OUTPUT_DIR", str(out), "WORKERS", "0",
           "MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "TRAIN.BATCH_SIZE_PER_GPU", "4",
           "TEST.BATCH_SIZE_PER_GPU", "4", "TRAIN.END_EPOCH", "1", "PRINT_FREQ", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = out / "coco" / "pose_hrnet" / "hrnet_tiny_sample"
    for name in ("config.yaml", "env.json", "train.log", "last.pth", "best.pth", "final.pth"):
        assert (run_dir / name).is_file(), name
    log = (run_dir / "train.log").read_text()
    assert "weights identical on all 2 ranks" in log
    assert "[rank 1]" not in log  # only rank 0 writes the log
    assert_each_val_box_once(log, sample_data_root)


def assert_each_val_box_once(log: str, data_root) -> None:
    import json

    ann = json.loads((data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    persons = sum(1 for a in ann["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
    assert f"predicted {persons} boxes" in log, (persons, log[-2000:])
