"""TTL indexes where the server has them.

Real MongoDB deletes expired documents itself (about once a minute). FerretDB refuses the
`expireAfterSeconds` option (NotImplemented), so there the index is skipped and the periodic
purge (`storage/purge.py`, run by `service.contexts`) does the deleting. Readers never rely
on either: every query for a code or token also filters on its expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pymongo.errors import OperationFailure

from service.db import Database

log = logging.getLogger(__name__)


async def delete_expired(db: Database, collection: str, field: str, now: datetime) -> int:
    """The purge that stands in for a TTL index: delete what expired before `now`."""
    result = await db[collection].delete_many({field: {"$lt": now}})
    return result.deleted_count


async def ensure_ttl_index(db: Database, collection: str, field: str, after_seconds: int) -> bool:
    """Create a TTL index on `field`; False when the server does not support TTL indexes."""
    try:
        await db[collection].create_index(
            [(field, 1)], expireAfterSeconds=after_seconds, name=f"{field}_ttl"
        )
    except OperationFailure as exc:
        log.debug("no TTL index on %s.%s: %s", collection, field, exc.code)
        return False
    return True
