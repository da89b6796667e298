"""tools/train.py under torchrun: two gloo processes on the sample data finish one epoch, keep the ranks'
weights identical, write the run directory from rank 0 only, and evaluate every val box once."""

import json
import os
import subprocess
import sys

import pytest

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
