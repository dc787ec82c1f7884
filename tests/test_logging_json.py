"""Request ids and structured logs: `X-Request-Id` comes back on every answer (errors and
redirects too), a valid incoming one is kept, and every record written while a request is
handled carries it, in JSON (ALS_LOG_FORMAT=json: one object per line) as in text, redacted."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.web.logging_setup import AccessLogger
from tests.support.fixture_types import AiohttpClient, AiohttpServer, AppFactory
from tests.support.logs import formatted_logs, json_lines

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_a_valid_request_id_comes_back_and_others_are_replaced(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app())
    for valid in ("req-1", "a.b:c_D-9", "x" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e"):
        resp = await client.get("/healthz", headers={"X-Request-Id": valid})
        assert resp.headers["X-Request-Id"] == valid
    for invalid in ("", "has space", "x" * 129, "<script>", "a/b", 'q"uote'):
        resp = await client.get("/healthz", headers={"X-Request-Id": invalid})
        assert GENERATED.fullmatch(resp.headers["X-Request-Id"]), invalid
    made = {(await client.get("/healthz")).headers["X-Request-Id"] for _ in range(3)}
    assert len(made) == 3 and all(GENERATED.fullmatch(value) for value in made)


async def test_errors_and_redirects_carry_the_request_id(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app())
    headers = {"X-Request-Id": "err-1"}
    answers = [
        await client.get("/no/such/page", headers=headers),  # 404 page
        await client.put("/healthz", headers=headers),  # 405
        await client.get("/api/me", headers=headers),  # 401 with a challenge
        await client.post("/oauth/token", data={}, headers=headers),  # 400/401 OAuth error
        await client.get("/account", headers=headers, allow_redirects=False),  # to the login
    ]
    assert [resp.status // 100 for resp in answers] == [4, 4, 4, 4, 3]
    for resp in answers:
        assert resp.headers["X-Request-Id"] == "err-1", resp.status
        assert resp.headers["X-Content-Type-Options"] == "nosniff"  # the others still there


def _app_with_a_failing_route(make_app: AppFactory) -> web.Application:
    """An app with one extra route that logs and then fails, as any handler might."""
    app = make_app()

    async def fails(request: web.Request) -> web.Response:
        logging.getLogger("service.example").info("handling item %s", request.match_info["item"])
        raise ValueError("failed on /login/callback?code=c0de-sekrit&state=s")

    app.router.add_get("/example/{item}", fails)
    return app


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_records_of_a_request_carry_its_id_and_no_secret(
    make_app: AppFactory,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    caplog: pytest.LogCaptureFixture,
    log_format: str,
) -> None:
    caplog.set_level(logging.INFO)
    app = _app_with_a_failing_route(make_app)
    server = await aiohttp_server(app, access_log_class=AccessLogger)
    client: TestClient[web.Request, None] = await aiohttp_client(server)
    with formatted_logs(log_format) as out:
        logging.getLogger("service.example").info("outside any request")
        resp = await client.get(
            "/example/42?code=q-sekrit",
            headers={"X-Request-Id": "req-42", "Authorization": "Bearer t0ken-sekrit"},
        )
        assert resp.status == 500
        assert resp.headers["X-Request-Id"] == "req-42"
        await asyncio.sleep(0.05)  # the access log is written after the answer
    text = out.getvalue()
    for secret in ("sekrit", "Authorization"):
        assert secret not in text
    if log_format == "text":
        assert "[-]: outside any request" in text
        assert "service.example [req-42]: handling item 42" in text
        assert "aiohttp.access [req-42]: 127.0.0.1" in text
        return

    entries = json_lines(out)
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    by_message = {entry["message"]: entry for entry in entries}
    assert "request_id" not in by_message["outside any request"]
    assert by_message["handling item 42"]["request_id"] == "req-42"
    assert by_message["handling item 42"]["level"] == "INFO"
    failure = next(e for e in entries if e["logger"] == "service.web.errors")
    assert failure["level"] == "ERROR" and failure["request_id"] == "req-42"
    assert "ValueError: failed on /login/callback?[redacted]" in failure["exception"]
    access = next(e for e in entries if e["logger"] == "aiohttp.access")
    assert access["request_id"] == "req-42"
    assert access["method"] == "GET"
    assert access["route"] == "/example/{item}"  # the pattern: no ids, no query
    assert access["status"] == 500
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["client_ip"] == "127.0.0.1"
    assert '"GET /example/42" 500' in access["message"]
