"""Benchmarks: ``python tools/benchmark.py {model,data,train,eval,numerics} ...``.

Each subcommand prints one JSON line (configuration, device, throughput, memory) and a readable summary.
Speed-ups are reported as ratios against a baseline measured in the same run.
"""

import argparse
import importlib

SUBCOMMANDS = {
    "model": "forward+backward (or --infer forward-only) images/s on synthetic tensors",
    "data": "data pipeline samples/s, hrpose vs a reference-style baseline, with N workers",
    "train": "end-to-end training images/s with the real loader, data-wait fraction",
    "eval": "post-processing time for N boxes (decode, inverse affine, rescoring, NMS, json)",
    "numerics": "heatmap / keypoint differences of bf16, BN folding, channels_last, compile vs fp32",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"hrpose.benchmark.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args()
    importlib.import_module(f"hrpose.benchmark.{args.command}").run(args)


if __name__ == "__main__":
    main()
