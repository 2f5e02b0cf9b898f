#!/usr/bin/env bash
# The GPU path checked end to end (scripts/bench/gpu_check.py says what it runs):
#   scripts/bench/gpu_check.sh OUT_DIR          # on a CUDA machine
#   scripts/bench/gpu_check.sh OUT_DIR --real-text real.txt.gz   # real English made elsewhere
#   scripts/bench/gpu_check.sh OUT_DIR --cpu    # dry run on the CPU, a couple of minutes
# The python step stops after SGNS_CHECK_SECONDS (default 540), keeping what it measured
# (gpu_check.json is written after every step): the whole check must fit one 10-minute
# command on a GPU machine. Its steps run most telling first: the GPU tests, the fused
# step's speed, the corpus, real English against the CPU, then the sweep.
# A GPU machine without network: carry wheels of what its Python lacks (often hydra-core,
# omegaconf, antlr4-python3-runtime, gensim, smart_open), `pip install --no-index --no-deps
# --target DIR *.whl`, put DIR on PYTHONPATH, set SGNS_PYTHON to that Python, and give an
# OUT_DIR of its own: it fills with corpora and runs; gpu_check.{json,md} are the results.
# The environment: SGNS_PYTHON if set; else .venv/ when it already has the dependencies
# (reused as it is: `make .venv/.installed-stamp` pip-installs from the network, which a GPU
# machine may not reach); else .venv/ is created with `make .venv/.installed-stamp`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: scripts/bench/gpu_check.sh OUT_DIR [--cpu]}
shift
mkdir -p "$out"

python=${SGNS_PYTHON:-.venv/bin/python}
if [ -n "${SGNS_PYTHON:-}" ]; then
    echo "gpu_check: using SGNS_PYTHON=$python"
elif [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, lightning, hydra, gensim" 2>/dev/null; then
    echo "gpu_check: reusing the existing .venv (not reinstalled: that needs the network)"
else
    echo "gpu_check: creating .venv with make .venv/.installed-stamp (pip needs the network)"
    if ! timeout 300 make .venv/.installed-stamp; then
        echo "gpu_check: error: could not install .venv (no network?); copy a .venv here or set SGNS_PYTHON" >&2
        exit 1
    fi
fi
# This checkout's sources, whichever copy of sgns the environment has installed.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout "${SGNS_CHECK_SECONDS:-540}" "$python" scripts/bench/gpu_check.py "$out" "$@"
