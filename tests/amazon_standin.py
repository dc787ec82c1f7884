"""A local stand-in for the Amazon endpoints our server calls, for tests and manual runs.

It behaves as Amazon documents it (docs/alexa-protocols.md §3 and §4), strict where Amazon is
strict, so our code is tested against the rules rather than against a mock that agrees with it:

* LWA token endpoint ``POST /auth/o2/token``: authorization codes are single-use (consumed as
  soon as they are presented, even if the exchange then fails), expire after 5 minutes and are
  bound to their client; refresh requires the client secret; errors are HTTP 400 (401 for
  ``invalid_client``) with an RFC 6749 §5.2 body and an ``x-amzn-errortype`` header.
* Alexa APIs ``POST /v1/health/profile`` and ``POST /v3/events``: need ``Authorization: Bearer``
  with a live access token issued here (401 ``INVALID_ACCESS_TOKEN_EXCEPTION`` otherwise) and a
  JSON object body (400 ``INVALID_REQUEST_EXCEPTION``); answer 202, or scripted responses.
* LWA's consent page ``GET /ap/oa`` (app-to-app linking, docs/alexa-protocols.md §5): shows the
  request with "Allow" and "Cancel"; the decision (``POST /ap/oa``) redirects to the
  ``redirect_uri`` with ``code`` and ``state``, or ``error=access_denied``. Its codes remember
  the PKCE S256 challenge (the token endpoint then wants the matching ``code_verifier``), the
  scope and the Amazon user (``amazon_user``), and so do the tokens made from them.
* The Skill Enablement API ``POST|GET|DELETE /v1/users/~current/skills/{skillId}/enablement``
  for skills registered with ``add_skill``: 400 for a lower-case ``bearer`` or a malformed
  body, 401 for a missing, expired or revoked token, 403 for a token without
  ``alexa::skills:account_linking`` or a non-beta-tester enabling a development skill, 404 for
  an unknown skill (or, for GET and DELETE, one not enabled). POST redeems the ``authCode`` at
  the skill's token URL (our ``/oauth/token``) with the skill's client credentials (HTTP Basic)
  before it answers 201, as Alexa does; a refused code gives 400. GET answers 200 with the
  skill's status, DELETE 204.

Control it in-process through ``AmazonStandIn`` or over HTTP under ``/_standin/``:

==========================================  =================================================
``POST /_standin/clients``                  ``{"client_id", "secret"}`` registers an LWA client
``POST /_standin/codes``                    ``{"client_id", "redirect_uri"?}`` → ``{"code"}``
``POST /_standin/alexa-responses``          ``{"status", "body"?, "headers"?, "count"?,
                                            "code"?, "path"?}`` queues scripted answers
``GET  /_standin/requests``                 every Alexa API request received
``GET  /_standin/lwa-calls``                every LWA call (no secrets) and counters
``POST /_standin/expire-access-tokens``     all access tokens issued so far expire
``POST /_standin/revoke-all``               the user removed the permission: all tokens die
``POST /_standin/lwa``                      ``{"down": bool, "mode"?: "503"|"close"|"hang"}``
``POST /_standin/skills``                   ``{"skill_id", "token_url", "client_id",
                                            "client_secret", "stages"?, "beta_testers"?}``
``GET  /_standin/enablements``              every enablement (no tokens)
==========================================  =================================================

Run it with ``python -m tests.amazon_standin --port 9400 --client ID:SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import html
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "ALEXA_ERROR_CODES",
    "AlexaRequest",
    "AmazonStandIn",
    "Enablement",
    "LwaCall",
    "LwaDownMode",
    "alexa_error_body",
]

log = logging.getLogger(__name__)

LwaDownMode = Literal["503", "close", "hang"]

# Event Gateway error codes by HTTP status (docs/alexa-protocols.md §4.2; the mapping is [I]).
ALEXA_ERROR_CODES: Mapping[int, str] = {
    400: "INVALID_REQUEST_EXCEPTION",
    401: "INVALID_ACCESS_TOKEN_EXCEPTION",
    403: "SKILL_DISABLED_EXCEPTION",
    404: "SKILL_NOT_FOUND_EXCEPTION",
    413: "REQUEST_ENTITY_TOO_LARGE_EXCEPTION",
    429: "THROTTLING_EXCEPTION",
    500: "INTERNAL_SERVICE_EXCEPTION",
    503: "SERVICE_UNAVAILABLE_EXCEPTION",
}

_AMZN_ERROR_TYPES = {
    "invalid_request": "OA2InvalidRequestException",
    "invalid_client": "OA2InvalidClientException",
    "invalid_grant": "OA2InvalidGrantException",
    "unauthorized_client": "OA2UnauthorizedClientException",
    "unsupported_grant_type": "OA2UnsupportedGrantTypeException",
}

_ALEXA_PATHS = ("/v1/health/profile", "/v3/events")
_ENABLEMENT_PATH = "/v1/users/~current/skills/{skill_id}/enablement"
ACCOUNT_LINKING_SCOPE = "alexa::skills:account_linking"
DEFAULT_AMAZON_USER = "amzn1.account.STANDIN-USER-1"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def alexa_error_body(code: str, description: str) -> dict[str, Any]:
    """The Alexa API error envelope: ``payload.code`` is what callers branch on."""
    return {
        "header": {"namespace": "System", "name": "Exception", "messageId": str(uuid.uuid4())},
        "payload": {"code": code, "description": description},
    }


@dataclass(frozen=True)
class AlexaRequest:
    """One request received on an Alexa API path, and what the stand-in answered."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: Any  # the parsed JSON, or None when the body was not JSON
    text: str
    status: int

    @property
    def bearer_token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
            "status": self.status,
        }


@dataclass(frozen=True)
class LwaCall:
    """One request to the LWA token endpoint, without codes, tokens or secrets."""

    grant_type: str | None
    client_id: str | None
    client_auth: Literal["basic", "body", "none"]
    has_client_secret: bool
    redirect_uri: str | None
    status: int  # 0 when the stand-in dropped the connection (``set_lwa_down(mode="close")``)
    error: str | None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str | None
    expires_at: float
    code_challenge: str | None = None  # S256, from the consent page
    scope: str | None = None
    user: str = DEFAULT_AMAZON_USER


@dataclass
class _AccessToken:
    client_id: str
    expires_at: float
    revoked: bool = False
    scope: str | None = None
    user: str = DEFAULT_AMAZON_USER


@dataclass
class _RefreshToken:
    client_id: str
    revoked: bool = False
    scope: str | None = None
    user: str = DEFAULT_AMAZON_USER


@dataclass
class _Skill:
    """A skill the Skill Enablement API knows, with its account-linking configuration."""

    skill_id: str
    token_url: str  # the skill's access token URI (our /oauth/token)
    client_id: str  # the skill's client at that server, and its secret
    client_secret: str
    stages: frozenset[str]
    beta_testers: frozenset[str] | None  # None: anyone may enable the development stage


@dataclass
class Enablement:
    """A skill enabled for an Amazon user, with the tokens Alexa got from the skill's token
    URI for it (``enabled`` turns False when it is disabled; the tokens stay for tests)."""

    skill_id: str
    stage: str
    user: str
    redirect_uri: str
    access_token: str = dataclasses.field(repr=False)
    refresh_token: str | None = dataclasses.field(repr=False)
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "skill_id": self.skill_id,
            "stage": self.stage,
            "user": self.user,
            "redirect_uri": self.redirect_uri,
            "enabled": self.enabled,
            "has_refresh_token": self.refresh_token is not None,
        }


@dataclass
class _Scripted:
    status: int
    body: Any
    headers: dict[str, str]
    path: str | None


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


def _missing(name: str) -> _OAuthError:
    return _OAuthError("invalid_request", f"The request is missing a required parameter : {name}")


def _bad_grant(name: str) -> _OAuthError:
    return _OAuthError("invalid_grant", f"The request has an invalid grant parameter : {name}")


def _body_response(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
    """``body``: None → empty, str/bytes → sent as is, anything else → JSON."""
    if body is None:
        return web.Response(status=status, headers=headers)
    if isinstance(body, bytes):
        return web.Response(status=status, body=body, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _control_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A bad control request is the caller's mistake: say so with a 400, not a 500."""
    try:
        return await handler(request)
    except (KeyError, TypeError, ValueError) as exc:
        if not request.path.startswith("/_standin/"):
            raise
        raise web.HTTPBadRequest(text=f"bad control request: {exc!r}") from None


class AmazonStandIn:
    """LWA + Alexa API stand-in with a Python control API; see the module docstring."""

    def __init__(
        self,
        *,
        clients: Mapping[str, str] | None = None,
        access_token_lifetime: int = 3600,
        code_lifetime: float = 300,
        rotate_refresh_tokens: bool = False,
    ) -> None:
        self._clients: dict[str, str] = dict(clients or {})
        self._access_token_lifetime = access_token_lifetime
        self._code_lifetime = code_lifetime
        self._rotate = rotate_refresh_tokens
        self._revoke_previous = False
        self._expires_in_as_string = False
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._alexa_script: list[_Scripted] = []
        self._lwa_script: list[_Scripted] = []
        self._lwa_down: LwaDownMode | None = None
        self._lwa_delay = 0.0
        self._enable_delay = 0.0
        self._lwa_release = asyncio.Event()
        self._clock_offset = 0.0
        self._skills: dict[str, _Skill] = {}
        #: The Amazon user the consent page approves as (what LWA's login would decide).
        self.amazon_user = DEFAULT_AMAZON_USER
        #: Skills enabled through the Skill Enablement API, by (Amazon user, skill id).
        self.enablements: dict[tuple[str, str], Enablement] = {}
        #: Every Skill Enablement API request: (method, skill id, status).
        self.enablement_calls: list[tuple[str, str, int]] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        #: Every request received on an Alexa API path, in arrival order.
        self.requests: list[AlexaRequest] = []
        #: Every request received on the LWA token endpoint, in arrival order.
        self.lwa_calls: list[LwaCall] = []
        self.app = self._make_app()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port``; port 0 picks a free port (read it from ``base_url``)."""
        if self._runner is not None:
            raise RuntimeError("stand-in already started")
        self._lwa_release = asyncio.Event()
        runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self._base_url = f"http://{url_host}:{bound_port}"

    async def stop(self) -> None:
        self._lwa_release.set()  # let "hang" handlers finish so shutdown is quick
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AmazonStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("stand-in not started")
        return self._base_url

    @property
    def lwa_token_url(self) -> str:
        return f"{self.base_url}/auth/o2/token"

    @property
    def authorize_url(self) -> str:
        """LWA's consent page (a partner's ``lwa_authorize_url``)."""
        return f"{self.base_url}/ap/oa"

    @property
    def health_profile_url(self) -> str:
        return f"{self.base_url}/v1/health/profile"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/v3/events"

    # -- control API ----------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str) -> None:
        self._clients[client_id] = secret

    def issue_code(
        self,
        client_id: str,
        *,
        redirect_uri: str | None = None,
        code_challenge: str | None = None,
        scope: str | None = None,
    ) -> str:
        """The LWA code Amazon would hand to our reciprocal endpoint or AcceptGrant (or, with
        ``scope`` alexa::skills:account_linking and a PKCE ``code_challenge``, to the
        developer's app through the Alexa app).

        With ``redirect_uri`` the exchange must send the same one; without, any is accepted
        (Amazon's reciprocal samples send none)."""
        if client_id not in self._clients:
            raise KeyError(f"unknown LWA client {client_id!r}")
        code = "AN" + secrets.token_urlsafe(15)
        self._codes[code] = _Code(
            client_id,
            redirect_uri,
            self._now() + self._code_lifetime,
            code_challenge=code_challenge,
            scope=scope,
            user=self.amazon_user,
        )
        return code

    def add_skill(
        self,
        skill_id: str,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        stages: Iterable[str] = ("development", "live"),
        beta_testers: Iterable[str] | None = None,
    ) -> None:
        """Make the Skill Enablement API know a skill and how Alexa redeems its codes."""
        self._skills[skill_id] = _Skill(
            skill_id,
            token_url,
            client_id,
            client_secret,
            frozenset(stages),
            None if beta_testers is None else frozenset(beta_testers),
        )

    def redeems_at(self, skill_id: str) -> tuple[str, str] | None:
        """Where and as which client Alexa redeems codes for the skill (None: unknown skill)."""
        skill = self._skills.get(skill_id)
        return None if skill is None else (skill.token_url, skill.client_id)

    def remove_skill(self, skill_id: str) -> None:
        """The Skill Enablement API no longer knows the skill (404)."""
        self._skills.pop(skill_id, None)

    def advance_time(self, seconds: float) -> None:
        """Move the stand-in's clock forward: codes and access tokens age accordingly."""
        self._clock_offset += seconds

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired; new ones are unaffected."""
        now = self._now()
        for token in self._access.values():
            token.expires_at = min(token.expires_at, now)

    def revoke_refresh_token(self, token: str) -> None:
        """Only that refresh token dies; access tokens stay valid until they expire."""
        if token in self._refresh:
            self._refresh[token].revoked = True

    def revoke_all(self) -> None:
        """As when the user removes the skill's permission: every token stops working."""
        for refresh in self._refresh.values():
            refresh.revoked = True
        for access in self._access.values():
            access.revoked = True

    def set_access_token_lifetime(self, seconds: int) -> None:
        self._access_token_lifetime = seconds

    def set_code_lifetime(self, seconds: float) -> None:
        self._code_lifetime = seconds

    def set_rotate_refresh_tokens(self, rotate: bool, *, revoke_previous: bool = False) -> None:
        """Rotate on refresh; the previous token stays valid unless ``revoke_previous``
        (LWA's behaviour here is undocumented, so tests can pin both)."""
        self._rotate = rotate
        self._revoke_previous = revoke_previous

    def set_expires_in_as_string(self, as_string: bool) -> None:
        """Send ``"expires_in": "3600"`` as one of Amazon's samples shows."""
        self._expires_in_as_string = as_string

    def set_lwa_down(self, down: bool = True, *, mode: LwaDownMode = "503") -> None:
        """Make the token endpoint fail; the Alexa API paths keep working.

        ``"503"`` answers 503 with an HTML body, ``"close"`` drops the connection without an
        answer, ``"hang"`` never answers (until ``set_lwa_down(False)`` or ``stop()``, then
        503) to exercise client timeouts. For *refused* connections, point the client at a
        port nothing listens on; this server keeps listening for the Alexa paths."""
        if mode not in get_args(LwaDownMode):
            raise ValueError(f"unknown LWA down mode {mode!r}")
        self._lwa_down = mode if down else None
        if down and mode == "hang":
            self._lwa_release.clear()
        else:
            self._lwa_release.set()

    def set_enablement_delay(self, seconds: float) -> None:
        """Answer an enablement ``seconds`` after our code was redeemed (a slow Alexa): the
        skill is linked, the answer not yet back."""
        self._enable_delay = max(0.0, seconds)

    def set_lwa_delay(self, seconds: float) -> None:
        """Answer every token request only after ``seconds`` (a slow LWA): widens the window
        in which concurrent callers see the same expired token."""
        self._lwa_delay = max(0.0, seconds)

    def queue_alexa_responses(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
        *,
        code: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` *authenticated, well-formed* Alexa API calls (on ``path``,
        or any) with ``status``. Without ``body``, error statuses get Amazon's error envelope
        with ``code`` (default by status: 403 → SKILL_DISABLED_EXCEPTION, 429 → THROTTLING…).
        Calls rejected for a bad token or body do not consume the queue."""
        if body is None and status >= 400:
            error_code = code or ALEXA_ERROR_CODES.get(status)
            if error_code is not None:
                body = alexa_error_body(error_code, f"scripted {status} from the stand-in")
        for _ in range(count):
            self._alexa_script.append(_Scripted(status, body, dict(headers or {}), path))

    def queue_lwa_responses(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` token requests with exactly this, before any processing
        (codes are not consumed, nothing is issued). For malformed-response tests."""
        for _ in range(count):
            self._lwa_script.append(_Scripted(status, body, dict(headers or {}), None))

    @property
    def refresh_count(self) -> int:
        """Refresh requests received, successful or not."""
        return sum(1 for call in self.lwa_calls if call.grant_type == "refresh_token")

    @property
    def exchange_count(self) -> int:
        """Authorization-code requests received, successful or not."""
        return sum(1 for call in self.lwa_calls if call.grant_type == "authorization_code")

    def is_access_token_valid(self, token: str) -> bool:
        entry = self._access.get(token)
        return entry is not None and not entry.revoked and entry.expires_at > self._now()

    def is_refresh_token_valid(self, token: str) -> bool:
        entry = self._refresh.get(token)
        return entry is not None and not entry.revoked

    # -- internals ------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_control_errors])
        app.router.add_post("/auth/o2/token", self._token_endpoint)
        for path in _ALEXA_PATHS:
            app.router.add_post(path, self._alexa_endpoint)
        app.router.add_get("/ap/oa", self._consent_page)
        app.router.add_post("/ap/oa", self._consent_decision)
        for method in ("POST", "GET", "DELETE"):
            app.router.add_route(method, _ENABLEMENT_PATH, self._enablement_endpoint)
        control: Sequence[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
            ("POST", "/_standin/clients", self._ctl_add_client),
            ("POST", "/_standin/codes", self._ctl_issue_code),
            ("POST", "/_standin/alexa-responses", self._ctl_queue_alexa),
            ("GET", "/_standin/requests", self._ctl_requests),
            ("GET", "/_standin/lwa-calls", self._ctl_lwa_calls),
            ("POST", "/_standin/expire-access-tokens", self._ctl_expire),
            ("POST", "/_standin/revoke-all", self._ctl_revoke_all),
            ("POST", "/_standin/lwa", self._ctl_lwa),
            ("POST", "/_standin/skills", self._ctl_add_skill),
            ("GET", "/_standin/enablements", self._ctl_enablements),
        ]
        for method, path, handler in control:
            app.router.add_route(method, path, handler)
        return app

    # LWA token endpoint

    async def _token_endpoint(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()

        def param(name: str) -> str | None:
            value = form.get(name)
            return value if isinstance(value, str) and value else None

        grant_type = param("grant_type")
        redirect_uri = param("redirect_uri")
        client_id, secret = param("client_id"), param("client_secret")
        client_auth: Literal["basic", "body"] = "body"
        basic = self._basic_credentials(request)

        def record(status: int, error: str | None) -> None:
            self.lwa_calls.append(
                LwaCall(
                    grant_type=grant_type,
                    client_id=client_id,
                    client_auth="none" if client_id is None and secret is None else client_auth,
                    has_client_secret=secret is not None,
                    redirect_uri=redirect_uri,
                    status=status,
                    error=error,
                )
            )

        staged = await self._staged_lwa_answer(request, record)
        if staged is not None:
            return staged
        try:
            if basic is not None:
                if isinstance(basic, _OAuthError):
                    raise basic
                if client_id is not None and client_id != basic[0]:
                    raise _OAuthError("invalid_request", "client_id differs from Basic auth")
                client_id, secret = basic
                client_auth = "basic"
            if grant_type is None:
                raise _missing("grant_type")
            if grant_type == "authorization_code":
                body = self._grant_authorization_code(param, client_id, secret, redirect_uri)
            elif grant_type == "refresh_token":
                body = self._grant_refresh_token(param, client_id, secret)
            else:
                raise _OAuthError(
                    "unsupported_grant_type", f"The grant type {grant_type} is not supported"
                )
        except _OAuthError as exc:
            record(exc.status, exc.error)
            headers = {"x-amzn-errortype": _AMZN_ERROR_TYPES.get(exc.error, "OA2Exception")}
            if exc.status == 401 and client_auth == "basic":
                headers["WWW-Authenticate"] = 'Basic realm="standin"'
            return web.json_response(
                {"error": exc.error, "error_description": exc.description},
                status=exc.status,
                headers={**headers, **_NO_STORE},
            )
        record(200, None)
        return web.json_response(body, headers=_NO_STORE)

    async def _staged_lwa_answer(
        self, request: web.Request, record: Callable[[int, str | None], None]
    ) -> web.StreamResponse | None:
        """What a test staged instead of a real answer: a delay, an outage, a scripted reply."""
        if self._lwa_delay:
            await asyncio.sleep(self._lwa_delay)
        if self._lwa_down is not None:
            if self._lwa_down == "hang":
                await self._lwa_release.wait()
            if self._lwa_down == "close" and request.transport is not None:
                record(0, None)
                request.transport.abort()
                return web.Response()  # never reaches the client
            record(503, None)
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if self._lwa_script:
            scripted = self._lwa_script.pop(0)
            record(scripted.status, None)
            return _body_response(scripted.status, scripted.body, scripted.headers)
        return None

    @staticmethod
    def _basic_credentials(request: web.Request) -> tuple[str, str] | _OAuthError | None:
        header = request.headers.get("Authorization", "")
        if header[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _OAuthError("invalid_client", "Malformed Basic credentials", 401)
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return _OAuthError("invalid_client", "Malformed Basic credentials", 401)
        # RFC 6749 §2.3.1: form-urlencoded before base64.
        return unquote_plus(client_id), unquote_plus(secret)

    def _authenticate(self, client_id: str, secret: str | None) -> None:
        known = self._clients.get(client_id)
        if known is None:
            raise _OAuthError("invalid_client", "Client authentication failed", 401)
        if secret is not None and not secrets.compare_digest(secret, known):
            raise _OAuthError("invalid_client", "Client authentication failed", 401)

    def _grant_authorization_code(
        self,
        param: Callable[[str], str | None],
        client_id: str | None,
        secret: str | None,
        redirect_uri: str | None,
    ) -> dict[str, Any]:
        code = param("code")
        if code is None:
            raise _missing("code")
        # Consumed as soon as it is presented, whatever happens next (docs/alexa-protocols.md §6).
        entry = self._codes.pop(code, None)
        if client_id is None:
            raise _missing("client_id")
        self._authenticate(client_id, secret)
        if entry is None or entry.expires_at <= self._now() or entry.client_id != client_id:
            raise _bad_grant("code")
        if entry.redirect_uri is not None and entry.redirect_uri != redirect_uri:
            raise _bad_grant("redirect_uri")
        if entry.code_challenge is not None:  # RFC 7636 §4.6
            verifier = param("code_verifier")
            if verifier is None or _s256(verifier) != entry.code_challenge:
                raise _bad_grant("code_verifier")
        # A public client (no secret) gets no refresh token (docs/alexa-protocols.md §3).
        refresh = (
            self._new_refresh_token(client_id, entry.scope, entry.user)
            if secret is not None
            else None
        )
        return self._token_body(client_id, refresh, entry.scope, entry.user)

    def _grant_refresh_token(
        self, param: Callable[[str], str | None], client_id: str | None, secret: str | None
    ) -> dict[str, Any]:
        token = param("refresh_token")
        if token is None:
            raise _missing("refresh_token")
        if client_id is None:
            raise _missing("client_id")
        if secret is None:
            raise _missing("client_secret")
        self._authenticate(client_id, secret)
        entry = self._refresh.get(token)
        if entry is None or entry.revoked or entry.client_id != client_id:
            raise _bad_grant("refresh_token")
        if not self._rotate:
            return self._token_body(client_id, token, entry.scope, entry.user)
        if self._revoke_previous:
            entry.revoked = True
        new = self._new_refresh_token(client_id, entry.scope, entry.user)
        return self._token_body(client_id, new, entry.scope, entry.user)

    def _new_refresh_token(
        self, client_id: str, scope: str | None = None, user: str = DEFAULT_AMAZON_USER
    ) -> str:
        token = "Atzr|" + secrets.token_urlsafe(300)
        self._refresh[token] = _RefreshToken(client_id, scope=scope, user=user)
        return token

    def _token_body(
        self,
        client_id: str,
        refresh_token: str | None,
        scope: str | None = None,
        user: str = DEFAULT_AMAZON_USER,
    ) -> dict[str, Any]:
        access = "Atza|" + secrets.token_urlsafe(300)  # LWA: at least 350 chars
        lifetime = self._access_token_lifetime
        self._access[access] = _AccessToken(
            client_id, self._now() + lifetime, scope=scope, user=user
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(lifetime) if self._expires_in_as_string else lifetime,
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return body

    # Alexa APIs

    async def _alexa_endpoint(self, request: web.Request) -> web.Response:
        text = await request.text()
        status, body, headers, parsed = self._alexa_answer(request, text)
        self.requests.append(
            AlexaRequest(
                method=request.method,
                path=request.path,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=parsed,
                text=text,
                status=status,
            )
        )
        return _body_response(status, body, headers)

    def _alexa_answer(
        self, request: web.Request, text: str
    ) -> tuple[int, Any, Mapping[str, str], Any]:
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = None
        auth = request.headers.get("Authorization")
        if auth is not None and auth[:7].lower() == "bearer " and not auth.startswith("Bearer "):
            # Amazon documents a 400 for a lower-case scheme (docs/alexa-protocols.md §5).
            error = alexa_error_body("INVALID_REQUEST_EXCEPTION", "Use 'Bearer' (title case)")
            return 400, error, {}, parsed
        if (
            auth is None
            or not auth.startswith("Bearer ")
            or not self.is_access_token_valid(auth[7:])
        ):
            error = alexa_error_body(
                "INVALID_ACCESS_TOKEN_EXCEPTION", "The access token is missing, invalid or expired"
            )
            return 401, error, {}, parsed
        if not isinstance(parsed, dict):
            error = alexa_error_body("INVALID_REQUEST_EXCEPTION", "Body must be a JSON object")
            return 400, error, {}, parsed
        for index, scripted in enumerate(self._alexa_script):
            if scripted.path is None or scripted.path == request.path:
                del self._alexa_script[index]
                return scripted.status, scripted.body, scripted.headers, parsed
        return 202, None, {}, parsed

    # LWA's consent page (app-to-app linking)

    async def _consent_page(self, request: web.Request) -> web.Response:
        query = request.query
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id not in self._clients or not redirect_uri.startswith(("http://", "https://")):
            return web.Response(status=400, text="unknown client or bad redirect_uri")
        if query.get("response_type") != "code" or not query.get("scope"):
            return _redirect(redirect_uri, error="invalid_request", state=query.get("state"))
        method = query.get("code_challenge_method")
        if query.get("code_challenge") and method != "S256":
            return _redirect(redirect_uri, error="invalid_request", state=query.get("state"))
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            "<!doctype html><title>Amazon</title><h1>Login with Amazon (stand-in)</h1>"
            f'<p id="lwa-request">{html.escape(client_id)} asks for '
            f"{html.escape(query['scope'])}</p>"
            f'<form method="post" action="/ap/oa">{fields}'
            '<button id="lwa-allow" name="allow" value="1">Allow</button>'
            '<button id="lwa-deny" name="deny" value="1">Cancel</button></form>'
        )
        return web.Response(text=page, content_type="text/html")

    async def _consent_decision(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        client_id, redirect_uri = form.get("client_id", ""), form.get("redirect_uri", "")
        if client_id not in self._clients or not redirect_uri:
            return web.Response(status=400, text="unknown client or no redirect_uri")
        state = form.get("state")
        if "allow" not in form or "deny" in form:
            return _redirect(
                redirect_uri,
                error="access_denied",
                error_description="The user denied the request.",
                state=state,
            )
        code = "AN" + secrets.token_urlsafe(15)
        self._codes[code] = _Code(
            client_id,
            redirect_uri,
            self._now() + self._code_lifetime,
            code_challenge=form.get("code_challenge") or None,
            scope=form.get("scope"),
            user=self.amazon_user,
        )
        return _redirect(redirect_uri, code=code, scope=form.get("scope"), state=state)

    # Skill Enablement API

    async def _enablement_endpoint(self, request: web.Request) -> web.Response:
        skill_id = request.match_info["skill_id"]
        status, body = await self._enablement_answer(request, skill_id)
        self.enablement_calls.append((request.method, skill_id, status))
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    async def _enablement_answer(self, request: web.Request, skill_id: str) -> tuple[int, Any]:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and not auth.startswith("Bearer "):
            return 400, {"message": "The authorization scheme must be 'Bearer' (title case)."}
        token = self._access.get(auth[7:]) if auth.startswith("Bearer ") else None
        if token is None or token.revoked or token.expires_at <= self._now():
            return 401, {"message": "The access token is missing, invalid, expired or revoked."}
        if ACCOUNT_LINKING_SCOPE not in (token.scope or "").split():
            return 403, {"message": f"The access token lacks the {ACCOUNT_LINKING_SCOPE} scope."}
        skill = self._skills.get(skill_id)
        if skill is None:
            return 404, {"message": "The skill does not exist or is not available to the user."}
        key = (token.user, skill_id)
        current = self.enablements.get(key)
        if request.method == "GET":
            if current is None or not current.enabled:
                return 404, {"message": "The skill is not enabled for the user."}
            return 200, _enablement_body(current)
        if request.method == "DELETE":
            if current is None or not current.enabled:
                return 404, {"message": "The skill is not enabled for the user."}
            current.enabled = False
            return 204, None
        return await self._enable(request, skill, token.user)

    async def _enable(self, request: web.Request, skill: _Skill, user: str) -> tuple[int, Any]:
        try:
            data = await request.json()
        except ValueError:
            data = None
        link = data.get("accountLinkRequest") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or not isinstance(link, dict)
            or data.get("stage") not in skill.stages
            or link.get("type") != "AUTH_CODE"
            or not isinstance(link.get("redirectUri"), str)
            or not isinstance(link.get("authCode"), str)
        ):
            return 400, {"message": "The request body is not a valid enablement request."}
        stage = str(data["stage"])
        if stage == "development" and skill.beta_testers is not None:
            if user not in skill.beta_testers:
                return 403, {"message": "The user is not a beta tester of this skill."}
        redeemed = await self._redeem(skill, link["authCode"], link["redirectUri"])
        if redeemed is None:
            return 400, {"message": "Account linking failed: the skill's token URI refused."}
        enablement = Enablement(
            skill.skill_id, stage, user, link["redirectUri"], redeemed[0], redeemed[1]
        )
        self.enablements[(user, skill.skill_id)] = enablement
        await asyncio.sleep(self._enable_delay)
        return 201, _enablement_body(enablement)

    @staticmethod
    async def _redeem(skill: _Skill, code: str, redirect_uri: str) -> tuple[str, str | None] | None:
        """As Alexa does: the code at the skill's token URI, with the skill's credentials."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        # RFC 6749 §2.3.1: form-encoded before base64.
        pair = f"{quote_plus(skill.client_id)}:{quote_plus(skill.client_secret)}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    skill.token_url, data=form, headers=headers, allow_redirects=False
                ) as resp,
            ):
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, ValueError) as exc:
            log.info("the skill's token URI gave no answer: %r", exc)
            return None
        if resp.status != 200 or not isinstance(body, dict):
            log.info("the skill's token URI refused the code: %s %s", resp.status, body)
            return None
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str):
            return None
        return access, refresh if isinstance(refresh, str) else None

    # HTTP control API

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body must be JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return data

    async def _ctl_add_client(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        self.add_client(str(data["client_id"]), str(data["secret"]))
        return web.Response(status=204)

    async def _ctl_issue_code(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        code = self.issue_code(str(data["client_id"]), redirect_uri=data.get("redirect_uri"))
        return web.json_response({"code": code}, status=201)

    async def _ctl_queue_alexa(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        self.queue_alexa_responses(
            int(data["status"]),
            data.get("body"),
            data.get("headers"),
            int(data.get("count", 1)),
            code=data.get("code"),
            path=data.get("path"),
        )
        return web.Response(status=204)

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.to_json() for r in self.requests]})

    async def _ctl_lwa_calls(self, request: web.Request) -> web.Response:
        calls = [dataclasses.asdict(call) for call in self.lwa_calls]
        return web.json_response(
            {
                "calls": calls,
                "exchange_count": self.exchange_count,
                "refresh_count": self.refresh_count,
            }
        )

    async def _ctl_expire(self, request: web.Request) -> web.Response:
        self.expire_access_tokens()
        return web.Response(status=204)

    async def _ctl_revoke_all(self, request: web.Request) -> web.Response:
        self.revoke_all()
        return web.Response(status=204)

    async def _ctl_add_skill(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        testers = data.get("beta_testers")
        self.add_skill(
            str(data["skill_id"]),
            token_url=str(data["token_url"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            stages=[str(s) for s in data.get("stages", ("development", "live"))],
            beta_testers=None if testers is None else [str(t) for t in testers],
        )
        return web.Response(status=204)

    async def _ctl_enablements(self, request: web.Request) -> web.Response:
        rows = [e.to_json() for e in self.enablements.values()]
        return web.json_response({"enablements": rows})

    async def _ctl_lwa(self, request: web.Request) -> web.Response:
        data = await self._json(request)
        self.set_lwa_down(bool(data["down"]), mode=data.get("mode", "503"))
        return web.Response(status=204)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _redirect(uri: str, **params: str | None) -> web.Response:
    """A 302 to `uri` with `params` added to its query (the OAuth answer to a consent)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    location = urlunsplit(parts._replace(query=urlencode(query)))
    return web.Response(status=302, headers={"Location": location})


def _enablement_body(enablement: Enablement) -> dict[str, Any]:
    """The Skill Enablement API's description of an enabled skill (shape as documented)."""
    return {
        "skill": {"stage": enablement.stage, "id": enablement.skill_id},
        "user": {"id": enablement.user},
        "accountLink": {"status": "LINKED"},
        "status": "ENABLED",
    }


# -- command line -------------------------------------------------------------------------


def _client_arg(value: str) -> tuple[str, str]:
    client_id, sep, secret = value.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:SECRET")
    return client_id, secret


def _parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.amazon_standin",
        description="Local stand-in for Login with Amazon and the Alexa APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400, help="0 picks a free port")
    parser.add_argument("--access-token-lifetime", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--code-lifetime", type=float, default=300, metavar="SECONDS")
    parser.add_argument("--rotate-refresh-tokens", action="store_true")
    parser.add_argument(
        "--client",
        type=_client_arg,
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="register an LWA client (repeatable)",
    )
    return parser.parse_args(None if argv is None else list(argv))


async def _serve(args: argparse.Namespace) -> None:
    standin = AmazonStandIn(
        clients=dict(args.client),
        access_token_lifetime=args.access_token_lifetime,
        code_lifetime=args.code_lifetime,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
    )
    await standin.start(args.host, args.port)
    # First line is machine-readable: tests and scripts read the URL from it.
    print(f"amazon stand-in listening on {standin.base_url}", flush=True)
    print(f"  LWA token URL:   {standin.lwa_token_url}", flush=True)
    print(f"  Alexa APIs:      {standin.health_profile_url}, {standin.events_url}", flush=True)
    print(f"  LWA clients:     {', '.join(standin._clients) or '(none)'}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()


def main(argv: Iterable[str] | None = None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
