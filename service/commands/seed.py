"""`seed`: demo data for `make run` (dev mode only), idempotent, printing the credentials.

The demo clients get fixed, published secrets so that they stay the same across runs; that is
why this command refuses to run outside ALS_ENV=dev. Each seed step is a coroutine taking the
`SeedContext` and returning the entries it adds to the printed JSON; `STEPS` runs in order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service.commands.database import run_with_db
from service.commands.partners import seed_demo_partner
from service.db import Database
from service.oauth.clients import describe as describe_client
from service.oauth.clients import register_client, rotate_secret, update_client
from service.oauth.models import OAuthClient
from service.oauth.secret_hashing import verify_secret
from service.settings import Settings, load_settings
from service.storage import clients as client_store

VENDOR_ID = "M3KVOEXUO4ALBL"
ALEXA_REDIRECT_URIS = (
    f"https://pitangui.amazon.com/api/skill/link/{VENDOR_ID}",
    f"https://layla.amazon.com/api/skill/link/{VENDOR_ID}",
    f"https://alexa.amazon.co.jp/api/skill/link/{VENDOR_ID}",
)
DEMO_ALEXA_CLIENT = "demo-alexa-client"
DEMO_ALEXA_SECRET = "demo-alexa-client-secret-dev-only"  # noqa: S105 - published dev secret
DEMO_BACKEND_CLIENT = "demo-app-backend"
DEMO_BACKEND_SECRET = "demo-app-backend-secret-dev-only"  # noqa: S105 - published dev secret


@dataclass(frozen=True)
class SeedContext:
    db: Database
    settings: Settings
    amazon_standin: str | None  # base URL of tests/amazon_standin.py, when one runs


SeedStep = Callable[[SeedContext], Awaitable[dict[str, Any]]]


async def ensure_client(db: Database, wanted: OAuthClient, secret: str) -> OAuthClient:
    """Create the client, or bring an existing one back to `wanted` with `secret`."""
    existing = await client_store.get(db, wanted.client_id)
    if existing is None:
        client, _ = await register_client(
            db,
            client_id=wanted.client_id,
            name=wanted.name,
            redirect_uris=wanted.redirect_uris,
            grant_types=wanted.grant_types,
            scopes=wanted.scopes,
            require_pkce=wanted.require_pkce,
            access_token_ttl=wanted.access_token_ttl,
            refresh_token_ttl=wanted.refresh_token_ttl,
            refresh_policy=wanted.refresh_policy,
            permissions=wanted.permissions,
            secret=secret,
        )
        return client
    await update_client(db, wanted)
    if not await verify_secret(secret, existing.secret_hash):
        await rotate_secret(db, wanted.client_id, secret)
    found = await client_store.get(db, wanted.client_id)
    assert found is not None
    return found


async def demo_alexa_client(ctx: SeedContext) -> dict[str, Any]:
    client = await ensure_client(
        ctx.db,
        OAuthClient(
            client_id=DEMO_ALEXA_CLIENT,
            secret_hash="",
            name="Demo Alexa skill",
            redirect_uris=ALEXA_REDIRECT_URIS,
            grant_types=frozenset({"authorization_code", "refresh_token"}),
            scopes=frozenset({"profile", "alexa::health:profile:write"}),
            access_token_ttl=ctx.settings.access_token_ttl,
            refresh_token_ttl=ctx.settings.refresh_token_ttl,
        ),
        DEMO_ALEXA_SECRET,
    )
    return {
        DEMO_ALEXA_CLIENT: {
            **describe_client(client),
            "client_secret": DEMO_ALEXA_SECRET,
            "authorization_url": ctx.settings.url("/oauth/authorize"),
            "token_url": ctx.settings.url("/oauth/token"),
        }
    }


async def demo_app_backend(ctx: SeedContext) -> dict[str, Any]:
    client = await ensure_client(
        ctx.db,
        OAuthClient(
            client_id=DEMO_BACKEND_CLIENT,
            secret_hash="",
            name="Demo app backend",
            grant_types=frozenset({"client_credentials"}),
            permissions=frozenset({"partner_token", "introspect"}),
            access_token_ttl=ctx.settings.access_token_ttl,
        ),
        DEMO_BACKEND_SECRET,
    )
    return {DEMO_BACKEND_CLIENT: {**describe_client(client), "client_secret": DEMO_BACKEND_SECRET}}


# Runs in order. The reciprocal-linking feature appends its demo partner step here (it points
# the partner's LWA token URL and Alexa API host at `ctx.amazon_standin`).
STEPS: list[SeedStep] = [demo_alexa_client, demo_app_backend, seed_demo_partner]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("seed", help="create the demo clients (dev mode only) and print them")
    parser.add_argument(
        "--amazon-standin",
        metavar="URL",
        help="base URL of the local Amazon stand-in, for the demo partner",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.dev:
        print(
            "error: seed creates clients with published secrets; it runs only with ALS_ENV=dev",
            file=sys.stderr,
        )
        return 2

    async def work(db: Database) -> dict[str, Any]:
        ctx = SeedContext(db=db, settings=settings, amazon_standin=args.amazon_standin)
        out: dict[str, Any] = {}
        for step in STEPS:
            out.update(await step(ctx))
        return out

    print(json.dumps(run_with_db(settings, work), indent=2))
    return 0
