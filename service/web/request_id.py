"""The request id: taken from a valid incoming `X-Request-Id` (1-128 characters of
``A-Z a-z 0-9 . _ : -``, so it can go into logs and headers as it is), else made up; returned
in the `X-Request-Id` header of every answer, errors included, and carried by every log record
written while the request is handled (`current_request_id`, read by the logging filter).

aiohttp handles each request in a task of its own (aiohttp #3406) and the access log is written
at the end of that task, so the context variable set here lasts exactly one request.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Final

from aiohttp import web

from service.web.session import Handler

HEADER: Final = "X-Request-Id"
_VALID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("als_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return _request_id.get()


def request_id_for(incoming: str | None) -> str:
    """The caller's id when it is a valid one, else a new random one (32 hex digits)."""
    if incoming is not None and _VALID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: whatever the layers inside answer, or raise, carries the header."""
    request_id = request_id_for(request.headers.get(HEADER))
    _request_id.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects, which the error middleware lets through
        exc.headers[HEADER] = request_id
        raise
    if not response.prepared:
        response.headers[HEADER] = request_id
    return response
