#!/usr/bin/env bash
# Job backend for tts.sh: "local" (background jobs on this machine) or "slurm" (srun).
# Override per run with ./run.sh --cmd_backend slurm --slurm_opts "--partition=gpu".
cmd_backend=${cmd_backend:-local}
slurm_opts=${slurm_opts:-}
