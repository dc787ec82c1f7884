"""`seed`: demo data for `make run` (dev mode only), idempotent, printing the credentials.

The demo clients get fixed, published secrets so that they stay the same across runs; that is
why this command refuses to run outside ALS_ENV=dev. Each seed step is a coroutine taking the
`SeedContext` and returning the entries it adds to the printed JSON; `STEPS` runs in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from service.commands.database import CommandContext, keyring_for_writing, run_with_db
from service.linking import partners as partner_admin
from service.linking.app_to_app import CALLBACK_PATH
from service.models.oauth import partner_token_permission
from service.oauth.clients import (
    describe,
    get_client,
    register_client,
    rotate_secret,
    update_client,
)
from service.oauth.secret_hashing import verify_secret
from service.settings import Settings, load_settings

ACTOR = "seed"
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
DEMO_PARTNER: Final = DEMO_ALEXA_CLIENT  # the demo Alexa client's id, as in Amazon's sample
DEMO_LWA_CLIENT: Final = "amzn1.application-oa2-client.demo"
DEMO_LWA_SECRET: Final = "demo-lwa-client-secret-dev-only"  # noqa: S105 - stand-in only
DEMO_SKILL_ID: Final = "amzn1.ask.skill.00000000-0000-4000-8000-0000000de300"


@dataclass(frozen=True)
class SeedContext:
    command: CommandContext
    amazon_standin: str | None  # base URL of tests/amazon_standin.py, when one runs

    @property
    def settings(self) -> Settings:
        return self.command.settings


SeedStep = Callable[[SeedContext], Awaitable[dict[str, Any]]]


async def ensure_client(
    ctx: SeedContext, client_id: str, secret: str, **settings: Any
) -> dict[str, Any]:
    """Create the client, or bring an existing one back to `settings` with `secret`; returns
    its description."""
    db = ctx.command.db
    existing = await get_client(db, client_id)
    if existing is None:
        client, _ = await register_client(
            db, actor=ACTOR, client_id=client_id, secret=secret, **settings
        )
        return describe(client)
    updated = await update_client(db, client_id, actor=ACTOR, **settings)
    assert updated is not None
    if not await verify_secret(secret, existing.secret_hash):
        await rotate_secret(db, client_id, secret, actor=ACTOR)
    return describe(updated)


async def demo_alexa_client(ctx: SeedContext) -> dict[str, Any]:
    client = await ensure_client(
        ctx,
        DEMO_ALEXA_CLIENT,
        DEMO_ALEXA_SECRET,
        name="Demo Alexa skill",
        # Alexa's, and ours for "Link with Alexa" from the account page (app-to-app linking).
        redirect_uris=(*ALEXA_REDIRECT_URIS, ctx.settings.url(CALLBACK_PATH)),
        allow_http_redirect_uris=ctx.settings.dev,
        grant_types=("authorization_code", "refresh_token"),
        scopes=("profile", "alexa::health:profile:write"),
        access_token_ttl=ctx.settings.access_token_ttl,
        refresh_token_ttl=ctx.settings.refresh_token_ttl,
    )
    return {
        DEMO_ALEXA_CLIENT: {
            **client,
            "client_secret": DEMO_ALEXA_SECRET,
            "authorization_url": ctx.settings.url("/oauth/authorize"),
            "token_url": ctx.settings.url("/oauth/token"),
        }
    }


async def demo_app_backend(ctx: SeedContext) -> dict[str, Any]:
    client = await ensure_client(
        ctx,
        DEMO_BACKEND_CLIENT,
        DEMO_BACKEND_SECRET,
        name="Demo app backend",
        grant_types=("client_credentials",),
        permissions=(partner_token_permission(DEMO_PARTNER), "introspect"),
        access_token_ttl=ctx.settings.access_token_ttl,
    )
    return {DEMO_BACKEND_CLIENT: {**client, "client_secret": DEMO_BACKEND_SECRET}}


async def _register_standin_client(base_url: str) -> None:
    """Register the demo LWA client with the stand-in (a separate process under `make run`,
    possibly still starting: retry for a few seconds)."""
    url = base_url.rstrip("/") + "/_standin/clients"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for attempt in range(50):
            try:
                async with http.post(
                    url, json={"client_id": DEMO_LWA_CLIENT, "secret": DEMO_LWA_SECRET}
                ) as resp:
                    resp.raise_for_status()
                    return
            except (aiohttp.ClientError, TimeoutError):
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)


async def _register_standin_skill(base_url: str, settings: Settings) -> None:
    """Tell the stand-in's Skill Enablement API about the demo skill, and how Alexa redeems
    our codes for it (at our token URL, as the demo Alexa client)."""
    skill = {
        "skill_id": DEMO_SKILL_ID,
        "token_url": settings.url("/oauth/token"),
        "client_id": DEMO_ALEXA_CLIENT,
        "client_secret": DEMO_ALEXA_SECRET,
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        async with http.post(base_url.rstrip("/") + "/_standin/skills", json=skill) as resp:
            resp.raise_for_status()


async def seed_demo_partner(ctx: SeedContext) -> dict[str, Any]:
    """The demo partner `demo-alexa-client` (the demo Alexa client's id) against the Amazon
    stand-in: its LWA token and authorization URLs and Alexa API host all point there, with a
    demo skill so that "Link with Alexa" works on the account page."""
    if not ctx.amazon_standin:
        return {f"partner:{DEMO_PARTNER}": "skipped: no --amazon-standin URL given"}
    keyring = keyring_for_writing(ctx.settings)
    if isinstance(keyring, str):
        raise SystemExit(f"error: {keyring}")
    base = ctx.amazon_standin.rstrip("/")
    if not ctx.settings.allow_custom_amazon_urls:
        raise SystemExit(
            "error: the demo partner points at the Amazon stand-in, not at Amazon: set "
            "ALS_ALLOW_CUSTOM_AMAZON_URLS=true (scripts/dev_env.sh does)"
        )
    await _register_standin_client(base)
    await _register_standin_skill(base, ctx.settings)
    partner = await partner_admin.add_partner(
        ctx.command.db,
        keyring,
        partner_id=DEMO_PARTNER,
        lwa_client_id=DEMO_LWA_CLIENT,
        lwa_client_secret=DEMO_LWA_SECRET,
        lwa_token_url=f"{base}/auth/o2/token",
        alexa_api_base=base,
        skill_id=DEMO_SKILL_ID,
        skill_stage="development",
        lwa_authorize_url=f"{base}/ap/oa",
        replace=True,
        actor="seed",
        allow_custom_urls=ctx.settings.allow_custom_amazon_urls,
    )
    return {
        f"partner:{DEMO_PARTNER}": {
            **partner_admin.describe(partner),
            "reciprocal_url": ctx.settings.url("/api/reciprocal/authorize"),
            "get_an_lwa_code": f"curl -s -X POST {base}/_standin/codes -H 'Content-Type: "
            f'application/json\' -d \'{{"client_id": "{DEMO_LWA_CLIENT}"}}\'',
        }
    }


# Runs in order.
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

    async def work(command: CommandContext) -> dict[str, Any]:
        ctx = SeedContext(command, amazon_standin=args.amazon_standin)
        out: dict[str, Any] = {}
        for step in STEPS:
            out.update(await step(ctx))
        return out

    print(json.dumps(run_with_db(settings, work), indent=2))
    return 0
