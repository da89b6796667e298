"""Provenance and seeding: the git commit, an environment description, deterministic seeds."""

import functools
import hashlib
import os
import pathlib
import platform
import random
import socket
import subprocess
import sys

import numpy as np
import torch

import hrpose

_REPO_DIR = pathlib.Path(__file__).resolve().parents[3]  # lib/hrpose/utils -> the checkout


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_REPO_DIR, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """``<sha>`` of the checkout hrpose runs from, ``<sha>-dirty`` with local changes, else 'unknown'."""
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if dirty else sha


def environment_info(device: torch.device, world_size: int) -> dict:
    """Versions, device and launch facts, as a json-able dict (saved as ``env.json`` per run)."""
    info = {
        "hrpose": hrpose.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": str(device),
        "world_size": world_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "command": " ".join(sys.argv),
        "cuda_available": torch.cuda.is_available(),
    }
    if device.type == "cuda":
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    gpu=torch.cuda.get_device_name(device), gpu_count=torch.cuda.device_count())
    return info


def derive_seed(*parts: int) -> int:
    """A 31-bit seed that is a fixed function of the integers ``parts`` (e.g. seed, epoch, rank)."""
    digest = hashlib.sha256(",".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_backends(device: torch.device, benchmark: bool, deterministic: bool, enabled: bool) -> None:
    """cuDNN switches (CUDA only): ``deterministic`` wins over ``benchmark``."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.enabled = enabled
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = benchmark and not deterministic


def set_cpu_threads(threads: int) -> int:
    """Intra-op threads of this process for CPU work (``--threads``); 0 keeps PyTorch's default (one per
    physical core). Under torchrun the default is split between the local processes so that they do not
    oversubscribe the cores. Returns the number in use."""
    if threads <= 0:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        threads = max(1, torch.get_num_threads() // local) if local > 1 else torch.get_num_threads()
    torch.set_num_threads(int(threads))
    return torch.get_num_threads()
