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
    re.compile(r"(?i)(authorization:\s*)(basic|bearer)\s+\S+"),
    re.compile(
        r"(?i)\b(code|code_verifier|client_secret|access_token|refresh_token|token|password|"
        r"assertion|id_token_hint|state)=([^&\s\"']+)"
    ),
    re.compile(r"\b(Atz[ar]\|)\S+"),
]


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(r"\1\2 [redacted]", text)
    text = _SECRET_PATTERNS[1].sub(r"\1=[redacted]", text)
    return _SECRET_PATTERNS[2].sub(r"\1[redacted]", text)


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
