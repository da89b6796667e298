"""Fixtures of the command-line tool tests: running ``tools/<name>.py`` in a subprocess."""

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def run_tool(repo_root):
    """``run_tool('infer.py', *args, timeout=120) -> CompletedProcess``: ``python tools/<name> *args`` in
    the repository (output captured as text; the exit status is the caller's to check)."""
    env = {**os.environ, "PYTHONPATH": str(repo_root)}

    def run(name: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [sys.executable, str(repo_root / "tools" / name), *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=repo_root)

    return run
