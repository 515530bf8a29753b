# Shared by the scripts in slurm/ (sourced, never run): help text, argument checks, the env
# file, elapsed time. Each script finds the repository first (see any *.sbatch), then:
#   source "$SCALE_REPO/slurm/common.sh"
# shellcheck shell=bash

SCALE_T0=$SECONDS
SCALE_SCRIPT=${SCALE_SCRIPT:-$(basename "$0")}
_scale_cleanups=()

die() {  # one line naming what is wrong; exit 2 (bad arguments or setup)
  echo "error: $SCALE_SCRIPT: $*" >&2
  exit 2
}

show_help() {  # the script's leading comment block, without #SBATCH lines
  awk 'NR == 1 {next} /^#SBATCH/ {next} /^#/ {sub(/^# ?/, ""); print; next} {exit}' "$1"
}

need_value() {  # need_value OPTION "$@": the option must be followed by a value
  [ "$#" -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || die "$1 needs a value"
}

need_int() {  # need_int NAME VALUE [MIN]: a whole number >= MIN (default 1)
  [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge "${3:-1}" ] || die "$1 must be a whole number >= ${3:-1}, got '$2'"
}

on_exit() {  # run COMMAND at exit (before the elapsed-time line), last registered first
  _scale_cleanups=("$*" "${_scale_cleanups[@]}")
}

_scale_exit() {
  local rc=$?
  local c
  for c in "${_scale_cleanups[@]}"; do eval "$c" || true; done
  echo "[$SCALE_SCRIPT] elapsed $((SECONDS - SCALE_T0)) s, exit $rc (job ${SLURM_JOB_ID:-none} on $(hostname -s))"
  exit "$rc"
}

scale_setup() {  # the env file, modules and venv; called once the arguments are checked
  trap _scale_exit EXIT
  trap 'exit 143' TERM  # scancel / time limit: run the cleanups, then stop
  local env_file=${SCALE_SLURM_ENV:-$SCALE_REPO/slurm/env.sh}
  [ -f "$env_file" ] || die "env file $env_file not found (copy slurm/env.sh, set SCALE_SLURM_ENV)"
  # shellcheck source=/dev/null
  source "$env_file"
  if [ -n "${SCALE_MODULES:-}" ]; then
    command -v module >/dev/null 2>&1 || die "SCALE_MODULES is set but there is no 'module' command"
    # shellcheck disable=SC2086
    module load $SCALE_MODULES || die "module load $SCALE_MODULES failed"
  fi
  if [ -n "${SCALE_VENV:-}" ]; then
    [ -f "$SCALE_VENV/bin/activate" ] || die "no virtualenv at SCALE_VENV=$SCALE_VENV (set it in $env_file)"
    # shellcheck source=/dev/null
    source "$SCALE_VENV/bin/activate"
  fi
  cd "$SCALE_REPO" || die "cannot cd to $SCALE_REPO"
  echo "[$SCALE_SCRIPT] job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID} on $(hostname -s), repo $SCALE_REPO, python $(command -v python)"
}
