"""The OpenAPI document is valid and describes every JSON endpoint the app serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

JSON_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/.well-known/",
    "/alexa/",
    "/healthz",
    "/readyz",
)


async def test_openapi_is_valid_and_complete(
    make_app: Callable[..., web.Application],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    validate(spec)
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith(JSON_PREFIXES)
        and r.method != "HEAD"
    }
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served <= documented, served - documented
