#!/usr/bin/env bash
# Writes (once) the dev-mode settings for `make run`, with keys generated on this machine and
# kept in the cache dir so that encrypted data and sessions survive restarts.
set -euo pipefail
CACHE=${ALS_CACHE:-$HOME/.cache/alexa-linking}
FILE=$CACHE/dev.env
if [ ! -f "$FILE" ]; then
    key() { python3 -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))'; }
    umask 077
    cat >"$FILE" <<EOT
export ALS_ENV=dev
export ALS_PUBLIC_URL=http://127.0.0.1:8080
export ALS_SESSION_KEY=$(key)
export ALS_ENCRYPTION_KEYS=dev1:$(key)
export ALS_KEYCLOAK_CLIENT_SECRET=dev-service-secret-change-me
EOT
fi
echo "$FILE"
