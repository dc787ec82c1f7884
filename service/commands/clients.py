"""`clients add|list|show|remove|rotate-secret`: manage the OAuth clients we serve.

Output is JSON. A client secret is printed only by `add` and `rotate-secret`, the one time it
exists in plaintext; we store only its hash.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from service.commands.database import CommandContext, run_read_only, run_with_db
from service.models.oauth import GRANT_TYPES, REFRESH_POLICIES, OAuthClient
from service.oauth.clients import (
    ClientConfigError,
    ClientExists,
    get_client,
    list_clients,
    register_client,
    remove_client,
    rotate_secret,
)
from service.oauth.clients import describe as describe_client
from service.settings import load_database_settings, load_settings

ACTOR = "cli"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("clients", help="manage OAuth clients (Alexa skills, app backends)")
    commands = parser.add_subparsers(dest="clients_command", required=True, metavar="ACTION")

    add = commands.add_parser("add", help="register a client; prints its id and secret once")
    add.add_argument("--name", required=True)
    add.add_argument("--client-id", help="default: generated")
    add.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        dest="redirect_uris",
        metavar="URI",
        help="exact redirect URI (repeat for each Alexa region)",
    )
    add.add_argument(
        "--grant",
        action="append",
        choices=GRANT_TYPES,
        dest="grant_types",
        help="allowed grant type (repeat; default authorization_code and refresh_token)",
    )
    add.add_argument(
        "--scope",
        action="append",
        default=[],
        dest="scopes",
        help="allowed scope (repeat, or space-separated)",
    )
    add.add_argument(
        "--pkce",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="require PKCE S256 on authorization requests",
    )
    add.add_argument("--access-token-ttl", type=int, help="seconds (default ALS_ACCESS_TOKEN_TTL)")
    add.add_argument(
        "--refresh-token-ttl",
        type=int,
        help="seconds, 0 = never expires (default ALS_REFRESH_TOKEN_TTL)",
    )
    add.add_argument("--refresh-policy", choices=REFRESH_POLICIES, default="reuse")
    add.add_argument(
        "--permission",
        action="append",
        default=[],
        dest="permissions",
        metavar="PERMISSION",
        help="introspect, or partner_token:<partner id> (the app backend API for that partner's "
        "users); repeat for each",
    )
    add.add_argument(
        "--authorization-response-iss",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="send iss (our issuer) in authorization responses (RFC 9207)",
    )
    add.add_argument(
        "--secret",
        help="set this secret (at least 24 characters; '-' reads it "
        "from stdin) instead of generating one",
    )
    add.set_defaults(run=_add)

    commands.add_parser("list", help="list clients").set_defaults(run=_list)
    show = commands.add_parser("show", help="show one client")
    show.add_argument("client_id")
    show.set_defaults(run=_show)
    remove = commands.add_parser("remove", help="delete a client and revoke all its tokens")
    remove.add_argument("client_id")
    remove.set_defaults(run=_remove)
    rotate = commands.add_parser("rotate-secret", help="replace a client's secret; prints it")
    rotate.add_argument("client_id")
    rotate.add_argument("--secret", help="set this secret instead of generating one ('-': stdin)")
    rotate.set_defaults(run=_rotate)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _secret_arg(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.readline().rstrip("\n")
    return value


def _add(args: argparse.Namespace) -> int:
    settings = load_settings()
    scopes = [s for item in args.scopes for s in item.split()]

    async def work(ctx: CommandContext) -> tuple[OAuthClient, str]:
        return await register_client(
            ctx.db,
            actor=ACTOR,
            name=args.name,
            client_id=args.client_id,
            redirect_uris=args.redirect_uris,
            grant_types=args.grant_types or ("authorization_code", "refresh_token"),
            scopes=scopes,
            require_pkce=args.pkce,
            access_token_ttl=(
                args.access_token_ttl
                if args.access_token_ttl is not None
                else settings.access_token_ttl
            ),
            refresh_token_ttl=(
                args.refresh_token_ttl
                if args.refresh_token_ttl is not None
                else settings.refresh_token_ttl
            ),
            refresh_policy=args.refresh_policy,
            permissions=args.permissions,
            authorization_response_iss=args.authorization_response_iss,
            allow_http_redirect_uris=settings.dev,
            secret=_secret_arg(args.secret),
        )

    try:
        client, secret = run_with_db(settings, work)
    except ClientConfigError as exc:
        return _fail(str(exc), 2)
    except ClientExists:
        return _fail(f"a client with id {args.client_id!r} already exists")
    _print({**describe_client(client), "client_secret": secret})
    return 0


def _list(args: argparse.Namespace) -> int:
    clients = run_read_only(load_database_settings(), list_clients)
    _print([describe_client(c) for c in clients])
    return 0


def _show(args: argparse.Namespace) -> int:
    client = run_read_only(load_database_settings(), lambda db: get_client(db, args.client_id))
    if client is None:
        return _fail(f"no client {args.client_id!r}")
    _print(describe_client(client))
    return 0


def _remove(args: argparse.Namespace) -> int:
    async def work(ctx: CommandContext) -> bool:
        return await remove_client(ctx.db, ctx.unlink_hooks, args.client_id, actor=ACTOR)

    if not run_with_db(load_settings(), work):
        return _fail(f"no client {args.client_id!r}")
    _print({"client_id": args.client_id, "removed": True})
    return 0


def _rotate(args: argparse.Namespace) -> int:
    secret = _secret_arg(args.secret)

    async def work(ctx: CommandContext) -> str | None:
        return await rotate_secret(ctx.db, args.client_id, secret, actor=ACTOR)

    try:
        new = run_with_db(load_settings(), work)
    except ClientConfigError as exc:
        return _fail(str(exc), 2)
    if new is None:
        return _fail(f"no client {args.client_id!r}")
    _print({"client_id": args.client_id, "client_secret": new})
    return 0
