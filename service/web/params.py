"""Request parameters as RFC 6749 §3.1/§3.2 allow them (each at most once, empty means absent),
read from the query, a form or a JSON body. Malformed input is `invalid_request`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from service.oauth.errors import InvalidRequest

FORM = "application/x-www-form-urlencoded"


def single_valued(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """A plain dict of the string parameters; a repeated parameter is `invalid_request`."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(value, str):
            raise InvalidRequest(f"Parameter {key} must be a plain form field.")
        if key in params:
            raise InvalidRequest(f"Parameter {key} was sent more than once.")
        params[key] = value
    # "Parameters sent without a value MUST be treated as if they were omitted" (§3.1).
    return {k: v for k, v in params.items() if v != ""}


async def form_params(request: web.Request) -> dict[str, str]:
    """The form body as single-valued parameters."""
    if request.content_type != FORM:
        raise InvalidRequest(f"The request body must be {FORM}.")
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError, LookupError):  # LookupError: unknown charset
        raise InvalidRequest("The request body is not valid form data.") from None
    return single_valued(form.items())


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
    # Each at most once, as in a form body: a repeated user_id must not pick one silently.
    params: dict[str, Any] = single_valued(request.query.items())
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
