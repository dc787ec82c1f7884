"""The audit trail for people (`/admin/audit`): names next to ids, filtered by user, client,
partner, event type and time (`?user=&client=&partner=&event=&since=`), a page at a time; and
the filtered view as CSV (`/admin/audit.csv`, same query, at most CSV_LIMIT rows)."""

from __future__ import annotations

import csv
import io
from typing import Final

from aiohttp import web

from service import admin_support
from service.clock import utcnow
from service.web import admin_params
from service.web.appkeys import DB
from service.web.pages import render
from service.web.session import admin_required

# A cell a spreadsheet would take for a formula (OWASP, "CSV Injection") gets a leading '.
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


async def audit_page(request: web.Request) -> web.Response:
    await admin_required(request)
    where = admin_params.audit_filter(request)
    db = request.app[DB]
    events, paging = await admin_support.audit_page(db, where, admin_params.page_number(request))
    return await render(
        request,
        "admin/audit.html",
        {
            "events": events,
            "paging": paging,
            "where": where,
            "query": admin_params.filter_query(where),
            "actions": admin_support.KNOWN_EVENTS,
        },
    )


async def audit_csv(request: web.Request) -> web.Response:
    """Built whole before it is sent (at most CSV_LIMIT rows), so that a failing database
    gives an error page rather than half a file, and the security headers are on it."""
    await admin_required(request)
    where = admin_params.audit_filter(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    async for row in admin_support.audit_rows(request.app[DB], where):
        writer.writerow([csv_cell(cell) for cell in row])
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return web.Response(
        body=buffer.getvalue().encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
