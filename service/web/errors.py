"""The one place where errors become answers: readable pages for browsers, JSON for API clients
(RFC 6749 §5.2 shape), never internals.

A `ServiceError` raised anywhere below a handler is rendered with its own status, body and
headers; aiohttp's own HTTP errors (404, 405, 413) and the failures of the database and of the
request body are mapped to the same two shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pymongo.errors import PyMongoError

from service.db import unavailable
from service.errors import BadRequest, ServiceError, Unavailable
from service.web.session import Handler

log = logging.getLogger(__name__)

JSON_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/.well-known/",
    "/healthz",
    "/readyz",
    "/alexa/",
    "/openapi.json",
)

MESSAGES = {
    400: "The request was not understood.",
    403: "You are not allowed to do that.",
    404: "There is no page at this address.",
    405: "This address does not accept that kind of request.",
    413: "The request is too large.",
    429: "Too many requests from your address. Please try again later.",
    500: "Something went wrong on our side. Please try again.",
    503: "The service is briefly unavailable. Please try again in a moment.",
}
_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_request",
    500: "server_error",
    503: "temporarily_unavailable",
}
# Headers of aiohttp's own exceptions that the replacement answer must keep (RFC 9110 §15.5.6:
# a 405 carries `Allow`).
_KEPT_HEADERS = ("Allow",)


def wants_json(request: web.Request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def render(request: web.Request, error: ServiceError) -> web.Response:
    """`error` as JSON on API paths, as an HTML page elsewhere."""
    if wants_json(request):
        return web.json_response(error.body(), status=error.status, headers=error.headers())
    return _page(request, error.status, error.description, error.headers())


def _page(
    request: web.Request, status: int, message: str, headers: Mapping[str, str]
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"status": status, "message": message, "user": None}, status=status
    )
    response.headers.update(headers)
    return response


def _from_http_exception(exc: web.HTTPException) -> ServiceError:
    error = ServiceError(MESSAGES.get(exc.status, exc.reason))
    error.status = exc.status
    error.error = _CODES.get(exc.status, "error")
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as exc:
        if exc.status == 500:
            log.error("%s on %s %s: %s", exc.error, request.method, request.path, exc)
        return render(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects
        response = render(request, _from_http_exception(exc))
        response.headers.update({k: exc.headers[k] for k in _KEPT_HEADERS if k in exc.headers})
        return response
    except ConnectionResetError:
        # The client went away mid-request (an upload cut short): nobody reads the answer.
        log.info("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=400, text="The connection was closed.")
    except (RequestPayloadError, HttpProcessingError):
        # The body could not be read: a broken compressed body, a connection cut mid-upload.
        return render(request, BadRequest("The request body could not be read."))
    except PyMongoError as exc:
        if not unavailable(exc):  # a refused write, such as a duplicate key, is a bug
            log.exception("database error on %s %s", request.method, request.path)
            return render(request, ServiceError(MESSAGES[500]))
        # Down, unreachable, or slower than its operation timeout (ALS_MONGODB_TIMEOUT): a
        # fast 503 with Retry-After, never a request left hanging.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        return render(request, Unavailable(MESSAGES[503]))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(request, ServiceError(MESSAGES[500]))
