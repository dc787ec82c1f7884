"""The MongoDB connection: the client factory, the database type, a liveness ping, and what
counts as "the database did not answer".

A leaf: it knows no collection (`service.storage` does) and no application.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError

Database = AsyncDatabase[dict[str, Any]]
MongoClient = AsyncMongoClient[dict[str, Any]]
T = TypeVar("T")

log = logging.getLogger(__name__)
RETRY_PAUSE = 0.25  # seconds between tries of `retry_while_unavailable`


def connect(uri: str, *, timeout: float | None = None) -> MongoClient:
    """A client; create it inside the running event loop that will use it.

    `timeout` (seconds) bounds every operation, retries and server selection included
    (PyMongo's client-side operation timeout, `timeoutMS`; docs/libraries.md §2): a stalled
    server makes the operation raise instead of waiting forever. A block of operations can have
    a tighter deadline of its own (`pymongo.timeout`), never a looser one. None: no bound (the
    command line, whose long scans must not be cut short)."""
    # Short selection timeout: /readyz and request handlers must fail fast when Mongo is down.
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": 2000,
        "connectTimeoutMS": 2000,
        "tz_aware": True,
    }
    if timeout is not None:
        options["timeoutMS"] = int(timeout * 1000)
    return AsyncMongoClient(uri, **options)


def unavailable(exc: PyMongoError) -> bool:
    """Whether `exc` says the database did not answer (down, unreachable, or too slow for the
    time allowed): worth a 503 and a later retry, unlike a refused write such as a duplicate
    key. Timeouts are `NetworkTimeout` and `ServerSelectionTimeoutError` (both connection
    failures) or `ExecutionTimeout` (the server gave up, or the deadline ran out before the
    operation was sent); every one of them says so in `timeout`."""
    return isinstance(exc, ConnectionFailure) or exc.timeout


async def retry_while_unavailable(
    operation: Callable[[], Awaitable[T]], *, deadline: float, what: str
) -> T:
    """`operation()` (safe to repeat), tried again while the database does not answer, until
    `deadline` (a `time.monotonic()` value); then its last failure is raised. Each try may use
    all the time left (`pymongo.timeout`): a server that is only stalled finishes it as soon
    as it wakes. For writes that record what an outside service already did (Login with
    Amazon exchanged a code, refreshed tokens), which cannot be asked for again."""
    while True:
        try:
            with pymongo.timeout(max(deadline - time.monotonic(), 0.001)):
                return await operation()
        except PyMongoError as exc:
            if not unavailable(exc) or time.monotonic() + RETRY_PAUSE >= deadline:
                raise
            log.warning(
                "%s: the database did not answer (%s); trying again", what, type(exc).__name__
            )
        await asyncio.sleep(RETRY_PAUSE)


async def ping(db: Database) -> bool:
    try:
        await db.command("ping")
    except PyMongoError:
        return False
    return True
