"""Convert a pose checkpoint (official HRNet, mmpose 0.x / 1.x, hrpose) into a self-describing hrpose one.

    python tools/convert_checkpoint.py SRC DST --cfg experiments/coco/hrnet/w32_256x192.yaml \\
        [--decode dark|standard] [--codec udp|msra] [--overwrite] [KEY VALUE ...]

SRC is read with ``torch.load(weights_only=True)``; its key layout is recognised and renamed to the
reference names (``hrpose.models.layouts``) and loaded strictly into the model of ``--cfg`` (not needed
when SRC is an hrpose checkpoint that carries its config). DST gets the layout of a training run's
``best.pth`` (``model``, ``config``, ``keypoint_set``, ... see ``hrpose.utils.checkpoint``) plus
``converted_from``; its config records how the source model decodes: ``--codec udp`` (MODEL.CODEC udp and
TEST.SHIFT_HEATMAP False, as mmpose's UDP models are tested) and ``--decode dark`` (TEST.DECODE dark).
Beside DST, ``DST.yaml`` holds the same config with ``TEST.MODEL_FILE DST``, so that

    python tools/test.py --cfg DST.yaml                  # evaluates with the recorded decoding
    Predictor.from_checkpoint("DST")                     # the same, in Python

need no further flags. Existing files are not overwritten without ``--overwrite``.
Exit status: 0 written, 2 bad input (unreadable or unmappable checkpoint, bad config, existing DST).
"""

import argparse
import logging
import pathlib
import sys

from yacs.config import CfgNode

import hrpose
from hrpose.apis.loading import is_self_describing
from hrpose.config import cfg_from_string, load_cfg
from hrpose.config.cli import USER_ERRORS, parse_tool_args
from hrpose.datasets import build_keypoint_set
from hrpose.models import build_model, load_state_dict
from hrpose.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, state_dict_of
from hrpose.utils.env import git_commit

logger = logging.getLogger("convert_checkpoint")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="checkpoint to convert (.pth)")
    parser.add_argument("dst", help="hrpose checkpoint to write (.pth); DST.yaml is written beside it")
    parser.add_argument("--cfg", help="experiment yaml of the architecture (unless SRC carries a config)")
    parser.add_argument("--decode", choices=("standard", "dark"), help="TEST.DECODE the model needs")
    parser.add_argument("--codec", choices=("msra", "udp"), help="MODEL.CODEC the model was trained with")
    parser.add_argument("--overwrite", action="store_true", help="replace existing DST / DST.yaml")
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE", help="config overrides (flags anywhere)")
    return parse_tool_args(parser, argv)


def decoding_opts(codec: str | None, decode: str | None) -> list[str]:
    """Config overrides that record the source model's decoding (mmpose's UDP tests flip without shift)."""
    opts = []
    if codec is not None:
        opts += ["MODEL.CODEC", codec]
        if codec == "udp":
            opts += ["TEST.SHIFT_HEATMAP", "False"]
    if decode is not None:
        opts += ["TEST.DECODE", decode]
    return opts


def source_config(state: dict, src: str, cfg_path: str | None, opts: list[str]) -> CfgNode:
    """The config of the converted model: ``--cfg`` + ``opts``, else the one SRC carries + ``opts``."""
    if cfg_path is not None:
        return load_cfg(cfg_path, opts)
    if is_self_describing(state):
        return cfg_from_string(state["config"], opts, src)
    raise CheckpointError(f"{src} does not carry a config (a plain state_dict, official or mmpose file): "
                          "pass --cfg with the experiment yaml of its architecture, e.g. "
                          "experiments/coco/hrnet/w32_256x192.yaml")


def convert(src: str, dst: str, cfg_path: str | None = None, codec: str | None = None,
            decode: str | None = None, opts: tuple[str, ...] = (), overwrite: bool = False) -> CfgNode:
    """Write DST (self-describing checkpoint) and DST.yaml; return the config they record."""
    dst_path = pathlib.Path(dst).resolve()
    yaml_path = dst_path.with_suffix(".yaml")
    existing = [str(p) for p in (dst_path, yaml_path) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exists; choose another DST or pass --overwrite")
    state = load_checkpoint(src)
    cfg = source_config(state, src, cfg_path, [*opts, *decoding_opts(codec, decode)])
    cfg.defrost()
    cfg.TEST.MODEL_FILE = str(dst_path)
    cfg.freeze()
    model = build_model(cfg, is_train=False)
    weights = state["model"] if is_self_describing(state) else state_dict_of(state, src)
    report = load_state_dict(model, weights, src)  # strict: renamed layouts, every key accounted for
    save_checkpoint(dst_path, {
        "model": model.state_dict(),
        "config": cfg.dump(),
        "keypoint_set": build_keypoint_set(cfg).to_dict(),
        "hrpose_version": hrpose.__version__,
        "git_commit": git_commit(),
        "converted_from": {"file": str(src), "layout": report.layout},
    })
    text = cfg.clone()
    text.defrost()
    text.DATA_DIR = ""  # the paths inside were resolved against DATA_DIR already
    yaml_path.write_text(f"# Written by tools/convert_checkpoint.py from {src} ({report.layout} layout).\n"
                         + text.dump())
    logger.info("%s (%s layout, %d tensors) -> %s and %s; MODEL.CODEC %s, TEST.DECODE %s, "
                "TEST.SHIFT_HEATMAP %s", src, report.layout, len(report.loaded), dst_path, yaml_path,
                cfg.MODEL.CODEC, cfg.TEST.DECODE, cfg.TEST.SHIFT_HEATMAP)
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        convert(args.src, args.dst, args.cfg, args.codec, args.decode, tuple(args.opts), args.overwrite)
    except (*USER_ERRORS, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    yaml_path = pathlib.Path(args.dst).resolve().with_suffix(".yaml")
    print(f"wrote {pathlib.Path(args.dst).resolve()} and {yaml_path}\n"
          f"evaluate: python tools/test.py --cfg {yaml_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
