#!/usr/bin/env bash
# Benchmarks against the real stack: starts what is missing, runs bench/, stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh
owned=$(mktemp)
trap 'bash scripts/stack.sh down "$owned"' EXIT
bash scripts/stack.sh up "$owned"
# shellcheck disable=SC1091
source "${ALS_CACHE:-$HOME/.cache/alexa-linking}/run/stack.env"
python3 -m bench.run_bench "$@"
