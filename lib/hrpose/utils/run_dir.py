"""One training run per directory: a lock, the fresh-start rule, and the config check against ``last.pth``.

* ``RunLock``: ``<run dir>/run.lock`` holds ``{pid, host, started}`` of the training that owns the
  directory. A second training into the same directory is refused with a message naming the other
  process. A lock left by a dead process on this host (kill -9, a crash, a torchrun restart) is stale and
  reclaimed with a warning; a lock from another host cannot be checked and is refused (the message says
  which file to delete when that process is gone).
* ``prepare_fresh_start``: starting from scratch (``AUTO_RESUME False``, or no ``last.pth``) in a directory
  that holds checkpoints is refused unless ``restart`` is asked for; then the old files are moved into
  ``previous/<timestamp>/``, never overwritten.
* ``check_resume_config``: the config of ``last.pth`` and the current one may differ only in keys that do
  not change what is trained (``RESUMABLE_KEYS``: paths, workers, logging, the end epoch ...).
"""

import contextlib
import datetime
import json
import logging
import os
import pathlib
import shutil
import socket

from yacs.config import CfgNode

from hrpose.config import cfg_from_string, flatten_cfg
from hrpose.utils.checkpoint import CheckpointError, load_checkpoint
from hrpose.utils.dist import broadcast_object, is_distributed, is_main_process

logger = logging.getLogger(__name__)

LOCK_NAME = "run.lock"
RUN_FILES = ("last.pth", "best.pth", "final.pth", "config.yaml", "env.json", "train.log")
CHECKPOINTS = ("last.pth", "best.pth", "final.pth")
# Keys a resumed run may change: where things are, how fast data is read, what is logged, how long to train.
RESUMABLE_KEYS = ("OUTPUT_DIR", "LOG_DIR", "DATA_DIR", "GPUS", "WORKERS", "PRINT_FREQ", "PIN_MEMORY",
                  "AUTO_RESUME", "DATASET.ROOT", "DATASET.CACHE_IMAGES", "DATASET.SKIP_BAD_IMAGES",
                  "TRAIN.END_EPOCH", "TRAIN.VAL_INTERVAL", "TEST.", "DEBUG.", "CUDNN.", "MODEL.PRETRAINED")
MAX_LISTED = 5


class RunDirectoryError(RuntimeError):
    """A run directory that this training may not use as asked; the message says why and the ways out."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """``with RunLock(run_dir):`` holds ``run_dir/run.lock`` for the block (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = pathlib.Path(run_dir) / LOCK_NAME
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": datetime.datetime.now().isoformat(timespec="seconds")}

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._create():
            self._reclaim_or_refuse()
        return self

    def __exit__(self, *exc) -> None:
        if self._read() == self.owner:
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self.owner, f)
        return True

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _reclaim_or_refuse(self) -> None:
        other = self._read()
        if other is None:  # unreadable: a writer died between create and write
            logger.warning("%s is unreadable; reclaiming it", self.path)
        elif other.get("host") == self.owner["host"] and not _process_alive(int(other.get("pid", -1))):
            logger.warning("reclaiming the stale lock %s of process %s (started %s), which is no longer "
                           "running", self.path, other.get("pid"), other.get("started"))
        else:
            raise RunDirectoryError(
                f"{self.path.parent} is in use by another training: process {other.get('pid')} on host "
                f"{other.get('host')}, started {other.get('started')} (lock file {self.path}). Use another "
                "OUTPUT_DIR, or wait for it to end; if that process is gone (another host), delete the lock "
                "file")
        self.path.unlink(missing_ok=True)


def prepare_fresh_start(run_dir: pathlib.Path, restart: bool) -> None:
    """Refuse a fresh start over existing checkpoints, or (``restart``) move the old run aside."""
    found = [name for name in CHECKPOINTS if (run_dir / name).exists()]
    if not found:
        return
    if not restart:
        raise RunDirectoryError(
            f"{run_dir} already holds {', '.join(found)} and this run would start from scratch (AUTO_RESUME "
            "is False, or last.pth is missing). Nothing was changed. Either resume (AUTO_RESUME True, with "
            "last.pth present), use another OUTPUT_DIR, or pass --restart to move the old files into "
            f"{run_dir / 'previous'}/<time>/ and start over")
    aside = run_dir / "previous" / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=False)
    for name in RUN_FILES:
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), str(aside / name))
    logger.warning("--restart: the previous run's files were moved to %s", aside)


def config_differences(saved: CfgNode, current: CfgNode) -> list[str]:
    """``'KEY: saved -> current'`` for every key that differs and is not in ``RESUMABLE_KEYS``."""
    old, new = flatten_cfg(saved), flatten_cfg(current)
    changed = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key) and not any(key == k or (k.endswith(".") and key.startswith(k))
                                                    for k in RESUMABLE_KEYS):
            changed.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return changed


def check_resume_config(last_path: pathlib.Path, saved: CfgNode, current: CfgNode) -> None:
    """``RunDirectoryError`` naming ``last_path``, the first differing keys and the ways out."""
    changed = config_differences(saved, current)
    if changed:
        more = f" (and {len(changed) - MAX_LISTED} more)" if len(changed) > MAX_LISTED else ""
        raise RunDirectoryError(
            f"{last_path} was written with a different config, so AUTO_RESUME cannot continue it: "
            f"{'; '.join(changed[:MAX_LISTED])}{more}. Nothing was changed. Either train into a new "
            "OUTPUT_DIR (or another --cfg name), or start this one over with AUTO_RESUME False --restart "
            "(the old files are moved aside)")


def check_run_dir(cfg: CfgNode, run_dir: pathlib.Path, restart: bool) -> None:
    """The rules above for a training about to use ``run_dir`` (called with the lock held)."""
    last = run_dir / "last.pth"
    if not restart and cfg.AUTO_RESUME and last.is_file():
        saved = load_checkpoint(last).get("config")
        if not isinstance(saved, str):
            raise RunDirectoryError(f"{last} holds no config; it cannot be resumed (AUTO_RESUME). Use "
                                    "another OUTPUT_DIR, or start over with --restart (the old files are "
                                    "moved aside)")
        check_resume_config(last, cfg_from_string(saved, source=str(last)), cfg)
        return
    prepare_fresh_start(run_dir, restart)


@contextlib.contextmanager
def claim_run_dir(cfg: CfgNode, run_dir: pathlib.Path, restart: bool = False):
    """Hold ``run_dir`` for a training (rank 0 takes the lock and checks; every rank gets the same
    verdict, so a refusal stops all of them instead of leaving some waiting at a barrier)."""
    with contextlib.ExitStack() as stack:
        error = None
        if is_main_process():
            try:
                stack.enter_context(RunLock(run_dir))
                check_run_dir(cfg, run_dir, restart)
            except (RunDirectoryError, CheckpointError) as err:
                error = str(err)
        error = broadcast_object(error) if is_distributed() else error
        if error is not None:
            raise RunDirectoryError(error)
        yield
