import json
import shutil
import subprocess
import sys

import pytest
import torch

from hrpose.config import load_cfg
from hrpose.models import build_model

CFG = "experiments/sample/hrnet_tiny_sample.yaml"
RESULTS = ("coco", "pose_hrnet", "hrnet_tiny_sample", "results", "keypoints_val2017_results.json")
HEADER = "| Arch | AP | Ap .5 | AP .75 | AP (M) | AP (L) | AR | AR .5 | AR .75 | AR (M) | AR (L) |"


def _run(repo_root, *args, launcher=(sys.executable,)):
    cmd = [*launcher, str(repo_root / "tools" / "test.py"), "--cfg", str(repo_root / CFG),
           "--device", "cpu", *[str(a) for a in args]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=repo_root)


@pytest.fixture(scope="module")
def random_checkpoint(repo_root, sample_data_root, tmp_path_factory):
    cfg = load_cfg(str(repo_root / CFG), ["DATASET.ROOT", str(sample_data_root)])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random_init.pth"
    torch.save({"state_dict": build_model(cfg, is_train=True).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def single_run(repo_root, sample_data_root, random_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("test_tool")
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", out, "WORKERS", 0,
                "TEST.MODEL_FILE", random_checkpoint)
    return proc, out.joinpath(*RESULTS)


def test_test_tool_prints_table_and_writes_results(single_run):
    proc, results = single_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert HEADER in proc.stdout
    assert f"results json: {results}" in proc.stdout
    people = json.loads(results.read_text())
    assert people and len(people[0]["keypoints"]) == 51 and people[0]["category_id"] == 1


def test_test_tool_without_weights_says_what_is_missing(repo_root, sample_data_root, tmp_path):
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path, "WORKERS", 0)
    assert proc.returncode != 0
    assert "best.pth does not exist" in proc.stderr and "TEST.MODEL_FILE" in proc.stderr


@pytest.mark.slow
def test_test_tool_under_torchrun_gives_the_single_process_results(repo_root, sample_data_root,
                                                                    random_checkpoint, single_run, tmp_path):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not on PATH")
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path, "WORKERS", 0,
                "TEST.MODEL_FILE", random_checkpoint, "TEST.BATCH_SIZE_PER_GPU", 5,
                launcher=("torchrun", "--nproc_per_node", "2", "--master_port", "29531"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results json:") == 1  # only rank 0 evaluates and prints
    # Each rank predicted a shard; rank 0 gathered every box exactly once, in dataset order.
    assert tmp_path.joinpath(*RESULTS).read_bytes() == single_run[1].read_bytes()
