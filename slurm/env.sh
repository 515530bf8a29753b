# Cluster specifics for every script in slurm/ — edit this file (or point SCALE_SLURM_ENV at a copy).
#   source slurm/env.sh        # in your shell before sbatch: sbatch then reads SBATCH_PARTITION/ACCOUNT/QOS
# Each job sources it again at its start (modules, venv, caches). Every value here is a default:
# a variable already set in the environment wins. Shipped as is it suits a plain Linux box with
# the repository's .venv (the tests' single-node Slurm uses it unchanged).

# --- Submission: sbatch reads these (man sbatch, "INPUT ENVIRONMENT VARIABLES"); they beat the
# scripts' #SBATCH lines, command-line options beat them. Per-job resources stay in the scripts.
# export SBATCH_PARTITION=${SBATCH_PARTITION:-gpu}
# export SBATCH_ACCOUNT=${SBATCH_ACCOUNT:-my_project}
# export SBATCH_QOS=${SBATCH_QOS:-normal}

# --- Inside each job ---
# Space-separated `module load` arguments (empty: no module system), e.g. "cuda/12.4 gcc/12".
SCALE_MODULES=${SCALE_MODULES:-}
# The Python environment holding scale-tts (serve_and_eval.sbatch also needs `vllm` on PATH there).
SCALE_VENV=${SCALE_VENV:-$SCALE_REPO/.venv}
# Model weights and datasets: a shared filesystem every node sees. Compute nodes are often
# offline: download once on a login node, then keep HF_HUB_OFFLINE=1.
export HF_HOME=${HF_HOME:-$HOME/.cache/huggingface}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export WANDB_MODE=${WANDB_MODE:-offline}
export TOKENIZERS_PARALLELISM=${TOKENIZERS_PARALLELISM:-false}
# Torch threads per process: Slurm's CPU share, not the whole node.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
