"""`alexa account-linking`: a skill's account-linking configuration, ready for the Alexa
developer console or `ask smapi update-account-linking-info`.

Standard output is exactly the request body of that ASK CLI command (`{"accountLinkingRequest":
{…}}`, docs/alexa-protocols.md §1.6); what else must be set up (the Alexa redirect URLs
registered on the client, PKCE) is said on standard error. The command only reads the database
and needs no secret; the client secret, which we store only as a hash, goes into the output
only with `--with-secret`, read from stdin and checked against that hash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from service.app import ROUTES
from service.commands.database import run_read_only
from service.db import Database
from service.keycloak_oidc import KeycloakUnavailable, login_page_url
from service.linking import partners as partner_admin
from service.models.oauth import AUTHORIZATION_CODE, OAuthClient
from service.oauth.clients import get_client
from service.oauth.secret_hashing import verify_secret
from service.settings import PublicSettings, load_public_settings

# The redirect URLs the console lists, one per region (docs/alexa-protocols.md §1.2).
ALEXA_REDIRECT_HOSTS = ("pitangui.amazon.com", "layla.amazon.com", "alexa.amazon.co.jp")
_ALEXA_REDIRECT = re.compile(
    r"https://(pitangui\.amazon\.com|layla\.amazon\.com|alexa\.amazon\.co\.jp)"
    r"/api/skill/link/([A-Za-z0-9]+)"
)


class CommandError(Exception):
    """Said on standard error; the command exits with 1."""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("alexa", help="set up an Alexa skill to link against this server")
    commands = parser.add_subparsers(dest="alexa_command", required=True, metavar="ACTION")
    linking = commands.add_parser(
        "account-linking",
        help="print the skill's account-linking configuration as the JSON of "
        "`ask smapi update-account-linking-info` (read-only)",
    )
    linking.add_argument(
        "--client-id", required=True, help="the OAuth client registered for the skill"
    )
    linking.add_argument(
        "--partner-id",
        help="the partner of the skill (mutual linking): adds the reciprocal access token URL; "
        "default: the partner of the client's id, when there is one",
    )
    linking.add_argument(
        "--with-secret",
        action="store_true",
        help="include the client secret (read from stdin, checked against the stored hash)",
    )
    linking.set_defaults(run=_account_linking)


@dataclass(frozen=True)
class Found:
    client: OAuthClient
    partner_id: str | None
    secret_matches: bool | None  # None: no secret was given


def _paths() -> dict[str, str]:
    """Our paths by route name, from the route table."""
    return {
        str(route.kwargs["name"]): route.path
        for route in ROUTES
        if isinstance(route, web.RouteDef) and "name" in route.kwargs
    }


def _read_secret() -> str:
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise CommandError("--with-secret: no secret on stdin (pipe it in, one line)")
    return secret


async def _find(db: Database, args: argparse.Namespace, secret: str | None) -> Found:
    client = await get_client(db, args.client_id)
    if client is None:
        raise CommandError(f"no client {args.client_id!r} (`clients list` shows them)")
    if not client.allows_grant(AUTHORIZATION_CODE):
        raise CommandError(
            f"client {client.client_id!r} may not use the authorization code grant that "
            "account linking uses (register it with `clients add` without --grant)"
        )
    partner_id = args.partner_id
    if partner_id is not None and partner_id != client.client_id:
        # Alexa's reciprocal call finds the partner by the client its token was issued to.
        raise CommandError(
            f"partner {partner_id!r} is not this client's: a skill's partner id is its "
            f"client id ({client.client_id!r}), see README, Partners"
        )
    found = await partner_admin.show_partner(db, partner_id or client.client_id)
    if found is None and partner_id is not None:
        raise CommandError(f"no partner {partner_id!r} (`partners list` shows them)")
    matches = None if secret is None else await verify_secret(secret, client.secret_hash)
    return Found(client, client.client_id if found else None, matches)


async def _login_host(settings: PublicSettings) -> str:
    try:
        url = await login_page_url(
            settings.keycloak_url, settings.keycloak_realm, wait_seconds=settings.keycloak_timeout
        )
    except KeycloakUnavailable:
        host = urlsplit(settings.keycloak_url).hostname or ""
        _note(
            f"warning: Keycloak ({settings.keycloak_url}) did not answer; its login host is "
            f"taken from ALS_KEYCLOAK_URL ({host}): check that browsers reach it there"
        )
        return host
    return urlsplit(url).hostname or ""


def account_linking_request(
    settings: PublicSettings, found: Found, login_host: str, secret: str | None
) -> dict[str, Any]:
    """The `accountLinkingRequest` (SMAPI account linking schema) for the skill's client."""
    paths = _paths()
    client = found.client
    own_host = urlsplit(settings.public_url).hostname
    request: dict[str, Any] = {
        "type": "AUTH_CODE",
        "authorizationUrl": settings.url(paths["oauth_authorize"]),
        "accessTokenUrl": settings.url(paths["oauth_token"]),
        "clientId": client.client_id,
        "accessTokenScheme": "HTTP_BASIC",
        "scopes": sorted(client.scopes),
        # Hosts the login pages load from besides the authorization URL's own: Keycloak's.
        "domains": [login_host] if login_host and login_host != own_host else [],
        # Used by Alexa only when a token answer lacks expires_in (ours never does).
        "defaultTokenExpirationInSeconds": client.access_token_ttl,
        "skipOnEnablement": False,
    }
    if secret is not None:
        request["clientSecret"] = secret
    if found.partner_id is not None:
        request["reciprocalAccessTokenUrl"] = settings.url(paths["reciprocal_authorize"])
    return {"accountLinkingRequest": request}


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def _redirect_notes(client: OAuthClient) -> None:
    vendors = sorted(
        {m.group(2) for uri in client.redirect_uris if (m := _ALEXA_REDIRECT.fullmatch(uri))}
    )
    if not vendors:
        _note(
            f"warning: client {client.client_id!r} has no Alexa redirect URL registered; "
            "register the three the console shows (https://<host>/api/skill/link/<vendor id> "
            f"on {', '.join(ALEXA_REDIRECT_HOSTS)})"
        )
        return
    _note("Alexa redirect URLs (the console's list; each must be registered on the client):")
    for vendor in vendors:
        for host in ALEXA_REDIRECT_HOSTS:
            url = f"https://{host}/api/skill/link/{vendor}"
            state = "registered" if url in client.redirect_uris else "NOT REGISTERED: add it"
            _note(f"  {url}  ({state})")


def _notes(settings: PublicSettings, found: Found, secret: str | None) -> None:
    _redirect_notes(found.client)
    if secret is None:
        _note("clientSecret: not included (--with-secret reads it from stdin)")
    if found.client.require_pkce:
        _note("PKCE: the client requires it; switch PKCE on in the console too")
    if urlsplit(settings.public_url).scheme != "https":
        _note(
            f"warning: ALS_PUBLIC_URL ({settings.public_url}) is not https; Alexa accepts "
            "only https URLs on port 443 (docs/alexa-protocols.md §1.5)"
        )


def _account_linking(args: argparse.Namespace) -> int:
    settings = load_public_settings()
    try:
        secret = _read_secret() if args.with_secret else None
        found = run_read_only(settings.database, lambda db: _find(db, args, secret))
        if found.secret_matches is False:
            raise CommandError(
                f"the secret on stdin is not client {found.client.client_id!r}'s "
                "(`clients rotate-secret` makes a new one)"
            )
    except CommandError as exc:
        _note(f"error: {exc}")
        return 1
    login_host = asyncio.run(_login_host(settings))
    print(json.dumps(account_linking_request(settings, found, login_host, secret), indent=2))
    _notes(settings, found, secret)
    return 0
