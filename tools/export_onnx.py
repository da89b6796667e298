r"""Export the pose network to ONNX and check it against PyTorch with onnxruntime.

    python tools/export_onnx.py --checkpoint best.pth --out model.onnx [--dynamic-batch] [--opset 17]
    python tools/export_onnx.py --checkpoint w32.pth --out w32.onnx \
        --cfg experiments/coco/hrnet/w32_256x192.yaml   # a plain state_dict needs its yaml
    python tools/export_onnx.py --cfg experiments/coco/hrnet/w32_256x192.yaml --out w32.onnx  # random weights

The file maps ``images`` float32 [N, 3, H, W] (normalised) to ``heatmaps`` float32 [N, K, H/4, W/4]; see
docs/deploy.md for the numpy/OpenCV pre- and post-processing. Exit status 1 when the onnxruntime output
differs from PyTorch's by more than --tolerance (default 1e-4, fp32).
"""

import argparse
import logging
import sys
import time

from hrpose.apis.export import (
    DEFAULT_OPSET,
    FP32_TOLERANCE,
    check_onnx,
    deploy_metadata,
    export_onnx,
    onnx_io,
)
from hrpose.apis.loading import load_pose_model
from hrpose.config import ConfigError
from hrpose.models import fuse_conv_bn
from hrpose.models.normalize import IMAGENET_MEAN, IMAGENET_STD
from hrpose.utils.checkpoint import CheckpointError

logger = logging.getLogger("export_onnx")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="training checkpoint (self-describing) or plain state_dict "
                        "(then --cfg is required); without it, --cfg exports RANDOM weights")
    parser.add_argument("--cfg", help="experiment yaml (required for a plain state_dict)")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    parser.add_argument("--dynamic-batch", action="store_true",
                        help="symbolic batch axis (checked at two batch sizes)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="export batch (the fixed batch without --dynamic-batch)")
    parser.add_argument("--fuse-bn", action="store_true", help="fold BatchNorm into the convolutions first")
    parser.add_argument("--tolerance", type=float, default=FP32_TOLERANCE, help="max abs diff allowed (fp32)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if args.checkpoint is None and args.cfg is None:
        parser.error("give --checkpoint, or --cfg to export randomly initialised weights")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        loaded = load_pose_model(args.checkpoint, args.cfg, args.opts, allow_random_init=True)
    except (CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.checkpoint is None:
        print("WARNING: no --checkpoint given: exporting RANDOMLY INITIALISED weights (useful only to check "
              "the export itself)", file=sys.stderr)
    model = loaded.model
    if args.fuse_bn:
        model = fuse_conv_bn(model.eval())
    input_size = loaded.cfg.MODEL.IMAGE_SIZE
    metadata = deploy_metadata(loaded.cfg, loaded.keypoint_set, IMAGENET_MEAN, IMAGENET_STD)
    start = time.perf_counter()
    export_onnx(model, args.out, input_size, opset=args.opset, dynamic_batch=args.dynamic_batch,
                batch_size=args.batch_size, metadata=metadata)
    export_s = time.perf_counter() - start
    print(f"exported {args.out} from {loaded.source} in {export_s:.1f} s (opset {args.opset})")
    try:
        io = onnx_io(args.out)
    except ImportError:
        print("onnxruntime is not installed: no check (pip install onnxruntime)", file=sys.stderr)
        return 0 if args.no_check else 1
    for kind in ("inputs", "outputs"):
        for name, shape, dtype in io[kind]:
            print(f"  {kind[:-1]:6s} {name}: {shape} {dtype}")
    if args.no_check:
        return 0
    batches = (args.batch_size, args.batch_size + 1) if args.dynamic_batch else (args.batch_size,)
    diff = check_onnx(args.out, model, input_size, batch_sizes=batches)
    ok = diff <= args.tolerance
    print(f"onnxruntime vs PyTorch on random input, batches {list(batches)}: max abs diff {diff:.3g} "
          f"({'OK' if ok else 'FAIL'}, tolerance {args.tolerance:g})")
    if not ok:
        print(f"ERROR: {args.out} differs from the PyTorch model by {diff:.3g} > {args.tolerance:g}",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
