"""One error middleware: readable pages for browsers, JSON for API clients, never internals."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pymongo.errors import ConnectionFailure

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
    500: "Something went wrong on our side. Please try again.",
    503: "The service is briefly unavailable. Please try again in a moment.",
}


def wants_json(request: web.Request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def error_page(request: web.Request, status: int, message: str) -> web.HTTPException:
    """An HTTP exception carrying a rendered error page (raise it from a handler)."""
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"status": status, "message": message, "user": None}, status=status
    )
    exc = web.HTTPException(text=response.text, content_type="text/html")
    exc.set_status(status)
    return exc


# Headers of aiohttp's own exceptions that the replacement answer must keep (RFC 9110 §15.5.6:
# a 405 carries `Allow`).
_KEPT_HEADERS = ("Allow",)


def _json_error(status: int, message: str) -> web.Response:
    codes = {
        400: "invalid_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "invalid_request",
    }
    code = {500: "server_error", 503: "temporarily_unavailable"}.get(status) or codes.get(
        status, "error"
    )
    return web.json_response({"error": code, "error_description": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or (exc.text and exc.content_type in ("text/html", "application/json")):
            raise
        message = MESSAGES.get(exc.status, exc.reason)
        kept = {k: exc.headers[k] for k in _KEPT_HEADERS if k in exc.headers}
        if wants_json(request):
            response = _json_error(exc.status, message)
            response.headers.update(kept)
            return response
        page = error_page(request, exc.status, message)
        page.headers.update(kept)
        raise page from None
    except ConnectionResetError:
        # The client went away mid-request (an upload cut short): nobody reads the answer.
        log.info("client disconnected during %s %s", request.method, request.path)
        return web.Response(status=400, text="The connection was closed.")
    except (RequestPayloadError, HttpProcessingError):
        # The body could not be read: a broken compressed body, a connection cut mid-upload.
        if wants_json(request):
            return _json_error(400, "The request body could not be read.")
        raise error_page(request, 400, "The request body could not be read.") from None
    except ConnectionFailure as exc:  # the database is down or unreachable
        # (Other database errors, such as a duplicate key, are bugs: the 500 below.)
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        if wants_json(request):
            response = _json_error(503, MESSAGES[503])
            response.headers["Retry-After"] = "5"
            return response
        page = error_page(request, 503, MESSAGES[503])
        page.headers["Retry-After"] = "5"
        raise page from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json(request):
            return _json_error(500, MESSAGES[500])
        raise error_page(request, 500, MESSAGES[500]) from None
