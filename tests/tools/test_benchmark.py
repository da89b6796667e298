"""Smoke tests of ``tools/benchmark.py``: every subcommand runs on CPU at tiny sizes and prints its JSON."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import gpu_table

SAMPLE_CFG = "experiments/sample/hrnet_tiny_sample.yaml"


def run_benchmark(repo_root, *args, device_facts: bool = True) -> dict:
    """Run ``tools/benchmark.py *args`` in a subprocess (one thread); return its JSON line. ``device_facts``:
    the line names the device and torch (every subcommand but ``records``, which runs no network)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # 2-core machines: no oversubscription
    proc = subprocess.run([sys.executable, "tools/benchmark.py", *map(str, args)], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["commit"]
    if device_facts:
        assert result["device"] == "cpu" and result["torch"]
    return result


def test_model_train_step_and_inference(repo_root):
    train = run_benchmark(repo_root, "model", "--cfg", SAMPLE_CFG, "--batch", 2, "--iters", 2, "--warmup", 1,
                          "--device", "cpu", "--baseline")
    assert train["bench"] == "model" and train["mode"] == "train" and train["batch"] == 2
    assert train["images_per_s"] > 0 and train["baseline_images_per_s"] > 0 and train["speedup"] > 0
    infer = run_benchmark(repo_root, "model", "--cfg", SAMPLE_CFG, "--batch", 2, "--iters", 2, "--warmup", 1,
                          "--device", "cpu", "--infer", "--fuse-bn", "--channels-last", "--amp", "bf16")
    assert infer["mode"] == "infer" and infer["fuse_bn"] and infer["channels_last"] and infer["amp"] == "bf16"
    assert infer["images_per_s"] > 0 and "speedup" not in infer


def test_data_pipelines_and_loader(repo_root, sample_data_root):
    result = run_benchmark(repo_root, "data", "--root", sample_data_root, "--samples", 4, "--warmup", 1,
                           "--batch", 2, "--workers", 1)
    assert result["bench"] == "data" and result["input_size"] == [192, 256]
    rates = result["samples_per_s_per_core"]
    assert set(rates) == {"baseline", "hrpose", "hrpose_cached", "hrpose_targets_on_device",
                          "hrpose_plus_cpu_normalize"}
    assert min(rates.values()) > 0 and min(result["loader_samples_per_s"].values()) > 0
    assert result["speedup"] > 0 and result["speedup_cached"] > 0 and result["speedup_targets_on_device"] > 0
    sizes = result["bytes_per_sample"]
    # 256x192: the 17 x 64 x 48 float32 maps (208,896 bytes) become 17 x 2 floats
    assert sizes["hrpose"] - sizes["hrpose_targets_on_device"] == 17 * 64 * 48 * 4 - 17 * 2 * 4
    assert sizes["baseline"] > sizes["hrpose"] and result["render_samples_per_s"] > 0


@pytest.mark.parametrize("on_device", [False, True])
def test_train_end_to_end(repo_root, sample_data_root, on_device):
    result = run_benchmark(repo_root, "train", "--cfg", SAMPLE_CFG, "--iters", 2, "--warmup", 1, "--device",
                           "cpu", "DATASET.ROOT", sample_data_root, "WORKERS", 0,
                           "TRAIN.BATCH_SIZE_PER_GPU", 4, "TRAIN.TARGETS_ON_DEVICE", on_device)
    assert result["bench"] == "train" and result["batch"] == 4 and result["targets_on_device"] is on_device
    assert result["images_per_s"] > 0 and 0 <= result["data_wait_fraction"] <= 1


def test_eval_post_processing(repo_root):
    result = run_benchmark(repo_root, "eval", "--boxes", 500, "--images", 20)
    assert result["bench"] == "eval" and result["boxes"] == 500 and result["decode_path"] == "numpy"
    assert result["hrpose_s"] > 0 and result["baseline_s"] > 0 and result["speedup"] > 0
    assert result["kept"] == result["baseline_kept"] > 0
    assert result["max_keypoint_diff_px"] < 1e-3  # the same output (float32 rounding only)
    assert result["alt_decode"]["path"] == "torch (cpu)" and result["alt_decode"]["s"] > 0


def test_records_build_cache_and_worker_memory(repo_root):
    result = run_benchmark(repo_root, "records", "--images", 200, "--persons", 400, "--with-keypoints", 300,
                           "--workers", 1, "--batch", 8, "--baseline-workers", device_facts=False)
    assert result["bench"] == "records" and result["persons"] == 400
    # the list baseline, the cold array build and the cache hit give the same persons with keypoints
    assert result["list"]["records"] == result["cold"]["records"] == result["cached"]["records"] == 300
    assert result["cached"]["live_mb"] > 0 and result["workers"]["samples_per_s"] > 0
    assert len(result["workers"]["worker_uss_end_mb"]) == 1 and "list_workers" in result


def test_numerics(repo_root, sample_data_root):
    result = run_benchmark(repo_root, "numerics", "--cfg", SAMPLE_CFG, "--root", sample_data_root,
                           "--batch", 2, "--device", "cpu")
    assert result["bench"] == "numerics" and result["input"].endswith("val2017")
    assert set(result["variants"]) == {"bf16", "fuse_bn", "channels_last", "all"}
    assert result["variants"]["fuse_bn"]["rel_range"] < 1e-5
    assert result["variants"]["bf16"]["rel_range"] < 2e-2


def test_syncs_per_step(repo_root, sample_data_root):
    result = run_benchmark(repo_root, "syncs", "--iters", 4, "--print_freq", 2, "--device", "cpu",
                           "DATASET.ROOT", sample_data_root, "TRAIN.BATCH_SIZE_PER_GPU", 2)
    assert result["bench"] == "syncs" and result["reads"] == 2 and result["syncs"] == 2
    assert result["syncs_per_step"] == 0 and result["calls"] == {"tolist": 2}


def test_eval_end_to_end_with_the_network(repo_root):
    result = run_benchmark(repo_root, "eval", "--boxes", 40, "--images", 4, "--no-baseline", "--cfg",
                           SAMPLE_CFG, "--batch", 16, "--amp", "bf16", "--channels-last", "--fuse-bn")
    network = result["network"]
    assert network["amp"] == "bf16" and network["boxes_timed"] == 48 and network["crops_per_s"] > 0
    assert result["end_to_end_s"] >= network["s"] > 0 and "baseline_s" not in result


def test_gpu_table_goes_under_gpu_figures(tmp_path):
    """``scripts/gpu_report.sh``'s table: every manifest row, the GPU's name and date, newest first."""
    model = {"bench": "model", "cfg": "experiments/coco/hrnet/w32_256x192.yaml", "mode": "train",
             "batch": 128, "amp": "bf16", "channels_last": True, "compile": "default", "fuse_bn": False,
             "images_per_s": 3210.4, "gpu": "NVIDIA H100 80GB HBM3", "torch": "2.9.0", "commit": "abc1234",
             "peak_memory_gib": 21.5}
    (tmp_path / "w32.log").write_text("compiling...\n" + json.dumps(model) + "\ntrain ...: 3210.4 img/s\n")
    (tmp_path / "cuda_tests.log").write_text("....\n12 passed, 3 deselected in 30.1s\n")
    manifest = "cuda_tests\tok\t31\nw32\tok\t200\nw48\tskipped (time budget)\t0\n"
    (tmp_path / "manifest.tsv").write_text(manifest)
    rows = gpu_table.read_results(tmp_path)
    text = gpu_table.section(rows, "2026-01-02 03:04 UTC")
    assert text.startswith("### 2026-01-02 03:04 UTC: NVIDIA H100 80GB HBM3\n")
    assert ("| w32 | w32_256x192 train, batch 128, bf16, channels_last, compile default | 3,210 img/s, peak "
            "21.5 GiB | 200 | ok |") in text
    assert "| cuda_tests |  | 12 passed, 3 deselected in 30.1s | 31 | ok |" in text
    assert "| w48 |  |  | 0 | skipped (time budget) |" in text
    doc = ("# Benchmarks\n\n## GPU figures\n\n**No GPU figure has been measured yet**: none.\n\n"
           "## Plan\n\nsteps\n")
    once = gpu_table.insert_section(doc, text)
    assert "No GPU figure" not in once and once.index("### 2026") < once.index("## Plan")
    twice = gpu_table.insert_section(once, text.replace("2026-01-02", "2026-02-03"))
    assert twice.index("### 2026-02-03") < twice.index("### 2026-01-02") < twice.index("## Plan")
