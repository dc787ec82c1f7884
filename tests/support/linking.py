"""Helpers for the mutual-linking tests: one object that knows the partner, the clients, the
Amazon stand-in and our endpoints, so each test reads as the protocol steps it checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from service.crypto import KeyRing
from service.db import Database
from service.linking.partners import add_partner
from service.models.oauth import OAuthClient
from service.storage import partner_tokens
from service.web.appkeys import DB, KEYRING
from tests.amazon_standin import AmazonStandIn
from tests.support.oauth import client_credentials_token, create_client, issue_tokens

PARTNER_ID = "baby-activity-skill"  # our client id for the skill = its partner id
LWA_CLIENT_ID = "amzn1.application-oa2-client.test"
LWA_SECRET = "lwa-test-secret+/:=not-real"
USER_ID = "7d1c2a5e-0000-4000-8000-000000000001"  # a Keycloak-style sub
USERNAME = "jane"
RECIPROCAL_GRANT = "reciprocal_authorization_code"


def profile_report(**changes: Any) -> dict[str, Any]:
    """The seed's report (docs/alexa-protocols.md §4.1), with top-level fields replaced."""
    report: dict[str, Any] = {
        "messageId": "2a6f8f0e-0000-4000-8000-0000000000aa",
        "profiles": [
            {
                "profileId": "baby-1",
                "name": {"firstName": "Jane", "lastName": "Doe", "nickNames": ["JD"]},
                "capabilities": [
                    {
                        "name": "Alexa.Health.Weight",
                        "type": "AlexaInterface",
                        "version": "1",
                        "supportedOperations": ["Add", "Delete", "Get"],
                    }
                ],
            }
        ],
    }
    report.update(changes)
    return report


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


async def call(method: str, url: str, **kwargs: Any) -> Answer:
    """One request without cookies, as Alexa and app backends call us."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, allow_redirects=False, **kwargs) as resp,
    ):
        text = await resp.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        return Answer(resp.status, resp.headers, body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Linking:
    base_url: str
    app: web.Application
    db: Database
    amazon: AmazonStandIn
    alexa_client: OAuthClient  # the skill's client at our server; its id is the partner id
    backend_client: OAuthClient
    backend_token: str  # client_credentials token with the partner_token:<PARTNER_ID> permission

    async def user_token(
        self, user_id: str = USER_ID, username: str = USERNAME, client: OAuthClient | None = None
    ) -> str:
        """The access token Alexa holds for the user after the normal link."""
        tokens = await issue_tokens(
            self.app, client or self.alexa_client, user_id=user_id, username=username
        )
        token: str = tokens["access_token"]
        return token

    def lwa_code(self) -> str:
        return self.amazon.issue_code(LWA_CLIENT_ID)

    async def reciprocal(self, token: str | None, **form: str) -> Answer:
        data = {"grant_type": RECIPROCAL_GRANT, "client_id": PARTNER_ID, **form}
        return await call(
            "POST",
            f"{self.base_url}/api/reciprocal/authorize",
            data={k: v for k, v in data.items() if v is not None},
            headers=bearer(token) if token else {},
        )

    async def link(self, user_id: str = USER_ID, username: str = USERNAME) -> Answer:
        answer = await self.reciprocal(
            await self.user_token(user_id, username), code=self.lwa_code()
        )
        assert answer.status == 200, answer.body
        return answer

    async def partner_token(
        self,
        user_id: str = USER_ID,
        partner_id: str = PARTNER_ID,
        *,
        token: str | None = None,
        method: str = "GET",
    ) -> Answer:
        params = {"user_id": user_id, "partner_id": partner_id}
        headers = bearer(token or self.backend_token)
        url = f"{self.base_url}/api/partner/token"
        if method == "GET":
            return await call("GET", url, params=params, headers=headers)
        return await call("POST", url, data=params, headers=headers)

    async def profile_report(
        self,
        report: Any = None,
        *,
        user_id: str = USER_ID,
        partner_id: str = PARTNER_ID,
        token: str | None = None,
    ) -> Answer:
        body = {
            "user_id": user_id,
            "partner_id": partner_id,
            "report": profile_report() if report is None else report,
        }
        return await call(
            "POST",
            f"{self.base_url}/api/partner/profile-report",
            json=body,
            headers=bearer(token or self.backend_token),
        )

    async def event(self, event: dict[str, Any], *, user_id: str = USER_ID) -> Answer:
        body = {"user_id": user_id, "partner_id": PARTNER_ID, "event": event}
        return await call(
            "POST",
            f"{self.base_url}/api/partner/events",
            json=body,
            headers=bearer(self.backend_token),
        )

    async def link_doc(self, user_id: str = USER_ID) -> dict[str, Any] | None:
        """The stored document of the current token set (the highest generation)."""
        docs = (
            await self.db[partner_tokens.COLLECTION]
            .find({"user_id": user_id, "partner_id": PARTNER_ID})
            .sort("generation", -1)
            .to_list(1)
        )
        return docs[0] if docs else None

    async def age_link(self, user_id: str = USER_ID) -> None:
        """Time passes: the stored access token is past its refresh point and expired at
        Amazon too (the stand-in's clock is its own; our expiry is in the document)."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        doc = await self.link_doc(user_id)
        assert doc is not None
        result = await self.db[partner_tokens.COLLECTION].update_one(
            {"_id": doc["_id"]},
            {"$set": {"refresh_at": past, "expires_at": past}},
        )
        assert result.modified_count == 1
        self.amazon.expire_access_tokens()

    async def audit_actions(self, user_id: str = USER_ID) -> list[str]:
        rows = await self.db["audit"].find({"user_id": user_id}).sort("at", 1).to_list(None)
        return [row["action"] for row in rows]


async def add_standin_partner(
    db: Database,
    keyring: KeyRing,
    amazon: AmazonStandIn,
    *,
    skill_id: str | None = None,
    skill_stage: str | None = None,
) -> None:
    """The partner PARTNER_ID whose LWA and Alexa API are the Amazon stand-in; with a skill
    (linking from our side, LWA's consent page at the stand-in too) when `skill_id` is given."""
    await add_partner(
        db,
        keyring,
        partner_id=PARTNER_ID,
        lwa_client_id=LWA_CLIENT_ID,
        lwa_client_secret=LWA_SECRET,
        lwa_token_url=amazon.lwa_token_url,
        alexa_api_base=amazon.base_url,
        actor="test",
        allow_custom_urls=True,
        skill_id=skill_id,
        skill_stage=skill_stage,
        lwa_authorize_url=amazon.authorize_url if skill_id else None,
    )


async def app_backend(app: web.Application) -> tuple[OAuthClient, str]:
    """The developer's app backend: a client with partner_token:<PARTNER_ID>, and a
    client_credentials access token of it."""
    backend, _ = await create_client(
        app[DB],
        name="App backend",
        grant_types=["client_credentials"],
        permissions=[f"partner_token:{PARTNER_ID}"],
    )
    return backend, await client_credentials_token(app, backend)


async def set_up_linking(
    app: web.Application, amazon: AmazonStandIn, base_url: str
) -> tuple[Linking, str]:
    """The partner at the stand-in, the skill's client (its id = the partner id) and an app
    backend; with the skill client's secret."""
    db = app[DB]
    await add_standin_partner(db, app[KEYRING], amazon)
    alexa_client, secret = await create_client(db, client_id=PARTNER_ID, name="Baby Activity")
    backend, token = await app_backend(app)
    linking = Linking(
        base_url=base_url,
        app=app,
        db=db,
        amazon=amazon,
        alexa_client=alexa_client,
        backend_client=backend,
        backend_token=token,
    )
    return linking, secret
