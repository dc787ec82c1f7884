#!/usr/bin/env bash
# Writes the dev-mode settings for `make run` once, with keys generated on this machine (by
# `als keys generate`, in the venv that install.sh made) and kept in the cache dir so that
# encrypted data, sessions and tokens survive restarts. Every worker of `make run` must see
# the same keys, so a key the file lacks (a key ring added since it was written) is added.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
FILE=$CACHE/dev.env
umask 077
mkdir -p "$CACHE"
if [ ! -f "$FILE" ]; then
    cat >"$FILE.tmp" <<EOT
export ALS_ENV=dev
export ALS_PUBLIC_URL=http://127.0.0.1:8080
export ALS_KEYCLOAK_CLIENT_SECRET=dev-service-secret-change-me
EOT
    mv "$FILE.tmp" "$FILE"
fi
# The demo partner's LWA token URL and Alexa API base are the Amazon stand-in, not Amazon's.
grep -q '^export ALS_ALLOW_CUSTOM_AMAZON_URLS=' "$FILE" ||
    echo 'export ALS_ALLOW_CUSTOM_AMAZON_URLS=true' >>"$FILE"
keys=$("$ROOT/.venv/bin/python" -m service keys generate --kid dev1)
while IFS= read -r line; do
    grep -q "^export ${line%%=*}=" "$FILE" || echo "export $line" >>"$FILE"
done <<<"$keys"
echo "$FILE"
