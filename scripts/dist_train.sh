#!/usr/bin/env bash
# Train on one node with NGPUS processes (DDP; NCCL on GPUs, gloo on CPU) through torchrun.
#
# Usage: scripts/dist_train.sh CFG NGPUS [--device cpu|cuda] [KEY VALUE ...]
#   e.g. scripts/dist_train.sh experiments/coco/hrnet/w32_256x192.yaml 4
#
# TRAIN.BATCH_SIZE_PER_GPU is per process: the global batch is NGPUS times it (see the README's LR
# scaling rule). Environment:
#   PORT          rendezvous port on this host (default 29500; change it to run two jobs on one machine)
#   MAX_RESTARTS  times torchrun restarts all processes after one fails (default 0); each restart resumes
#                 from last.pth and repeats the interrupted epoch exactly
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 1
fi

CFG=$1
NGPUS=$2
shift 2
PORT=${PORT:-29500}
MAX_RESTARTS=${MAX_RESTARTS:-0}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

exec torchrun --nnodes 1 --nproc_per_node "$NGPUS" --max-restarts "$MAX_RESTARTS" \
    --master_addr 127.0.0.1 --master_port "$PORT" \
    "$REPO_DIR/tools/train.py" --cfg "$CFG" "$@"
