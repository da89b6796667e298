"""Parameters and FLOPs of the models that configs describe, at their MODEL.IMAGE_SIZE.

    python tools/summary.py --cfg experiments/coco/hrnet/w32_256x192.yaml [KEY VALUE ...]
    python tools/summary.py --table --cfg A.yaml --cfg B.yaml ...     (one markdown row per config)

Prints both FLOP conventions: the reference's "GFLOPs" (conv + linear multiply-adds / 2**30, the numbers
in the HRNet README) and true FLOPs (2 x multiply-adds, in 1e9). The models are built on the 'meta'
device: shapes only, no memory, no compute. ``KEY VALUE`` overrides apply to every config.
"""

import argparse
import sys

import torch

from hrpose.config import ConfigError, load_cfg
from hrpose.config.cli import parse_tool_args
from hrpose.models import build_model, count_parameters, reference_gflops, true_flops

TABLE_HEADER = ("| config | input (h x w) | head | parameters | reference GFLOPs | true GFLOPs |\n"
                "|---|---|---|---|---|---|")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True, action="append", help="experiment yaml (repeatable)")
    parser.add_argument("--table", action="store_true", help="one markdown table row per config")
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE", help="config overrides (flags anywhere)")
    return parse_tool_args(parser, argv)


def figures(path: str, opts: list[str]) -> dict:
    """Config facts and cost of the model ``path`` (+ ``opts``) describes; ConfigError if invalid."""
    cfg = load_cfg(path, opts)
    with torch.device("meta"):
        model = build_model(cfg, is_train=False)
    width, height = cfg.MODEL.IMAGE_SIZE
    return {"cfg": cfg, "width": width, "height": height, "params": count_parameters(model),
            "head": cfg.MODEL.EXTRA.HEAD if cfg.MODEL.NAME == "pose_hrnet" else "deconv",
            "reference_gflops": reference_gflops(model, cfg.MODEL.IMAGE_SIZE),
            "true_gflops": true_flops(model, cfg.MODEL.IMAGE_SIZE) / 1e9}


def print_details(path: str, f: dict) -> None:
    cfg = f["cfg"]
    print(f"config:      {path}")
    print(f"model:       {cfg.MODEL.NAME} (head {f['head']}), {cfg.MODEL.NUM_JOINTS} joints, input "
          f"{f['height']}x{f['width']} (h x w), heatmaps {f['height'] // 4}x{f['width'] // 4}")
    print(f"parameters:  {f['params']:,} ({f['params'] / 1e6:.1f} M)")
    print(f"reference GFLOPs (conv+linear multiply-adds / 2^30, as the HRNet README): "
          f"{f['reference_gflops']:.2f}")
    print(f"true FLOPs (2 x multiply-adds, torch.utils.flop_counter): {f['true_gflops']:.2f} GFLOPs (1e9)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        print(TABLE_HEADER)
    for path in args.cfg:
        try:
            f = figures(path, list(args.opts))
        except ConfigError as err:
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        if args.table:
            print(f"| {path} | {f['height']}x{f['width']} | {f['head']} | {f['params']:,} | "
                  f"{f['reference_gflops']:.2f} | {f['true_gflops']:.2f} |")
        else:
            print_details(path, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
