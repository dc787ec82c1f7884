#!/usr/bin/env bash
# The local stack for a person: Keycloak + Mongo-protocol server + the Amazon stand-in, demo
# data, and the service on http://127.0.0.1:8080 with one worker per core (ALS_WORKERS=N for
# another number), all run by .venv/bin/python (see install.sh). Ctrl-C (or a TERM/HUP to this
# script) stops the service and the stand-in; Keycloak and Mongo keep running for the next
# `make run` (scripts/stack.sh down stops them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
STANDIN_PORT=${STANDIN_PORT:-9400}
WORKERS=${ALS_WORKERS:-$(nproc)}
PY=$ROOT/.venv/bin/python

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bash scripts/install.sh
# What runs `python3` by name (scripts/stack.sh pings Mongo with pymongo) gets the venv's.
export VIRTUAL_ENV=$ROOT/.venv PATH=$ROOT/.venv/bin:$PATH
bash scripts/stack.sh up
# shellcheck disable=SC1090
source "$CACHE/run/stack.env"
# shellcheck disable=SC1090
source "$(bash scripts/dev_env.sh)"
PORT=${ALS_PORT:-8080}

# Refuse before starting anything: a second `make run` (or a leftover process) holds the ports.
for port in "$STANDIN_PORT" "$PORT"; do
    if port_busy "$port"; then
        echo "error: 127.0.0.1:$port is already in use (another \`make run\`?); stop that first" >&2
        exit 1
    fi
done

# Both children run in the background so that the traps fire as soon as a signal arrives
# (bash defers traps while a foreground child runs), and both are stopped on any exit.
children=()
stop_children() {
    trap - EXIT INT TERM HUP
    if [ ${#children[@]} -gt 0 ]; then
        kill "${children[@]}" 2>/dev/null || true
        wait "${children[@]}" 2>/dev/null || true
    fi
}
trap stop_children EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"$PY" -m tests.amazon_standin --host 127.0.0.1 --port "$STANDIN_PORT" >"$CACHE/run/standin.log" 2>&1 &
children+=($!)
"$PY" -m service seed --amazon-standin "http://127.0.0.1:$STANDIN_PORT"
"$PY" -m service serve --workers "$WORKERS" &
children+=($!)
wait "${children[1]}"
