"""The MongoDB connection: one AsyncMongoClient per process, created inside the running loop."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from service.appkeys import DB, MONGO, SETTINGS

log = logging.getLogger(__name__)

Database = AsyncDatabase[dict[str, Any]]


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


async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    from service.storage import ensure_indexes

    settings = app[SETTINGS]
    client = connect(settings.mongodb_uri)
    db = client[settings.mongodb_db]
    app[MONGO] = client
    app[DB] = db
    try:
        await ensure_indexes(db)
    except PyMongoError as exc:  # start anyway; /readyz reports Mongo down
        log.warning("could not create indexes at start: %s", type(exc).__name__)
    yield
    await client.close()
