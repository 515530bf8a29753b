#!/bin/bash
# Run: bash slurm/reproduce.sh --dry-run    (then without --dry-run to submit; --rehearse first, at toy scale)
#
# The paper as one Slurm dependency graph: Table 1's cells (serve_and_eval.sbatch; a MajVote
# cell votes over its CoT cell's samples: eval.sbatch, CPU only, no server, afterok on it), a random
# control beside every SCALE cell (afterok on it, router.match_run), Table 2 and Figure 2 as
# sweep=shared jobs, Table 3's chain (SCALE traces -> SFT -> tuned evaluation; the base beside),
# and a report job (afterany on everything: scale-report --paper over what finished, naming
# what did not) -> RUNS/reports/README.md. The plan is Python: python -m scale.reproduce.
#
# Options:
#   --only PARTS        table1,table2,figure2,table3 (default: all)
#   --models NAMES      Table 1's models: qwen3_32b,qwq_32b,r1_qwen_32b,r1_llama_70b (default: all)
#   --datasets NAMES    aime24,aime25,amc23 (default: all)
#   --dry-run           print every job, its resources, dependencies and GPU-hours; submit nothing
#   --resume            skip jobs whose run dirs are complete; submit the rest (and a new report)
#   --rehearse          the same graph at toy scale (tiny model served under the paper's names,
#                       2 problems, 1 sample, CPU jobs) under runs/rehearsal: checks a cluster in minutes
#   --local             no Slurm: run the jobs one after another on this (big) node
#   --table3-data FILE  Table 3's LIMOPro-style problem file (needed for table3)
#   --root DIR          where the run dirs go (default runs; --rehearse: runs/rehearsal)
#   --sbatch "ARGS"     more sbatch options for every job (e.g. "--time=48:00:00")
#   --port P            first server port; each serve job gets its own (default 18000)
#   -h, --help          this text
# Partition and account come from slurm/env.sh (SBATCH_PARTITION, SBATCH_ACCOUNT).
set -euo pipefail
SCALE_SCRIPT=reproduce.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCALE_REPO=${SCALE_REPO:-$(dirname "$here")}
# shellcheck source=common.sh
source "$SCALE_REPO/slurm/common.sh"

for arg in "$@"; do
  case "$arg" in -h|--help) show_help "${BASH_SOURCE[0]}"; exit 0 ;; esac
done
scale_setup
local_run=0 dry=0
for arg in "$@"; do
  case "$arg" in --local) local_run=1 ;; --dry-run) dry=1 ;; esac
done
if [ "$local_run" -eq 0 ] && [ "$dry" -eq 0 ]; then
  command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node (or add --local)"
fi
python -m scale.reproduce "$@"
