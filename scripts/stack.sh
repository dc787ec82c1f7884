#!/usr/bin/env bash
# Local stack: a real Keycloak (server distribution from Maven Central) and a real
# MongoDB-protocol server (MONGODB_URI, else mongod from PATH, else FerretDB 1.x on SQLite).
#
#   scripts/stack.sh up [OWNED_FILE]    start what is not running yet; writes $STATE/stack.env
#                                       and appends the names of what it started to OWNED_FILE
#   scripts/stack.sh down [OWNED_FILE]  stop what is named in OWNED_FILE (a server that was
#                                       already up is left alone); without it, stop both
#   scripts/stack.sh status
#   scripts/stack.sh verify FILE URL    check FILE against the strongest checksum Maven Central
#                                       publishes next to URL (.sha512, .sha256, .sha1, .md5)
#
# Downloads and data live in $ALS_CACHE (default ~/.cache/alexa-linking), outside the checkout,
# so they are fetched once per machine. Idempotent: a second `up` reuses running servers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
STATE=$CACHE/run
KC_VERSION=${KC_VERSION:-26.7.3}
KC_PORT=${KC_PORT:-8180}
KC_MGMT_PORT=${KC_MGMT_PORT:-9190}
MONGO_PORT=${MONGO_PORT:-27018}
FERRETDB_VERSION=v1.24.2
REALM_FILE=$ROOT/keycloak/alexa-linking-realm.json
REALM=alexa-linking
OWNED=${2:-}
mkdir -p "$CACHE" "$STATE"

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tail_log() { # tail_log <log file>: its last lines, to say why something did not start
    [ -s "$1" ] || return 0
    log "last lines of $1:"
    tail -n 25 "$1" | sed 's/^/    /' >&2
}

wait_for() { # wait_for <seconds> <description> <pid or ""> <log or ""> <command...>
    # Until the command succeeds. A process (pid) that dies meanwhile is reported at once,
    # with the last lines of its log, instead of when the time is up.
    local secs=$1 what=$2 pid=$3 logfile=$4; shift 4
    for _ in $(seq 1 "$secs"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "$what: the process (pid $pid) exited while we waited for it"
            [ -z "$logfile" ] || tail_log "$logfile"
            return 1
        fi
        sleep 1
    done
    log "timed out after ${secs}s waiting for $what"
    [ -z "$logfile" ] || tail_log "$logfile"
    return 1
}

human() { # human <bytes>: in MB
    awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'
}

download() { # download <url> <file> <what>: curl, reporting size and progress on stderr
    local url=$1 out=$2 what=$3 total size pid step=0 next status
    total=$(curl -fsSLI --retry 2 "$url" 2>/dev/null | tr -d '\r' \
        | awk 'tolower($1) == "content-length:" { n = $2 } END { print n + 0 }') || total=0
    if [ "$total" -gt 0 ]; then
        log "downloading $what: $(human "$total") from $url"
    else
        log "downloading $what from $url"
    fi
    curl -fsSL --retry 3 -o "$out" "$url" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        [ "$total" -gt 0 ] || continue
        size=$(stat -c %s "$out" 2>/dev/null || echo 0)
        next=$((size * 10 / total))
        if [ "$next" -gt "$step" ] && [ "$next" -lt 10 ]; then
            step=$next
            log "$what: $(human "$size") of $(human "$total") ($((size * 100 / total))%)"
        fi
    done
    status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] && log "$what: downloaded $(human "$(stat -c %s "$out")")"
    return "$status"
}

verify_download() { # verify_download <file> <url>: the strongest checksum published next to url
    local file=$1 url=$2 algo expected actual length
    for algo in sha512 sha256 sha1 md5; do
        case $algo in sha512) length=128 ;; sha256) length=64 ;; sha1) length=40 ;; md5) length=32 ;; esac
        expected=$(curl -fsSL --retry 2 "$url.$algo" 2>/dev/null | tr -d '\r' \
            | awk 'NR == 1 { print tolower($1) }') || continue
        [[ $expected =~ ^[0-9a-f]{$length}$ ]] || continue
        actual=$("${algo}sum" "$file" | cut -d' ' -f1)
        if [ "$actual" = "$expected" ]; then
            log "$(basename "$file"): $algo checksum matches the one published at $url.$algo"
            return 0
        fi
        log "$(basename "$file") is corrupt: its $algo is $actual, $url.$algo says $expected"
        return 1
    done
    log "no checksum is published next to $url (.sha512, .sha256, .sha1, .md5): not using it"
    return 1
}

pick_java() {
    # Keycloak 26.x runs on Java 17 and 21+; prefer the machine's default java, else any JDK >= 17.
    local candidates=("${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-25-jdk-amd64)
    for home in "${candidates[@]}"; do
        [ -n "$home" ] && [ -x "$home/bin/java" ] || continue
        local major
        major=$("$home/bin/java" -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1)
        if [ "${major:-0}" -ge 17 ]; then echo "$home"; return 0; fi
    done
    dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

keycloak_home() { echo "$CACHE/keycloak-$KC_VERSION"; }

install_keycloak() {
    local home tarball url
    home=$(keycloak_home)
    [ -x "$home/bin/kc.sh" ] && return 0
    tarball=$CACHE/keycloak-quarkus-dist-$KC_VERSION.tar.gz
    url=https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$KC_VERSION/keycloak-quarkus-dist-$KC_VERSION.tar.gz
    if [ ! -s "$tarball" ]; then
        if ! download "$url" "$tarball.part" "Keycloak $KC_VERSION"; then
            log "curl failed; trying mvn dependency:copy"
            mvn -q dependency:copy -Dartifact=org.keycloak:keycloak-quarkus-dist:$KC_VERSION:tar.gz \
                -DoutputDirectory="$CACHE" -Dmdep.stripVersion=false
            mv "$CACHE/keycloak-quarkus-dist-$KC_VERSION.tar.gz" "$tarball.part"
        fi
        mv "$tarball.part" "$tarball"
    fi
    # Checked before it is unpacked (also a tarball left from an earlier run): a corrupt one is
    # removed, so the next `up` downloads it again.
    if ! verify_download "$tarball" "$url"; then
        rm -f "$tarball"
        return 1
    fi
    log "unpacking Keycloak into $CACHE"
    tar -xzf "$tarball" -C "$CACHE"
}

install_themes() { # our login theme(s) into the distribution's themes/ folder
    # Keycloak reads the folder's themes as they are (no build step); start-dev caches no
    # theme, so a running dev Keycloak shows a changed theme at once.
    local home=$1 src name
    for src in "$ROOT"/keycloak/themes/*/; do
        name=$(basename "$src")
        rm -rf "$home/.theme-$name"
        cp -r "$src" "$home/.theme-$name"
        rm -rf "${home:?}/themes/$name"
        mv "$home/.theme-$name" "$home/themes/$name"
    done
}

realm_url() { echo "http://127.0.0.1:$KC_PORT/realms/$REALM/.well-known/openid-configuration"; }

start_keycloak() {
    local home java_home sum pid
    home=$(keycloak_home)
    if curl -fsS "$(realm_url)" >/dev/null 2>&1; then
        log "Keycloak already answers on :$KC_PORT"
        [ ! -d "$home/themes" ] || install_themes "$home"
        return 0
    fi
    if port_open "$KC_PORT"; then
        log "port $KC_PORT is taken but the realm does not answer yet; waiting"
        [ ! -d "$home/themes" ] || install_themes "$home"
        wait_for 180 "Keycloak realm" "" "$STATE/keycloak.log" curl -fsS "$(realm_url)" && return 0
        return 1
    fi
    install_keycloak
    install_themes "$home"
    java_home=$(pick_java)
    mkdir -p "$home/data/import"
    # A changed realm file means a fresh dev database, so the import really applies.
    sum=$(sha256sum "$REALM_FILE" | cut -c1-16)
    if [ "$(cat "$home/data/realm.sum" 2>/dev/null)" != "$sum" ]; then
        rm -rf "$home/data/h2"
        echo "$sum" >"$home/data/realm.sum"
    fi
    cp "$REALM_FILE" "$home/data/import/"
    log "starting Keycloak $KC_VERSION on :$KC_PORT (JAVA_HOME=$java_home)"
    JAVA_HOME=$java_home KC_BOOTSTRAP_ADMIN_USERNAME=${KC_ADMIN:-admin} \
        KC_BOOTSTRAP_ADMIN_PASSWORD=${KC_ADMIN_PASSWORD:-admin} \
        setsid -w nohup "$home/bin/kc.sh" start-dev --import-realm \
        --http-host=127.0.0.1 --http-port="$KC_PORT" --http-management-port="$KC_MGMT_PORT" \
        >"$STATE/keycloak.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$STATE/keycloak.pid"
    [ -z "$OWNED" ] || echo keycloak >>"$OWNED"
    wait_for 300 "Keycloak realm $REALM" "$pid" "$STATE/keycloak.log" curl -fsS "$(realm_url)" \
        || return 1
    log "Keycloak is up"
}

install_ferretdb() {
    # `go install …@v1.24.2` builds a binary that panics: the module zip lacks the generated
    # build/version/version.txt. So fetch the same module through the Go module proxy, add that
    # file to a copy of it and build there.
    #
    # One line is patched: FerretDB 1.24.2's SQLite backend builds the `_id` index on
    # `_ferretdb_sjson->"_id"` but looks documents up by `_ferretdb_sjson->'$._id'`, an expression
    # SQLite does not match to that index, so every find, update and delete by `_id` scanned the
    # whole table (EXPLAIN QUERY PLAN: SCAN). The patched lookup `->'_id'` means the same
    # (SQLite reads a label X as '$.X') and uses the index (SEARCH … USING INDEX).
    local bin=$CACHE/bin/ferretdb stamp=$CACHE/bin/ferretdb.build
    local build="$FERRETDB_VERSION sqlite-id-index"
    if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$build" ]; then echo "$bin"; return 0; fi
    log "building FerretDB $FERRETDB_VERSION from the Go module proxy (first time only, a few minutes)"
    local src dir metadata
    dir=$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    src=$CACHE/ferretdb-src
    rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    metadata=$src/internal/backends/sqlite/metadata/metadata.go
    sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$metadata"
    grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$metadata" || {
        log "could not patch FerretDB's _id lookup in $metadata"
        return 1
    }
    mkdir -p "$CACHE/bin"
    local total
    log "FerretDB: fetching its dependencies"
    total=$(cd "$src" && go list -deps ./cmd/ferretdb | wc -l)
    log "FerretDB: compiling (up to $total packages)"
    (cd "$src" && go build -v -o "$bin.new" ./cmd/ferretdb) 2>&1 \
        | count_progress "FerretDB" "$total" "$STATE/ferretdb-build.log" || {
        log "FerretDB did not build"
        tail_log "$STATE/ferretdb-build.log"
        return 1
    }
    mv -f "$bin.new" "$bin"
    echo "$build" >"$stamp"
    rm -rf "$src"
    echo "$bin"
}

count_progress() { # count_progress <what> <total> <log>: `go build -v` lines, 10% at a time
    local what=$1 total=$2 logfile=$3 n=0 step=0 line
    : >"$logfile"
    while IFS= read -r line; do
        printf '%s\n' "$line" >>"$logfile"
        n=$((n + 1))
        if [ "$total" -gt 0 ] && [ $((n * 10 / total)) -gt "$step" ]; then
            step=$((n * 10 / total))
            log "$what: $n of up to $total packages compiled ($((n * 100 / total))%)"
        fi
    done
    log "$what: done ($n packages compiled; any others came from Go's build cache)"
}

mongo_ping() { python3 "$ROOT/scripts/mongo_ping.py" "$1"; }

start_mongo() {
    if [ -n "${MONGODB_URI:-}" ]; then
        log "using MONGODB_URI from the environment"
        echo "$MONGODB_URI" >"$STATE/mongo.uri"
        return 0
    fi
    local uri="mongodb://127.0.0.1:$MONGO_PORT/"
    echo "$uri" >"$STATE/mongo.uri"
    if port_open "$MONGO_PORT" && mongo_ping "$uri"; then
        log "Mongo-protocol server already answers on :$MONGO_PORT"
        return 0
    fi
    mkdir -p "$CACHE/mongo-data"
    if command -v mongod >/dev/null 2>&1; then
        log "starting mongod on :$MONGO_PORT"
        setsid -w nohup mongod --bind_ip 127.0.0.1 --port "$MONGO_PORT" --dbpath "$CACHE/mongo-data" \
            >"$STATE/mongo.log" 2>&1 </dev/null &
    else
        local bin
        bin=$(install_ferretdb)
        log "starting FerretDB (SQLite backend) on :$MONGO_PORT"
        # synchronous(normal): in WAL mode a commit is not flushed to disk before it is
        # acknowledged, so each write does not wait for an fsync (a commit survives a crash of
        # FerretDB, not a power loss: https://www.sqlite.org/pragma.html#pragma_synchronous).
        # The data here is for development and tests; production runs MongoDB (README, Benchmark).
        setsid -w nohup "$bin" --handler=sqlite \
            --sqlite-url="file:$CACHE/mongo-data/?_pragma=synchronous(normal)" \
            --listen-addr="127.0.0.1:$MONGO_PORT" --telemetry=disable --log-level=warn --debug-addr=- \
            --state-dir="$CACHE/mongo-data" \
            >"$STATE/mongo.log" 2>&1 </dev/null &
    fi
    local pid=$!
    echo "$pid" >"$STATE/mongo.pid"
    [ -z "$OWNED" ] || echo mongo >>"$OWNED"
    wait_for 60 "Mongo-protocol server" "$pid" "$STATE/mongo.log" mongo_ping "$uri" || return 1
    log "Mongo-protocol server is up"
}

write_env() {
    cat >"$STATE/stack.env" <<EOF
export ALS_KEYCLOAK_URL=http://127.0.0.1:$KC_PORT
export ALS_KEYCLOAK_REALM=$REALM
export ALS_MONGODB_URI=$(cat "$STATE/mongo.uri")
export ALS_KC_ADMIN_USERNAME=${KC_ADMIN:-admin}
export ALS_KC_ADMIN_PASSWORD=${KC_ADMIN_PASSWORD:-admin}
export ALS_FERRETDB_BIN=$([ -x "$CACHE/bin/ferretdb" ] && echo "$CACHE/bin/ferretdb")
EOF
    log "environment written to $STATE/stack.env"
}

stop_service() { # stop_service <name>
    local name=$1
    if [ -f "$STATE/$name.pid" ]; then
        local pid
        pid=$(cat "$STATE/$name.pid")
        log "stopping $name (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
}

# Sourced (tests/test_stack_script.py), it only defines the functions above.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
    verify)
        verify_download "$2" "$3"
        ;;
    up)
        start_mongo &
        mongo_job=$!
        # Caddy, the TLS proxy of tests/test_tls_proxy.py: built once per machine (scripts/caddy.sh).
        bash "$ROOT/scripts/caddy.sh" install >/dev/null &
        caddy_job=$!
        start_keycloak
        wait "$mongo_job"
        wait "$caddy_job" || log "Caddy could not be built: the TLS tests will fail, saying why"
        write_env
        ;;
    down)
        if [ -n "$OWNED" ]; then
            [ -f "$OWNED" ] || exit 0
            while read -r name; do stop_service "$name"; done <"$OWNED"
            rm -f "$OWNED"
        else
            stop_service keycloak
            stop_service mongo
        fi
        ;;
    status)
        curl -fsS "$(realm_url)" >/dev/null 2>&1 && echo "keycloak: up" || echo "keycloak: down"
        mongo_ping "$(cat "$STATE/mongo.uri" 2>/dev/null || echo "mongodb://127.0.0.1:$MONGO_PORT/")" \
            && echo "mongo: up" || echo "mongo: down"
        ;;
    *)
        echo "usage: $0 up|down|status|verify" >&2
        exit 2
        ;;
esac
