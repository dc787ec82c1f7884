#!/usr/bin/env bash
# Installs what the project needs and the machine lacks; idempotent, and quick when nothing
# changed (a stamp in the venv keyed on pyproject.toml and requirements.lock):
# - .venv/ in the checkout (git-ignored), made with the machine's python3 (or $PYTHON), with
#   the runtime dependencies pinned in requirements.lock (hash-checked, as in the Docker image)
#   and this package, editable, with its dev extras. The other scripts run .venv/bin/python,
#   so nothing is installed system-wide: this works with a python3 that refuses that (PEP 668);
# - with --with-browser, Debian's chromium for the browser tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
VPY=$VENV/bin/python

log() { echo "[install] $*" >&2; }

make_venv() {
    log "$PY -m venv .venv"
    if "$PY" -m venv --clear "$VENV"; then
        return
    fi
    # Debian's python3 has venv's pip bootstrap (ensurepip) in a package of its own.
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        log "apt-get install python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq python3-venv >/dev/null
        "$PY" -m venv --clear "$VENV" && return
    fi
    echo "error: '$PY -m venv' failed; install your system's python3-venv package" >&2
    exit 1
}

# A missing venv, a half-made one, or one whose python is gone (python3 upgraded) is made anew.
if ! "$VPY" -m pip --version >/dev/null 2>&1; then
    make_venv
fi

installed() {
    # From another directory, so that it is the installed package that answers (editable: this
    # checkout's service/), not service/ found in the working directory.
    [ -x "$VENV/bin/als" ] && (cd / && "$VPY" -c '
import sys, service, aiohttp_jinja2, keycloak, pymongo, pytest_aiohttp, ruff, mypy, babel
sys.exit(not service.__file__.startswith(sys.argv[1]))' "$ROOT/service/") 2>/dev/null
}

stamp=$VENV/.installed-$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || ! installed; then
    log "pip install --require-hashes -r requirements.lock && pip install -e .[dev] (into .venv)"
    pip_install() { "$VPY" -m pip install --disable-pip-version-check -q "$@"; }
    pip_install --require-hashes -r "$ROOT/requirements.lock"
    pip_install -e "$ROOT[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# The pages' gettext catalogs: .po (in git) compiled into the .mo files the server reads
# (git-ignored), every time, so an edited translation is seen at the next run (a second).
"$VENV/bin/pybabel" -q compile -d "$ROOT/service/locale" -D messages

if [ "${1:-}" = "--with-browser" ] && [ ! -x /usr/bin/chromium ]; then
    log "apt-get install chromium (browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
fi
