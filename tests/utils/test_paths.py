"""Where a run writes: OUTPUT_DIR/<dataset>/<model>/<cfg name>/, and TensorBoard under it or LOG_DIR."""

import pathlib

from hrpose.config import load_cfg
from hrpose.utils.paths import run_output_dir, tensorboard_dir


def test_run_output_dir_layout():
    cfg = load_cfg(None, ["OUTPUT_DIR", "runs", "DATASET.DATASET", "coco"])
    assert run_output_dir(cfg, "experiments/coco/hrnet/w32_256x192.yaml") == pathlib.Path(
        "runs/coco/pose_hrnet/w32_256x192")
    assert run_output_dir(cfg, None) == pathlib.Path("runs/coco/pose_hrnet/default")
    assert run_output_dir(load_cfg(None, ["DATASET.DATASET", "coco"]), "a/b.yaml") == pathlib.Path(
        "output/coco/pose_hrnet/b")  # OUTPUT_DIR '' = ./output


def test_hybrid_joints_type_suffixes_the_dataset():
    cfg = load_cfg(None, ["OUTPUT_DIR", "runs", "DATASET.DATASET", "mpii", "DATASET.HYBRID_JOINTS_TYPE", "x"])
    assert run_output_dir(cfg, "exp.yaml") == pathlib.Path("runs/mpii_x/pose_hrnet/exp")


def test_tensorboard_dir_beside_the_checkpoints_or_under_log_dir():
    cfg = load_cfg(None, ["OUTPUT_DIR", "runs", "DATASET.DATASET", "coco"])
    assert tensorboard_dir(cfg, "exp.yaml") == pathlib.Path("runs/coco/pose_hrnet/exp/tensorboard")
    cfg = load_cfg(None, ["OUTPUT_DIR", "runs", "DATASET.DATASET", "coco", "LOG_DIR", "tb"])
    assert tensorboard_dir(cfg, "exp.yaml") == pathlib.Path("tb/coco/pose_hrnet/exp")
