"""The admin pages at size (issue 13): p50/p95 of each page with many linked accounts and a long
audit trail stored.

    python -m bench.run_bench --admin-scale 100000,1000000 [--admin-samples 20]

Bulk-loads that many linked accounts (a consent and an OAuth grant each, with usernames,
emails and activity times) and audit events (spread over the users, event types and partners)
into the service's database while it runs, logs in as `admin` through Keycloak, and asks each
admin page `samples` times one after another: the overview, a search by the start of a
username, a deep page of the list, one customer's page, the audit trail filtered by user and by
event type, a deep page of it, and the client and partner lists. Prints each page's p50, p95
and its answers that were not 200 (a database that did not answer in time gives a 503).
"""

from __future__ import annotations

import random
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient

from service.clock import utcnow
from service.storage import audit, grants, token_grants
from tests.support.browser import Browser

BATCH = 5_000
EVENTS = ("refresh_failed", "link", "unlink", "oauth.consent", "link_inactive", "oauth.unlink")
PARTNERS = ("skill-a", "skill-b", "skill-c")


async def _fill(
    db: Any, client_id: str, users: int, events: int, out: Callable[[str], None]
) -> None:
    now = utcnow()
    started = time.monotonic()
    for start in range(0, users, BATCH):
        consents, authorizations = [], []
        for i in range(start, min(users, start + BATCH)):
            user_id = f"00000000-0000-4000-8000-{i:012d}"
            name = f"scale{i}"
            at = now - timedelta(seconds=users - i)
            consents.append(
                {
                    "user_id": user_id,
                    "client_id": client_id,
                    "username": name,
                    "username_lc": name,
                    "email": f"{name}@example.org",
                    "email_lc": f"{name}@example.org",
                    "scopes": ["profile"],
                    "granted_at": at,
                    "updated_at": at,
                    "active_at": at,
                }
            )
            authorizations.append(
                {
                    "_id": secrets.token_hex(12),
                    "client_id": client_id,
                    "user_id": user_id,
                    "username": name,
                    "scopes": ["profile"],
                    "created_at": at,
                    "revoked_at": None,
                    "access_revoked_before": None,
                }
            )
        await db[grants.COLLECTION].insert_many(consents, ordered=False)
        await db[token_grants.COLLECTION].insert_many(authorizations, ordered=False)
    out(f"# {users:,} linked accounts loaded in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    rng = random.Random(13)
    for start in range(0, events, BATCH):
        docs = []
        for i in range(start, min(events, start + BATCH)):
            docs.append(
                {
                    "at": now - timedelta(seconds=(events - i) / 10),
                    "action": EVENTS[i % len(EVENTS)],
                    "actor": "client:bench",
                    "user_id": f"00000000-0000-4000-8000-{rng.randrange(users):012d}",
                    "details": {"partner_id": PARTNERS[i % len(PARTNERS)], "reason": "bench"},
                }
            )
        await db[audit.COLLECTION].insert_many(docs, ordered=False)
    out(f"# {events:,} audit events loaded in {time.monotonic() - started:.0f} s")


async def run_admin_scale(
    *,
    uri: str,
    db_name: str,
    base: str,
    client_id: str,
    users: int,
    events: int,
    samples: int,
    out: Callable[[str], None],
) -> dict[str, tuple[float, float, int]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        await _fill(mongo[db_name], client_id, users, events, out)
    finally:
        await mongo.close()
    one = f"00000000-0000-4000-8000-{users // 2:012d}"
    pages = {
        "overview": "/admin",
        "search (start of a username)": f"/admin/links?q=scale{users // 2 // 100}",
        "linked accounts, page 1": "/admin/links",
        "linked accounts, page 1000": "/admin/links?page=1000",
        "one customer's page": f"/admin/users/{one}",
        "audit, filtered by user": f"/admin/audit?user={one}",
        "audit, filtered by event type": "/admin/audit?event=link_inactive",
        "audit, page 1": "/admin/audit",
        "audit, page 1000": "/admin/audit?page=1000",
        "clients": "/admin/clients",
        "partners": "/admin/partners",
    }
    figures: dict[str, tuple[float, float, int]] = {}
    browser = Browser()
    try:
        await browser.login(base, "admin")
        for name, path in pages.items():
            times, failed = [], 0
            for _ in range(samples):
                started = time.perf_counter()
                page = await browser.get(base + path)
                times.append((time.perf_counter() - started) * 1000)
                failed += page.status != 200
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
            figures[name] = (statistics.median(times), p95, failed)
            out(
                f"{name:<32} p50 {figures[name][0]:8.1f} ms   p95 {p95:8.1f} ms"
                + (f"   {failed} of {samples} not 200" if failed else "")
            )
    finally:
        await browser.close()
    return figures
