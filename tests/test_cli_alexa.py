"""`als alexa account-linking`: the skill's account-linking configuration as the JSON body of
`ask smapi update-account-linking-info`, from the database (read-only, no server secret) and
Keycloak's discovery document (the login host for the domain list); the client secret only
when asked, from stdin, and only the right one."""

from __future__ import annotations

import json
from typing import Any

from service.crypto import KeyRing
from service.db import connect
from service.linking.partners import add_partner
from service.models.oauth import OAuthClient
from service.settings import Settings
from tests.support.cli import cli
from tests.support.oauth import ALEXA_REDIRECT_URIS, create_client
from tests.support.stack import free_port, load_stack_env

PUBLIC_URL = "https://link.example.com"


def _env(**extra: str) -> dict[str, str]:
    """Production mode with no secret: the public URLs and Keycloak, and the database."""
    stack = load_stack_env()
    return {
        "ALS_ENV": "production",
        "ALS_PUBLIC_URL": PUBLIC_URL,
        "ALS_KEYCLOAK_URL": stack["ALS_KEYCLOAK_URL"],
        "ALS_KEYCLOAK_REALM": stack.get("ALS_KEYCLOAK_REALM", "alexa-linking"),
        **extra,
    }


async def _skill(settings: Settings, *, partner: bool, **client: Any) -> tuple[OAuthClient, str]:
    mongo = connect(settings.mongodb_uri)
    try:
        db = mongo[settings.mongodb_db]
        created, secret = await create_client(db, name="Baby Activity", **client)
        if partner:
            await add_partner(
                db,
                KeyRing.parse(settings.encryption_keys),
                partner_id=created.client_id,
                lwa_client_id="amzn1.application-oa2-client.x",
                lwa_client_secret="lwa-secret-never-printed",
                actor="test",
            )
    finally:
        await mongo.close()
    return created, secret


async def test_prints_the_ask_cli_request_for_a_skill_with_mutual_linking(
    settings: Settings,
) -> None:
    client, secret = await _skill(settings, partner=True, access_token_ttl=1800)
    done = await cli(
        settings, "alexa", "account-linking", "--client-id", client.client_id, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "accountLinkingRequest": {
            "type": "AUTH_CODE",
            "authorizationUrl": f"{PUBLIC_URL}/oauth/authorize",
            "accessTokenUrl": f"{PUBLIC_URL}/oauth/token",
            "clientId": client.client_id,
            "accessTokenScheme": "HTTP_BASIC",
            "scopes": ["alexa::health:profile:write", "profile"],
            "domains": ["127.0.0.1"],  # where Keycloak's discovery says its login page is
            "defaultTokenExpirationInSeconds": 1800,
            "skipOnEnablement": False,
            "reciprocalAccessTokenUrl": f"{PUBLIC_URL}/api/reciprocal/authorize",
        }
    }
    assert secret not in done.stdout + done.stderr
    assert "lwa-secret-never-printed" not in done.stdout + done.stderr
    for url in ALEXA_REDIRECT_URIS:
        assert f"{url}  (registered)" in done.stderr


async def test_the_secret_goes_in_only_when_asked_and_only_the_clients_own(
    settings: Settings,
) -> None:
    client, secret = await _skill(settings, partner=False)
    args = ("alexa", "account-linking", "--client-id", client.client_id, "--with-secret")
    done = await cli(settings, *args, stdin=secret + "\n", env=_env())
    assert done.returncode == 0, done.stderr
    request = json.loads(done.stdout)["accountLinkingRequest"]
    assert request["clientSecret"] == secret
    assert "reciprocalAccessTokenUrl" not in request  # no partner: no mutual linking

    wrong = await cli(settings, *args, stdin="not-the-secret-of-this-client\n", env=_env())
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "is not client" in wrong.stderr and "not-the-secret" not in wrong.stderr
    empty = await cli(settings, *args, stdin="", env=_env())
    assert empty.returncode == 1 and "no secret on stdin" in empty.stderr


async def test_refuses_what_would_not_work(settings: Settings) -> None:
    client, _ = await _skill(settings, partner=True)
    unknown = await cli(settings, "alexa", "account-linking", "--client-id", "nope", env=_env())
    assert unknown.returncode == 1 and "no client 'nope'" in unknown.stderr
    other = await cli(
        settings,
        *("alexa", "account-linking", "--client-id", client.client_id, "--partner-id", "other"),
        env=_env(),
    )
    assert other.returncode == 1 and "is not this client's" in other.stderr
    backend, _ = await _skill(
        settings, partner=False, grant_types=["client_credentials"], redirect_uris=()
    )
    no_code = await cli(
        settings, "alexa", "account-linking", "--client-id", backend.client_id, env=_env()
    )
    assert no_code.returncode == 1 and "authorization code grant" in no_code.stderr


async def test_says_what_is_missing_and_copes_without_keycloak(settings: Settings) -> None:
    client, _ = await _skill(
        settings, partner=False, redirect_uris=ALEXA_REDIRECT_URIS[:1], require_pkce=True
    )
    down = f"http://127.0.0.1:{free_port()}"
    done = await cli(
        settings,
        *("alexa", "account-linking", "--client-id", client.client_id),
        env=_env(ALS_KEYCLOAK_URL=down, ALS_KEYCLOAK_TIMEOUT="1", ALS_PUBLIC_URL="http://x.test"),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accountLinkingRequest"]["domains"] == ["127.0.0.1"]
    assert "did not answer" in done.stderr
    assert f"{ALEXA_REDIRECT_URIS[1]}  (NOT REGISTERED: add it)" in done.stderr
    assert "switch PKCE on" in done.stderr and "is not https" in done.stderr
