"""Command-line arguments shared by the tools: ``--cfg FILE [KEY VALUE ...]`` and the reference dir flags."""

import argparse
import logging

from yacs.config import CfgNode

from .loading import load_cfg

logger = logging.getLogger(__name__)


def add_config_arguments(parser: argparse.ArgumentParser, cfg_required: bool = True) -> None:
    """``--cfg``, ``--output_dir`` (alias ``--modelDir``), ``--log_dir`` (``--logDir``), ``--data_dir``
    (``--dataDir``), the reference's unused ``--prevModelDir``, and trailing ``KEY VALUE`` overrides."""
    parser.add_argument("--cfg", required=cfg_required, help="experiment yaml")
    parser.add_argument("--output_dir", "--output-dir", "--modelDir", dest="output_dir", default="",
                        help="overrides OUTPUT_DIR")
    parser.add_argument("--log_dir", "--log-dir", "--logDir", dest="log_dir", default="",
                        help="overrides LOG_DIR (TensorBoard)")
    parser.add_argument("--data_dir", "--data-dir", "--dataDir", dest="data_dir", default="",
                        help="overrides DATA_DIR (prefix of relative dataset/model paths)")
    parser.add_argument("--prevModelDir", dest="prev_model_dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")


def cfg_from_args(args: argparse.Namespace) -> CfgNode:
    """The frozen config from ``--cfg`` and overrides; dir flags win over the yaml and the overrides."""
    opts = list(args.opts or [])
    for flag, key in (("output_dir", "OUTPUT_DIR"), ("log_dir", "LOG_DIR"), ("data_dir", "DATA_DIR")):
        if getattr(args, flag, ""):
            opts += [key, getattr(args, flag)]
    if getattr(args, "prev_model_dir", ""):
        logger.warning("--prevModelDir is accepted for compatibility but has no effect (as in the reference)")
    return load_cfg(args.cfg, opts)
