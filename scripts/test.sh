#!/usr/bin/env bash
# The whole test suite against the real stack: installs what is missing, starts Keycloak and
# the Mongo-protocol server (unless they already run), runs pytest, stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh --with-browser
# Lint before anything is started: cheap, and fails fast (mypy takes ~10 s cold, ~3 s cached).
python3 -m ruff format --check service tests bench scripts
python3 -m ruff check service tests bench scripts
python3 -m mypy
owned=$(mktemp)
trap 'bash scripts/stack.sh down "$owned"' EXIT
bash scripts/stack.sh up "$owned"
# shellcheck disable=SC1091
source "${ALS_CACHE:-$HOME/.cache/alexa-linking}/run/stack.env"
python3 -m pytest "$@"
