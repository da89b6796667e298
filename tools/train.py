"""Train a pose model: ``python tools/train.py --cfg FILE [--device auto|cpu|cuda] [KEY VALUE ...]``.

Several processes (one per GPU, or gloo processes on CPU):
``torchrun --nproc_per_node N tools/train.py --cfg FILE ...`` (see scripts/dist_train.sh and
scripts/slurm_train.sh). ``--device`` must come before the ``KEY VALUE`` overrides.
"""

import argparse
import logging
import os

from hrpose.config.cli import add_config_arguments, cfg_from_args
from hrpose.engine.trainer import train
from hrpose.utils.dist import cleanup_distributed, init_distributed, resolve_device
from hrpose.utils.logging import setup_logging


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available) | cpu | cuda | cuda:N")
    add_config_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    setup_logging(None, rank=int(os.environ.get("RANK", 0)))  # console until the run dir exists
    device = resolve_device(args.device)
    init_distributed(device)
    cfg = cfg_from_args(args)
    try:
        train(cfg, args.cfg, device)
    except Exception:  # into train.log too; no barrier, so torchrun can tear the other ranks down
        logging.getLogger("hrpose.train").exception("training failed")
        raise
    cleanup_distributed()


if __name__ == "__main__":
    main()
