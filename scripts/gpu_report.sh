#!/usr/bin/env bash
# The whole measurement plan of docs/benchmarks.md in one command (issue 15), unattended.
#
#   bash scripts/gpu_report.sh
#
# CPU half (every machine): the CPU tests of every training fast path (tests/engine, not the GPU-only
# ones), the host-sync count per training step, one CPU speed ratio.
# GPU half (only where torch sees a CUDA GPU; <= 20 minutes on one H100 all in all): the GPU-only tests,
# the sync count on the GPU, W32 256x192 training img/s (fp32 / bf16, eager / compiled, channels_last,
# batch 64 / 128 / 256), W48 384x288, val2017-sized evaluation (104,125 boxes, flip test) end to end
# but for the data loading, the data pipeline at 16 workers with and without targets on the device.
# The measurements run in order of importance under a time budget (GPU_REPORT_BUDGET_S, default 1140 s
# from the start); what does not fit is listed as skipped. Every output goes to
# output/gpu_report/<UTC time>/ (one log per measurement, manifest.tsv), and the dated table with the
# GPU's name is inserted into docs/benchmarks.md under "## GPU figures" (commit it).
# Without a GPU: the CPU half, then a line saying no GPU was found, exit status 0.
#
# Environment: PYTHON (default .venv/bin/python, else python3), DATA_ROOT (default data/coco when it has
# train2017 images, else data/sample, generated when missing), GPU_REPORT_BUDGET_S, GPU_REPORT_SMOKE=1
# (runs the GPU half's commands on the CPU at tiny sizes, eager, into a copy of the docs: a check of the
# script itself on a machine without a GPU).
set -uo pipefail  # no -e: a failed measurement is recorded and the next one runs
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT=output/gpu_report/$STAMP
BUDGET_S=${GPU_REPORT_BUDGET_S:-1140}
SMOKE=${GPU_REPORT_SMOKE:-0}
mkdir -p "$OUT"
: > "$OUT/manifest.tsv"
W32=experiments/coco/hrnet/w32_256x192.yaml
W48=experiments/coco/hrnet/w48_384x288.yaml
SAMPLE=experiments/sample/hrnet_tiny_sample.yaml

# measure NAME ESTIMATE_S COMMAND...: run it unless it would overrun the budget; its output goes to
# $OUT/NAME.log, its summary lines (and a failure's tail) to the terminal, one row to the manifest.
measure() {
    local name=$1 estimate=$2 left rc start
    shift 2
    left=$((BUDGET_S - SECONDS))
    if (( estimate > left )); then
        echo "-- $name: skipped (about ${estimate} s needed, ${left} s of the budget left)"
        printf '%s\tskipped (time budget)\t0\n' "$name" >> "$OUT/manifest.tsv"
        return
    fi
    echo "-- $name: $*"
    start=$SECONDS
    timeout --kill-after=15 "$left" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    if (( rc == 0 )); then
        printf '%s\tok\t%s\n' "$name" $((SECONDS - start)) >> "$OUT/manifest.tsv"
        grep -v '^{' "$OUT/$name.log" | tail -n 1
    else
        printf '%s\tfailed (rc %s)\t%s\n' "$name" "$rc" $((SECONDS - start)) >> "$OUT/manifest.tsv"
        tail -n 15 "$OUT/$name.log"
    fi
}

if [ -z "${DATA_ROOT:-}" ]; then
    DATA_ROOT=data/sample
    [ -d data/coco/images/train2017 ] && DATA_ROOT=data/coco
fi
if [ "$DATA_ROOT" = data/sample ] && [ ! -f data/sample/annotations/person_keypoints_val2017.json ]; then
    "$PY" tools/make_sample_data.py --out data/sample > "$OUT/make_sample_data.log" 2>&1 \
        || { echo "could not generate data/sample (see $OUT/make_sample_data.log)"; exit 1; }
fi
DATA_SET=val2017
[ -f "$DATA_ROOT/annotations/person_keypoints_train2017.json" ] && DATA_SET=train2017

echo "== CPU half (results in $OUT)"
measure cpu_tests 600 "$PY" -m pytest -q -p no:cacheprovider -m "not cuda" tests/engine/test_train_fast_paths.py \
    tests/engine/test_train_loop.py tests/engine/test_amp.py tests/engine/test_options.py tests/engine/test_optim.py
SYNCS=(env OMP_NUM_THREADS=1 "$PY" tools/benchmark.py syncs --device cpu)
measure cpu_syncs_default 60 "${SYNCS[@]}"
measure cpu_syncs_fp16 60 "${SYNCS[@]}" TRAIN.AMP fp16 TRAIN.AMP_ON_CPU True
measure cpu_syncs_bf16_cl_targets 60 "${SYNCS[@]}" TRAIN.AMP bf16 TRAIN.AMP_ON_CPU True TRAIN.CHANNELS_LAST True \
    TRAIN.TARGETS_ON_DEVICE True
measure cpu_syncs_not_fused 60 "${SYNCS[@]}" TRAIN.FUSED_OPTIMIZER False
measure cpu_model_channels_last 120 "$PY" tools/benchmark.py model --cfg "$SAMPLE" --batch 16 --iters 8 --warmup 2 \
    --device cpu --threads 1 --channels-last --baseline

if [ "$SMOKE" != 1 ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "== no GPU found (torch.cuda.is_available() is False on $(hostname)): the GPU half did not run;" \
         "run this script on a machine with a CUDA GPU to measure it. CPU results: $OUT"
    exit 0
fi

DEV=cuda B=(64 128 256) B48=(32 64) EVAL=(--batch 256) DATA=(--workers 16 --batch 64 --samples 4000)
COMPILE=default DOC=docs/benchmarks.md
MODEL=("$PY" tools/benchmark.py model --device cuda --iters 30 --warmup 10)
if [ "$SMOKE" = 1 ]; then  # the plumbing of the GPU half on a CPU: tiny sizes, eager, a copy of the docs
    DEV=cpu B=(2 4 8) B48=(2 4) EVAL=(--batch 16 --boxes 256 --images 16) DATA=(--workers 2 --batch 8 --samples 32)
    COMPILE="" W32=$SAMPLE W48=$SAMPLE DOC=$OUT/benchmarks.md
    cp docs/benchmarks.md "$DOC"
    MODEL=("$PY" tools/benchmark.py model --device cpu --iters 2 --warmup 1 --threads 1)
fi
FAST=(--amp bf16 --channels-last)
echo "== GPU half: $("$PY" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() \
    else 'smoke run on the CPU')"), budget ${BUDGET_S} s from the start"
measure cuda_tests 240 "$PY" -m pytest -q -p no:cacheprovider -rs -m cuda tests
measure cuda_syncs 60 "$PY" tools/benchmark.py syncs --device "$DEV" --iters 24 --print_freq 8
measure cuda_syncs_fp16 60 "$PY" tools/benchmark.py syncs --device "$DEV" --iters 24 --print_freq 8 TRAIN.AMP fp16 \
    TRAIN.AMP_ON_CPU True
measure w32_b128_fp32_eager 60 "${MODEL[@]}" --cfg "$W32" --batch "${B[1]}"
measure w32_b128_bf16_cl_compiled 300 "${MODEL[@]}" --cfg "$W32" --batch "${B[1]}" "${FAST[@]}" --compile "$COMPILE"
measure eval_val2017_w32_bf16 150 "$PY" tools/benchmark.py eval --device "$DEV" --no-baseline --cfg "$W32" \
    "${EVAL[@]}" --amp bf16 --channels-last --fuse-bn
measure data_16_workers 180 "$PY" tools/benchmark.py data --root "$DATA_ROOT" --set "$DATA_SET" "${DATA[@]}"
measure w32_b256_bf16_cl_compiled 240 "${MODEL[@]}" --cfg "$W32" --batch "${B[2]}" "${FAST[@]}" --compile "$COMPILE"
for i in 0 1 2; do
    measure "w32_b${B[i]}_bf16_cl_eager" 60 "${MODEL[@]}" --cfg "$W32" --batch "${B[i]}" "${FAST[@]}"
done
measure w48_b32_fp32_eager 90 "${MODEL[@]}" --cfg "$W48" --batch "${B48[0]}"
measure w48_b64_bf16_cl_eager 90 "${MODEL[@]}" --cfg "$W48" --batch "${B48[1]}" "${FAST[@]}"
measure w32_b64_bf16_cl_compiled 240 "${MODEL[@]}" --cfg "$W32" --batch "${B[0]}" "${FAST[@]}" --compile "$COMPILE"
for i in 0 2; do
    measure "w32_b${B[i]}_fp32_eager" 60 "${MODEL[@]}" --cfg "$W32" --batch "${B[i]}"
done
measure w32_b128_fp32_cl_compiled 240 "${MODEL[@]}" --cfg "$W32" --batch "${B[1]}" --channels-last --compile "$COMPILE"
measure train_w32_b128_fast_16_workers 150 "$PY" tools/benchmark.py train --cfg "$W32" --device "$DEV" --iters 60 \
    --warmup 10 DATASET.ROOT "$DATA_ROOT" DATASET.TRAIN_SET "$DATA_SET" WORKERS "${DATA[1]}" TRAIN.BATCH_SIZE_PER_GPU \
    "${B[1]}" TRAIN.AMP bf16 TRAIN.AMP_ON_CPU True TRAIN.CHANNELS_LAST True TRAIN.TARGETS_ON_DEVICE True \
    DATASET.CACHE_IMAGES True
measure w48_b64_bf16_cl_compiled 360 "${MODEL[@]}" --cfg "$W48" --batch "${B48[1]}" "${FAST[@]}" --compile "$COMPILE"
measure eval_val2017_w32_bf16_compiled 300 "$PY" tools/benchmark.py eval --device "$DEV" --no-baseline \
    --cfg "$W32" "${EVAL[@]}" --amp bf16 --channels-last --fuse-bn --compile "$COMPILE"

echo "== table (inserted into $DOC under '## GPU figures')"
"$PY" -m benchmarks.gpu_table --dir "$OUT" --doc "$DOC" --date "$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== done in ${SECONDS} s; logs in $OUT"
