#!/usr/bin/env bash
# Issue 23 (d): the GPU preset (experiments/cot_lm/gpu.toml) in one call on the device machine.
#
#   bash experiments/cot_lm/gpu.sh wheels        # here (network): trl, datasets and their two
#                                                # missing dependencies into .whl/ (~1 MB)
#   bash experiments/cot_lm/gpu.sh run [OUT]     # there: install the wheels and obandits,
#                                                # sweep, check, plot; OUT default $OUT or runs/
#
# The device image has torch (CUDA), transformers, accelerate, numpy, numba, pandas, pyarrow;
# TRL and datasets travel as wheels (the device tool's `carry: [".whl"]`). CONFIG, WORKERS
# override the preset and the number of processes sharing the GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
CONFIG="${CONFIG:-experiments/cot_lm/gpu.toml}"
WORKERS="${WORKERS:-4}"

case "${1:-}" in
  wheels)
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
      -d .whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
    ls -l .whl ;;
  run)
    OUT_DIR="${2:-${OUT:-runs}/cot-lm-gpu}"
    site=/tmp/obandits-site
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" .whl/*.whl
    # the runners are entry points: obandits must be installed, not only on the path
    "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" .
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    start=$(date +%s)
    "$PYTHON" -m obandits sweep "$CONFIG" --out "$OUT_DIR" --workers "$WORKERS"
    echo "sweep wall time: $(( $(date +%s) - start )) s"
    "$PYTHON" -m obandits check "$OUT_DIR"
    "$PYTHON" -m obandits plot "$OUT_DIR" ;;
  *)
    echo "usage: $0 wheels | run [OUT]" >&2; exit 2 ;;
esac
