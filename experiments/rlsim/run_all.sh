#!/usr/bin/env bash
# Regenerates every rlsim result, figure and table used in docs/results-rlsim.md (~3 min on
# 2 cores). Run from the repository root.
set -euo pipefail
export NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-2}
PY=${PY:-.venv/bin/python}
# Figs. 2-6 and Tables 1-2 analogues, claims C1-C4 (5 methods x 8 seeds + base sampling)
$PY -m obandits rlsim compare --quiet --reference
# claims over sharing strength x difficulty (12 cells x 48 runs)
$PY -m obandits rlsim sensitivity --quiet --reference
# GRPO learners on an outcome-bandit needle instance (pseudo-regret)
$PY -m obandits rlsim bandit
