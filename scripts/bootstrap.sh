#!/usr/bin/env bash
# Create (once) the project's virtual environment in .venv and install hrpose into it (editable),
# with the test extras. Idempotent: a second run only checks that everything is installed.
#
# If the system Python already has PyTorch, the venv reuses it (--system-site-packages) instead of
# downloading another multi-GB build; otherwise pip installs torch from PyPI. Override the
# interpreter with PYTHON=/path/to/python3.10+ ; HRPOSE_ISOLATED_VENV=1 never reuses system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "hrpose needs Python >= 3.10, found " + sys.version' 

if [ ! -x .venv/bin/python ]; then
    if [ "${HRPOSE_ISOLATED_VENV:-0}" != 1 ] && "$PYTHON" -c 'import torch' 2>/dev/null; then
        echo "[bootstrap] creating .venv (reusing the system PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
        "$PYTHON" -m venv --system-site-packages .venv
    else
        echo "[bootstrap] creating .venv"
        "$PYTHON" -m venv .venv
    fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
echo "[bootstrap] ready: $(.venv/bin/python -c 'import torch, hrpose; print("hrpose", hrpose.__version__, "torch", torch.__version__)')"
