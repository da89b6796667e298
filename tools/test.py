"""Evaluate a pose model on the test set of its config and print the COCO table.

    python tools/test.py --cfg FILE [--oracle] [--device auto|cpu|cuda] [KEY VALUE ...]
    torchrun --nproc_per_node N tools/test.py --cfg FILE ...       (each rank predicts a shard)

Weights: ``TEST.MODEL_FILE`` (loaded strictly), else the run's ``best.pth``. Boxes: GT
(``TEST.USE_GT_BBOX True``) or the detector json ``TEST.COCO_BBOX_FILE``. Writes
``<run dir>/results/keypoints_<TEST_SET>_<gt | detector json stem>_results.json`` (for test-dev: upload it
to the COCO server). The metric is the dataset's (``TEST.METRIC``): COCO AP, CrowdPose AP(E/M/H), MPII PCKh.
A training checkpoint's keypoint set must be the config's (names and order), else it stops naming both.
``--oracle`` evaluates the codec's own GT target heatmaps instead of a network (needs GT boxes): the AP
ceiling of the heatmap resolution and decoding (with a hint when it is below 0.95; with UDP, whose decoding
inverts its Gaussian targets exactly, only keypoints outside their person's crop cost anything). Flags may
come anywhere on the command line.
"""

import argparse
import logging
import pathlib

import torch

from hrpose.apis.loading import checked_keypoint_set
from hrpose.codecs import build_codec
from hrpose.config.cli import add_config_arguments, cfg_from_args, parse_tool_args, run_tool
from hrpose.datasets import build_keypoint_set
from hrpose.engine.evaluate import build_evaluator, oracle_hint
from hrpose.engine.predict import prepare_model
from hrpose.models import build_model, load_state_dict
from hrpose.utils.checkpoint import load_checkpoint, state_dict_of
from hrpose.utils.dist import (
    cleanup_distributed,
    get_rank,
    init_distributed,
    is_distributed,
    is_main_process,
    resolve_device,
)
from hrpose.utils.env import set_cpu_threads
from hrpose.utils.logging import setup_logging
from hrpose.utils.paths import run_output_dir

logger = logging.getLogger("hrpose.test")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle", action="store_true",
                        help="decode the GT target heatmaps instead of running a network (GT boxes only)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available) | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU intra-op threads per process (0: one per core, split between local ranks)")
    add_config_arguments(parser)
    return parse_tool_args(parser)


def model_file(cfg, run_dir: pathlib.Path) -> str:
    """``TEST.MODEL_FILE``, or ``<run dir>/best.pth``; a clear error when neither exists."""
    if cfg.TEST.MODEL_FILE:
        path, what = cfg.TEST.MODEL_FILE, "TEST.MODEL_FILE"
    else:
        path, what = str(run_dir / "best.pth"), "TEST.MODEL_FILE is empty and the run's best.pth"
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"{what}: {path} does not exist; pass TEST.MODEL_FILE <checkpoint.pth> "
                                "(or train first so that the run directory holds best.pth)")
    return path


def load_model(cfg, run_dir: pathlib.Path) -> torch.nn.Module:
    """The config's network with its weights (strict loading), on the CPU. A training checkpoint stores
    its keypoint set and config: the set must be the config's (else ``KeypointSetError`` names both), and
    settings it was trained with that the config changes (codec, input size, ...) are warned about."""
    path = model_file(cfg, run_dir)
    state = load_checkpoint(path)
    if isinstance(state, dict):
        checked_keypoint_set(state, cfg, path)
    model = build_model(cfg, is_train=False)
    load_state_dict(model, state_dict_of(state, path), path)
    return model


def main() -> None:
    args = parse_args()
    setup_logging(None)
    device = resolve_device(args.device)
    set_cpu_threads(args.threads)
    init_distributed(device)
    cfg = cfg_from_args(args)
    run_dir = run_output_dir(cfg, args.cfg)
    setup_logging(run_dir, rank=get_rank(), filename="test.log")
    keypoint_set = build_keypoint_set(cfg)
    evaluator = build_evaluator(cfg, device, build_codec(cfg), keypoint_set, is_distributed())
    model = None
    if not args.oracle:
        model = prepare_model(load_model(cfg, run_dir), evaluator.options, device)
    stats = evaluator.run(model, run_dir, oracle=args.oracle, name=cfg.MODEL.NAME)
    if is_main_process():
        # the metric's table itself was logged by the evaluator (console and test.log)
        if not stats:
            print(f"{cfg.DATASET.TEST_SET} has no annotations: upload the results json to the COCO server")
        hint = oracle_hint(stats, evaluator.scoring.metric, cfg.MODEL.CODEC, cfg.MODEL.IMAGE_SIZE)
        if args.oracle and hint:
            print(f"hint: {hint}")
        print(f"results json: {evaluator.results_path(run_dir)}")
    cleanup_distributed()


if __name__ == "__main__":
    run_tool(main)
