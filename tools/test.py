"""Evaluate a pose model on the test set of its config and print the COCO table.

    python tools/test.py --cfg FILE [--oracle] [--device auto|cpu|cuda] [KEY VALUE ...]
    torchrun --nproc_per_node N tools/test.py --cfg FILE ...       (each rank predicts a shard)

Weights: ``TEST.MODEL_FILE`` (loaded strictly), else the run's ``best.pth``. Boxes: GT
(``TEST.USE_GT_BBOX True``) or the detector json ``TEST.COCO_BBOX_FILE``. Writes
``<run dir>/results/keypoints_<TEST_SET>_results.json`` (for test-dev: upload it to the COCO server).
``--oracle`` evaluates the codec's own GT target heatmaps instead of a network (needs GT boxes): the AP
ceiling of the heatmap resolution and decoding. ``--device`` must come before the ``KEY VALUE`` overrides.
"""

import argparse
import logging
import pathlib

import torch

from hrpose.codecs import build_codec
from hrpose.config.cli import add_config_arguments, cfg_from_args
from hrpose.datasets import build_keypoint_set
from hrpose.engine.evaluate import build_evaluator, results_json_path
from hrpose.engine.predict import prepare_model
from hrpose.models import build_model, load_weights
from hrpose.utils.dist import (
    cleanup_distributed,
    get_rank,
    init_distributed,
    is_distributed,
    is_main_process,
    resolve_device,
)
from hrpose.utils.logging import setup_logging
from hrpose.utils.paths import run_output_dir

logger = logging.getLogger("hrpose.test")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle", action="store_true",
                        help="decode the GT target heatmaps instead of running a network (GT boxes only)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available) | cpu | cuda | cuda:N")
    add_config_arguments(parser)
    return parser.parse_args()


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
    """The config's network with its weights (strict loading), on the CPU."""
    model = build_model(cfg, is_train=False)
    load_weights(model, model_file(cfg, run_dir), strict=True)
    return model


def main() -> None:
    args = parse_args()
    setup_logging(None)
    device = resolve_device(args.device)
    init_distributed(device)
    cfg = cfg_from_args(args)
    run_dir = run_output_dir(cfg, args.cfg)
    setup_logging(run_dir, rank=get_rank(), filename="test.log")
    evaluator = build_evaluator(cfg, device, build_codec(cfg), build_keypoint_set(cfg), is_distributed())
    model = None if args.oracle else prepare_model(load_model(cfg, run_dir), evaluator.options, device)
    stats = evaluator.run(model, run_dir, oracle=args.oracle, name=cfg.MODEL.NAME)
    if is_main_process():
        # the AP table itself was logged by the evaluator (console and test.log)
        results = results_json_path(run_dir, cfg.DATASET.TEST_SET)
        if not stats:
            print(f"{cfg.DATASET.TEST_SET} has no annotations: upload the results json to the COCO server")
        print(f"results json: {results}")
    cleanup_distributed()


if __name__ == "__main__":
    main()
