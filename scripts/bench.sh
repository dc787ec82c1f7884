#!/usr/bin/env bash
# Benchmarks against the real stack: starts what is missing, runs bench/ with the venv's python
# (see install.sh), stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh
PY=$ROOT/.venv/bin/python
export VIRTUAL_ENV=$ROOT/.venv PATH=$ROOT/.venv/bin:$PATH
owned=$(mktemp)
trap 'bash scripts/stack.sh down "$owned"' EXIT
bash scripts/stack.sh up "$owned"
# shellcheck disable=SC1091
source "${ALS_CACHE:-$HOME/.cache/alexa-linking}/run/stack.env"
"$PY" -m bench.run_bench "$@"
