#!/usr/bin/env bash
# One GPU check for a single-GPU machine with no internet and no package index, 8 minutes at most.
#
# Needs the repository plus ONE carried folder (< 60 MB): the tiny Qwen3 model and the wheels the
# image may lack (pytest, hydra-core, math-verify, ...). Make that folder on a machine with the
# project installed and a package index:
#     bash scripts/gpu_check.sh --prepare /tmp/gpu-carry
# then, on the GPU machine (python3 with torch, transformers, accelerate and peft installed):
#     bash scripts/gpu_check.sh /tmp/gpu-carry [OUT_DIR]        (default OUT_DIR: runs/gpu_check)
# and record the figures it prints in benchmarks/RESULTS.md. Without a GPU, --dry-run does
# everything but run the stages (versions, wheel install, test collection, the commands):
#     bash scripts/gpu_check.sh --dry-run /tmp/gpu-carry
#
# Stages, each cut off at its own limit so the whole stays under 8 minutes; a stage that fails
# is reported and the next one runs (exit 1 at the end if any failed):
#   1. the carried wheels the image lacks, into a throwaway folder on PYTHONPATH (the image's own
#      packages are left alone); versions (python, torch, CUDA, GPU, transformers, accelerate, peft);
#   2. the engine tests marked gpu or tiny, on CUDA (the `transformers serve` tests excluded);
#   3. the difficulty classifier's GPU check (benchmarks/gpu_check_difficulty.py);
#   4. benchmarks/bench_engine.py on a random-init Qwen3-1.7B in bf16: every scheduler at
#      1/16/64/256 concurrent requests, the roofline beside (JSON in OUT_DIR).
# Environment: PYTHON (default python3), TESTS_S / CLASSIFIER_S / BENCH_S (stage limits, s).
set -uo pipefail
cd "$(dirname "$0")/.."

# Wheels the check may need beyond torch/transformers/accelerate/peft (no deps pulled: each is listed).
# Pinned at --prepare to the versions installed there (the ones the project was tested with).
WHEELS=(pytest pluggy iniconfig pytest-timeout hydra-core omegaconf antlr4-python3-runtime math-verify
        latex2sympy2_extended gguf)
MODEL=tiny-qwen3
PY="${PYTHON:-python3}"
LIMIT_MB=60

usage() { sed -n '2,13p' "$0" >&2; exit 2; }

prepare() {  # DIR: the carried folder, built here from the installed project and the package index
  local dir="$1" src
  mkdir -p "$dir/wheels" "$dir/cache/models" || exit 2
  src=$("$PY" -c "from scale.models import resolve_model; print(resolve_model('$MODEL'))") || {
    echo "error: could not build or find $MODEL (is the project installed? make install)" >&2; exit 2; }
  rm -rf "$dir/cache/models/$(basename "$src")"
  cp -r "$src" "$dir/cache/models/" || exit 2
  if [ "${NO_WHEELS:-0}" != 1 ]; then
    local pinned
    mapfile -t pinned < <("$PY" -c '
import importlib.metadata as md, sys
for name in sys.argv[1:]:
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(name)' "${WHEELS[@]}")
    "$PY" -m pip wheel -q --no-deps -w "$dir/wheels" "${pinned[@]}" || {  # builds the sdist-only ones (antlr4)
      echo "error: pip download failed (a package index is needed for --prepare)" >&2; exit 2; }
  fi
  local mb
  mb=$(du -sm "$dir" | cut -f1)
  echo "carried folder $dir: ${mb} MB ($(ls "$dir/wheels" | wc -l) wheels, model $(basename "$src"))"
  if [ "$mb" -gt "$LIMIT_MB" ]; then echo "error: $dir is over ${LIMIT_MB} MB" >&2; exit 2; fi
}

dry=0
case "${1:-}" in
  --prepare) [ $# -eq 2 ] || usage; prepare "$2"; exit 0 ;;
  --dry-run) dry=1; shift ;;
  -h|--help|"") usage ;;
esac
[ $# -ge 1 ] && [ $# -le 2 ] || usage
carry="$1"
out="${2:-runs/gpu_check}"
if [ ! -d "$carry/cache/models" ]; then
  echo "error: $carry is not a carried folder (no cache/models); make one with: bash $0 --prepare $carry" >&2
  exit 2
fi
carry=$(cd "$carry" && pwd)
mkdir -p "$out"
start=$(date +%s)
failed=()

# The carried wheels the image lacks go into a throwaway folder on PYTHONPATH, never into the image.
site="${TMPDIR:-/tmp}/scale-gpu-check-site"
missing=()
for w in "$carry"/wheels/*.whl; do
  [ -e "$w" ] || continue
  name=$(basename "$w" | cut -d- -f1)
  PYTHONPATH="$site" "$PY" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$name" 2>/dev/null ||
    missing+=("$w")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${#missing[@]} carried wheel(s) into $site"
  "$PY" -m pip install -q --no-index --no-deps --target "$site" "${missing[@]}" || failed+=("wheel install")
fi
export SCALE_CACHE="$carry/cache" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
  WANDB_MODE=offline PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

echo "== 1. versions"
"$PY" - <<'EOF' | tee "$out/versions.txt"
import importlib.metadata as md, platform, subprocess
import torch
print(f"python {platform.python_version()}  torch {torch.__version__}  cuda {torch.version.cuda}  "
      f"cuda available {torch.cuda.is_available()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"gpu {p.name}  {p.total_memory / 2**30:.1f} GiB  capability {p.major}.{p.minor}")
for pkg in ("transformers", "accelerate", "peft", "trl", "hydra-core", "math-verify", "pytest"):
    try:
        print(f"{pkg} {md.version(pkg)}")
    except md.PackageNotFoundError:
        print(f"{pkg} (not installed)")
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"scale {rev or '(not a git checkout)'}")
EOF

stage() {  # NAME LIMIT_S COMMAND...
  local name="$1" limit="$2"; shift 2
  echo "== $name (limit ${limit} s)"
  echo "+ $*"
  [ "$dry" = 1 ] && return 0
  local t0 rc
  t0=$(date +%s)
  timeout --signal=INT --kill-after=20 "$limit" "$@"
  rc=$?
  echo "-- $name: exit $rc in $(( $(date +%s) - t0 )) s"
  [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
}

tests=(-m "(gpu or tiny) and not server and not slurm" tests/engine -p no:cacheprovider -q -rs)
if [ "$dry" = 1 ]; then  # the selection must not be empty
  "$PY" -m pytest --collect-only "${tests[@]}" | grep -E "collected|error" | tail -1 || failed+=("test collection")
fi
stage "2. engine tests (gpu, tiny) on CUDA" "${TESTS_S:-170}" "$PY" -m pytest "${tests[@]}"
stage "3. classifier GPU check" "${CLASSIFIER_S:-90}" \
  "$PY" benchmarks/gpu_check_difficulty.py --steps 10 --score-reps 3 --json-out "$out/difficulty_gpu.json"
stage "4. engine bench, random-init Qwen3-1.7B bf16" "${BENCH_S:-200}" \
  "$PY" benchmarks/bench_engine.py --arch qwen3-1.7b --random-init --dtype bfloat16 --device cuda \
  --concurrency 1,16,64,256 --sequential-max 16 --mode-timeout-s 45 --json-out "$out/engine-cuda-qwen3-1.7b.json"

echo "elapsed: $(( $(date +%s) - start )) s; output in $out"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
  exit 1
fi
