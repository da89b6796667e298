"""One training per run directory: the lock (live, stale, foreign), the fresh-start rule, the resume config
check."""

import json
import logging
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from hrpose.config import load_cfg
from hrpose.utils.run_dir import (
    RunDirectoryError,
    RunLock,
    check_resume_config,
    config_differences,
    prepare_fresh_start,
)


def _write_lock(run_dir, pid, host):
    lock = {"pid": pid, "host": host, "started": "2026-01-01T00:00:00"}
    (run_dir / "run.lock").write_text(json.dumps(lock))


def test_lock_is_taken_and_released(tmp_path):
    with RunLock(tmp_path) as lock:
        owner = json.loads((tmp_path / "run.lock").read_text())
        assert owner["pid"] == os.getpid() and owner == lock.owner
    assert not (tmp_path / "run.lock").exists()


def test_lock_of_a_live_process_is_refused_with_its_pid_and_host(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, other.pid, socket.gethostname())
        with pytest.raises(RunDirectoryError, match=rf"in use by another training: process {other.pid} on "
                                                    rf"host {socket.gethostname()}, started 2026-01-01"):
            RunLock(tmp_path).__enter__()
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == other.pid  # left alone
    finally:
        other.kill()
        other.wait()


def test_stale_lock_of_a_dead_process_is_reclaimed(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid, socket.gethostname())
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert f"stale lock {tmp_path / 'run.lock'} of process {dead.pid}" in caplog.text


def test_lock_from_another_host_is_refused(tmp_path):
    _write_lock(tmp_path, 1, "some-other-node")
    with pytest.raises(RunDirectoryError, match="some-other-node.*delete the lock file"):
        RunLock(tmp_path).__enter__()


def test_fresh_start_over_checkpoints_is_refused_and_changes_nothing(tmp_path):
    (tmp_path / "best.pth").write_bytes(b"old best")
    (tmp_path / "config.yaml").write_text("old config")
    with pytest.raises(RunDirectoryError, match=r"already holds best\.pth.*--restart"):
        prepare_fresh_start(tmp_path, restart=False)
    assert (tmp_path / "best.pth").read_bytes() == b"old best"
    assert (tmp_path / "config.yaml").read_text() == "old config"


def test_restart_moves_the_old_run_aside(tmp_path):
    (tmp_path / "best.pth").write_bytes(b"old best")
    (tmp_path / "last.pth").write_bytes(b"old last")
    prepare_fresh_start(tmp_path, restart=True)
    assert not (tmp_path / "best.pth").exists() and not (tmp_path / "last.pth").exists()
    (aside,) = (tmp_path / "previous").iterdir()
    assert (aside / "best.pth").read_bytes() == b"old best"
    assert (aside / "last.pth").read_bytes() == b"old last"


def test_empty_directory_starts_fresh_without_a_flag(tmp_path):
    prepare_fresh_start(tmp_path, restart=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_config_check_lists_what_changes_the_training():
    saved = load_cfg(None, ["MODEL.SIGMA", "2"])
    ok = load_cfg(None, ["MODEL.SIGMA", "2", "WORKERS", "7", "TRAIN.END_EPOCH", "300",
                         "TEST.FLIP_TEST", "False", "OUTPUT_DIR", "/elsewhere"])
    assert config_differences(saved, ok) == []
    changed = load_cfg(None, ["MODEL.SIGMA", "3", "TRAIN.LR", "0.01"])
    assert config_differences(saved, changed) == ["MODEL.SIGMA: 2 -> 3", "TRAIN.LR: 0.001 -> 0.01"]
    with pytest.raises(RunDirectoryError, match=r"x/last\.pth was written with a different config.*"
                                                r"MODEL\.SIGMA: 2 -> 3.*new OUTPUT_DIR.*--restart"):
        check_resume_config(pathlib.Path("x/last.pth"), saved, changed)
