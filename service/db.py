"""The MongoDB connection: one AsyncMongoClient per process, created inside the running loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from service.appkeys import DB, MONGO, SETTINGS

log = logging.getLogger(__name__)

Database = AsyncDatabase[dict[str, Any]]


def mongo_time(moment: datetime) -> datetime:
    """`moment` at the precision Mongo stores (milliseconds), to compare with a time read back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def connect(uri: str) -> AsyncMongoClient[dict[str, Any]]:
    # Short selection timeout: /readyz and request handlers must fail fast when Mongo is down.
    return AsyncMongoClient(
        uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000, tz_aware=True
    )


async def ping(db: Database) -> bool:
    try:
        await db.command("ping")
    except PyMongoError:
        return False
    return True


INDEX_RETRY_SECONDS = 5.0


async def _ensure_indexes_until_done(db: Database) -> None:
    """Keep trying until Mongo answers: the unique indexes are what make codes single-use."""
    from service.storage import ensure_indexes

    while True:
        try:
            await ensure_indexes(db)
        except PyMongoError as exc:
            log.warning("could not create indexes yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(INDEX_RETRY_SECONDS)
        else:
            log.info("indexes in place")
            return


async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = connect(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    app[MONGO] = client
    app[DB] = db
    # Start anyway when Mongo is down (/readyz says so); the indexes follow once it answers.
    indexes = asyncio.create_task(_ensure_indexes_until_done(db))
    await asyncio.wait({indexes}, timeout=3)
    yield
    indexes.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await indexes
    await client.close()
