"""Parameters and FLOPs of the model a config describes, at its MODEL.IMAGE_SIZE.

    python tools/summary.py --cfg experiments/coco/hrnet/w32_256x192.yaml [KEY VALUE ...]

Prints both FLOP conventions: the reference's "GFLOPs" (conv + linear multiply-adds / 2**30, the numbers
in the HRNet README) and true FLOPs (2 x multiply-adds, in 1e9). The model is built on the 'meta'
device: shapes only, no memory, no compute.
"""

import argparse
import sys

import torch

from hrpose.config import ConfigError, load_cfg
from hrpose.models import build_model, count_parameters, reference_gflops, true_flops


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True, help="experiment yaml")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_cfg(args.cfg, args.opts)
        with torch.device("meta"):
            model = build_model(cfg, is_train=False)
    except ConfigError as err:
        print(f"error: {args.cfg}: {err}", file=sys.stderr)
        return 2
    width, height = cfg.MODEL.IMAGE_SIZE
    params = count_parameters(model)
    ref = reference_gflops(model, cfg.MODEL.IMAGE_SIZE)
    flops = true_flops(model, cfg.MODEL.IMAGE_SIZE)
    print(f"config:      {args.cfg}")
    print(f"model:       {cfg.MODEL.NAME}, {cfg.MODEL.NUM_JOINTS} joints, input {height}x{width} (h x w), "
          f"heatmaps {height // 4}x{width // 4}")
    print(f"parameters:  {params:,} ({params / 1e6:.1f} M)")
    print(f"reference GFLOPs (conv+linear multiply-adds / 2^30, as the HRNet README): {ref:.2f}")
    print(f"true FLOPs (2 x multiply-adds, torch.utils.flop_counter): {flops / 1e9:.2f} GFLOPs (1e9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
