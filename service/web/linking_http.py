"""HTTP plumbing shared by the linking endpoints: the domain's dependencies from the app,
request parameters, and the one place where a `LinkingError` becomes a JSON response."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from service.appkeys import ALEXA_RETRY, DB, HTTP, KEYRING, SETTINGS
from service.linking.deps import LinkingDeps, RetryPolicy
from service.linking.errors import InvalidRequest, LinkingError
from service.oauth.errors import OAuthError
from service.oauth.params import single_valued

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


def linking_deps(app: web.Application) -> LinkingDeps:
    settings = app[SETTINGS]
    return LinkingDeps(
        db=app[DB],
        http=app[HTTP],
        keyring=app[KEYRING],
        lwa_timeout=settings.lwa_timeout,
        alexa_timeout=settings.alexa_timeout,
        retry=app.get(ALEXA_RETRY) or RetryPolicy(),
    )


def error_response(exc: LinkingError) -> web.Response:
    headers = dict(NO_STORE)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    elif exc.http_status == 403 and exc.error == "insufficient_scope":
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int | float):
        headers["Retry-After"] = str(int(retry_after))
    return web.json_response(exc.body(), status=exc.http_status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_errors(handler: Handler) -> Handler:
    """Decorate a handler so that its `LinkingError`s become JSON answers."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except LinkingError as exc:
            return error_response(exc)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


async def form_params(request: web.Request) -> dict[str, str]:
    """Single-valued form fields (RFC 6749 §3.2); empty values count as absent."""
    if request.content_type != FORM:
        raise InvalidRequest(f"the request body must be {FORM}")
    try:
        form = await request.post()
        return single_valued(form.items())
    except OAuthError as exc:
        raise InvalidRequest(exc.description) from None
    except (UnicodeDecodeError, ValueError, LookupError):  # LookupError: unknown charset
        raise InvalidRequest("the request body is not valid form data") from None


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6); passed on, Alexa would get invalid JSON.
    raise ValueError(f"{name} is not JSON")


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read(), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack (a few KB of "[[[[…").
        raise InvalidRequest("the request body must be JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


async def api_params(request: web.Request) -> dict[str, Any]:
    """Query parameters for GET; a form or a JSON object for POST (and the query as fallback)."""
    try:
        # Each at most once, as in a form body: a repeated user_id must not pick one silently.
        params: dict[str, Any] = single_valued(request.query.items())
    except OAuthError as exc:
        raise InvalidRequest(exc.description) from None
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            params.update(await json_object(request))
        elif request.content_type == FORM:
            params.update(await form_params(request))
        else:
            raise InvalidRequest(f"the request body must be {FORM} or application/json")
    return params


def text_param(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} is required (a non-empty string)", field=name)
    return value.strip()
