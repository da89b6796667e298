"""Write the synthetic sample data (deterministic for a seed).

    python tools/make_sample_data.py --out data/sample [--seed 0] [--num_train_images 150]
                                     [--num_val_images 40] [--variant coco]

``--variant coco`` (default) is laid out like data/coco/ (see data/README.md) and is what
experiments/sample/hrnet_tiny_sample.yaml trains on. The other variants write the same kind of scenes in
another benchmark's layout and keypoint set (hrpose/datasets/synthetic_variants.py): crowdpose, mpii (the
reference's MPII format; needs scipy for gt_valid.mat), aic, posetrack18, halpe, ochuman, wholebody
(COCO-WholeBody's 133 keypoints); each has its experiments/sample/hrnet_tiny_<variant>_sample.yaml
(DATASET.ROOT data/sample_<variant>).
"""

import argparse
import json
import logging

from hrpose.datasets.synthetic import make_sample_dataset
from hrpose.datasets.synthetic_variants import VARIANTS, make_variant_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/sample", help="dataset root to write (DATASET.ROOT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_train_images", "--num-train-images", type=int, default=150)
    parser.add_argument("--num_val_images", "--num-val-images", type=int, default=40)
    parser.add_argument("--variant", default="coco", choices=["coco", *VARIANTS, "mpii"],
                        help="layout and keypoint set of the data (default: COCO)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sizes = {"seed": args.seed, "num_train_images": args.num_train_images,
             "num_val_images": args.num_val_images}
    if args.variant == "coco":
        counts = make_sample_dataset(args.out, **sizes)
    else:
        counts = make_variant_dataset(args.out, args.variant, **sizes)
    logging.info("wrote %s: %s", args.out, json.dumps(counts))


if __name__ == "__main__":
    main()
