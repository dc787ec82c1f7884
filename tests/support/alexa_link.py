"""Helpers for "Link with Alexa" (app-to-app account linking) tests: a partner with a skill id
whose LWA consent page, token endpoint and Skill Enablement API are the Amazon stand-in's, its
OAuth client (holding our callback and an app's redirect URI), and an app backend client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from service.db import Database
from service.models.oauth import OAuthClient
from service.storage import authorization_codes, grants, skill_enablements, token_grants
from service.web.appkeys import DB, KEYRING, SETTINGS
from tests.amazon_standin import ACCOUNT_LINKING_SCOPE, AmazonStandIn
from tests.support.linking import (
    LWA_CLIENT_ID,
    PARTNER_ID,
    Answer,
    add_standin_partner,
    app_backend,
    bearer,
    call,
)
from tests.support.oauth import ALEXA_REDIRECT_URIS, create_client

SKILL_ID = "amzn1.ask.skill.5c1d0e2a-0000-4000-8000-00000000a2a1"
APP_REDIRECT_URI = "https://app.example.com/alexa/link"  # the developer's app's Universal Link
CALLBACK_PATH = "/account/alexa/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AlexaLink:
    base_url: str
    app: web.Application
    db: Database
    amazon: AmazonStandIn
    skill_client: OAuthClient  # our client for the skill (id = partner id)
    skill_secret: str
    backend_token: str  # client_credentials with partner_token:<partner id>

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def callback(self) -> str:
        return self.app[SETTINGS].url(CALLBACK_PATH)

    def app_code(self, verifier: str | None = None, redirect_uri: str = APP_REDIRECT_URI) -> str:
        """Amazon's code as the developer's app gets it from the Alexa app (PKCE S256)."""
        challenge = None
        if verifier is not None:
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        return self.amazon.issue_code(
            LWA_CLIENT_ID,
            redirect_uri=redirect_uri,
            code_challenge=None if challenge is None else challenge.rstrip(b"=").decode(),
            scope=ACCOUNT_LINKING_SCOPE,
        )

    async def enablement(self, token: str | None = None, **fields: Any) -> Answer:
        """`POST /api/partner/alexa-enablement` as the app backend (JSON)."""
        body = {"user_id": "user", "partner_id": PARTNER_ID, "redirect_uri": APP_REDIRECT_URI}
        body.update(fields)
        return await call(
            "POST",
            f"{self.base_url}/api/partner/alexa-enablement",
            json={k: v for k, v in body.items() if v is not None},
            headers=bearer(token or self.backend_token),
        )

    async def refresh(self, refresh_token: str) -> Answer:
        """Our /oauth/token, as Alexa refreshes with the skill's credentials."""
        return await call(
            "POST",
            f"{self.base_url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            headers=_basic(self.skill_client.client_id, self.skill_secret),
        )

    async def stored(self) -> dict[str, int]:
        """What linking from our side may leave behind: it must all be 0 after a failure."""
        db = self.db
        return {
            "enablements": await db[skill_enablements.COLLECTION].count_documents({}),
            "consents": await db[grants.COLLECTION].count_documents({}),
            "active_grants": await db[token_grants.COLLECTION].count_documents(
                {"revoked_at": None, "user_id": {"$ne": None}}
            ),
            "live_codes": await _live_codes(db),
        }


async def _live_codes(db: Database) -> int:
    """Codes issued and not spent (a failed link spends its code)."""
    codes = [
        d["_id"]
        async for d in db[authorization_codes.COLLECTION].find({}, {"_id": 1})
        if not str(d["_id"]).startswith("answered:")
    ]
    answered = {
        str(d["_id"])[len("answered:") :]
        async for d in db[authorization_codes.COLLECTION].find({}, {"_id": 1})
        if str(d["_id"]).startswith("answered:")
    }
    return len([c for c in codes if c not in answered])


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"  # RFC 6749 §2.3.1
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


async def set_up(
    app: web.Application,
    amazon: AmazonStandIn,
    base_url: str,
    *,
    beta_testers: Iterable[str] | None = None,
    known_to_amazon: bool = True,
) -> AlexaLink:
    db = app[DB]
    settings = app[SETTINGS]
    callback = settings.url(CALLBACK_PATH)
    await add_standin_partner(
        db, app[KEYRING], amazon, skill_id=SKILL_ID, skill_stage="development"
    )
    client, secret = await create_client(
        db,
        client_id=PARTNER_ID,
        name="Baby Activity",
        redirect_uris=(*ALEXA_REDIRECT_URIS, callback, APP_REDIRECT_URI),
        allow_http_redirect_uris=True,
    )
    if known_to_amazon:
        amazon.add_skill(
            SKILL_ID,
            token_url=f"{base_url}/oauth/token",  # where the server listens (tests/linking)
            client_id=PARTNER_ID,
            client_secret=secret,
            beta_testers=beta_testers,
        )
    _, backend_token = await app_backend(app)
    return AlexaLink(
        base_url=base_url,
        app=app,
        db=db,
        amazon=amazon,
        skill_client=client,
        skill_secret=secret,
        backend_token=backend_token,
    )
