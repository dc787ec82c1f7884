"""`partners add|list|show|remove`: the skills whose LWA credentials we hold (issue 4).

Output is JSON. The LWA client secret goes in once (from a file, stdin or a prompt, never
the command line, where `ps` would show it) and is never printed back: it is stored only
encrypted with the key ring (ALS_ENCRYPTION_KEYS).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from service.commands.database import run_with_db
from service.crypto import KeyRing
from service.db import Database
from service.linking import partners as partner_admin
from service.linking import regions
from service.settings import Settings, load_settings
from service.storage import clients as client_store
from service.storage import partner_tokens
from service.storage import partners as partner_store
from service.storage.partners import PartnerExists

if TYPE_CHECKING:
    from service.commands.seed import SeedContext

DEMO_PARTNER: Final = "demo-alexa-client"  # the demo Alexa client's id, as in Amazon's sample
DEMO_LWA_CLIENT: Final = "amzn1.application-oa2-client.demo"
DEMO_LWA_SECRET: Final = "demo-lwa-client-secret-dev-only"  # noqa: S105 - stand-in only


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("partners", help="manage partners (skills' LWA credentials)")
    commands = parser.add_subparsers(dest="partners_command", required=True, metavar="ACTION")

    add = commands.add_parser("add", help="add (or with --replace, overwrite) a partner")
    add.add_argument("partner_id", help="the OAuth client id we vend to Alexa for the skill")
    add.add_argument("--lwa-client-id", required=True, help="the skill's Alexa (LWA) client id")
    add.add_argument(
        "--lwa-client-secret-file",
        metavar="PATH",
        help="read the LWA client secret from this file ('-' = stdin); "
        "default: prompt (or stdin when not a terminal)",
    )
    add.add_argument(
        "--region", choices=sorted(regions.LWA_TOKEN_URLS), help="sets both hosts (default NA)"
    )
    add.add_argument("--lwa-token-url", metavar="REGION|URL", help="override the LWA token URL")
    add.add_argument("--alexa-api-base", metavar="REGION|URL", help="override the Alexa API host")
    add.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="LWA scope (repeat; default alexa::health:profile:write)",
    )
    add.add_argument("--replace", action="store_true", help="overwrite an existing partner")
    add.set_defaults(run=_add)

    commands.add_parser("list", help="list partners (no secrets)").set_defaults(run=_list)
    show = commands.add_parser("show", help="show one partner and its links (no secrets)")
    show.add_argument("partner_id")
    show.set_defaults(run=_show)
    remove = commands.add_parser("remove", help="delete a partner and every user's LWA tokens")
    remove.add_argument("partner_id")
    remove.set_defaults(run=_remove)


def keyring_for_writing(settings: Settings) -> KeyRing | str:
    """The configured key ring, or why it must not be used to store anything: in dev mode a
    missing ALS_ENCRYPTION_KEYS is replaced by a throw-away key for each process, and a secret
    sealed with it could never be read by the server."""
    if settings.dev and load_settings().encryption_keys != settings.encryption_keys:
        return "ALS_ENCRYPTION_KEYS is not set; set it to the server's key ring first"
    return KeyRing.parse(settings.encryption_keys)


def _read_secret(path: str | None) -> str:
    if path == "-" or (path is None and not sys.stdin.isatty()):
        return sys.stdin.readline().rstrip("\r\n")
    if path is not None:
        return Path(path).read_text(encoding="utf-8").strip()
    return getpass.getpass("LWA client secret: ")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _add(args: argparse.Namespace) -> int:
    settings = load_settings()
    keyring = keyring_for_writing(settings)
    if isinstance(keyring, str):
        return _fail(keyring)
    try:
        secret = _read_secret(args.lwa_client_secret_file)
    except OSError as exc:
        return _fail(f"cannot read the secret file: {exc.strerror}")

    async def work(db: Database) -> tuple[dict[str, Any], bool]:
        partner = await partner_admin.add_partner(
            db,
            keyring,
            partner_id=args.partner_id,
            lwa_client_id=args.lwa_client_id,
            lwa_client_secret=secret,
            lwa_token_url=args.lwa_token_url,
            alexa_api_base=args.alexa_api_base,
            region=args.region,
            scopes=tuple(args.scopes or partner_admin.DEFAULT_SCOPES),
            replace=args.replace,
        )
        client = await client_store.get(db, args.partner_id)
        return partner_admin.describe(partner), client is not None

    try:
        shown, client_exists = run_with_db(settings, work)
    except partner_admin.PartnerConfigError as exc:
        return _fail(str(exc))
    except PartnerExists:
        return _fail(f"partner {args.partner_id!r} exists; use --replace to overwrite it")
    print(json.dumps(shown, indent=2))
    if not client_exists:
        # Allowed (the client may come next), but a typo here would leave a partner that no
        # reciprocal call or AcceptGrant ever finds: they look it up by the token's client.
        print(
            f"warning: there is no OAuth client {args.partner_id!r} (yet); Alexa's calls find "
            "this partner only with tokens issued to the client of that id "
            f"(`clients add --client-id {args.partner_id} …`)",
            file=sys.stderr,
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    async def work(db: Database) -> list[dict[str, Any]]:
        return [partner_admin.describe(p) for p in await partner_store.list_all(db)]

    print(json.dumps(run_with_db(load_settings(), work), indent=2))
    return 0


def _show(args: argparse.Namespace) -> int:
    async def work(db: Database) -> dict[str, Any] | None:
        partner = await partner_store.get(db, args.partner_id)
        if partner is None:
            return None
        links = await partner_tokens.count_by_status(db, partner.partner_id)
        return {**partner_admin.describe(partner), "links": links}

    shown = run_with_db(load_settings(), work)
    if shown is None:
        return _fail(f"no partner {args.partner_id!r}")
    print(json.dumps(shown, indent=2))
    return 0


def _remove(args: argparse.Namespace) -> int:
    removed, links = run_with_db(
        load_settings(), lambda db: partner_admin.remove_partner(db, args.partner_id)
    )
    if not removed and not links:
        return _fail(f"no partner {args.partner_id!r}")
    print(json.dumps({"removed": args.partner_id, "links_deleted": links}, indent=2))
    return 0


# -- seed step (service/commands/seed.py runs it) ------------------------------------------


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


async def seed_demo_partner(ctx: SeedContext) -> dict[str, Any]:
    """The demo partner `demo-alexa-client` (the demo Alexa client's id) against the Amazon
    stand-in: its LWA token URL and Alexa API host both point there."""
    if not ctx.amazon_standin:
        return {f"partner:{DEMO_PARTNER}": "skipped: no --amazon-standin URL given"}
    keyring = keyring_for_writing(ctx.settings)
    if isinstance(keyring, str):
        raise SystemExit(f"error: {keyring}")
    base = ctx.amazon_standin.rstrip("/")
    await _register_standin_client(base)
    partner = await partner_admin.add_partner(
        ctx.db,
        keyring,
        partner_id=DEMO_PARTNER,
        lwa_client_id=DEMO_LWA_CLIENT,
        lwa_client_secret=DEMO_LWA_SECRET,
        lwa_token_url=f"{base}/auth/o2/token",
        alexa_api_base=base,
        replace=True,
        actor="seed",
    )
    return {
        f"partner:{DEMO_PARTNER}": {
            **partner_admin.describe(partner),
            "reciprocal_url": ctx.settings.url("/api/reciprocal/authorize"),
            "get_an_lwa_code": f"curl -s -X POST {base}/_standin/codes -H 'Content-Type: "
            f'application/json\' -d \'{{"client_id": "{DEMO_LWA_CLIENT}"}}\'',
        }
    }
