"""Error answers made by the error middleware: readable HTML for browsers, JSON for API paths,
the security headers on both, `Allow` on a 405, and never a 500 for a malformed form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pymongo.errors import ServerSelectionTimeoutError

from service.web.security import HEADERS

Client = Callable[..., Awaitable[TestClient[Any, Any]]]


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("internal detail that must not leak")


async def _database_down(request: web.Request) -> web.Response:
    raise ServerSelectionTimeoutError("localhost:27017: connection refused")


@pytest.fixture
async def client(make_app: Callable[..., web.Application], aiohttp_client: Client) -> Any:
    app = make_app()
    app.router.add_get("/boom", _boom)
    app.router.add_get("/api/boom", _boom)
    app.router.add_get("/dbdown", _database_down)
    app.router.add_get("/api/dbdown", _database_down)
    return await aiohttp_client(app)


def _has_security_headers(headers: Any) -> bool:
    return all(headers.get(name) == value for name, value in HEADERS.items())


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("GET", "/no-such-page", 404, "text/html"),
        ("GET", "/api/no-such-thing", 404, "application/json"),
        ("DELETE", "/account", 405, "text/html"),
        ("GET", "/oauth/token", 405, "application/json"),
        ("POST", "/openapi.json", 405, "application/json"),
        ("GET", "/boom", 500, "text/html"),
        ("GET", "/api/boom", 500, "application/json"),
        ("GET", "/dbdown", 503, "text/html"),
        ("GET", "/api/dbdown", 503, "application/json"),
    ],
)
async def test_error_answers_carry_security_headers(
    client: Any, method: str, path: str, status: int, kind: str
) -> None:
    resp = await client.request(method, path)
    assert resp.status == status
    assert resp.content_type == kind
    assert _has_security_headers(resp.headers), dict(resp.headers)
    text = await resp.text()
    assert "internal detail" not in text
    assert "27017" not in text
    if kind == "application/json":
        assert (await resp.json())["error"]
    else:
        assert 'id="error-message"' in text


@pytest.mark.parametrize("path", ["/oauth/token", "/account"])
async def test_method_not_allowed_says_which_methods_are(client: Any, path: str) -> None:
    resp = await client.request("PUT", path)
    assert resp.status == 405
    assert resp.headers.get("Allow"), dict(resp.headers)


async def test_database_down_is_a_retryable_503(client: Any) -> None:
    resp = await client.get("/api/dbdown")
    assert resp.status == 503
    assert (await resp.json())["error"] == "temporarily_unavailable"
    assert resp.headers["Retry-After"] == "5"


async def test_too_large_api_body_is_an_oauth_style_error(client: Any) -> None:
    resp = await client.post(
        "/oauth/token",
        data="grant_type=" + "a" * (300 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 413
    assert (await resp.json())["error"] == "invalid_request"
    assert _has_security_headers(resp.headers)


@pytest.mark.parametrize("path", ["/logout", "/oauth/authorize", "/account/revoke"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"csrf_token=\xff\xfe&client_id=x", "application/x-www-form-urlencoded"),
        (b"csrf_token=x&client_id=x", "application/x-www-form-urlencoded; charset=no-such"),
        (b"not deflated at all", "deflate"),
    ],
)
async def test_undecodable_form_on_a_page_is_400_not_500(
    client: Any, path: str, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "deflate"}
    if content_type != "deflate":
        headers = {"Content-Type": content_type}
    resp = await client.post(path, data=body, headers=headers, allow_redirects=False)
    # /account/revoke asks an anonymous visitor to log in first; the others read the form.
    assert resp.status in (302, 400), path
    assert resp.status != 500
