"""Write the synthetic COCO-format sample data (deterministic for a seed).

    python tools/make_sample_data.py --out data/sample [--seed 0] [--num_train_images 150]
                                     [--num_val_images 40]

The result is laid out like data/coco/ (see data/README.md) and is what experiments/sample/*.yaml train on.
"""

import argparse
import json
import logging

from hrpose.datasets.synthetic import make_sample_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/sample", help="dataset root to write (DATASET.ROOT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_train_images", "--num-train-images", type=int, default=150)
    parser.add_argument("--num_val_images", "--num-val-images", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    counts = make_sample_dataset(args.out, seed=args.seed, num_train_images=args.num_train_images,
                                 num_val_images=args.num_val_images)
    logging.info("wrote %s: %s", args.out, json.dumps(counts))


if __name__ == "__main__":
    main()
