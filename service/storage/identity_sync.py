"""`identity_sync` collection: how far Keycloak's admin events have been read (`cursor`), and
which process reads them now (`lease`). Two documents, made at the first start and then only
updated, so the collection never grows.

Every process runs the sync loop; a round is done by the process that takes the lease (an update
that matches only an expired lease). On MongoDB exactly one process takes it; FerretDB 1.24
evaluates the filter apart from the write (docs/libraries.md §7), so now and then two processes
may both run a round: harmless, since processing is idempotent (`service.identity_sync`), and
the cursor they write differs at most by the events one of them had not read yet, which the
next round reads again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.storage.upsert import upsert_one

COLLECTION = "identity_sync"
_CURSOR = "cursor"
_LEASE = "lease"
SEEN_LIMIT = 1000  # recently processed events kept with the cursor (a bound, never reached)
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """Events are read from `from_ms` (Keycloak's clock, epoch ms, inclusive) on; `seen` are
    the events at or after that time already processed (key → time), skipped when read again."""

    from_ms: int
    seen: dict[str, int] = field(default_factory=dict)


async def start(db: Database, from_ms: int) -> None:
    """Where a database that never synced starts reading, and its lease; both stay as they
    are when they exist."""
    for doc in (
        {"_id": _CURSOR, "from_ms": from_ms, "seen": []},
        {"_id": _LEASE, "until": _NEVER},
    ):
        try:
            await db[COLLECTION].insert_one(doc)
        except DuplicateKeyError:
            pass


async def cursor(db: Database) -> Cursor | None:
    doc = await db[COLLECTION].find_one({"_id": _CURSOR})
    if doc is None:
        return None
    seen = {
        str(item["key"]): int(item["time_ms"])
        for item in doc.get("seen", ())
        if isinstance(item, dict) and "key" in item and "time_ms" in item
    }
    return Cursor(int(doc["from_ms"]), seen)


async def save_cursor(db: Database, position: Cursor) -> None:
    newest = sorted(position.seen.items(), key=lambda item: item[1])[-SEEN_LIMIT:]
    seen: list[dict[str, Any]] = [{"key": key, "time_ms": t} for key, t in newest]
    await upsert_one(
        db[COLLECTION], {"_id": _CURSOR}, {"$set": {"from_ms": position.from_ms, "seen": seen}}
    )


async def take_lease(db: Database, *, now: datetime, until: datetime) -> bool:
    """True when the lease was free (expired) and is now ours until `until`."""
    result = await db[COLLECTION].update_one(
        {"_id": _LEASE, "until": {"$lte": now}}, {"$set": {"until": until}}
    )
    return result.modified_count == 1
