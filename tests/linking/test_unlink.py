"""Unlinking (docs/flows.md flow 6): when the customer or an admin revokes the skill's link, the
user's LWA tokens for the partner with that client id are deleted, and it is audited."""

from __future__ import annotations

from typing import Any

import pytest

from service.oauth.unlink import revoke_grant
from service.storage import partner_tokens
from service.web.appkeys import SETTINGS
from service.wiring import unlink_hooks
from tests.support.cli import cli
from tests.support.linking import PARTNER_ID, USER_ID, Linking


async def test_revoking_the_grant_deletes_the_partner_tokens(linking: Linking) -> None:
    await linking.link()
    await linking.link(user_id="other-user", username="other")
    await revoke_grant(
        linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID, actor=USER_ID
    )
    doc = await linking.link_doc()
    assert doc is not None
    assert doc["status"] == "revoked" and doc["status_reason"] == "unlinked"
    assert doc["access_token_enc"] is None and doc["refresh_token_enc"] is None
    assert "unlink" in await linking.audit_actions()
    answer = await linking.partner_token()
    assert (answer.status, answer.body["error"]) == (409, "link_revoked")
    # Only that user's link is gone.
    assert (await linking.partner_token("other-user")).status == 200


async def test_removing_the_client_on_the_command_line_ends_the_lwa_links(
    linking: Linking,
) -> None:
    """The command line is wired like the server: removing the skill's client there ends its
    users' Amazon links too, as removing it on the admin page does."""
    await linking.link()
    assert (await linking.partner_token()).status == 200
    done = await cli(linking.app[SETTINGS], "clients", "remove", PARTNER_ID)
    assert done.returncode == 0, done.stderr
    answer = await linking.partner_token()
    assert (answer.status, answer.body["error"]) == (409, "link_revoked")
    doc = await linking.link_doc()
    assert doc is not None and doc["status"] == "revoked"
    assert doc["access_token_enc"] is None and doc["refresh_token_enc"] is None


async def test_unlink_is_idempotent(linking: Linking) -> None:
    await linking.link()
    for _ in range(2):
        await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
    assert (await linking.audit_actions()).count("unlink") == 1


async def test_unlinking_another_client_leaves_the_partner_tokens(linking: Linking) -> None:
    await linking.link()
    await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id="some-other-client")
    assert (await linking.partner_token()).status == 200


async def test_relinking_after_unlink_works(linking: Linking) -> None:
    await linking.link()
    await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
    await linking.link()
    assert (await linking.partner_token()).status == 200


async def test_a_link_racing_an_unlink_keeps_nothing(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alexa's reciprocal call is at LWA when the customer unlinks (the unlink's clean-up runs
    before the new tokens are stored): they must not be kept."""
    token = await linking.user_token()
    store = partner_tokens.store_link

    async def store_after_unlink(*args: Any, **kwargs: Any) -> Any:
        await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
        return await store(*args, **kwargs)

    monkeypatch.setattr(partner_tokens, "store_link", store_after_unlink)
    answer = await linking.reciprocal(token, client_id=PARTNER_ID, code=linking.lwa_code())
    assert (answer.status, answer.body["error"]) == (401, "invalid_token")
    doc = await linking.link_doc()
    assert doc is not None and doc["status"] == "revoked"
    assert doc["access_token_enc"] is None and doc["refresh_token_enc"] is None


async def test_a_refresh_racing_an_unlink_hands_out_nothing(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    await linking.link()
    await linking.age_link()
    complete = partner_tokens.complete_refresh

    async def complete_after_unlink(*args: Any, **kwargs: Any) -> Any:
        await revoke_grant(linking.db, unlink_hooks(), user_id=USER_ID, client_id=PARTNER_ID)
        return await complete(*args, **kwargs)

    monkeypatch.setattr(partner_tokens, "complete_refresh", complete_after_unlink)
    answer = await linking.partner_token()
    assert (answer.status, answer.body["error"]) == (409, "link_revoked")
