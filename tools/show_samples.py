"""Write pictures of what the network is fed: crops with keypoints, skeleton and target heatmaps.

    python tools/show_samples.py --cfg experiments/sample/hrnet_tiny_sample.yaml --train --num 16 --out show/

Per sample ``sample_<i>.jpg``: the crop with its keypoints and skeleton, then one tile per joint with the
target heatmap over the crop. ``samples_grid.jpg``: all crops side by side. ``--train`` shows augmented
training samples (epoch ``--epoch``); without it, the evaluation crops. Trailing ``KEY VALUE`` pairs
override the config.
"""

import argparse
import logging
import pathlib

import cv2
import numpy as np

from hrpose.codecs import build_codec, build_target_renderer
from hrpose.config.cli import add_config_arguments, cfg_from_args, parse_tool_args, run_tool
from hrpose.datasets import build_dataset, build_keypoint_set
from hrpose.datasets.topdown import crop_keypoints
from hrpose.utils import vis

logger = logging.getLogger("show_samples")


def crop_keypoints_of(dataset, item) -> np.ndarray:
    """The sample's keypoints in crop px [K, 3] (x, y, v), rebuilt from its meta through the same affine."""
    meta = item["meta"]
    width = int(meta["image_size"][0])
    matrix = dataset.codec.image_affine(meta["center"], meta["scale"], meta["rotation"],
                                        flip_width=width if meta["flipped"] else None)
    flip_index = dataset.keypoint_set.flip_index if meta["flipped"] else None
    points, _ = crop_keypoints(meta["joints"], matrix, flip_index)
    weights = item["target_weight"].numpy()[:, 0]
    return np.concatenate([points, weights[:, None]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true",
                        help="augmented training samples (default: the evaluation crops)")
    parser.add_argument("--num", type=int, default=16, help="number of samples")
    parser.add_argument("--start", type=int, default=0, help="first sample index")
    parser.add_argument("--epoch", type=int, default=0, help="augmentation epoch (--train)")
    parser.add_argument("--out", default="show_samples", help="output folder")
    add_config_arguments(parser)
    args = parse_tool_args(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = cfg_from_args(args)
    codec, ks = build_codec(cfg), build_keypoint_set(cfg)
    # TRAIN.TARGETS_ON_DEVICE training items carry keypoints: render their heatmaps here
    renderer = build_target_renderer(cfg, codec, ks) if args.train else None
    dataset = build_dataset(cfg, args.train, codec, ks, renderer)
    dataset.set_epoch(args.epoch)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    crops = []
    for i in range(args.start, min(args.start + args.num, len(dataset))):
        item = dataset[i]
        if renderer is not None:
            heatmaps, weights = renderer(item["keypoints"][None], item["target_weight"][None])
            item = {**item, "heatmaps": heatmaps[0], "target_weight": weights[0]}
        crop = vis.tensor_to_image(item["image"], rgb=cfg.DATASET.COLOR_RGB)
        drawn = vis.draw_keypoints(crop, crop_keypoints_of(dataset, item), ks.skeleton, kpt_thr=0.5,
                                   radius=2, thickness=1)
        grid = vis.heatmap_grid(drawn, item["heatmaps"], names=ks.names)
        cv2.imwrite(str(out / f"sample_{i:05d}.jpg"), grid)
        crops.append(drawn)
    if not crops:
        raise SystemExit(f"no samples in [{args.start}, {args.start + args.num}) of {len(dataset)}")
    cv2.imwrite(str(out / "samples_grid.jpg"), vis.batch_grid(crops, ncols=8))
    logger.info("wrote %d samples of %s (%s) to %s", len(crops),
                cfg.DATASET.TRAIN_SET if args.train else cfg.DATASET.TEST_SET,
                "train, augmented" if args.train else "eval", out)


if __name__ == "__main__":
    run_tool(main)
