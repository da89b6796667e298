"""Where a run writes: ``OUTPUT_DIR/<dataset>/<model>/<cfg name>/`` (the reference's layout)."""

import pathlib

from yacs.config import CfgNode


def run_output_dir(cfg: CfgNode, cfg_path: str | None) -> pathlib.Path:
    """The run directory (not created). ``<dataset>`` gains ``_<HYBRID_JOINTS_TYPE>`` when set."""
    dataset = cfg.DATASET.DATASET
    if cfg.DATASET.HYBRID_JOINTS_TYPE:
        dataset = f"{dataset}_{cfg.DATASET.HYBRID_JOINTS_TYPE}"
    name = pathlib.Path(cfg_path).stem if cfg_path else "default"
    return pathlib.Path(cfg.OUTPUT_DIR or "output") / dataset / cfg.MODEL.NAME / name


def tensorboard_dir(cfg: CfgNode, cfg_path: str | None) -> pathlib.Path:
    """TensorBoard events: under LOG_DIR with the same sub-path when LOG_DIR is set, else the run dir."""
    out = run_output_dir(cfg, cfg_path)
    if not cfg.LOG_DIR:
        return out / "tensorboard"
    return pathlib.Path(cfg.LOG_DIR) / out.relative_to(cfg.OUTPUT_DIR or "output")
