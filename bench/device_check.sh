#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see README "Benchmarks"): the CUDA tests of meta/ and
# strategies/, then bench/meta_bench.py part a and bench/query_bench.py. Logs and JSON go to
# $OUT (or bench/results/device). That machine's python3 holds torch but not the app's
# database packages, so conftest lookup stops at tests/unit (the unit tests need neither).
set -uo pipefail
out="${OUT:-bench/results/device}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=.
py="${PYTHON:-python3}"
{
  date -u; nvidia-smi -L 2>/dev/null; nproc; "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
  timeout 150 "$py" -m pytest -q -p no:cacheprovider --confcutdir=tests/unit \
    tests/unit/meta tests/unit/strategies -k "cuda or Cuda or gpu" -rs
  timeout 120 "$py" -m pytest -q -p no:cacheprovider --confcutdir=tests/unit tests/unit/meta -x
  timeout 150 "$py" bench/meta_bench.py --parts a --json "$out/meta_a.json"
  timeout 240 "$py" bench/query_bench.py --sizes 100000,1000000 --json "$out/query.json"
} 2>&1 | tee "$out/device_check.log"
