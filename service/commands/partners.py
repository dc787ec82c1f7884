"""`partners add|list|show|remove`: the skills whose LWA credentials we hold.

Output is JSON. The LWA client secret goes in once (from a file, stdin or a prompt, never
the command line, where `ps` would show it) and is never printed back: it is stored only
encrypted with the key ring (ALS_ENCRYPTION_KEYS).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from service.amazon import regions
from service.commands.database import (
    CommandContext,
    keyring_for_writing,
    run_read_only,
    run_with_db,
)
from service.db import Database
from service.linking import app_to_app
from service.linking import partners as partner_admin
from service.oauth.clients import get_client
from service.settings import load_database_settings, load_settings


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
    add.add_argument(
        "--lwa-token-url",
        metavar="REGION|URL",
        help="override the LWA token URL (Amazon's; others need ALS_ALLOW_CUSTOM_AMAZON_URLS)",
    )
    add.add_argument(
        "--alexa-api-base",
        metavar="REGION|URL",
        help="override the Alexa API host (Amazon's; others need ALS_ALLOW_CUSTOM_AMAZON_URLS)",
    )
    add.add_argument(
        "--skill-id",
        metavar="ID",
        help="the skill's id (amzn1.ask.skill.…): customers can then link it from our account "
        'page or the developer\'s app ("Link with Alexa", app-to-app account linking)',
    )
    add.add_argument(
        "--skill-stage",
        choices=("development", "live"),
        help="the skill's stage to enable (with --skill-id)",
    )
    add.add_argument(
        "--lwa-authorize-url",
        metavar="REGION|URL",
        help="LWA's authorization page for \"Link with Alexa\" (default: --region's; others than "
        "Amazon's need ALS_ALLOW_CUSTOM_AMAZON_URLS)",
    )
    add.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="LWA scope (repeat; default alexa::health:profile:write)",
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="overwrite an existing partner (an empty secret keeps the stored one, unless a "
        "URL changes)",
    )
    add.set_defaults(run=_add)

    commands.add_parser("list", help="list partners (no secrets)").set_defaults(run=_list)
    show = commands.add_parser("show", help="show one partner and its links (no secrets)")
    show.add_argument("partner_id")
    show.set_defaults(run=_show)
    remove = commands.add_parser("remove", help="delete a partner and every user's LWA tokens")
    remove.add_argument("partner_id")
    remove.set_defaults(run=_remove)


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

    async def work(ctx: CommandContext) -> tuple[dict[str, Any], bool]:
        partner = await partner_admin.add_partner(
            ctx.db,
            keyring,
            partner_id=args.partner_id,
            lwa_client_id=args.lwa_client_id,
            lwa_client_secret=secret,
            lwa_token_url=args.lwa_token_url,
            alexa_api_base=args.alexa_api_base,
            region=args.region,
            scopes=tuple(args.scopes or partner_admin.DEFAULT_SCOPES),
            replace=args.replace,
            allow_custom_urls=settings.allow_custom_amazon_urls,
            skill_id=args.skill_id,
            skill_stage=args.skill_stage,
            lwa_authorize_url=args.lwa_authorize_url,
        )
        client = await get_client(ctx.db, args.partner_id)
        callback = settings.url(app_to_app.CALLBACK_PATH)
        if partner.skill_id and client is not None and callback not in client.redirect_uris:
            print(
                f"warning: OAuth client {args.partner_id!r} lacks the redirect URI {callback}: "
                '"Link with Alexa" needs it (the admin partner page adds it)',
                file=sys.stderr,
            )
        return partner_admin.describe(partner), client is not None

    try:
        shown, client_exists = run_with_db(settings, work)
    except partner_admin.PartnerConfigError as exc:
        return _fail(str(exc))
    except partner_admin.PartnerExists:
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
        return [
            {k: v for k, v in p.items() if k != "has_client"}
            for p in await partner_admin.list_partners(db)
        ]

    print(json.dumps(run_read_only(load_database_settings(), work), indent=2))
    return 0


def _show(args: argparse.Namespace) -> int:
    shown = run_read_only(
        load_database_settings(), lambda db: partner_admin.show_partner(db, args.partner_id)
    )
    if shown is None:
        return _fail(f"no partner {args.partner_id!r}")
    print(json.dumps(shown, indent=2))
    return 0


def _remove(args: argparse.Namespace) -> int:
    removed, links = run_with_db(
        load_settings(), lambda ctx: partner_admin.remove_partner(ctx.db, args.partner_id)
    )
    if not removed and not links:
        return _fail(f"no partner {args.partner_id!r}")
    print(json.dumps({"removed": args.partner_id, "links_deleted": links}, indent=2))
    return 0
