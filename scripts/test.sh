#!/usr/bin/env bash
# The whole test suite against the real stack: installs what is missing (.venv, see
# install.sh), starts Keycloak and the Mongo-protocol server (unless they already run), runs
# pytest with the venv's python, stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh --with-browser
PY=$ROOT/.venv/bin/python
# What runs `python3` by name (scripts/stack.sh pings Mongo with pymongo) gets the venv's.
export VIRTUAL_ENV=$ROOT/.venv PATH=$ROOT/.venv/bin:$PATH
# Lint before anything is started: cheap, and fails fast (mypy takes ~10 s cold, ~3 s cached).
"$PY" -m ruff format --check service tests bench scripts
"$PY" -m ruff check service tests bench scripts
"$PY" -m mypy
owned=$(mktemp)
trap 'bash scripts/stack.sh down "$owned"' EXIT
bash scripts/stack.sh up "$owned"
# shellcheck disable=SC1091
source "${ALS_CACHE:-$HOME/.cache/alexa-linking}/run/stack.env"
"$PY" -m pytest "$@"
