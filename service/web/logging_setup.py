"""Logging that never writes secrets: tokens, codes, client secrets or Authorization headers.

The access log omits query strings (authorization codes travel in them) and a filter masks
anything that still looks like a credential, in both formats: `text` (one line per record) and
`json` (ALS_LOG_FORMAT=json: one JSON object per line, every string in it redacted). Records
written while a request is handled carry its id (`service.web.request_id`).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import IO, Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from service.web.metrics import route_label
from service.web.proxy import client_address
from service.web.request_id import current_request_id

_SECRET_PATTERNS = [
    # A credential after its scheme, with or without the header name before it (aiohttp's
    # "line too long" error quotes a bare header value).
    (re.compile(r"(?i)\b(basic|bearer)(\s+)[^\s'\"]+"), r"\1\2[redacted]"),
    (
        re.compile(
            r"(?i)\b(code|code_verifier|client_secret|access_token|refresh_token|token|password|"
            r"assertion|id_token_hint|state)=([^&\s\"']+)"
        ),
        r"\1=[redacted]",
    ),
    (re.compile(r"\b(Atz[ar]\|)\S+"), r"\1[redacted]"),
    # Query strings of quoted paths and URLs (codes travel in them), whatever the parameter.
    (
        re.compile(r"((?:^|[\s'\"(])(?:https?://[^\s/'\"?]+)?/[^\s?'\"]*)\?[^\s'\"]*"),
        r"\1?[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record: the filter sees only the message, not a traceback,
    whose exception text can quote a request (aiohttp's parser errors quote the request line)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# What the access log adds to its records, and the request id every record may carry.
REQUEST_FIELDS: Final = ("request_id", "method", "route", "status", "duration_ms", "client_ip")
NO_REQUEST: Final = "-"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled (`-` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or NO_REQUEST
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, the
    request's fields when the record has them (`request_id`, and from the access log `method`,
    `route`, `status`, `duration_ms`, `client_ip`), and `exception`. Every string is redacted
    before it is encoded (JSON escaping would hide a quoted value from the patterns)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is None or value == NO_REQUEST:
                continue
            entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_handler(log_format: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `text` or `json` lines to `stream` (stderr by default), redacted and
    stamped with the request id."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter(TEXT_FORMAT, defaults={"request_id": NO_REQUEST}))
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    return handler


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    handler = log_handler(log_format)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO; they may carry codes.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """Method, path without its query string, status, size and time: no codes, no tokens. The
    same facts go into the record's fields for the JSON format (the route as its pattern)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        client = client_address(request)  # behind a trusted proxy, the forwarded client's
        fields: dict[str, object] = {
            "method": request.method,
            "status": response.status,
            "duration_ms": round(time * 1000, 1),
            "client_ip": client,
        }
        if isinstance(request, web.Request) and request.match_info is not None:
            fields["route"] = route_label(request)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            client,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
            extra=fields,
        )
