"""Train a pose model: ``python tools/train.py --cfg FILE [--device auto|cpu|cuda] [KEY VALUE ...]``.

Several processes (one per GPU, or gloo processes on CPU):
``torchrun --nproc_per_node N tools/train.py --cfg FILE ...`` (see scripts/dist_train.sh and
scripts/slurm_train.sh). Flags may come before or after the ``KEY VALUE`` overrides.

A run directory holds one training: a second one into it is refused (``run.lock``); a fresh start over
existing checkpoints needs ``--restart`` (the old files are moved to ``previous/<time>/``).
"""

import argparse
import logging
import os

from hrpose.config.cli import USER_ERRORS, add_config_arguments, cfg_from_args, parse_tool_args, run_tool
from hrpose.engine.trainer import train
from hrpose.utils.dist import cleanup_distributed, init_distributed, resolve_device
from hrpose.utils.env import set_cpu_threads
from hrpose.utils.logging import setup_logging


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available) | cpu | cuda | cuda:N")
    parser.add_argument("--restart", action="store_true",
                        help="start over in a run directory that holds checkpoints (they are moved aside)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU intra-op threads per process (0: one per core, split between local ranks)")
    add_config_arguments(parser)
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    setup_logging(None, rank=int(os.environ.get("RANK", 0)))  # console until the run dir exists
    device = resolve_device(args.device)
    set_cpu_threads(args.threads)
    init_distributed(device)
    cfg = cfg_from_args(args)
    try:
        train(cfg, args.cfg, device, restart=args.restart)
    except USER_ERRORS as err:  # the message says it all: one line (run_tool prints it), into train.log too
        logging.getLogger("hrpose.train").error("training stopped: %s", err, extra={"console": False})
        raise
    except Exception:  # into train.log too; no barrier, so torchrun can tear the other ranks down
        logging.getLogger("hrpose.train").exception("training failed")
        raise
    cleanup_distributed()


if __name__ == "__main__":
    run_tool(main)
