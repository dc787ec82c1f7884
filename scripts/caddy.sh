#!/usr/bin/env bash
# Caddy, the TLS reverse proxy of docker-compose.yml (deploy/Caddyfile), for this machine.
#
#   scripts/caddy.sh install        build it if missing; prints the binary's path
#   scripts/caddy.sh run ARGS...    install, then exec caddy with ARGS, e.g.
#                                   scripts/caddy.sh run run --config deploy/Caddyfile
#
# Built once per machine from the Go module proxy (`go install …@$CADDY_VERSION`, of the release
# line of the `caddy` image in docker-compose.yml) into $ALS_CACHE/bin, like the other parts of
# the local stack (scripts/stack.sh). Idempotent: a second call prints the cached binary.
set -euo pipefail

CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
BIN=$CACHE/bin/caddy-$CADDY_VERSION

log() { printf '[caddy] %s\n' "$*" >&2; }

install_caddy() {
    if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
        echo "$BIN"
        return 0
    fi
    command -v go >/dev/null 2>&1 || { log "go is needed to build Caddy"; return 1; }
    log "building Caddy $CADDY_VERSION from the Go module proxy (first time only, a few minutes)"
    mkdir -p "$CACHE/bin"
    local gobin
    gobin=$(mktemp -d "$CACHE/bin/caddy-build.XXXXXX")
    # A static binary, no VCS stamping (the module zip has no .git).
    if ! CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=$gobin \
        go install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION" >&2; then
        rm -rf "$gobin"
        log "go install github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION failed"
        return 1
    fi
    # Rename into place: concurrent callers never see a half-written binary.
    mv -f "$gobin/caddy" "$BIN"
    rm -rf "$gobin"
    log "built $BIN"
    echo "$BIN"
}

case "${1:-}" in
    install)
        install_caddy
        ;;
    run)
        shift
        bin=$(install_caddy)
        exec "$bin" "$@"
        ;;
    *)
        echo "usage: $0 install | run CADDY-ARGS..." >&2
        exit 2
        ;;
esac
