"""The whole account-linking flow as Alexa drives it, with authlib's OAuth 2 client as Alexa
and a person in the browser: authorize → Keycloak login → consent → code → token (HTTP Basic,
then body credentials) → /api/me → refresh → revoke → refresh fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.oauth import ALEXA_REDIRECT_URIS, create_client, decide, open_authorize


def alexa(client_id: str, secret: str, method: str, redirect_uri: str, **kw: Any) -> OAuth2Session:
    return OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        scope="profile alexa::health:profile:write",
        **kw,
    )


async def _discover(base_url: str) -> dict[str, Any]:
    with OAuth2Session() as http:
        resp = await asyncio.to_thread(
            http.get, f"{base_url}/.well-known/oauth-authorization-server", withhold_token=True
        )
    meta = AuthorizationServerMetadata(resp.json())
    meta.validate()
    return dict(meta)


async def _link(browser: Browser, session: OAuth2Session, meta: dict[str, Any]) -> str:
    url, state = session.create_authorization_url(meta["authorization_endpoint"])
    page = await open_authorize(browser, url, "user")
    if page.redirect_to is None:  # consent not yet given
        assert "Allow" in page.text
        page = await decide(browser, page, approve=True)
    assert page.redirect_to is not None
    assert page.redirect_to.startswith(session.redirect_uri + "?")
    assert page.redirect_params["state"] == state
    return page.redirect_to


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_alexa_links_uses_refreshes_and_revokes(
    server: TestServer, base_url: str, browser: Browser, method: str
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, name="Baby Activity")
    meta = await _discover(base_url)
    for redirect_uri in ALEXA_REDIRECT_URIS:  # every region's URL works on one client
        with alexa(client.client_id, secret, method, redirect_uri) as session:
            response_url = await _link(browser, session, meta)
            token = await asyncio.to_thread(
                session.fetch_token, meta["token_endpoint"], authorization_response=response_url
            )
            assert token["token_type"] == "Bearer"
            assert isinstance(token["expires_in"], int) and token["expires_in"] == 3600
            assert token["refresh_token"] and token["access_token"]
            assert set(token["scope"].split()) == {"profile", "alexa::health:profile:write"}

            me = await asyncio.to_thread(session.get, f"{base_url}/api/me")
            assert me.status_code == 200
            assert me.json()["username"] == "user"
            assert me.json()["client_id"] == client.client_id

            refreshed = await asyncio.to_thread(
                session.refresh_token,
                meta["token_endpoint"],
                refresh_token=token["refresh_token"],
            )
            assert refreshed["access_token"] != token["access_token"]
            assert isinstance(refreshed["expires_in"], int)
            # Default policy `reuse`: Alexa keeps the refresh token it has.
            assert refreshed["refresh_token"] == token["refresh_token"]
            me = await asyncio.to_thread(session.get, f"{base_url}/api/me")
            assert me.status_code == 200

            revoked = await asyncio.to_thread(
                session.revoke_token,
                meta["revocation_endpoint"],
                token=token["refresh_token"],
                token_type_hint="refresh_token",
            )
            assert revoked.status_code == 200
            with pytest.raises(OAuthError) as failed:
                await asyncio.to_thread(
                    session.refresh_token,
                    meta["token_endpoint"],
                    refresh_token=token["refresh_token"],
                )
            assert failed.value.error == "invalid_grant"
            me = await asyncio.to_thread(session.get, f"{base_url}/api/me")
            assert me.status_code == 401  # revoking the refresh token ended its access tokens


async def test_alexa_with_pkce_links(server: TestServer, base_url: str, browser: Browser) -> None:
    db = server.app[DB]
    client, secret = await create_client(db, require_pkce=True)
    meta = await _discover(base_url)
    verifier = "v" * 20 + "-._~" + "K" * 40
    with alexa(
        client.client_id,
        secret,
        "client_secret_basic",
        ALEXA_REDIRECT_URIS[1],
        code_challenge_method="S256",
    ) as session:
        url, _ = session.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier
        )
        assert "code_challenge_method=S256" in url
        page = await open_authorize(browser, url)
        page = await decide(browser, page)
        token = await asyncio.to_thread(
            session.fetch_token,
            meta["token_endpoint"],
            authorization_response=page.redirect_to,
            code_verifier=verifier,
        )
        assert token["access_token"]
