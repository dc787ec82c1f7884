"""Logging that never writes secrets: tokens, codes, client secrets or Authorization headers.

The access log omits query strings (authorization codes travel in them) and a filter masks
anything that still looks like a credential.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

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


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO; they may carry codes.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """Method, path without its query string, status, size and time: no codes, no tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )
