#!/usr/bin/env bash
# The local stack for a person: Keycloak + Mongo-protocol server + the Amazon stand-in, demo
# data, and the service on http://127.0.0.1:8080. Ctrl-C stops the service and the stand-in;
# Keycloak and Mongo keep running for the next `make run` (scripts/stack.sh down stops them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
bash scripts/install.sh
bash scripts/stack.sh up
# shellcheck disable=SC1090
source "$CACHE/run/stack.env"
# shellcheck disable=SC1090
source "$(bash scripts/dev_env.sh)"
STANDIN_PORT=${STANDIN_PORT:-9400}
python3 -m tests.amazon_standin --host 127.0.0.1 --port "$STANDIN_PORT" >"$CACHE/run/standin.log" 2>&1 &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
python3 -m service seed --amazon-standin "http://127.0.0.1:$STANDIN_PORT"
python3 -m service serve
