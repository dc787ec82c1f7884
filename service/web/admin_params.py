"""Query parameters of the admin lists (`page`, `q`, the audit filters): read strictly, and
a readable 400 page for any that cannot be used, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from aiohttp import web

from service.admin_support import MAX_PAGE
from service.clock import utcnow
from service.errors import BadRequest
from service.storage.audit import Filter

MAX_TEXT: Final = 255  # longer than any username, email, id or event type we store
_RELATIVE = re.compile(r"(\d{1,5})([hd])")


def page_number(request: web.Request) -> int:
    """`page`: 1 when absent; a whole number from 1 to MAX_PAGE otherwise."""
    value = request.query.get("page", "").strip()
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"The page must be a whole number from 1 to {MAX_PAGE:,}.")
    return int(value)


def text(request: web.Request, name: str) -> str:
    """A search or filter value: trimmed; at most MAX_TEXT characters, none of them control
    characters."""
    value = request.query.get(name, "").strip()
    if len(value) > MAX_TEXT or any(c < " " or c == "\x7f" for c in value):
        raise BadRequest(
            f"The {name} filter must be at most {MAX_TEXT} characters, without control characters."
        )
    return value


def since(request: web.Request) -> datetime | None:
    """`since`: a date (2026-11-29), a date and time (2026-11-29T08:30, UTC unless an offset
    is given), or a time back from now (12h, 7d)."""
    value = request.query.get("since", "").strip()
    if not value:
        return None
    relative = _RELATIVE.fullmatch(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return utcnow() - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "Since must be a date (2026-11-29), a date and time (2026-11-29T08:30) or a time "
            "back from now (12h, 7d)."
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def audit_filter(request: web.Request) -> Filter:
    return Filter(
        user_id=text(request, "user"),
        client_id=text(request, "client"),
        partner_id=text(request, "partner"),
        action=text(request, "event"),
        since=since(request),
    )


def filter_query(where: Filter) -> dict[str, str]:
    """The filter as the query string that shows it (the pager's links, the CSV link)."""
    query = {
        "user": where.user_id,
        "client": where.client_id,
        "partner": where.partner_id,
        "event": where.action,
        "since": "" if where.since is None else where.since.isoformat(timespec="seconds"),
    }
    return {k: v for k, v in query.items() if v}
