"""Settings: read from ALS_* variables, refuse weak production settings, documented everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, generate_key, load_settings

ROOT = Path(__file__).resolve().parent.parent
GOOD_PRODUCTION = {
    "ALS_ENV": "production",
    "ALS_PUBLIC_URL": "https://link.example.com",
    "ALS_KEYCLOAK_CLIENT_SECRET": "a-long-and-random-client-secret",
    "ALS_SESSION_KEY": generate_key(),
    "ALS_ENCRYPTION_KEYS": "k1:" + generate_key(),
    "ALS_TOKEN_KEYS": "t1:" + generate_key(),
}


def test_production_settings_load() -> None:
    settings = load_settings(GOOD_PRODUCTION)
    assert settings.public_url == "https://link.example.com"
    assert settings.secure_cookies


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ALS_SESSION_KEY": ""}, "ALS_SESSION_KEY"),
        ({"ALS_SESSION_KEY": "short"}, "ALS_SESSION_KEY"),
        ({"ALS_ENCRYPTION_KEYS": ""}, "ALS_ENCRYPTION_KEYS"),
        ({"ALS_ENCRYPTION_KEYS": "k1:tooshort"}, "ALS_ENCRYPTION_KEYS"),
        ({"ALS_TOKEN_KEYS": ""}, "ALS_TOKEN_KEYS"),
        ({"ALS_TOKEN_KEYS": "t1:tooshort"}, "ALS_TOKEN_KEYS"),
        (
            {"ALS_KEYCLOAK_CLIENT_SECRET": "dev-service-secret-change-me"},
            "ALS_KEYCLOAK_CLIENT_SECRET",
        ),
        ({"ALS_PUBLIC_URL": "http://link.example.com"}, "ALS_PUBLIC_URL"),
        ({"ALS_CODE_TTL": "3600"}, "ALS_CODE_TTL"),
        ({"ALS_PORT": "eighty"}, "ALS_PORT"),
        ({"ALS_ENV": "staging"}, "ALS_ENV"),
        # Keycloak changes must reach our tokens within a minute: at most 30 s between reads.
        ({"ALS_KEYCLOAK_SYNC_SECONDS": "31"}, "ALS_KEYCLOAK_SYNC_SECONDS"),
        ({"ALS_KEYCLOAK_SYNC_SECONDS": "0"}, "ALS_KEYCLOAK_SYNC_SECONDS"),
    ],
)
def test_weak_or_missing_production_setting_is_refused(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**GOOD_PRODUCTION, **change})


def test_error_never_shows_the_secret() -> None:
    secret = "dev-service-secret-change-me"
    with pytest.raises(SettingsError) as info:
        load_settings({**GOOD_PRODUCTION, "ALS_KEYCLOAK_CLIENT_SECRET": secret})
    assert secret not in str(info.value)


def test_dev_mode_fills_in_throwaway_secrets() -> None:
    settings = load_settings({"ALS_ENV": "dev"})
    assert len(settings.session_key_bytes) == 32
    assert settings.encryption_keys


def test_mongodb_uri_is_honoured_without_prefix() -> None:
    settings = load_settings({"ALS_ENV": "dev", "MONGODB_URI": "mongodb://db.example:27017/"})
    assert settings.mongodb_uri == "mongodb://db.example:27017/"


def test_secrets_not_in_repr() -> None:
    assert "a-long-and-random" not in repr(load_settings(GOOD_PRODUCTION))


def test_serve_refuses_to_start_with_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env={"PATH": "/usr/bin:/bin", "ALS_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "ALS_" in result.stderr


def test_every_setting_is_documented_and_in_compose() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    for name in Settings.__dataclass_fields__:
        var = "ALS_" + name.upper()
        assert f"`{var}`" in readme, f"{var} missing from README.md"
        assert re.search(rf"^{var}=", example, re.M), f"{var} missing from .env.example"
    for required in (
        "ALS_KEYCLOAK_CLIENT_SECRET",
        "ALS_SESSION_KEY",
        "ALS_ENCRYPTION_KEYS",
        "ALS_TOKEN_KEYS",
    ):
        assert re.search(rf"\${{{required}:\?", compose), f"{required} not required in compose"
