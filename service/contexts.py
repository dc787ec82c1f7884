"""The server's long-lived resources, each opened inside the running loop and closed at
shutdown (aiohttp cleanup contexts): MongoDB, the outbound HTTP session, Keycloak, and the
periodic purge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from pymongo.errors import PyMongoError

from service.clock import utcnow
from service.db import Database, connect
from service.keycloak_oidc import KeycloakOidc
from service.storage.indexes import ensure_indexes
from service.storage.purge import purge_expired
from service.web.appkeys import DB, HTTP, MONGO, OIDC, SETTINGS

log = logging.getLogger(__name__)

INDEX_RETRY_SECONDS = 5.0
PURGE_INTERVAL = 600.0  # seconds


async def _ensure_indexes_until_done(db: Database) -> None:
    """Keep trying until Mongo answers: the unique indexes are what make codes single-use."""
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


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One outbound HTTP session per process (LWA, Alexa); created inside the running loop."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"User-Agent": "alexa-account-linking-server"},
    ) as session:
        app[HTTP] = session
        yield


async def oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    oidc = KeycloakOidc(app[SETTINGS])
    app[OIDC] = oidc
    yield
    await oidc.close()


async def _purge_loop(db: Database) -> None:
    """Every process purges; the deletes are idempotent, so several doing it at once is fine."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            purged = await purge_expired(db, utcnow())
        except PyMongoError as exc:
            log.warning("purge of expired codes and tokens failed: %s", type(exc).__name__)
        else:
            if purged:
                log.info("purged %d expired codes and tokens", purged)


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_purge_loop(app[DB]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
