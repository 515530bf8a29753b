"""The paper's reproduction as one job graph (``slurm/reproduce.sh``; ``python -m scale.reproduce``)."""
