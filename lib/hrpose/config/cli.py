"""Command-line arguments shared by the tools: ``--cfg FILE [KEY VALUE ...]`` and the reference dir flags."""

import argparse
import logging
import sys
from collections.abc import Callable

from yacs.config import CfgNode

from hrpose.config.loading import ConfigError, load_cfg
from hrpose.datasets import (
    CocoFormatError,
    DatasetConfigError,
    ImageReadError,
    KeypointSetError,
    MpiiFormatError,
)
from hrpose.utils.checkpoint import CheckpointError
from hrpose.utils.run_dir import RunDirectoryError

# Failures whose message says all a user needs (a bad file, key or value; a diverged training): one line
# on stderr, exit status 2, no traceback.
USER_ERRORS = (ConfigError, CheckpointError, RunDirectoryError, CocoFormatError, DatasetConfigError,
               ImageReadError, KeypointSetError, MpiiFormatError, FileNotFoundError, FloatingPointError)

logger = logging.getLogger(__name__)


def add_config_arguments(parser: argparse.ArgumentParser, cfg_required: bool = True) -> None:
    """``--cfg``, ``--output_dir`` (alias ``--modelDir``), ``--log_dir`` (``--logDir``), ``--data_dir``
    (``--dataDir``), the reference's unused ``--prevModelDir``, and ``KEY VALUE`` overrides (parse with
    ``parse_tool_args`` so that flags may come anywhere)."""
    parser.add_argument("--cfg", required=cfg_required, help="experiment yaml")
    parser.add_argument("--output_dir", "--output-dir", "--modelDir", dest="output_dir", default="",
                        help="overrides OUTPUT_DIR")
    parser.add_argument("--log_dir", "--log-dir", "--logDir", dest="log_dir", default="",
                        help="overrides LOG_DIR (TensorBoard)")
    parser.add_argument("--data_dir", "--data-dir", "--dataDir", dest="data_dir", default="",
                        help="overrides DATA_DIR (prefix of relative dataset/model paths)")
    parser.add_argument("--prevModelDir", dest="prev_model_dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE",
                        help="config overrides (flags may come anywhere)")


def parse_tool_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser``'s arguments with flags allowed before, between and after the ``KEY VALUE`` overrides."""
    return parser.parse_intermixed_args(argv)


def cfg_from_args(args: argparse.Namespace) -> CfgNode:
    """The frozen config from ``--cfg`` and overrides; dir flags win over the yaml and the overrides."""
    opts = list(args.opts or [])
    for flag, key in (("output_dir", "OUTPUT_DIR"), ("log_dir", "LOG_DIR"), ("data_dir", "DATA_DIR")):
        if getattr(args, flag, ""):
            opts += [key, getattr(args, flag)]
    if getattr(args, "prev_model_dir", ""):
        logger.warning("--prevModelDir is accepted for compatibility but has no effect (as in the reference)")
    return load_cfg(args.cfg, opts)


def run_tool(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; a ``USER_ERRORS`` failure ends it with ``error: <message>`` on stderr and
    exit status 2 instead of a traceback (the message names the file, key or value)."""
    try:
        main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
