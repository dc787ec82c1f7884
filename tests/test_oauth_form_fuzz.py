"""Hypothesis throws arbitrary request bodies at the client-authenticated OAuth endpoints
(`/oauth/token`, `/oauth/revoke`, `/oauth/introspect`): any keys and values (unicode, repeated
keys, huge values, the real parameter names with real client ids, secrets and tokens mixed
in), any content type and charset, raw bytes, bodies over the size limit, odd Authorization
headers. Whatever comes in, the answer is never a 5xx; it is JSON with `Cache-Control:
no-store`; an error is a 4xx in RFC 6749 §5.2's shape (a known `error` code, an
`error_description` of the allowed characters only) and a 401 carries a challenge.

The requests go out from a worker thread over raw `http.client` (so nothing is normalised on
the way) while the test's event loop serves the app. `FUZZ_EXAMPLES` (tests/support/fuzz.py)
scales the number of examples; `make fuzz` runs many more."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from base64 import b64encode
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.web.appkeys import DB
from tests.support.fuzz import examples, randomized
from tests.support.oauth import ALEXA_REDIRECT_URIS, basic_auth, create_client, issue_tokens

FORM = "application/x-www-form-urlencoded"
ENDPOINTS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect")
NAMES = (
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
)
# RFC 6749 §5.2, the code RFC 7009 §2.2.1 adds for revocation, and ours for a 429.
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "too_many_requests",
}
DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")  # RFC 6749 §5.2
CONTENT_TYPES = (
    FORM,
    f"{FORM}; charset=utf-8",
    f"{FORM}; charset=UTF-8",
    f'{FORM}; charset="utf-8"',
    f"{FORM}; charset=iso-8859-1",
    f"{FORM}; charset=utf-16",
    f"{FORM}; charset=no-such-charset",
    f"{FORM};;; charset",
    FORM.upper(),
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "",
    None,
)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    content_type: str | None
    authorization: str | None


@dataclass(frozen=True)
class Known:
    """Real values of this server: client ids, secrets, tokens, so that some fuzzed requests
    authenticate and name tokens that exist."""

    values: tuple[str, ...]
    authorizations: tuple[str, ...]
    requests: tuple[tuple[tuple[str, str], ...], ...]  # bodies that succeed as they are


def _values(known: Known) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known.values),
        st.text(max_size=40),
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.sampled_from(("", " ", "+", "%", "%FF", "&", "=", "\x00", "a" * 70_000)),
    )


def _form_body(known: Known) -> st.SearchStrategy[bytes]:
    pair = st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=20)), _values(known))
    # Half the bodies start from a request that would succeed, so the handlers past the
    # parameter checks are fuzzed too; then pairs are added, and some of them repeated (a
    # repeated parameter must be refused, not one of its values picked).
    start = st.one_of(st.sampled_from(known.requests), st.just(()))
    pairs = st.builds(lambda base, extra: [*base, *extra], start, st.lists(pair, max_size=6))
    repeated = pairs.flatmap(
        lambda items: (
            st.lists(st.sampled_from(items), max_size=2).map(lambda more: items + more)
            if items
            else st.just(items)
        )
    )
    return st.builds(
        lambda items, charset: urlencode(items, encoding=charset, errors="replace").encode(),
        st.one_of(pairs, repeated),
        st.sampled_from(("utf-8", "utf-8", "latin-1", "utf-16")),
    )


def _requests(known: Known) -> st.SearchStrategy[Request]:
    body = st.one_of(
        _form_body(known),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.just(b"grant_type=client_credentials&pad=" + b"a" * (300 * 1024)),  # over the limit
    )
    authorization = st.one_of(
        st.none(),
        st.sampled_from(known.authorizations),
        HEADER_TEXT.map(lambda text: "Basic " + text),
        st.binary(max_size=60).map(lambda raw: "Basic " + b64encode(raw).decode()),
        st.sampled_from(known.values).map(lambda value: "Bearer " + value),
        HEADER_TEXT,
    )
    return st.builds(
        Request,
        path=st.sampled_from(ENDPOINTS),
        body=body,
        content_type=st.one_of(st.just(FORM), st.sampled_from(CONTENT_TYPES)),
        authorization=st.one_of(st.sampled_from(known.authorizations), authorization),
    )


def _send(port: int, request: Request) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest("POST", request.path)
        if request.content_type is not None:
            connection.putheader("Content-Type", request.content_type)
        if request.authorization is not None:
            connection.putheader("Authorization", request.authorization.encode("latin-1"))
        connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _check_answer(request: Request, status: int, headers: Any, raw: bytes) -> None:
    assert status < 500, (status, raw[:500])
    assert headers.get_content_type() == "application/json", (status, raw[:200])
    # RFC 6749 §5.1, RFC 7662 §4: nothing of a token answer may be cached; errors likewise.
    assert headers.get("Cache-Control") == "no-store", dict(headers)
    body = json.loads(raw)
    assert isinstance(body, dict), body
    if status < 400:
        return
    # RFC 6749 §5.2: a known code, a description of the allowed characters only.
    assert status in (400, 401, 413, 429), (status, body)
    assert body.get("error") in OAUTH_ERRORS, body
    description = body.get("error_description", "")
    assert isinstance(description, str) and DESCRIPTION.fullmatch(description), body
    if status == 401:
        assert body["error"] == "invalid_client", body
        assert headers.get("WWW-Authenticate", "").startswith("Basic "), dict(headers)
    if status == 429:  # RFC 6585 §4
        assert body["error"] == "too_many_requests", body
        assert headers.get("Retry-After", "").isdigit(), dict(headers)


def _few_random() -> bool:
    """A few random examples (FUZZ_EXAMPLES below 100) may not reach every answer."""
    return randomized() and examples() < 100


def _fuzz(port: int, known: Known, count: int) -> list[int]:
    seen: list[int] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=not randomized(),
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(request=_requests(known))
    def answers_in_rfc_6749_shape(request: Request) -> None:
        status, headers, raw = _send(port, request)
        seen.append(status)
        _check_answer(request, status, headers, raw)

    answers_in_rfc_6749_shape()
    return seen


async def _known(app: web.Application) -> Known:
    """Two clients of the app (a skill and a backend), a user's tokens, and requests that
    succeed with them."""
    skill, skill_secret = await create_client(app[DB], client_id="fuzz-skill")
    backend, backend_secret = await create_client(
        app[DB],
        client_id="fuzz-backend",
        grant_types=["client_credentials"],
        permissions=["introspect"],
    )
    tokens = await issue_tokens(app, skill, user_id="u-1", username="fuzzer")
    return Known(
        values=(
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "access_token",
            skill.client_id,
            skill_secret,
            backend.client_id,
            backend_secret,
            tokens["access_token"],
            tokens["refresh_token"],
            ALEXA_REDIRECT_URIS[0],
            "profile",
        ),
        authorizations=(
            basic_auth(skill.client_id, skill_secret),
            basic_auth(backend.client_id, backend_secret),
            basic_auth(skill.client_id, "wrong-secret"),
        ),
        requests=(
            (("grant_type", "client_credentials"),),
            (("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"])),
            (("token", tokens["access_token"]),),
            (("token", tokens["refresh_token"]), ("token_type_hint", "refresh_token")),
        ),
    )


async def _serve(
    aiohttp_server: Callable[..., Awaitable[TestServer]], app: web.Application
) -> tuple[int, Known]:
    """On any free port: no Keycloak login here, so the ports registered there stay free."""
    server = await aiohttp_server(app)
    assert server.port is not None
    return server.port, await _known(app)


async def test_form_bodies_never_break_the_oauth_endpoints(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_app: Callable[..., web.Application]
) -> None:
    # Without the limit on failed client authentications: the fuzzer fails far more than ten
    # a minute for the real client ids too, and its requests are to reach the handlers.
    app = make_app(client_auth_failures_per_minute=0)
    port, known = await _serve(aiohttp_server, app)
    count = examples() * 20
    statuses = await asyncio.to_thread(_fuzz, port, known, count)
    print(f"\n{len(statuses)} calls: {sorted(Counter(statuses).items())}")
    assert len(statuses) >= count
    if _few_random():
        return
    # The real credentials and tokens got through to the handlers too.
    assert 200 in statuses


async def test_form_bodies_past_the_rate_limit_too(
    aiohttp_server: Callable[..., Awaitable[TestServer]], make_app: Callable[..., web.Application]
) -> None:
    """With the limit (its default) and half the requests with a wrong secret of a real
    client: the 429s the fuzzer soon gets are in the same shape."""
    port, known = await _serve(aiohttp_server, make_app())
    known = replace(known, authorizations=known.authorizations[-1:])  # the wrong secret
    statuses = await asyncio.to_thread(_fuzz, port, known, examples() * 8)
    if not _few_random():
        assert 429 in statuses, sorted(Counter(statuses).items())
