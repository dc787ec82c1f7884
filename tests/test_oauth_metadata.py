"""GET /.well-known/oauth-authorization-server (RFC 8414), built from the public base URL."""

from __future__ import annotations

import aiohttp
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tests.support.fixture_types import AiohttpClient, AppFactory


async def test_metadata_is_valid_and_uses_public_url(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app(public_url="https://link.example.com/"))
    resp = await client.get("/.well-known/oauth-authorization-server")
    assert resp.status == 200
    meta = await resp.json()
    AuthorizationServerMetadata(meta).validate()
    assert meta["issuer"] == "https://link.example.com"
    assert meta["authorization_endpoint"] == "https://link.example.com/oauth/authorize"
    assert meta["token_endpoint"] == "https://link.example.com/oauth/token"
    assert meta["revocation_endpoint"] == "https://link.example.com/oauth/revoke"
    assert meta["introspection_endpoint"] == "https://link.example.com/oauth/introspect"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


async def test_metadata_endpoints_answer(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/.well-known/oauth-authorization-server") as resp:
            meta = await resp.json()
        async with session.post(meta["token_endpoint"], data={}) as resp:
            assert resp.status in (400, 401)
