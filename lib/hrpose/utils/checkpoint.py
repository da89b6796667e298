"""Checkpoints: atomic save, ``weights_only`` load, and the layout of the files a run writes.

Every file is loadable with ``torch.load(path, weights_only=True)``: it holds only tensors, numbers,
strings, lists and dicts.

``last.pth`` (every epoch, atomically) — the training checkpoint, everything needed to resume:

    model           bare (no ``module.``/``_orig_mod.`` prefix) model state_dict, reference key names
    optimizer       optimizer.state_dict()
    scheduler       lr_scheduler.state_dict()
    scaler          GradScaler.state_dict() ({} without fp16)
    epoch           number of completed epochs (the next epoch to run, 0-based)
    best_ap         best validation AP so far (-1.0 before the first validation)
    val_stats       the last validation's {metric name: value} ({} before the first one)
    first_loss      the run's first epoch's mean training loss (the divergence guard's reference)
    rng             {"python": [...], "numpy": {...}, "torch": ByteTensor, "cuda": [ByteTensor, ...]}
    config          the resolved config as a yaml string (``CfgNode.dump()``)
    keypoint_set    ``KeypointSet.to_dict()``: names, flip pairs, OKS sigmas, joint weights, skeleton
    hrpose_version  ``hrpose.__version__``
    git_commit      commit of the checkout that trained it ("unknown" outside git)

``best.pth`` — the same layout without optimizer, scheduler, scaler and rng (written when the
validation AP is strictly greater than every earlier one). Both are self-describing: a predictor or
``tools/test.py`` rebuilds the config and keypoint set from the file alone.

``final.pth`` — the plain state_dict of the bare model after the last epoch, loadable by the reference.
"""

import errno
import logging
import os
import pathlib
import random
import shutil
import uuid

import numpy as np
import torch

logger = logging.getLogger(__name__)

MODEL_ONLY_KEYS = ("model", "epoch", "best_ap", "val_stats", "config", "keypoint_set", "hrpose_version",
                   "git_commit")


WRAPPER_KEYS = ("state_dict", "model")  # {'state_dict': sd} (reference checkpoint.pth), {'model': sd} (ours)
KEY_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DDP, and torch.compile


LOW_SPACE_BYTES = 64 << 20  # a short write with less free space than this is reported as a full disk


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, lacks what the caller needs, or does not fit the model; the
    message names the file. For a mismatch, ``missing`` / ``unexpected`` / ``mismatched`` list the keys
    (``mismatched`` entries read 'key: checkpoint (a, b) vs model (c, d)')."""

    def __init__(self, message: str, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temp file in the same directory, fsync, then rename.

    A crash at any moment leaves either the old file or the new one, never a truncated file, and no
    temp file stays behind when writing fails. A failed write raises ``CheckpointError`` naming ``path``,
    the cause (e.g. no space left on device) and that the previous file at ``path``, if any, is intact.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp_name, "xb") as f:  # same directory (so the rename is atomic), default permissions
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except Exception as err:
        tmp_name.unlink(missing_ok=True)
        kept = f"the previous {path} is intact" if path.exists() else f"no earlier {path.name} exists"
        failure = _save_failure(err, path)
        raise CheckpointError(f"could not write checkpoint {path}: {failure}; {kept}") from err
    except BaseException:
        tmp_name.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _save_failure(err: Exception, path: pathlib.Path) -> str:
    """Why a save failed, in words: a full disk is named as such (torch reports it as 'unexpected pos')."""
    chain, cause = [], err
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    free = shutil.disk_usage(path.parent).free
    where = f"{free / 2**20:.0f} MiB free on the file system of {path.parent}"
    if any(getattr(e, "errno", None) == errno.ENOSPC for e in chain):
        return f"no space left on device ({where})"
    if "unexpected pos" in str(err):  # torch's writer hides the errno of a short write
        if free < LOW_SPACE_BYTES:
            return f"no space left on device ({where})"
        return f"the write was cut short (a quota or file-size limit? {where})"
    return f"{type(err).__name__}: {err}"


def _fsync_dir(directory: pathlib.Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """``torch.load(path, weights_only=True)``; raises ``CheckpointError`` naming the file on failure."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, non-weights_only content
        raise CheckpointError(f"cannot load checkpoint {path}: {_load_failure(err)}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, got {type(state).__name__}")
    return state


def model_only(state: dict) -> dict:
    """The ``best.pth`` subset of a training checkpoint (no optimizer, scheduler, scaler, rng)."""
    return {key: state[key] for key in MODEL_ONLY_KEYS if key in state}


def _load_failure(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, without torch's advice to weaken ``weights_only``."""
    text = str(err)
    if "weights_only" in text or "Unsupported global" in text or "WeightsUnpickler" in text:
        return ("it holds Python objects other than tensors and plain containers, which are not loaded "
                "(weights_only=True); re-save the weights as a state_dict from the code that made the file")
    if isinstance(err, (EOFError, RuntimeError)) and ("archive" in text or "EOF" in text or not text):
        return f"the file is truncated or not a PyTorch checkpoint ({type(err).__name__}: {text})"
    return f"{type(err).__name__}: {text}"


def state_dict_of(checkpoint, source: str) -> dict:
    """The tensors of a loaded checkpoint: a plain state_dict, or one under 'state_dict' / 'model', with
    the 'module.' / '_orig_mod.' prefixes removed. ``CheckpointError`` naming ``source`` when it holds
    anything else."""
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{source}: expected a state_dict (or a dict holding one under "
                              f"{WRAPPER_KEYS}), "
                              f"got {type(checkpoint).__name__}")
    for key, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            keys = list(checkpoint)
            more = " ..." if len(keys) > 10 else ""
            raise CheckpointError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor; is "
                                  f"this a state_dict? top-level keys: {keys[:10]}{more}")
    return strip_prefixes(checkpoint)


def strip_prefixes(state_dict: dict) -> dict:
    """A new state_dict without the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) key prefixes, in
    any nesting."""
    out = {}
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in KEY_PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


def get_rng_state() -> dict:
    """The python, numpy, torch (and CUDA) generator states, in ``weights_only``-safe form."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": _to_lists(random.getstate()),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"]).astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(rng: dict) -> None:
    """Restore what ``get_rng_state`` returned (CUDA states only when the device count matches)."""
    random.setstate(_to_tuples(rng["python"]))
    np_rng = rng["numpy"]
    np.random.set_state({
        "bit_generator": np_rng["bit_generator"],
        "state": {"key": np_rng["key"].numpy().astype(np.uint32), "pos": np_rng["pos"]},
        "has_gauss": np_rng["has_gauss"],
        "gauss": np_rng["gauss"],
    })
    torch.set_rng_state(rng["torch"].cpu())
    cuda = rng.get("cuda", [])
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _to_lists(value):
    return [_to_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuples(value):
    return tuple(_to_tuples(v) for v in value) if isinstance(value, (tuple, list)) else value
