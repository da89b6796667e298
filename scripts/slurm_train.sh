#!/usr/bin/env bash
# Train on several nodes under Slurm: srun starts one torchrun per node, and the torchrun agents meet
# through the c10d rendezvous on the first node of the allocation.
#
# Usage: [NODES=2] [GPUS_PER_NODE=8] scripts/slurm_train.sh PARTITION JOB CFG [--device cuda] [KEY VALUE ...]
#   e.g. NODES=2 scripts/slurm_train.sh gpu hrnet_w32 experiments/coco/hrnet/w32_256x192.yaml
#
# Environment:
#   NODES          nodes to allocate (default 1)
#   GPUS_PER_NODE  GPUs, i.e. training processes, per node (default 8)
#   CPUS_PER_TASK  CPUs for each node's task, shared by its processes (default 4 per GPU)
#   PORT           rendezvous port on the first node (default 29500)
#   SRUN_ARGS      extra srun arguments, e.g. "--time=72:00:00 --account=abc"
#   MAX_RESTARTS   times torchrun restarts the job's processes after one fails (default 0); each restart
#                  resumes from last.pth
# The output dir must be on a filesystem every node sees (rank 0 writes, all ranks resume from it).
set -euo pipefail

if [[ $# -lt 3 ]]; then
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit 1
fi

PARTITION=$1
JOB_NAME=$2
CFG=$3
shift 3
NODES=${NODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-$((4 * GPUS_PER_NODE))}
PORT=${PORT:-29500}
SRUN_ARGS=${SRUN_ARGS:-}
MAX_RESTARTS=${MAX_RESTARTS:-0}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GPUS_PER_NODE PORT REPO_DIR MAX_RESTARTS

# Runs once per node inside the allocation, where SLURM_NNODES and SLURM_JOB_NODELIST are known.
# shellcheck disable=SC2016  # expanded by the inner bash on each node, not here
NODE_COMMAND='
head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
exec torchrun --nnodes "$SLURM_NNODES" --nproc_per_node "$GPUS_PER_NODE" --max-restarts "$MAX_RESTARTS" \
    --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$head_node:$PORT" \
    "$REPO_DIR/tools/train.py" --cfg "$@"
'

# shellcheck disable=SC2086  # SRUN_ARGS is a list of words on purpose
srun --partition "$PARTITION" --job-name "$JOB_NAME" --nodes "$NODES" --ntasks-per-node 1 \
    --gres "gpu:$GPUS_PER_NODE" --cpus-per-task "$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    bash -c "$NODE_COMMAND" bash "$CFG" "$@"
