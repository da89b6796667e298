"""tools/train.py under torchrun: two gloo processes on the sample data finish one epoch, keep the ranks'
weights identical, write the run directory from rank 0 only, and evaluate every val box once."""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.slow


def test_torchrun_two_processes_on_sample_data(repo_root, sample_data_root, free_port, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port),
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
    ann = json.loads((sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    persons = sum(1 for a in ann["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])
    assert f"predicted {persons} boxes" in log, (persons, log[-2000:])


# 17 training persons: 5 iterations of 2 per rank and epoch, slow enough (128x128) to be killed mid-epoch
ELASTIC_OPTS = ["WORKERS", "0", "MODEL.IMAGE_SIZE", "[128, 128]", "MODEL.HEATMAP_SIZE", "[32, 32]",
                "TRAIN.BATCH_SIZE_PER_GPU", "2", "TEST.BATCH_SIZE_PER_GPU", "16", "TRAIN.END_EPOCH", "3",
                "TRAIN.VAL_INTERVAL", "10", "PRINT_FREQ", "1"]


def _torchrun_training(repo_root, sample_data_root, out, port, max_restarts=0):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--max-restarts",
           str(max_restarts), "--master_addr", "127.0.0.1", "--master_port", str(port),
           str(repo_root / "tools" / "train.py"),
           "--cfg", str(repo_root / "experiments" / "sample" / "hrnet_tiny_sample.yaml"), "--device", "cpu",
           "DATASET.ROOT", str(sample_data_root), "OUTPUT_DIR", str(out), *ELASTIC_OPTS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _rank_process(launcher_pid: int, rank: int) -> int:
    """The pid of the worker with ``RANK=rank`` among the launcher's children."""
    children = pathlib.Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    for pid in children:
        environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(pid)
    raise AssertionError(f"no rank {rank} among the children {children} of {launcher_pid}")


def _kill_rank_mid_epoch(proc, log: pathlib.Path, epoch: int, rank: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    marker = re.compile(rf"epoch {epoch} \[\s*2/5\]")  # the second of the epoch's five iterations is done
    while not (log.is_file() and marker.search(log.read_text())):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill point"
        time.sleep(0.05)
    os.kill(_rank_process(proc.pid, rank), signal.SIGKILL)


def _another_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _final_weights(out: pathlib.Path) -> dict:
    return torch.load(out / "coco" / "pose_hrnet" / "hrnet_tiny_sample" / "final.pth", weights_only=True)


def test_killed_rank_restarts_and_resumes_to_identical_weights(repo_root, sample_data_root, free_port,
                                                               tmp_path):
    """torchrun --max-restarts 1, rank 1 killed (SIGKILL) in the middle of epoch 1, five times in a row: every
    run resumes from last.pth and ends with the weights of an uninterrupted 2-process run."""
    reference = _torchrun_training(repo_root, sample_data_root, tmp_path / "reference", free_port)
    output, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0, output[-3000:]
    expected = _final_weights(tmp_path / "reference")
    for attempt in range(5):
        out = tmp_path / f"killed{attempt}"
        proc = _torchrun_training(repo_root, sample_data_root, out, _another_free_port(), max_restarts=1)
        try:
            _kill_rank_mid_epoch(proc, out / "coco" / "pose_hrnet" / "hrnet_tiny_sample" / "train.log", 1, 1)
            output, _ = proc.communicate(timeout=300)
        finally:
            proc.kill()
        assert proc.returncode == 0, f"attempt {attempt}: " + output[-3000:]
        log = (out / "coco" / "pose_hrnet" / "hrnet_tiny_sample" / "train.log").read_text()
        assert "resumed from" in log and "1 epochs done" in log, f"attempt {attempt}"
        weights = _final_weights(out)
        same = all(torch.equal(expected[k], weights[k]) for k in expected)
        assert same, f"attempt {attempt}: weights differ"
