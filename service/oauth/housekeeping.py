"""Periodic purge of expired codes, tokens, ended sessions and abandoned logins, for servers
without TTL indexes (FerretDB).

On MongoDB the TTL indexes do the same; the purge is then a cheap no-op. Every process runs it;
the deletes are idempotent, so several workers doing it at once is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from pymongo.errors import PyMongoError

from service.appkeys import DB
from service.db import Database
from service.storage import (
    authorization_codes,
    ended_sessions,
    login_attempts,
    revocations,
    tokens,
)

log = logging.getLogger(__name__)

INTERVAL = 600.0  # seconds


async def purge_expired(db: Database) -> int:
    now = datetime.now(UTC)
    return (
        await authorization_codes.purge(db, now)
        + await tokens.purge(db, now)
        + await ended_sessions.purge(db, now)
        + await login_attempts.purge(db, now)
        + await revocations.purge(db, now)
    )


async def _loop(db: Database) -> None:
    while True:
        await asyncio.sleep(INTERVAL)
        try:
            purged = await purge_expired(db)
        except PyMongoError as exc:
            log.warning("purge of expired codes and tokens failed: %s", type(exc).__name__)
        else:
            if purged:
                log.info("purged %d expired codes and tokens", purged)


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(app[DB]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
