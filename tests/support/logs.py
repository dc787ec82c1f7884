"""The service's log output as an operator reads it: the handler `serve` installs (text or
JSON, redacted, stamped with the request id), attached to the root logger for a block of a
test, writing into a string."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service.web.logging_setup import log_handler


@contextmanager
def formatted_logs(log_format: str) -> Iterator[io.StringIO]:
    """Everything logged (at the root logger's level) inside the block, formatted."""
    out = io.StringIO()
    handler = log_handler(log_format, out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Each line as the JSON object it must be (json.loads fails the test otherwise)."""
    entries = []
    for line in out.getvalue().splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries
