"""OAuth helpers for tests: clients and tokens made directly in the database, exactly as the
endpoints would make them, so a test that needs a linked user need not drive a browser."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from service.clock import utcnow
from service.db import Database
from service.models.oauth import OAuthClient, Token, TokenGrant
from service.oauth import scopes as scope_util
from service.oauth import token, token_format
from service.oauth.clients import register_client
from service.oauth.token_values import new_grant_id, new_secret_value, secret_hash
from service.storage import grants, token_grants
from service.storage import tokens as legacy_tokens
from service.web.appkeys import DB, oauth_deps
from tests.support.browser import Browser, Page

VENDOR_ID = "M3KVOEXUO4ALBL"
ALEXA_REDIRECT_URIS = (
    f"https://pitangui.amazon.com/api/skill/link/{VENDOR_ID}",
    f"https://layla.amazon.com/api/skill/link/{VENDOR_ID}",
    f"https://alexa.amazon.co.jp/api/skill/link/{VENDOR_ID}",
)
ALEXA_SCOPES = ("profile", "alexa::health:profile:write")


async def create_client(db: Database, **overrides: Any) -> tuple[OAuthClient, str]:
    """An Alexa-like client (all three regional redirect URIs, code + refresh grants, reuse
    policy, non-expiring refresh tokens) and its plaintext secret; any field can be overridden,
    e.g. `grant_types=["client_credentials"], permissions=["partner_token:<partner id>"]`."""
    params: dict[str, Any] = {
        "name": "Test Alexa skill",
        "redirect_uris": ALEXA_REDIRECT_URIS,
        "grant_types": ("authorization_code", "refresh_token"),
        "scopes": ALEXA_SCOPES,
        **overrides,
    }
    if "client_credentials" in params["grant_types"] and "redirect_uris" not in overrides:
        params["redirect_uris"] = ()
    return await register_client(db, actor="test", **params)


async def issue_tokens(
    app: web.Application,
    client: OAuthClient,
    *,
    user_id: str,
    username: str,
    scope: str | Iterable[str] = ALEXA_SCOPES,
) -> dict[str, Any]:
    """A token response as `/oauth/token` gives it after the user linked (consent remembered
    and a grant made, as a code exchange makes it)."""
    db = app[DB]
    wanted = scope_util.parse(scope) if isinstance(scope, str) else frozenset(scope)
    await grants.remember(
        db, user_id=user_id, username=username, client_id=client.client_id, scopes=wanted
    )
    now = token_format.minted_at_precision(utcnow())
    grant, _ = await token_grants.insert(
        db,
        TokenGrant(
            grant_id=new_grant_id(),
            client_id=client.client_id,
            user_id=user_id,
            username=username,
            scopes=wanted,
            created_at=now,
        ),
    )
    response = token.issue(
        oauth_deps(app),
        client,
        grant,
        scope=wanted,
        with_refresh=client.allows_grant("refresh_token"),
        now=now,
    )
    return response.as_dict()


async def client_credentials_token(app: web.Application, client: OAuthClient) -> str:
    response = await token.client_credentials(oauth_deps(app), client, {})
    return response.access_token


async def issue_stored_tokens(
    db: Database, client: OAuthClient, *, user_id: str, username: str
) -> dict[str, str]:
    """Tokens as the server issued them before grants held the state: random values whose
    SHA-256 is stored in `tokens` (the documents that code path wrote)."""
    now = utcnow()
    grant_id = new_grant_id()
    access, refresh = new_secret_value(), new_secret_value()
    common: dict[str, Any] = {
        "client_id": client.client_id,
        "user_id": user_id,
        "username": username,
        "scopes": frozenset(ALEXA_SCOPES),
        "grant_id": grant_id,
        "issued_at": now,
    }
    await legacy_tokens.insert_many(
        db,
        [
            Token(
                token_hash=secret_hash(access),
                kind="access",
                expires_at=now + timedelta(seconds=client.access_token_ttl),
                **common,
            ),
            Token(token_hash=secret_hash(refresh), kind="refresh", expires_at=None, **common),
        ],
    )
    return {"access_token": access, "refresh_token": refresh, "grant_id": grant_id}


def basic_auth(client_id: str, secret: str) -> str:
    """An RFC 6749 §2.3.1 Basic header value: form-urlencode each part, then base64."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


# --- driving the endpoints -----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any


async def post(
    url: str, data: Any = None, *, headers: Mapping[str, str] | None = None, **kwargs: Any
) -> Answer:
    """POST without cookies (as Alexa and backends call us) and read the JSON answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=data, headers=headers or {}, allow_redirects=False, **kwargs
        ) as resp,
    ):
        text = await resp.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        return Answer(resp.status, resp.headers, body)


async def token_request(
    base_url: str, data: Mapping[str, str], *, client_id: str, secret: str, basic: bool = True
) -> Answer:
    """A token endpoint call with RFC 6749 §2.3.1 Basic credentials, or body credentials."""
    if basic:
        return await post(
            f"{base_url}/oauth/token",
            dict(data),
            headers={"Authorization": basic_auth(client_id, secret)},
        )
    return await post(
        f"{base_url}/oauth/token", {**data, "client_id": client_id, "client_secret": secret}
    )


def authorize_url(base_url: str, client: OAuthClient, **params: str | None) -> str:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0] if client.redirect_uris else None,
        "scope": "profile",
        "state": "alexa-state-123",
        **params,
    }
    return f"{base_url}/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v})


async def open_authorize(browser: Browser, url: str, username: str = "user") -> Page:
    """GET the authorize URL, logging in at Keycloak when asked; returns the next page (the
    consent page, or the redirect off this machine when consent was remembered)."""
    page = await browser.get(url)
    if page.redirect_to is None and 'id="kc-form-login"' in page.text:
        page = await browser.keycloak_login(page, username, "password")
    return page


async def decide(browser: Browser, page: Page, *, approve: bool = True) -> Page:
    form = page.form(id="consent-form")
    return await browser.submit(page, form, button="approve" if approve else "deny")


async def authorize(
    browser: Browser,
    base_url: str,
    client: OAuthClient,
    *,
    username: str = "user",
    approve: bool = True,
    **params: str | None,
) -> dict[str, str]:
    """Link as a person would (authorize → Keycloak login → consent); returns the parameters
    of the redirect back to the client (`code` and `state`, or `error`)."""
    page = await open_authorize(browser, authorize_url(base_url, client, **params), username)
    if page.redirect_to is None:
        page = await decide(browser, page, approve=approve)
    return page.redirect_params


async def get_code(
    browser: Browser,
    base_url: str,
    client: OAuthClient,
    *,
    username: str = "user",
    **params: str | None,
) -> str:
    return (await authorize(browser, base_url, client, username=username, approve=True, **params))[
        "code"
    ]


def exchange_data(code: str, client: OAuthClient, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
        **extra,
    }
