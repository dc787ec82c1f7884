"""Logs never contain LWA tokens, codes or secrets (docs/alexa-protocols.md R32), across a link,
a refresh, a report with a 401 retry, and failures; in either format (ALS_LOG_FORMAT text or
json), where the records of the LWA call and the link carry the id of the request that made
them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from tests.support.linking import LWA_SECRET, PARTNER_ID, RECIPROCAL_GRANT, Linking, bearer, call
from tests.support.logs import formatted_logs, json_lines


@pytest.fixture(params=["text", "json"])
def written(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    """The log as the server writes it, in each format."""
    with formatted_logs(request.param) as out:
        yield request.param, out


async def test_linking_logs_no_secrets(
    linking: Linking, caplog: pytest.LogCaptureFixture, written: tuple[str, io.StringIO]
) -> None:
    caplog.set_level(logging.DEBUG)
    code = linking.lwa_code()
    user_token = await linking.user_token()
    linked = await call(
        "POST",
        f"{linking.base_url}/api/reciprocal/authorize",
        data={"grant_type": RECIPROCAL_GRANT, "client_id": PARTNER_ID, "code": code},
        headers={**bearer(user_token), "X-Request-Id": "link-1"},
    )
    assert (linked.status, linked.headers["X-Request-Id"]) == (200, "link-1")
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

    log_format, out = written
    output = out.getvalue()
    for secret in (code, user_token, token, LWA_SECRET, linking.backend_token):
        assert secret not in output, f"a secret was written in the {log_format} log"
    assert "Atza|" not in output and "Atzr|" not in output
    if log_format == "text":
        assert "[link-1]: LWA authorization_code answered 200" in output
        return
    of_the_link = {e["logger"] for e in json_lines(out) if e.get("request_id") == "link-1"}
    assert {"service.amazon.lwa", "service.linking.links"} <= of_the_link
