#!/usr/bin/env bash
# The main job on a laptop CPU: set up .venv, generate the synthetic sample dataset (if absent),
# train the small sample HRNet on it, and evaluate it (COCO AP table at the end).
# Extra arguments are passed to tools/train.py as KEY VALUE config overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
PY=.venv/bin/python
CFG=experiments/sample/hrnet_tiny_sample.yaml

if [ ! -f data/sample/annotations/person_keypoints_val2017.json ]; then
    "$PY" tools/make_sample_data.py --out data/sample
fi
"$PY" tools/train.py --cfg "$CFG" "$@"
"$PY" tools/test.py --cfg "$CFG" "$@"
