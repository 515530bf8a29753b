#!/bin/bash
# Run: bash slurm/submit_eval.sh --shards 4 --run-dir runs/qwen3-aime24 -- experiment=table1/qwen3_32b_scale_aime24
#
# Submits one evaluation as a job array over shards (slurm/eval_array.sbatch) and the merge
# (slurm/finalize.sbatch) as a job that starts when every task succeeded (afterok). The
# overrides are composed first (a typo fails here, not in N queued tasks). Prints the job ids
# as ARRAY_JOB=... and FINALIZE_JOB=... lines.
# A cancelled or failed task leaves the old finalize job waiting forever; submit again with
# --tasks (the same run dir and overrides): the stale finalize job is cancelled, only those
# tasks run (resuming from their records), and a new finalize job waits for them.
#
# Options:
#   --shards N        shards = array tasks 0..N-1 (required)
#   --run-dir DIR     the run directory (required)
#   --tasks LIST      array indices to (re)submit, sbatch --array syntax (default 0-(N-1))
#   --parallel K      at most K tasks running at once (default: no limit)
#   --sbatch "ARGS"   extra sbatch options for the array tasks (e.g. "--time=4:00:00 --gpus-per-node=1")
#   -- ARGS           scale-eval overrides
#   -h, --help        this text
# Partition and account come from slurm/env.sh (SBATCH_PARTITION, SBATCH_ACCOUNT).
set -euo pipefail
SCALE_SCRIPT=submit_eval.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCALE_REPO=${SCALE_REPO:-$(dirname "$here")}
# shellcheck source=common.sh
source "$SCALE_REPO/slurm/common.sh"

shards="" run_dir="" tasks="" parallel="" extra=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) show_help "${BASH_SOURCE[0]}"; exit 0 ;;
    --shards) need_value "$@"; shards=$2; shift 2 ;;
    --run-dir) need_value "$@"; run_dir=$2; shift 2 ;;
    --tasks) need_value "$@"; tasks=$2; shift 2 ;;
    --parallel) need_value "$@"; parallel=$2; shift 2 ;;
    --sbatch) [ "$#" -ge 2 ] || die "--sbatch needs a value"; extra=$2; shift 2 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (scale-eval overrides go after --; see --help)" ;;
  esac
done
[ -n "$shards" ] || die "--shards is required"
[ -n "$run_dir" ] || die "--run-dir is required"
need_int --shards "$shards"
[ -z "$parallel" ] || need_int --parallel "$parallel"
tasks=${tasks:-0-$((shards - 1))}
[[ "$tasks" =~ ^[0-9][0-9,-]*$ ]] || die "--tasks must be array indices like 0-3 or 1,3, got '$tasks'"
for i in $(echo "$tasks" | tr ',' ' '); do
  for j in ${i//-/ }; do [ "$j" -lt "$shards" ] || die "--tasks $tasks: index $j is outside 0..$((shards - 1))"; done
done
for arg in "$@"; do
  case "$arg" in run_dir=*|hydra.*|-m|--multirun) die "'$arg' is not allowed here (--run-dir sets the run dir)" ;; esac
done
scale_setup

# Compose the config once here: a bad override fails now, in one line, not in every task.
if ! out=$(python -m scale.cli.eval run_dir="$run_dir" "$@" --cfg job 2>&1 >/dev/null); then
  die "the overrides do not compose: $(echo "$out" | grep -v '^\s*$' | tail -n 1 | sed 's/^error: //')"  # scale-eval's own one line
fi
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"
mkdir -p logs "$run_dir"
key=$(realpath -m "$run_dir")

# Finalize jobs of this run dir that can never start (their array failed or was cancelled).
while read -r job reason comment; do
  if [ "$comment" = "$key" ] && [ "$reason" = "DependencyNeverSatisfied" ]; then
    scancel "$job" && echo "cancelled stale finalize job $job (its array did not succeed)"
  fi
done < <(squeue -h --me -n scale-finalize -t PD -o "%i %r %k" 2>/dev/null || true)

# shellcheck disable=SC2086
array=$(sbatch --parsable --array="$tasks${parallel:+%$parallel}" $extra \
  slurm/eval_array.sbatch --run-dir "$run_dir" --shards "$shards" -- "$@") || die "sbatch of the array failed (above)"
array=${array%%;*}
final=$(sbatch --parsable --dependency="afterok:$array" --comment="$key" slurm/finalize.sbatch "$run_dir") \
  || die "sbatch of the finalize job failed (above); the array $array is queued: scancel $array, or submit finalize.sbatch by hand"
final=${final%%;*}
echo "ARRAY_JOB=$array"
echo "FINALIZE_JOB=$final"
echo "logs: logs/scale-eval-<task job id>.out, logs/scale-finalize-$final.out; squeue --me to watch"
