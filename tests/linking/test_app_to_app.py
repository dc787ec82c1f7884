"""Linking that starts on our side from the developer's mobile app: `POST
/api/partner/alexa-enablement` (docs/alexa-protocols.md §5) answers JSON, RFC 6749-style for
every refusal, and keeps nothing when it refuses; the stand-in's Skill Enablement API answers
as documented; partner settings for it (domain and CLI). The flow from our account page is in
tests/test_alexa_link.py and tests/test_browser_alexa_link.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from service import identity_sync
from service.amazon import regions
from service.clock import utcnow
from service.crypto import KeyRing
from service.linking import app_to_app
from service.linking.app_to_app_errors import AppToAppError
from service.linking.partners import PartnerConfigError, add_partner
from service.linking.rekey import rekey
from service.settings import Settings
from service.storage import partners, skill_enablements
from service.web import alexa_link_views
from service.web.appkeys import DB, KEYRING, SETTINGS
from tests.amazon_standin import DEFAULT_AMAZON_USER, AmazonStandIn
from tests.support.alexa_link import APP_REDIRECT_URI, SKILL_ID, AlexaLink, pkce, set_up
from tests.support.cli import cli
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET, PARTNER_ID, bearer, call
from tests.support.oauth import client_credentials_token, create_client

NOTHING = {"enablements": 0, "consents": 0, "active_grants": 0, "live_codes": 0}


@pytest.fixture
async def alexa(server: TestServer, amazon: AmazonStandIn, base_url: str) -> AlexaLink:
    return await set_up(server.app, amazon, base_url)


async def test_the_app_backend_links_from_the_mobile_app(alexa: AlexaLink) -> None:
    verifier, _ = pkce()
    answer = await alexa.enablement(code=alexa.app_code(verifier), code_verifier=verifier)
    assert answer.status == 201, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body == {
        "status": "linked",
        "user_id": answer.body["user_id"],
        "partner_id": PARTNER_ID,
        "skill_id": SKILL_ID,
        "stage": "development",
    }
    held = alexa.amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)]
    assert held.redirect_uri == APP_REDIRECT_URI and held.refresh_token is not None
    refreshed = await alexa.refresh(held.refresh_token)  # Alexa's tokens are ours, and work
    assert refreshed.status == 200 and refreshed.body["access_token"]
    kept = await skill_enablements.get(alexa.db, answer.body["user_id"], PARTNER_ID)
    assert kept is not None and kept.via == "app"
    raw = await alexa.db[skill_enablements.COLLECTION].find_one({})
    assert raw is not None and "Atza|" not in json.dumps(raw, default=str)  # sealed

    again = await alexa.enablement(code=alexa.app_code(verifier), code_verifier=verifier)
    assert again.status == 201  # linking again replaces the kept tokens
    assert (await alexa.stored())["enablements"] == 1


async def test_every_refusal_of_the_app_backend_api_is_json_and_keeps_nothing(
    server: TestServer, alexa: AlexaLink
) -> None:
    verifier, _ = pkce()

    async def refused(status: int, error: str, **fields: str | None) -> None:
        answer = await alexa.enablement(**fields)
        assert (answer.status, answer.body["error"]) == (status, error), answer.body
        assert answer.headers["Content-Type"].startswith("application/json")
        assert await alexa.stored() == NOTHING

    await refused(400, "invalid_request", code=None)
    await refused(404, "user_not_found", code="x", user_id="nobody-at-all")
    await refused(400, "invalid_redirect_uri", code="x", redirect_uri="https://evil.example/")
    await refused(400, "invalid_grant", code=alexa.app_code(verifier), code_verifier="wrong")
    spent = alexa.app_code(verifier)
    alexa.amazon.advance_time(301)
    await refused(400, "invalid_grant", code=spent, code_verifier=verifier)  # expired
    alexa.amazon.set_lwa_down(True)
    await refused(503, "alexa_unavailable", code=alexa.app_code(verifier), code_verifier=verifier)
    alexa.amazon.set_lwa_down(False)
    alexa.amazon.add_skill(
        SKILL_ID, token_url="-", client_id="-", client_secret="-", beta_testers=[]
    )
    await refused(403, "alexa_forbidden", code=alexa.app_code(verifier), code_verifier=verifier)
    alexa.amazon.remove_skill(SKILL_ID)
    await refused(
        404, "alexa_skill_not_found", code=alexa.app_code(verifier), code_verifier=verifier
    )
    # Registered, but its client secret at Amazon is wrong: Alexa cannot redeem our code.
    alexa.amazon.add_skill(
        SKILL_ID,
        token_url=alexa.token_url,
        client_id=PARTNER_ID,
        client_secret="wrong",
    )
    await refused(502, "alexa_refused", code=alexa.app_code(verifier), code_verifier=verifier)

    other, _ = await create_client(
        alexa.db,
        name="Other backend",
        grant_types=["client_credentials"],
        permissions=["partner_token:other"],
    )
    token = await client_credentials_token(alexa.app, other)
    answer = await alexa.enablement(token=token, code="x")
    assert (answer.status, answer.body["error"]) == (403, "insufficient_scope")

    # The replay of a code that linked once.
    alexa.amazon.add_skill(
        SKILL_ID,
        token_url=alexa.token_url,
        client_id=PARTNER_ID,
        client_secret=alexa.skill_secret,
    )
    code = alexa.app_code(verifier)
    assert (await alexa.enablement(code=code, code_verifier=verifier)).status == 201
    replay = await alexa.enablement(code=code, code_verifier=verifier)
    assert (replay.status, replay.body["error"]) == (400, "invalid_grant")


async def test_the_standin_enablement_api_answers_as_documented(alexa: AlexaLink) -> None:
    amazon = alexa.amazon
    url = f"{amazon.base_url}/v1/users/~current/skills/{SKILL_ID}/enablement"
    tokens = await call(
        "POST",
        amazon.lwa_token_url,
        data={
            "grant_type": "authorization_code",
            "code": alexa.app_code(),
            "redirect_uri": APP_REDIRECT_URI,
            "client_id": LWA_CLIENT_ID,
            "client_secret": LWA_SECRET,
        },
    )
    token = tokens.body["access_token"]
    body = {"stage": "live", "accountLinkRequest": {"type": "AUTH_CODE"}}
    lower = {"Authorization": f"bearer {token}"}
    assert (await call("POST", url, json=body, headers=lower)).status == 400
    assert (await call("POST", url, json=body, headers=bearer(token))).status == 400
    assert (await call("GET", url, headers=bearer("Atza|nope"))).status == 401
    unscoped = amazon.issue_code(LWA_CLIENT_ID)
    other = await call(
        "POST",
        amazon.lwa_token_url,
        data={
            "grant_type": "authorization_code",
            "code": unscoped,
            "client_id": LWA_CLIENT_ID,
            "client_secret": LWA_SECRET,
        },
    )
    assert (await call("GET", url, headers=bearer(other.body["access_token"]))).status == 403
    assert (await call("GET", url, headers=bearer(token))).status == 404  # not enabled
    unknown = url.replace(SKILL_ID, "amzn1.ask.skill.unknown")
    assert (await call("GET", unknown, headers=bearer(token))).status == 404
    amazon.revoke_all()
    assert (await call("GET", url, headers=bearer(token))).status == 401


async def test_partner_settings_for_linking_from_our_side(
    server: TestServer, settings: Settings
) -> None:
    db, keyring = server.app[DB], server.app[KEYRING]
    common: dict[str, Any] = {
        "partner_id": "p1",
        "lwa_client_id": "amzn1.x",
        "lwa_client_secret": "s",
    }
    saved = await add_partner(
        db, keyring, **common, region="EU", skill_id=SKILL_ID, skill_stage="live"
    )
    assert (saved.skill_id, saved.skill_stage) == (SKILL_ID, "live")
    assert saved.lwa_authorize_url == "https://eu.account.amazon.com/ap/oa"
    refused: list[dict[str, Any]] = [
        {"skill_id": "skill-1", "skill_stage": "live"},
        {"skill_id": SKILL_ID, "skill_stage": "beta"},
        {
            "skill_id": SKILL_ID,
            "skill_stage": "live",
            "lwa_authorize_url": "https://evil.example/ap/oa",
        },
        {
            "skill_id": SKILL_ID,
            "skill_stage": "live",
            "lwa_authorize_url": "https://www.amazon.com/x",
        },
        {"skill_stage": "live"},
    ]
    for bad in refused:
        with pytest.raises(PartnerConfigError):
            await add_partner(db, keyring, **common, replace=True, **bad)
    assert regions.lwa_authorize_url("fe", allow_custom=False) == regions.LWA_AUTHORIZE_URLS["FE"]
    with pytest.raises(regions.RegionError):
        regions.lwa_authorize_url("http://169.254.169.254/ap/oa", allow_custom=True)

    result = await cli(
        settings,
        "partners",
        "add",
        "cli-skill",
        "--lwa-client-id",
        "amzn1.cli",
        "--skill-id",
        SKILL_ID,
        "--skill-stage",
        "development",
        "--lwa-authorize-url",
        "FE",
        stdin="secret\n",
        env={"ALS_ENCRYPTION_KEYS": settings.encryption_keys},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["skill_id"], shown["skill_stage"]) == (SKILL_ID, "development")
    assert shown["lwa_authorize_url"] == "https://apac.account.amazon.com/ap/oa"
    custom = await cli(
        settings,
        "partners",
        "add",
        "cli-skill-2",
        "--lwa-client-id",
        "amzn1.cli",
        "--skill-id",
        SKILL_ID,
        "--skill-stage",
        "live",
        "--lwa-authorize-url",
        "https://login.example.com/ap/oa",
        stdin="secret\n",
        env={"ALS_ENCRYPTION_KEYS": settings.encryption_keys},
    )
    assert custom.returncode == 1 and "ALS_ALLOW_CUSTOM_AMAZON_URLS" in custom.stderr
    assert await partners.get(db, "cli-skill-2") is None


def test_every_error_text_is_marked_for_translation() -> None:
    descriptions = {cls.default_description for cls in _subclasses(AppToAppError)}
    descriptions.discard("There is no such user.")  # the app backend's, never a page's
    descriptions.discard("")
    assert descriptions == set(alexa_link_views.ERROR_TEXTS)
    assert app_to_app.CALLBACK_PATH == "/account/alexa/callback"


def _subclasses(cls: type[AppToAppError]) -> list[type[AppToAppError]]:
    found: list[type[AppToAppError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


async def test_rekey_moves_the_kept_amazon_tokens_to_the_new_key(alexa: AlexaLink) -> None:
    verifier, _ = pkce()
    answer = await alexa.enablement(code=alexa.app_code(verifier), code_verifier=verifier)
    assert answer.status == 201, answer.body
    new_spec = f"k2:{KeyRing.generate_key()},{alexa.app[SETTINGS].encryption_keys}"
    counts = {c.collection: c for c in await rekey(alexa.db, KeyRing.parse(new_spec))}
    assert counts[skill_enablements.COLLECTION].reencrypted == 2  # access + refresh
    assert counts[skill_enablements.COLLECTION].failed == 0
    kept = await skill_enablements.get(alexa.db, answer.body["user_id"], PARTNER_ID)
    assert kept is not None and kept.refresh_token is not None
    only_new = KeyRing.parse(new_spec.split(",")[0])
    held = alexa.amazon.enablements[(DEFAULT_AMAZON_USER, SKILL_ID)]
    assert kept.access_token.open(only_new).startswith("Atza|")
    assert held.refresh_token is not None  # Alexa's tokens (ours) are not touched by rekey


async def test_a_user_ended_in_keycloak_leaves_no_amazon_tokens_of_such_links(
    alexa: AlexaLink,
) -> None:
    verifier, _ = pkce()
    linked = await alexa.enablement(code=alexa.app_code(verifier), code_verifier=verifier)
    assert linked.status == 201, linked.body
    user_id = linked.body["user_id"]
    # What the identity sync does when Keycloak reports the user deleted.
    ended = await identity_sync.end_user(
        alexa.db, user_id, reason="deleted", cutoff=utcnow(), session_max_age=3600
    )
    assert ended.links >= 1
    assert await skill_enablements.get(alexa.db, user_id, PARTNER_ID) is None
