"""Benchmarks: ``python tools/benchmark.py {model,data,train,eval,numerics,syncs} ...``.

Each subcommand prints one JSON line (configuration, device, throughput, memory) and a readable summary.
Speed-ups are reported as ratios against a baseline measured in the same run.

The subcommands live in the repository's ``benchmarks/`` folder (one module each; the reference-style
baselines in ``benchmarks/reference/``), which is not part of the installed ``hrpose`` package. This
script loads that folder as the package ``benchmarks`` from its file location, so it runs from any
working directory; repo-relative defaults (``data/sample``, ``experiments/...``) resolve against the
repository, not the working directory.
"""

import argparse
import importlib
import importlib.util
import pathlib
import sys
import types

REPO = pathlib.Path(__file__).resolve().parents[1]

SUBCOMMANDS = {
    "model": "forward+backward (or --infer forward-only) images/s on synthetic tensors",
    "data": "data pipeline samples/s, hrpose vs a reference-style baseline, with N workers",
    "train": "end-to-end training images/s with the real loader, data-wait fraction",
    "eval": "post-processing time for N boxes (decode, inverse affine, rescoring, NMS, json)",
    "numerics": "heatmap / keypoint differences of bf16, BN folding, channels_last, compile vs fp32",
    "syncs": "host-device syncs per training step (default path: none between PRINT_FREQ reads)",
    "records": "COCO-scale record building (cold / cached) and loader-worker memory, arrays vs objects",
}


def load_benchmarks_package() -> types.ModuleType:
    """Import ``REPO/benchmarks`` as the package ``benchmarks`` by its location (only tools/ is on
    ``sys.path`` when this script runs), so that ``importlib.import_module("benchmarks.<name>")`` and the
    package's own relative imports work."""
    folder = REPO / "benchmarks"
    spec = importlib.util.spec_from_file_location("benchmarks", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = package
    spec.loader.exec_module(package)
    return package


def main() -> None:
    load_benchmarks_package()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"benchmarks.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args()
    importlib.import_module(f"benchmarks.{args.command}").run(args)


if __name__ == "__main__":
    main()
