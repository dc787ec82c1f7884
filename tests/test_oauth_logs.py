"""Logs never contain client secrets, authorization codes, tokens or Authorization headers
(docs/alexa-protocols.md R32): the whole linking flow runs with every logger at DEBUG, and no
record holds any of them, neither as recorded nor as written in either format (ALS_LOG_FORMAT
text or json)."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from service.web.appkeys import DB, SETTINGS
from service.web.logging_setup import AccessLogger, RedactingFilter, RedactingFormatter, redact
from tests.support.browser import Browser
from tests.support.logs import formatted_logs, json_lines
from tests.support.oauth import (
    basic_auth,
    create_client,
    exchange_data,
    get_code,
    post,
    token_request,
)


@pytest.fixture(params=["text", "json"])
def written(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    """The log as the server writes it, in each format."""
    with formatted_logs(request.param) as out:
        yield request.param, out


async def test_linking_flow_logs_no_secrets(
    aiohttp_server: Any,
    make_app: Any,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
    written: tuple[str, io.StringIO],
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app()
    server = await aiohttp_server(app, port=app[SETTINGS].port, access_log_class=AccessLogger)
    base_url = f"http://127.0.0.1:{server.port}"
    db = app[DB]
    client, secret = await create_client(db, secret="the-client-secret-1234567890")
    secrets_seen: list[str] = [secret, basic_auth(client.client_id, secret).split()[1]]

    for basic in (True, False):
        code = await get_code(browser, base_url, client)
        secrets_seen.append(code)
        tokens = await token_request(
            base_url,
            exchange_data(code, client),
            client_id=client.client_id,
            secret=secret,
            basic=basic,
        )
        assert tokens.status == 200
        secrets_seen += [tokens.body["access_token"], tokens.body["refresh_token"]]
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{base_url}/api/me",
                headers={"Authorization": f"Bearer {tokens.body['access_token']}"},
            ) as resp,
        ):
            assert resp.status == 200
        refreshed = await token_request(
            base_url,
            {"grant_type": "refresh_token", "refresh_token": tokens.body["refresh_token"]},
            client_id=client.client_id,
            secret=secret,
            basic=basic,
        )
        secrets_seen.append(refreshed.body["access_token"])
        auth = {"Authorization": basic_auth(client.client_id, secret)}
        await post(
            f"{base_url}/oauth/introspect", {"token": tokens.body["access_token"]}, headers=auth
        )
        await post(
            f"{base_url}/oauth/revoke", {"token": tokens.body["refresh_token"]}, headers=auth
        )
        # Failures log too: a replayed code, a wrong secret, a bad bearer token.
        await token_request(
            base_url,
            exchange_data(code, client),
            client_id=client.client_id,
            secret=secret,
            basic=basic,
        )
        await token_request(
            base_url,
            {"grant_type": "client_credentials"},
            client_id=client.client_id,
            secret=secret + "x",
            basic=basic,
        )
        forged = {"Authorization": f"Bearer {refreshed.body['access_token']}x"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base_url}/api/me", headers=forged) as resp,
        ):
            assert resp.status == 401
    await asyncio.sleep(0.05)  # let the access log of the last request be written

    assert len(caplog.records) > 20
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for value in secrets_seen:
        assert value not in text, "a secret was logged"
    assert "Authorization" not in text
    assert "/oauth/token" in text  # the access log was captured, without bodies
    assert "authorization code replayed" in text  # and our own warnings

    log_format, out = written
    output = out.getvalue()
    for value in secrets_seen:
        assert value not in output, f"a secret was written in the {log_format} log"
    assert "Authorization" not in output
    assert "authorization code replayed" in output
    if log_format == "json":
        entries = json_lines(out)
        access = [e for e in entries if e["logger"] == "aiohttp.access"]
        assert {e["route"] for e in access} >= {"/oauth/token", "/api/me"}
        assert all(len(e["request_id"]) == 32 for e in access)  # made up: none was sent


def test_redacting_filter_masks_what_slips_through() -> None:
    line = (
        "GET /cb?code=abc123&state=s HTTP/1.1 Authorization: Bearer tok.en "
        "refresh_token=rt1 client_secret=cs1 Authorization: Basic "
        + base64.b64encode(b"id:secret").decode()
    )
    cleaned = redact(line)
    for value in ("abc123", "tok.en", "rt1", "cs1", base64.b64encode(b"id:secret").decode()):
        assert value not in cleaned
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("sekrit",), None)
    RedactingFilter().filter(record)
    assert "sekrit" not in record.getMessage()


def test_tracebacks_are_redacted_too() -> None:
    # aiohttp logs a too-long request line with a traceback whose text quotes the request.
    try:
        raise ValueError("Got more than 8190 bytes: b'/login/callback?code=c0de-sekrit&state=s'")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request",
            (),
            sys.exc_info(),
        )
    RedactingFilter().filter(record)
    text = RedactingFormatter("%(message)s").format(record)
    assert "Got more than 8190 bytes" in text
    assert "c0de-sekrit" not in text


def test_bare_credentials_and_query_strings_are_masked() -> None:
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    for line, secret in (
        (f"LineTooLong: Got more than 8190 bytes when reading: b'Basic {basic} AAAA'", basic),
        ("when reading: b'Bearer q9Xv-sekrit-token AAAA'", "q9Xv-sekrit-token"),
        ("b'/login?next=/oauth/authorize?client_id%3Dx%26lwa%3Dsekrit'", "sekrit"),
        ("fetching https://kc.example/realms/r/auth?session_code=sekrit1 failed", "sekrit1"),
    ):
        cleaned = redact(line)
        assert secret not in cleaned, cleaned
    assert redact("GET /healthz 200") == "GET /healthz 200"
    assert redact("a question? yes") == "a question? yes"
