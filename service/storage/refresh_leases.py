"""`refresh_leases` collection: who may refresh a user's LWA token set right now.

A lease is a document whose key (user, partner, generation of the token set, attempt number)
is under a unique index, so taking it is a plain insert that exactly one caller wins, in any
process. That is the one write Mongo-protocol servers agree is atomic: FerretDB 1.24 (our test
server) evaluates the filter of ``find_one_and_update``/``find_one_and_delete`` apart from the
write, so several concurrent callers can all "win" a conditional update there (measured: up
to 17 of 50). A lease whose holder died is superseded by inserting the next attempt number
once it has expired; a finished lease records its outcome for the callers waiting on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from service.db import Database
from service.models.linking import Outcome, RefreshLease
from service.storage.ttl import ensure_ttl_index

COLLECTION = "refresh_leases"
KEEP_SECONDS = 24 * 3600  # leases are deleted this long after they were taken


async def ensure_indexes(db: Database) -> None:
    coll = db[COLLECTION]
    await coll.create_index(
        [("user_id", 1), ("partner_id", 1), ("generation", 1), ("attempt", 1)], unique=True
    )
    # Leases of older token sets are deleted when a refresh completes; TTL (where the server
    # has it) sweeps what crashed processes left behind.
    await ensure_ttl_index(db, COLLECTION, "created_at", KEEP_SECONDS)


def _from_doc(doc: dict[str, Any]) -> RefreshLease:
    return RefreshLease(
        user_id=doc["user_id"],
        partner_id=doc["partner_id"],
        generation=doc["generation"],
        attempt=doc["attempt"],
        owner=doc["owner"],
        expires_at=doc["expires_at"],
        outcome=doc.get("outcome"),
        finished_at=doc.get("finished_at"),
    )


async def latest(
    db: Database, user_id: str, partner_id: str, generation: int
) -> RefreshLease | None:
    docs = (
        await db[COLLECTION]
        .find({"user_id": user_id, "partner_id": partner_id, "generation": generation})
        .sort("attempt", -1)
        .to_list(1)
    )
    return _from_doc(docs[0]) if docs else None


async def try_acquire(
    db: Database,
    user_id: str,
    partner_id: str,
    generation: int,
    *,
    attempt: int,
    owner: str,
    now: datetime,
    expires_at: datetime,
) -> RefreshLease | None:
    """Insert the lease; None when another caller already holds this attempt."""
    doc = {
        "user_id": user_id,
        "partner_id": partner_id,
        "generation": generation,
        "attempt": attempt,
        "owner": owner,
        "expires_at": expires_at,
        "outcome": None,
        "finished_at": None,
        "created_at": now,
    }
    try:
        await db[COLLECTION].insert_one(doc)
    except DuplicateKeyError:
        return None
    return _from_doc(doc)


async def finish(db: Database, lease: RefreshLease, *, outcome: Outcome, now: datetime) -> None:
    """Record how the refresh ended; the lease expires now so a later caller may try again
    (unless it is "done": then the token set has moved on and nobody needs this one)."""
    await db[COLLECTION].update_one(
        {
            "user_id": lease.user_id,
            "partner_id": lease.partner_id,
            "generation": lease.generation,
            "attempt": lease.attempt,
            "owner": lease.owner,
        },
        {"$set": {"outcome": outcome, "finished_at": now, "expires_at": now}},
    )


async def delete_older(db: Database, user_id: str, partner_id: str, generation: int) -> None:
    """Forget leases of token sets older than `generation` (their outcome no longer matters)."""
    await db[COLLECTION].delete_many(
        {"user_id": user_id, "partner_id": partner_id, "generation": {"$lt": generation}}
    )


async def delete_for(db: Database, *, partner_id: str, user_id: str | None = None) -> None:
    query: dict[str, Any] = {"partner_id": partner_id}
    if user_id is not None:
        query["user_id"] = user_id
    await db[COLLECTION].delete_many(query)


async def purge(db: Database, now: datetime) -> int:
    """Leases taken more than KEEP_SECONDS ago: what the TTL index does on MongoDB, for
    servers without TTL indexes (FerretDB). A lease lives seconds; a day is far beyond that."""
    cutoff = now - timedelta(seconds=KEEP_SECONDS)
    return (await db[COLLECTION].delete_many({"created_at": {"$lt": cutoff}})).deleted_count
