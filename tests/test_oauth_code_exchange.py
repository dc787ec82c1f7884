"""POST /oauth/token, grant_type=authorization_code: codes are single use, short lived and bound
to their client, redirect URI and PKCE challenge; a replayed code revokes what it produced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from service.oauth.token_values import secret_hash
from service.storage import authorization_codes
from service.web.appkeys import DB, SETTINGS
from tests.support.browser import Browser
from tests.support.oauth import (
    ALEXA_REDIRECT_URIS,
    create_client,
    exchange_data,
    get_code,
    post,
    token_request,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def test_token_response_is_json_no_store_with_integer_expires_in(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Pragma"] == "no-cache"
    body = answer.body
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and type(body["expires_in"]) is int
    assert body["scope"] == "profile"


async def test_basic_and_body_credentials_give_identical_results(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB], secret="s3cret+with/odd:chars=and%%")
    answers = []
    for basic in (True, False):
        code = await get_code(browser, base_url, client)
        answers.append(
            await token_request(
                base_url,
                exchange_data(code, client),
                client_id=client.client_id,
                secret=secret,
                basic=basic,
            )
        )
    shapes = [(a.status, sorted(a.body), a.body["expires_in"], a.body["scope"]) for a in answers]
    assert shapes[0] == shapes[1] and shapes[0][0] == 200


async def test_code_is_single_use_and_reuse_revokes_its_tokens(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client)
    first = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert first.status == 200
    me = {"Authorization": f"Bearer {first.body['access_token']}"}
    assert (await _get(f"{base_url}/api/me", me)) == 200
    again = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert again.status == 400 and again.body["error"] == "invalid_grant"
    assert (await _get(f"{base_url}/api/me", me)) == 401
    refresh = await token_request(
        base_url,
        {"grant_type": "refresh_token", "refresh_token": first.body["refresh_token"]},
        client_id=client.client_id,
        secret=secret,
    )
    assert refresh.status == 400 and refresh.body["error"] == "invalid_grant"


async def test_spent_code_replayed_late_or_by_another_client_still_revokes(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    other, other_secret = await create_client(db, name="Other skill")
    for replay in ("other client", "after expiry"):
        code = await get_code(browser, base_url, client)
        first = await token_request(
            base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
        )
        me = {"Authorization": f"Bearer {first.body['access_token']}"}
        assert (await _get(f"{base_url}/api/me", me)) == 200
        if replay == "other client":
            again = await token_request(
                base_url, exchange_data(code, other), client_id=other.client_id, secret=other_secret
            )
        else:
            await _expire(db, code)
            again = await token_request(
                base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
            )
        assert again.status == 400 and again.body["error"] == "invalid_grant", replay
        assert (await _get(f"{base_url}/api/me", me)) == 401, replay


async def _expire(db: Any, code: str) -> None:
    """Move the code's expiry into the past (a real wait would be the 5 minutes of code_ttl)."""
    await db[authorization_codes.COLLECTION].update_one(
        {"_id": secret_hash(code)},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )


async def _get(url: str, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status


async def test_concurrent_exchanges_of_one_code_exactly_one_wins(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    for _ in range(3):
        code = await get_code(browser, base_url, client)
        answers = await asyncio.gather(
            *[
                token_request(
                    base_url,
                    exchange_data(code, client),
                    client_id=client.client_id,
                    secret=secret,
                    basic=i % 2 == 0,
                )
                for i in range(6)
            ]
        )
        statuses = sorted(a.status for a in answers)
        assert statuses == [200, 400, 400, 400, 400, 400]
        assert {a.body["error"] for a in answers if a.status == 400} == {"invalid_grant"}


async def test_expired_code_is_invalid_grant(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    code = await get_code(browser, base_url, client)
    await _expire(db, code)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_code_ttl_setting_bounds_code_lifetime(
    aiohttp_server: Any, make_app: Any, browser: Browser
) -> None:
    app = make_app(code_ttl=1)
    srv = await aiohttp_server(app, port=app[SETTINGS].port)
    base_url = f"http://127.0.0.1:{srv.port}"
    client, secret = await create_client(app[DB])
    code = await get_code(browser, base_url, client)
    await asyncio.sleep(1.2)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_code_is_bound_to_its_client(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    client, secret = await create_client(db)
    other, other_secret = await create_client(db, name="Other skill")
    code = await get_code(browser, base_url, client)
    stolen = await token_request(
        base_url, exchange_data(code, other), client_id=other.client_id, secret=other_secret
    )
    assert stolen.status == 400 and stolen.body["error"] == "invalid_grant"
    # The rightful client can still use it: another client cannot burn someone else's code.
    mine = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert mine.status == 200


async def test_code_is_bound_to_its_redirect_uri(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client, redirect_uri=ALEXA_REDIRECT_URIS[0])
    answer = await token_request(
        base_url,
        exchange_data(code, client, redirect_uri=ALEXA_REDIRECT_URIS[1]),
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_redirect_uri_of_the_authorization_is_required(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client)
    data = exchange_data(code, client)
    del data["redirect_uri"]
    answer = await token_request(base_url, data, client_id=client.client_id, secret=secret)
    assert answer.status == 400 and answer.body["error"] == "invalid_request"


async def test_pkce_s256_verifier_is_required_and_checked(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    pkce = {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    for extra in ({}, {"code_verifier": VERIFIER.replace("d", "e", 1)}, {"code_verifier": "x"}):
        code = await get_code(browser, base_url, client, **pkce)
        answer = await token_request(
            base_url,
            exchange_data(code, client, **extra),
            client_id=client.client_id,
            secret=secret,
        )
        assert answer.status == 400 and answer.body["error"] == "invalid_grant", extra
    code = await get_code(browser, base_url, client, **pkce)
    answer = await token_request(
        base_url,
        exchange_data(code, client, code_verifier=VERIFIER),
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 200


async def test_without_challenge_no_verifier_is_needed_and_none_accepted(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url,
        exchange_data(code, client, code_verifier=VERIFIER),
        client_id=client.client_id,
        secret=secret,
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 200


async def test_unknown_code_is_invalid_grant(server: TestServer, base_url: str) -> None:
    client, secret = await create_client(server.app[DB])
    answer = await token_request(
        base_url, exchange_data("made-up", client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"


async def test_client_without_refresh_grant_gets_no_refresh_token(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB], grant_types=["authorization_code"])
    code = await get_code(browser, base_url, client)
    answer = await token_request(
        base_url, exchange_data(code, client), client_id=client.client_id, secret=secret
    )
    assert answer.status == 200 and "refresh_token" not in answer.body


async def test_token_endpoint_needs_no_cookies_or_csrf(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    client, secret = await create_client(server.app[DB])
    code = await get_code(browser, base_url, client)
    # `post` uses a fresh session: no cookies, no CSRF token, like Alexa's servers.
    answer = await post(
        f"{base_url}/oauth/token",
        {
            **exchange_data(code, client),
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    assert answer.status == 200
    assert "Set-Cookie" not in answer.headers
