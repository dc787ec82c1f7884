"""A backend reads only its own skills' tokens (issue 10, item 2): the partner_token permission
names partners (`partner_token:<partner id>`); every app backend call about another partner is
403 `insufficient_scope`; a bare `partner_token` is refused for new clients, and a stored one is
migrated to the partners that exist, with a warning."""

from __future__ import annotations

import logging

import pytest

from service.linking.partners import add_partner
from service.oauth.clients import ClientConfigError
from service.settings import Settings
from service.storage import clients as client_store
from service.storage.indexes import ensure_indexes
from service.web.appkeys import KEYRING, SETTINGS
from tests.support.cli import cli
from tests.support.linking import (
    LWA_CLIENT_ID,
    LWA_SECRET,
    PARTNER_ID,
    Answer,
    Linking,
    bearer,
    call,
    profile_report,
)
from tests.support.oauth import client_credentials_token, create_client

OTHER = "other-skill"


async def _link_other_partner(linking: Linking) -> None:
    """A second skill (its own partner and client) the same user linked too."""
    await add_partner(
        linking.db,
        linking.app[KEYRING],
        partner_id=OTHER,
        lwa_client_id=LWA_CLIENT_ID,
        lwa_client_secret=LWA_SECRET,
        lwa_token_url=linking.amazon.lwa_token_url,
        alexa_api_base=linking.amazon.base_url,
        allow_custom_urls=True,
    )
    other, _ = await create_client(linking.db, client_id=OTHER, name="Other skill")
    token = await linking.user_token(client=other)
    answer = await linking.reciprocal(token, client_id=OTHER, code=linking.lwa_code())
    assert answer.status == 200, answer.body


async def _backend_token(linking: Linking, *permissions: str) -> str:
    backend, _ = await create_client(
        linking.db, name="Backend", grant_types=["client_credentials"], permissions=permissions
    )
    return await client_credentials_token(linking.app, backend)


async def test_a_backend_reads_only_its_own_partners_tokens(linking: Linking) -> None:
    await linking.link()
    await _link_other_partner(linking)
    mine = await linking.partner_token()  # the fixture's backend: partner_token:<PARTNER_ID>
    assert mine.status == 200

    refused = [
        await linking.partner_token(partner_id=OTHER),
        await linking.partner_token(partner_id=OTHER, method="POST"),
        await linking.profile_report(partner_id=OTHER),
        await _other_event(linking),
    ]
    for answer in refused:
        assert answer.status == 403, answer.body
        assert answer.body["error"] == "insufficient_scope"
        assert f"partner_token:{OTHER}" in answer.body["error_description"]
        assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    assert linking.amazon.requests == []  # nothing was sent for the other partner

    theirs = await _backend_token(linking, f"partner_token:{OTHER}")
    assert (await linking.partner_token(partner_id=OTHER, token=theirs)).status == 200
    assert (await linking.partner_token(token=theirs)).status == 403


async def _other_event(linking: Linking) -> Answer:
    event = {"header": {"namespace": "Alexa", "name": "ChangeReport", "messageId": "m"}}
    body = {"user_id": "u", "partner_id": OTHER, "event": event}
    url = f"{linking.base_url}/api/partner/events"
    return await call("POST", url, json=body, headers=bearer(linking.backend_token))


async def test_a_client_without_partners_is_refused(linking: Linking) -> None:
    await linking.link()
    token = await _backend_token(linking, "introspect")
    answer = await linking.partner_token(token=token)
    assert answer.status == 403 and answer.body["error"] == "insufficient_scope"
    answer = await linking.profile_report(profile_report(), token=token)
    assert answer.status == 403


@pytest.mark.parametrize("permission", ["partner_token", "partner_token:", "partner_token:a b"])
async def test_a_bare_partner_token_permission_is_refused(
    linking: Linking, permission: str
) -> None:
    with pytest.raises(ClientConfigError, match="partner_token"):
        await _backend_token(linking, permission)


async def test_the_cli_refuses_a_bare_partner_token(linking: Linking) -> None:
    settings: Settings = linking.app[SETTINGS]
    args = ["clients", "add", "--name", "B", "--grant", "client_credentials", "--permission"]
    done = await cli(settings, *args, "partner_token")
    assert done.returncode == 2
    assert "must name the partner: partner_token:<partner id>" in done.stderr
    done = await cli(settings, *args, f"partner_token:{PARTNER_ID}", "--permission", "introspect")
    assert done.returncode == 0, done.stderr


async def test_a_stored_bare_permission_is_migrated_to_the_partners_that_exist(
    linking: Linking, caplog: pytest.LogCaptureFixture
) -> None:
    """A client stored before partner ids (`partner_token` = every partner) keeps what it
    could do, explicitly: at the next start (index time) it gets one permission per partner
    that exists then, and a warning names it. Until then it is refused (fails closed)."""
    await linking.link()
    await _link_other_partner(linking)
    legacy, _ = await create_client(
        linking.db, name="Old backend", grant_types=["client_credentials"], permissions=[]
    )
    await linking.db[client_store.COLLECTION].update_one(
        {"_id": legacy.client_id}, {"$set": {"permissions": ["introspect", "partner_token"]}}
    )
    token = await client_credentials_token(linking.app, legacy)
    assert (await linking.partner_token(token=token)).status == 403

    caplog.set_level(logging.WARNING, logger="service.storage.clients")
    await ensure_indexes(linking.db)
    await ensure_indexes(linking.db)  # idempotent: nothing left to migrate, no second warning
    migrated = await client_store.get(linking.db, legacy.client_id)
    assert migrated is not None
    assert migrated.permissions == {
        "introspect",
        f"partner_token:{OTHER}",
        f"partner_token:{PARTNER_ID}",
    }
    warnings = [r.getMessage() for r in caplog.records if r.name == "service.storage.clients"]
    assert len(warnings) == 1 and legacy.client_id in warnings[0]
    assert (await linking.partner_token(token=token)).status == 200
    assert (await linking.partner_token(partner_id=OTHER, token=token)).status == 200
