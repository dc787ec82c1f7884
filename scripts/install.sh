#!/usr/bin/env bash
# Installs what the project needs and the machine lacks: the Python package with its dev
# extras, and Debian's chromium for the browser tests. Idempotent and quick when nothing changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
mkdir -p "$CACHE"
PY=${PYTHON:-python3}

stamp=$CACHE/pip.$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16).$(echo "$ROOT" | sha256sum | cut -c1-8)
if [ ! -f "$stamp" ] || ! "$PY" -c "import service, aiohttp_jinja2, keycloak, pymongo, pytest_aiohttp" 2>/dev/null; then
    echo "[install] pip install -e .[dev]" >&2
    "$PY" -m pip install --disable-pip-version-check -q -e "$ROOT[dev]"
    touch "$stamp"
fi

if [ "${1:-}" = "--with-browser" ] && [ ! -x /usr/bin/chromium ]; then
    echo "[install] apt-get install chromium (browser tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
fi
