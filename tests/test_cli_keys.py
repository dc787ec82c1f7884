"""`python -m service keys generate` (`als keys generate`): secrets for a new installation's
.env file that the production settings accept; and `--version`."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from service.crypto import KeyRing
from service.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
# Everything production needs except the two generated secrets.
PRODUCTION = {
    "ALS_ENV": "production",
    "ALS_PUBLIC_URL": "https://link.example.com",
    "ALS_KEYCLOAK_CLIENT_SECRET": "a-long-and-random-client-secret",
}


def _service(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALS_")}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _dotenv(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert all(line.count("=") >= 1 and " " not in line for line in lines), text
    return dict(line.split("=", 1) for line in lines)


def test_generated_keys_are_accepted_by_the_production_settings() -> None:
    done = _service("keys", "generate")
    assert done.returncode == 0, done.stderr
    generated = _dotenv(done.stdout)
    assert list(generated) == ["ALS_SESSION_KEY", "ALS_ENCRYPTION_KEYS", "ALS_TOKEN_KEYS"]

    settings = load_settings({**PRODUCTION, **generated})
    assert len(settings.session_key_bytes) == 32
    ring = KeyRing.parse(settings.encryption_keys)
    assert ring.kids == (ring.primary_kid,)  # one new key
    sealed = ring.encrypt("an LWA refresh token", context="test")
    assert ring.decrypt(sealed, context="test") == "an LWA refresh token"


def test_every_run_makes_new_keys_with_a_new_key_id() -> None:
    first, second = (_dotenv(_service("keys", "generate").stdout) for _ in range(2))
    assert first["ALS_SESSION_KEY"] != second["ALS_SESSION_KEY"]
    first_kid, first_key = first["ALS_ENCRYPTION_KEYS"].split(":")
    second_kid, second_key = second["ALS_ENCRYPTION_KEYS"].split(":")
    assert first_key != second_key
    # so that the new key can be prepended to the old ring when rotating
    assert first_kid != second_kid
    rotated = f"{second['ALS_ENCRYPTION_KEYS']},{first['ALS_ENCRYPTION_KEYS']}"
    assert load_settings({**PRODUCTION, **second, "ALS_ENCRYPTION_KEYS": rotated})


def test_key_id_can_be_chosen_and_is_checked() -> None:
    chosen = _dotenv(_service("keys", "generate", "--kid", "k2025").stdout)
    assert chosen["ALS_ENCRYPTION_KEYS"].startswith("k2025:")
    refused = _service("keys", "generate", "--kid", "no:colons")
    assert refused.returncode == 2 and "--kid" in refused.stderr
    assert refused.stdout == ""


def test_version_is_the_installed_package_version() -> None:
    done = _service("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"python -m service {version('alexa-account-linking-server')}"
