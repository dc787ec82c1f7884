"""Logs never contain LWA tokens, codes or secrets (docs/alexa-protocols.md R32), across a link,
a refresh, a report with a 401 retry, and failures."""

from __future__ import annotations

import logging

import pytest

from tests.support.linking import LWA_SECRET, Linking


async def test_linking_logs_no_secrets(linking: Linking, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code = linking.lwa_code()
    user_token = await linking.user_token()
    assert (await linking.reciprocal(user_token, code=code)).status == 200
    await linking.reciprocal(user_token, code=code)  # refused replay
    await linking.age_link()
    token = (await linking.partner_token()).body["access_token"]
    linking.amazon.expire_access_tokens()
    assert (await linking.profile_report()).status == 202
    linking.amazon.revoke_all()
    await linking.age_link()
    assert (await linking.partner_token()).status == 409

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "LWA authorization_code answered 200" in logged  # the log is not simply empty
    for secret in (code, user_token, token, LWA_SECRET, linking.backend_token):
        assert secret not in logged
    assert "Atza|" not in logged and "Atzr|" not in logged
