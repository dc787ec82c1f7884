"""`python -m service clients …` and `seed`, run as an admin runs them, against the database
the test server uses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestServer

from service.commands import seed
from service.settings import Settings
from service.storage import clients as client_store
from service.web.appkeys import DB
from tests.amazon_standin import AmazonStandIn
from tests.support.cli import cli
from tests.support.oauth import basic_auth, post
from tests.support.processes import settings_env
from tests.support.stack import CLIENT_CACHE_SECONDS


async def _client_credentials(base_url: str, client_id: str, secret: str) -> int:
    answer = await post(
        f"{base_url}/oauth/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    return answer.status


async def test_add_prints_id_and_secret_once_and_the_secret_works(
    server: TestServer, base_url: str, settings: Settings
) -> None:
    done = await cli(
        settings,
        "clients",
        "add",
        "--name",
        "App backend",
        "--grant",
        "client_credentials",
        "--permission",
        "partner_token:skill-1",
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["client_secret"] and created["permissions"] == ["partner_token:skill-1"]
    assert (
        await _client_credentials(base_url, created["client_id"], created["client_secret"]) == 200
    )
    for command in (["list"], ["show", created["client_id"]]):
        shown = await cli(settings, "clients", *command)
        assert shown.returncode == 0
        assert created["client_secret"] not in shown.stdout
        assert "secret" not in shown.stdout
    listed = json.loads((await cli(settings, "clients", "list")).stdout)
    assert [c["client_id"] for c in listed] == [created["client_id"]]


async def test_add_alexa_client_with_all_options(server: TestServer, settings: Settings) -> None:
    uris = [
        f"https://{h}/api/skill/link/M3KVOEXUO4ALBL"
        for h in ("pitangui.amazon.com", "layla.amazon.com", "alexa.amazon.co.jp")
    ]
    args = [
        "clients",
        "add",
        "--name",
        "My skill",
        "--client-id",
        "my-skill",
        "--pkce",
        "--scope",
        "profile alexa::health:profile:write",
        "--access-token-ttl",
        "1800",
        "--refresh-token-ttl",
        "0",
        "--refresh-policy",
        "rotate",
    ]
    for uri in uris:
        args += ["--redirect-uri", uri]
    done = await cli(settings, *args)
    assert done.returncode == 0, done.stderr
    client = await client_store.get(server.app[DB], "my-skill")
    assert client is not None
    assert client.redirect_uris == tuple(uris) and client.require_pkce
    assert client.scopes == {"profile", "alexa::health:profile:write"}
    assert client.grant_types == {"authorization_code", "refresh_token"}
    assert (client.access_token_ttl, client.refresh_token_ttl, client.refresh_policy) == (
        1800,
        0,
        "rotate",
    )
    again = await cli(settings, *args)
    assert again.returncode == 1 and "already exists" in again.stderr


async def test_admin_chosen_secret_must_be_long_enough(
    server: TestServer, base_url: str, settings: Settings
) -> None:
    short = await cli(
        settings,
        "clients",
        "add",
        "--name",
        "x",
        "--grant",
        "client_credentials",
        "--secret",
        "too-short",
    )
    assert short.returncode == 2 and "24 characters" in short.stderr
    secret = "an-admin-chosen-secret-of-enough-length"
    done = await cli(
        settings,
        "clients",
        "add",
        "--name",
        "x",
        "--client-id",
        "chosen",
        "--grant",
        "client_credentials",
        "--secret",
        "-",
        stdin=secret + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["client_secret"] == secret
    assert await _client_credentials(base_url, "chosen", secret) == 200


async def test_invalid_registration_is_refused(server: TestServer, settings: Settings) -> None:
    too_long = str(10**14)  # would overflow the expiry date: a 500 on every token request
    for args in (
        ["--redirect-uri", "not a url"],
        ["--redirect-uri", "https://x/cb#frag"],
        ["--redirect-uri", "https://[x/cb"],
        ["--grant", "client_credentials", "--access-token-ttl", too_long],
        ["--grant", "client_credentials", "--access-token-ttl", str(10**20)],
        ["--redirect-uri", "https://x/cb", "--refresh-token-ttl", too_long],
        [],
    ):  # authorization_code without any redirect URI
        done = await cli(settings, "clients", "add", "--name", "x", *args)
        assert done.returncode == 2, args
        assert "error: " in done.stderr
    assert await client_store.list_all(server.app[DB]) == []


async def test_rotate_secret_replaces_the_old_one(
    server: TestServer, base_url: str, settings: Settings
) -> None:
    created = json.loads(
        (
            await cli(settings, "clients", "add", "--name", "x", "--grant", "client_credentials")
        ).stdout
    )
    # Used once before the rotation, so the running server has checked (and remembered) it.
    assert (
        await _client_credentials(base_url, created["client_id"], created["client_secret"]) == 200
    )
    rotated = await cli(settings, "clients", "rotate-secret", created["client_id"])
    assert rotated.returncode == 0
    new = json.loads(rotated.stdout)["client_secret"]
    assert new != created["client_secret"]
    await asyncio.sleep(CLIENT_CACHE_SECONDS)  # the server trusts what it read this long
    assert (
        await _client_credentials(base_url, created["client_id"], created["client_secret"]) == 401
    )
    assert await _client_credentials(base_url, created["client_id"], new) == 200
    assert (await cli(settings, "clients", "rotate-secret", "nobody")).returncode == 1


async def test_remove_deletes_the_client(
    server: TestServer, base_url: str, settings: Settings
) -> None:
    created = json.loads(
        (
            await cli(settings, "clients", "add", "--name", "x", "--grant", "client_credentials")
        ).stdout
    )
    assert (await cli(settings, "clients", "remove", created["client_id"])).returncode == 0
    assert (
        await _client_credentials(base_url, created["client_id"], created["client_secret"]) == 401
    )
    assert (await cli(settings, "clients", "show", created["client_id"])).returncode == 1
    assert (await cli(settings, "clients", "remove", created["client_id"])).returncode == 1


async def test_seed_is_idempotent_and_prints_working_credentials(
    server: TestServer, base_url: str, settings: Settings
) -> None:
    outputs: list[dict[str, Any]] = []
    for _ in range(2):
        done = await cli(settings, "seed")
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    first, second = outputs
    for name in ("demo-alexa-client", "demo-app-backend"):
        assert first[name]["client_secret"] == second[name]["client_secret"]
    assert len(first["demo-alexa-client"]["redirect_uris"]) == 4  # Alexa's three, and ours
    backend = first["demo-app-backend"]
    assert backend["permissions"] == ["introspect", "partner_token:demo-alexa-client"]
    assert (
        await _client_credentials(base_url, backend["client_id"], backend["client_secret"]) == 200
    )
    ids = sorted(c.client_id for c in await client_store.list_all(server.app[DB]))
    assert "demo-alexa-client" in ids and "demo-app-backend" in ids
    # A secret changed meanwhile is brought back to the published demo one.
    assert (await cli(settings, "clients", "rotate-secret", "demo-app-backend")).returncode == 0
    assert (await cli(settings, "seed")).returncode == 0
    assert (
        await _client_credentials(base_url, backend["client_id"], backend["client_secret"]) == 200
    )


async def test_seed_refuses_outside_dev_mode(server: TestServer, settings: Settings) -> None:
    done = await cli(
        settings,
        "seed",
        env={
            "ALS_ENV": "production",
            "ALS_PUBLIC_URL": "https://link.example.com",
            "ALS_KEYCLOAK_CLIENT_SECRET": "a-real-looking-keycloak-secret",
            "ALS_SESSION_KEY": "A" * 43,
            "ALS_ENCRYPTION_KEYS": "k1:" + "B" * 43,
        },
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert await client_store.list_all(server.app[DB]) == []


async def test_seed_sets_up_link_with_alexa_against_the_stand_in(
    server: TestServer, settings: Settings
) -> None:
    """`make run`'s demo data: the account page offers "Link with Alexa" for the demo partner,
    whose skill the stand-in knows, redeeming our codes as the demo Alexa client."""
    amazon = AmazonStandIn()
    await amazon.start()
    try:
        seeding = ("seed", "--amazon-standin", amazon.base_url)
        done = await cli(settings, *seeding, env=settings_env(settings))
        assert done.returncode == 0, done.stderr
        seeded = json.loads(done.stdout)
        partner = seeded["partner:demo-alexa-client"]
        assert partner["skill_id"] == seed.DEMO_SKILL_ID
        assert partner["skill_stage"] == "development"
        assert partner["lwa_authorize_url"] == f"{amazon.base_url}/ap/oa"
        callback = settings.url("/account/alexa/callback")
        assert callback in seeded["demo-alexa-client"]["redirect_uris"]
        assert amazon.redeems_at(seed.DEMO_SKILL_ID) == (
            settings.url("/oauth/token"),
            "demo-alexa-client",
        )
    finally:
        await amazon.stop()
