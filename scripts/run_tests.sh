#!/usr/bin/env bash
# The test suite (CPU only, no download): set up .venv, then run pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
