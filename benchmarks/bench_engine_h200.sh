#!/usr/bin/env bash
# One-shot engine benchmark on one GPU (H200), both Qwen3 shapes, about 10 minutes at most:
#   bash benchmarks/bench_engine_h200.sh [OUT_DIR]        (default runs/bench; one JSON per shape)
# CPU smoke test of the same path with a tiny shape:
#   ARCHS=tiny DEVICE=cpu DTYPE=float32 bash benchmarks/bench_engine_h200.sh /tmp/bench-smoke
# Random-init Qwen3-1.7B and Qwen3-8B shapes in bf16 (nothing from the Hub): the batch-1 decode step
# of plain generate vs the weight-bandwidth floor, then tokens/s at 1/16/64/256 concurrent
# mixed-budget requests for each scheduler beside the weight+KV bandwidth roofline (sequential up to
# 16 only). Each shape is cut off after SHAPE_TIMEOUT_S (290 s) and each mode after 120 s; a mode
# that fails or times out is reported and the run goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/bench}"
archs="${ARCHS:-qwen3-1.7b qwen3-8b}"
device="${DEVICE:-cuda}"
dtype="${DTYPE:-bfloat16}"
py="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
start=$(date +%s)
for arch in $archs; do
  rc=0
  timeout --signal=INT "${SHAPE_TIMEOUT_S:-290}" "$py" benchmarks/bench_engine.py --arch "$arch" --random-init \
    --dtype "$dtype" --device "$device" --concurrency 1,16,64,256 --sequential-max 16 --mode-timeout-s 120 \
    --json-out "$out/engine-$device-$arch.json" || rc=$?
  [ "$rc" -eq 0 ] || echo "bench for $arch stopped early (exit $rc)"
done
echo "elapsed: $(( $(date +%s) - start )) s"
