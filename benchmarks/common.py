"""Shared pieces of the benchmark tool: repository paths, timing, device facts, the one-JSON-line report,
and the data-pipeline objects built as the trainer builds them."""

import json
import logging
import os
import pathlib
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable

import torch

from hrpose.codecs import build_codec, build_target_renderer
from hrpose.datasets import build_keypoint_set
from hrpose.datasets.synthetic import make_sample_dataset

logger = logging.getLogger(__name__)

# The repository checkout; repo-relative defaults resolve against it, not against the working directory.
REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE_ROOT = str(REPO / "data" / "sample")  # the synthetic sample data (tools/make_sample_data.py)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, iters: int) -> list[float]:
    """Wall seconds of each of ``iters`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def device_facts(device: torch.device) -> dict:
    """Device name, torch version, threads; on CUDA the GPU name and peak memory so far."""
    facts = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
        facts["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    else:
        facts["cpu"] = platform.processor() or platform.machine()
    return facts


def git_commit() -> str:
    """Short HEAD commit of the repository (whatever the working directory), with ``+dirty`` when tracked
    files differ from it (the figures then belong to uncommitted code); ``unknown`` outside a git
    checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False, cwd=REPO)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=False, cwd=REPO)
        commit = out.stdout.strip()
        return (commit + ("+dirty" if dirty.stdout.strip() else "")) if commit else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def report(result: dict, summary: str) -> None:
    """Print one JSON line (machine-readable) then a readable summary line."""
    result = {"commit": git_commit(), **result}
    print(json.dumps(result, sort_keys=True))
    print(summary)


def data_parts(cfg):
    """(codec, keypoint set, target renderer or None) of ``cfg``: what ``build_dataset`` /
    ``build_dataloader`` and the training step take."""
    codec, keypoint_set = build_codec(cfg), build_keypoint_set(cfg)
    return codec, keypoint_set, build_target_renderer(cfg, codec, keypoint_set)


def ensure_sample_root(root: str) -> str:
    """``root``, or, when it is the repository's sample data and that is missing (a fresh checkout), a
    temporary folder with the sample data generated into it."""
    if os.path.isdir(root) or os.path.abspath(root) != SAMPLE_ROOT:
        return root
    generated = tempfile.mkdtemp(prefix="hrpose_sample_")
    logger.warning("%s not found: generating the sample data in %s", SAMPLE_ROOT, generated)
    make_sample_dataset(generated)
    return generated
