"""The MongoDB connection: the client factory, the database type, and a liveness ping.

A leaf: it knows no collection (`service.storage` does) and no application.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

Database = AsyncDatabase[dict[str, Any]]
MongoClient = AsyncMongoClient[dict[str, Any]]


def connect(uri: str) -> MongoClient:
    """A client; create it inside the running event loop that will use it."""
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
