"""``tools/test.py`` end to end on the synthetic sample data: the table and results json, a missing
checkpoint, 2-process sharding under torchrun, and agreement with ``Predictor`` (same checkpoint, same
config: the same keypoints, with ``TEST.AMP bf16`` and without)."""

import collections
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from hrpose.apis import Predictor
from hrpose.config import load_cfg
from hrpose.datasets.transforms import boxes_to_centers_scales
from hrpose.evaluation import results_arrays
from hrpose.models import build_model

CFG = "experiments/sample/hrnet_tiny_sample.yaml"
RESULTS = ("coco", "pose_hrnet", "hrnet_tiny_sample", "results", "keypoints_val2017_gt_results.json")
DET_RESULTS = (*RESULTS[:-1], "keypoints_val2017_dets_results.json")  # boxes from a detector json dets.json
HEADER = "| Arch | AP | Ap .5 | AP .75 | AP (M) | AP (L) | AR | AR .5 | AR .75 | AR (M) | AR (L) |"
# torchrun as a module of this interpreter: the venv's bin/ need not be on PATH
TORCHRUN = (sys.executable, "-m", "torch.distributed.run")


def _run(repo_root, *args, launcher=(sys.executable,)):
    cmd = [*launcher, str(repo_root / "tools" / "test.py"), "--cfg", str(repo_root / CFG),
           "--device", "cpu", *[str(a) for a in args]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=repo_root)


def _random_checkpoint(repo_root, sample_data_root, path, reference_init: bool):
    """A plain ``{'state_dict': ...}`` of the sample config's model, seeded: the reference's N(0, 0.001)
    init, or PyTorch's default init (larger weights, so the heatmaps have distinct maxima)."""
    cfg = load_cfg(str(repo_root / CFG), ["DATASET.ROOT", str(sample_data_root)])
    torch.manual_seed(0)
    torch.save({"state_dict": build_model(cfg, is_train=reference_init).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def random_checkpoint(repo_root, sample_data_root, tmp_path_factory):
    return _random_checkpoint(repo_root, sample_data_root, tmp_path_factory.mktemp("ckpt") / "ref.pth", True)


@pytest.fixture(scope="module")
def default_init_checkpoint(repo_root, sample_data_root, tmp_path_factory):
    return _random_checkpoint(repo_root, sample_data_root, tmp_path_factory.mktemp("ckpt") / "def.pth", False)


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
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path, "WORKERS", 0,
                "TEST.MODEL_FILE", random_checkpoint, "TEST.BATCH_SIZE_PER_GPU", 5,
                launcher=(*TORCHRUN, "--nproc_per_node", "2", "--master_port", "29531"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("results json:") == 1  # only rank 0 evaluates and prints
    # Each rank predicted a shard; rank 0 gathered every box exactly once, in dataset order.
    assert tmp_path.joinpath(*RESULTS).read_bytes() == single_run[1].read_bytes()


@pytest.fixture(scope="module")
def integer_boxes(sample_data_root, tmp_path_factory) -> tuple[str, list[dict]]:
    """A detector json of the sample val set's persons with integer boxes (exact in float32 and float64,
    so the tool's records and ``Predictor`` derive the same crops from them)."""
    val = json.loads((sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    dets = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9,
             "bbox": [float(round(v)) for v in a["bbox"]]} for a in val["annotations"] if a["bbox"][2] > 8]
    path = tmp_path_factory.mktemp("dets") / "dets.json"
    path.write_text(json.dumps(dets))
    return str(path), dets


def _predictor_results(repo_root, sample_data_root, checkpoint, opts, dets) -> dict:
    """``Predictor`` keypoints of every box of ``dets``, rounded as the results json is, keyed by
    (image id, box centre)."""
    predictor = Predictor.from_checkpoint(checkpoint, str(repo_root / CFG), opts, device="cpu")
    val = json.loads((sample_data_root / "annotations" / "person_keypoints_val2017.json").read_text())
    files = {image["id"]: image["file_name"] for image in val["images"]}
    by_image = collections.defaultdict(list)
    for det in dets:
        by_image[det["image_id"]].append(det["bbox"])
    found = {}
    for image_id, boxes in by_image.items():
        image = cv2.imread(str(sample_data_root / "images" / "val2017" / files[image_id]))
        keypoints = predictor.predict(image, np.array(boxes))
        centers, scales = boxes_to_centers_scales(np.array(boxes), 96 / 128)
        rounded = results_arrays([image_id] * len(boxes), keypoints, np.zeros(len(boxes)), centers, scales)
        for kp, center in zip(rounded["keypoints"], rounded["centers"], strict=True):
            found[(image_id, *center.tolist())] = kp
    return found


@pytest.mark.parametrize("amp", ["bf16", "none"])
def test_test_tool_and_predictor_give_the_same_keypoints(repo_root, sample_data_root, default_init_checkpoint,
                                                         integer_boxes, tmp_path, amp):
    # OKS_THRE > 1 keeps every box through NMS, so the json holds one entry per GT box. One crop per
    # forward in both: a float32 convolution's last bits depend on the batch it runs in.
    opts = ["DATASET.ROOT", str(sample_data_root), "TEST.AMP", amp, "TEST.OKS_THRE", "1.01",
            "TEST.BATCH_SIZE_PER_GPU", "1", "TEST.USE_GT_BBOX", "False",
            "TEST.COCO_BBOX_FILE", integer_boxes[0]]
    checkpoint = default_init_checkpoint
    proc = _run(repo_root, *opts, "OUTPUT_DIR", tmp_path / amp, "WORKERS", 0, "TEST.MODEL_FILE", checkpoint)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if amp != "none":  # on the CPU, TEST.AMP does not apply, in test.py as in Predictor
        assert "TEST.AMP = bf16 is CUDA-only" in proc.stdout + proc.stderr
    tool = json.loads((tmp_path / amp).joinpath(*DET_RESULTS).read_text())
    predicted = _predictor_results(repo_root, sample_data_root, checkpoint, opts, integer_boxes[1])
    assert len(tool) == len(predicted) >= 8
    for person in tool:
        key = (person["image_id"], *person["center"])
        np.testing.assert_array_equal(np.reshape(person["keypoints"], (17, 3)), predicted[key])


@pytest.mark.parametrize("kind", ["truncated", "pickled code"])
def test_a_bad_checkpoint_ends_in_one_line_naming_it(repo_root, sample_data_root, random_checkpoint, tmp_path,
                                                      kind):
    bad = tmp_path / "bad.pth"
    if kind == "truncated":
        bad.write_bytes(random_checkpoint.read_bytes()[:5000])
    else:
        torch.save({"state_dict": {}, "hook": os.system}, bad)  # a pickled callable: code, not weights
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path, "WORKERS", 0,
                "TEST.MODEL_FILE", bad)
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: cannot load checkpoint {bad}: ") and "Traceback" not in proc.stderr
    assert "weights_only=False" not in proc.stderr


# --- other benchmarks ---------------------------------------------------------------------------------------

def test_reference_mpii_yaml_runs_unchanged_with_the_oracle(repo_root, sample_variant_root, tmp_path):
    """The issue: the reference's experiments/mpii/*.yaml failed (no MPII loader; --oracle wanted GT boxes;
    MODEL.PRETRAINED missing). Now it scores PCKh on MPII-format data as it stands."""
    reference = repo_root / "tests" / "config" / "reference_yamls" / "mpii_hrnet_w32_256x256_adam_lr1e-3.yaml"
    cmd = [sys.executable, str(repo_root / "tools" / "test.py"), "--cfg", str(reference), "--device", "cpu",
           "--oracle", "DATASET.ROOT", str(sample_variant_root("mpii")), "OUTPUT_DIR", str(tmp_path),
           "WORKERS", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |" in proc.stdout
    assert "| oracle | 100.000 |" in proc.stdout
    assert "results/keypoints_valid_gt_results.json" in proc.stdout


def test_checkpoint_of_another_keypoint_set_is_refused(repo_root, sample_data_root, tiny_cfg, tiny_model,
                                                       save_training_checkpoint, tmp_path):
    """The issue: a PoseTrack18 checkpoint (17 keypoints) evaluated with the COCO set loaded silently."""
    cfg = load_cfg(str(repo_root / CFG), ["DATASET.ROOT", str(sample_data_root), "DATASET.KEYPOINT_SET",
                                         "posetrack18"])
    torch.manual_seed(0)
    checkpoint = save_training_checkpoint(tmp_path / "posetrack.pth", cfg, build_model(cfg, is_train=False))
    proc = _run(repo_root, "DATASET.ROOT", sample_data_root, "OUTPUT_DIR", tmp_path, "WORKERS", 0,
                "TEST.MODEL_FILE", checkpoint)
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert f"{checkpoint} was trained on keypoint set 'posetrack18'" in error
    assert "the config gives keypoint set 'coco'" in error and "1: 'head_bottom' vs 'left_eye'" in error


def test_oracle_below_the_ceiling_gets_a_hint(repo_root, sample_variant_root, tmp_path):
    """The issue: AI Challenger's small sigmas give an oracle AP well below 1, which reads as a data bug."""
    yaml = repo_root / "experiments" / "sample" / "hrnet_tiny_aic_sample.yaml"
    cmd = [sys.executable, str(repo_root / "tools" / "test.py"), "--cfg", str(yaml), "--device", "cpu",
           "--oracle", "DATASET.ROOT", str(sample_variant_root("aic")), "OUTPUT_DIR", str(tmp_path),
           "WORKERS", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hint = next(line for line in proc.stdout.splitlines() if line.startswith("hint: "))
    assert "not a data problem" in hint and "MODEL.CODEC udp" in hint and "MODEL.IMAGE_SIZE" in hint
