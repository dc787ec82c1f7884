"""Malformed input never gets a 500: it is an RFC 6749 §5.2 error (invalid_request,
invalid_client, unsupported_grant_type) as JSON, on every client-authenticated endpoint."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from service.web.appkeys import DB
from tests.support.oauth import Answer, basic_auth, create_client, post

ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def creds(server: TestServer) -> dict[str, str]:
    client, secret = await create_client(
        server.app[DB], grant_types=["client_credentials"], scopes=[]
    )
    return {"Authorization": basic_auth(client.client_id, secret)}


def _is_oauth_error(answer: Answer, *errors: str) -> bool:
    body = answer.body
    return isinstance(body, dict) and body.get("error") in errors


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_garbage_basic_headers_are_invalid_client(base_url: str, path: str) -> None:
    for header in (
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + "/w==",  # \xff: not UTF-8
        "Basic Zm9v",  # "foo": no colon
        "Basic OnNlY3JldA==",  # ":secret": empty id
        "Basic " + "A" * 5000,
        "Basic ééé",
        "Basic abcÿ",
    ):  # not ASCII: not base64 at all
        answer = await post(
            f"{base_url}{path}",
            {"grant_type": "client_credentials", "token": "t"},
            headers={"Authorization": header},
        )
        assert answer.status == 401, header
        assert _is_oauth_error(answer, "invalid_client"), header
        assert "WWW-Authenticate" in answer.headers


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_non_utf8_body_is_a_json_error(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    for body in (
        b"grant_type=client_credentials&token=\xff\xfe",
        b"\xff=\xff",
        b"grant_type=%FF%FE&token=%C3%28",
    ):
        answer = await post(f"{base_url}{path}", body, headers={**creds, **FORM})
        # Raw bytes that are not UTF-8 are refused; percent-escapes of such bytes decode to
        # U+FFFD and then match no token (revoke: 200, introspect: inactive). Never a 500.
        assert answer.status < 500, body
        assert isinstance(answer.body, dict), body
        if answer.status >= 400:
            assert "error" in answer.body, body


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_unknown_charset_is_invalid_request(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    answer = await post(
        f"{base_url}{path}",
        b"grant_type=client_credentials&token=t",
        headers={**creds, "Content-Type": FORM["Content-Type"] + "; charset=no-such"},
    )
    assert answer.status == 400, answer.body
    assert _is_oauth_error(answer, "invalid_request"), answer.body


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_undecodable_compressed_body_is_invalid_request(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    answer = await post(
        f"{base_url}{path}", b"xxxgarbage", headers={**creds, **FORM, "Content-Encoding": "deflate"}
    )
    assert answer.status == 400, answer.body
    assert _is_oauth_error(answer, "invalid_request"), answer.body


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_json_body_is_invalid_request(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    answer = await post(
        f"{base_url}{path}", json={"grant_type": "client_credentials", "token": "t"}, headers=creds
    )
    assert answer.status == 400 and _is_oauth_error(answer, "invalid_request")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_empty_and_odd_bodies_are_oauth_errors(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    for body, headers in (
        (b"", FORM),
        (b"&&&===&", FORM),
        (b"plain text", {}),
        (b"grant_type", FORM),
    ):
        answer = await post(f"{base_url}{path}", body, headers={**creds, **headers})
        assert answer.status in (400, 401), body
        assert _is_oauth_error(answer, "invalid_request", "invalid_client"), body


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_repeated_parameter_is_invalid_request(
    base_url: str, creds: dict[str, str], path: str
) -> None:
    body = "grant_type=client_credentials&grant_type=client_credentials&token=a&token=b"
    answer = await post(f"{base_url}{path}", body.encode(), headers={**creds, **FORM})
    assert answer.status == 400 and _is_oauth_error(answer, "invalid_request")


async def test_missing_grant_type_is_invalid_request(base_url: str, creds: dict[str, str]) -> None:
    answer = await post(f"{base_url}/oauth/token", {"scope": "x"}, headers=creds)
    assert answer.status == 400 and _is_oauth_error(answer, "invalid_request")


async def test_missing_code_is_invalid_request(server: TestServer, base_url: str) -> None:
    client, secret = await create_client(server.app[DB])
    answer = await post(
        f"{base_url}/oauth/token",
        {"grant_type": "authorization_code"},
        headers={"Authorization": basic_auth(client.client_id, secret)},
    )
    assert answer.status == 400 and _is_oauth_error(answer, "invalid_request")


async def test_unsupported_grant_type(base_url: str, creds: dict[str, str]) -> None:
    for grant in (
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "x" * 5000,
    ):
        answer = await post(f"{base_url}/oauth/token", {"grant_type": grant}, headers=creds)
        assert answer.status == 400 and _is_oauth_error(answer, "unsupported_grant_type")


async def test_get_on_token_endpoint_is_405_json(base_url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/oauth/token") as r:
        assert r.status == 405
        assert (await r.json())["error"]


async def test_oversized_body_is_413_json(base_url: str, creds: dict[str, str]) -> None:
    answer = await post(
        f"{base_url}/oauth/token",
        {"grant_type": "client_credentials", "pad": "x" * 400_000},
        headers=creds,
    )
    assert answer.status == 413 and isinstance(answer.body, dict)


async def test_error_descriptions_contain_only_allowed_characters(
    base_url: str, creds: dict[str, str]
) -> None:
    answer = await post(f"{base_url}/oauth/token", {"grant_type": 'bad"\\ü'}, headers=creds)
    description = answer.body["error_description"]
    assert all(c == " " or c == "!" or "#" <= c <= "[" or "]" <= c <= "~" for c in description)
