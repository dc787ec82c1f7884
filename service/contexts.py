"""The server's long-lived resources, each opened inside the running loop and closed at
shutdown (aiohttp cleanup contexts): MongoDB, the outbound HTTP session, Keycloak (our login
client; the admin API with the identity sync), and the periodic purge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import pymongo
from aiohttp import web
from pymongo.errors import OperationFailure, PyMongoError

from service import identity_sync
from service.clock import utcnow
from service.db import Database, connect
from service.keycloak_admin import KeycloakAdminClient, KeycloakAdminUnavailable
from service.keycloak_oidc import KeycloakOidc
from service.settings import Settings
from service.storage.indexes import ensure_indexes
from service.storage.purge import Retention, purge_expired
from service.user_directory import UserDirectory
from service.web.appkeys import (
    DB,
    HTTP,
    INDEXES_READY,
    KEYCLOAK_ADMIN,
    MONGO,
    OIDC,
    SETTINGS,
    USERS,
)

log = logging.getLogger(__name__)

INDEX_RETRY_SECONDS = 5.0
PURGE_INTERVAL = 600.0  # seconds
# Background work is not bound by ALS_MONGODB_TIMEOUT, which is a request's: building an index
# on a large collection, or a purge after a long outage, may take minutes on its own.
INDEX_TIMEOUT = 600.0
PURGE_TIMEOUT = 300.0


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait for its end. PyMongo's async operations can lose a
    cancellation that arrives while they run, and the task then goes on (docs/libraries.md
    §2; measured here: 4 in 300, 25 in 300 with an operation timeout): so it is cancelled
    again until it has ended, or shutting down would wait for it forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _ensure_indexes_until_done(db: Database, ready: asyncio.Event) -> None:
    """Keep trying until Mongo answers. The unique indexes are what keep a consent and a refresh
    lease single, so the server is not ready until they exist: `/readyz` says so,
    and every request but the health checks gets 503 (`web.health_views`)."""
    while True:
        try:
            with pymongo.timeout(INDEX_TIMEOUT):
                await ensure_indexes(db)
        except OperationFailure as exc:  # the server refused: e.g. duplicates under a unique key
            log.error("could not create the indexes (%s); retrying", exc)
            await asyncio.sleep(INDEX_RETRY_SECONDS)
        except PyMongoError as exc:
            log.warning("could not create indexes yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(INDEX_RETRY_SECONDS)
        else:
            log.info("indexes in place")
            ready.set()
            return


async def mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Every operation of a request is bounded (ALS_MONGODB_TIMEOUT): a stalled server gives a
    # fast 503, never a hanging request (docs/libraries.md §2).
    client = connect(settings.mongodb_uri, timeout=settings.mongodb_timeout)
    db = client[settings.mongodb_db]
    app[MONGO] = client
    app[DB] = db
    ready = asyncio.Event()
    app[INDEXES_READY] = ready
    # Start anyway when Mongo is down (/readyz says so); the indexes follow once it answers.
    indexes = asyncio.create_task(_ensure_indexes_until_done(db, ready))
    await asyncio.wait({indexes}, timeout=3)
    yield
    await stop_task(indexes)
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


async def _purge_loop(db: Database, retention: Retention) -> None:
    """Every process purges; the deletes are idempotent, so several doing it at once is fine."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            with pymongo.timeout(PURGE_TIMEOUT):
                purged = await purge_expired(db, utcnow(), retention)
        except PyMongoError as exc:
            log.warning("purge of expired and old documents failed: %s", type(exc).__name__)
        else:
            if purged:
                log.info("purged %d expired or old documents", purged)


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    retention = Retention.of(
        audit_days=settings.audit_retention_days,
        ended_link_days=settings.ended_link_retention_days,
        refresh_idle_days=settings.refresh_token_idle_days,
    )
    task = asyncio.create_task(_purge_loop(app[DB], retention))
    yield
    await stop_task(task)


async def _identity_sync_loop(
    db: Database, keycloak: KeycloakAdminClient, settings: Settings
) -> None:
    """Every ALS_KEYCLOAK_SYNC_SECONDS: Keycloak's admin events → our tokens, links, sessions
    (`service.identity_sync`). An outage is logged once when it starts and once when it ends;
    nothing changes meanwhile, and the events of that time are read afterwards."""
    interval = settings.keycloak_sync_seconds
    started, failing = False, False
    while True:
        try:
            if not started:
                await identity_sync.start(db, utcnow())
                started = True
            else:
                await identity_sync.sync_once(
                    db, keycloak, interval=interval, session_max_age=settings.session_max_age
                )
        except (KeycloakAdminUnavailable, PyMongoError) as exc:
            if not failing:
                reason = (
                    exc.description
                    if isinstance(exc, KeycloakAdminUnavailable)
                    else f"the database does not answer ({type(exc).__name__})."
                )
                log.warning(
                    "identity sync paused: %s Users disabled or deleted in Keycloak keep "
                    "their tokens until it works again (README, Identity changes in Keycloak).",
                    reason,
                )
            failing = True
        except Exception:  # the loop must outlive any surprise; the next round tries again
            if not failing:
                log.exception("identity sync failed")
            failing = True
        else:
            if failing:
                log.info("identity sync works again")
            failing = False
        await asyncio.sleep(interval)


async def identity_ctx(app: web.Application) -> AsyncIterator[None]:
    """Keycloak's admin API (our client's service account), the user directory built on it,
    and the identity sync loop."""
    settings = app[SETTINGS]
    keycloak = KeycloakAdminClient(settings)
    app[KEYCLOAK_ADMIN] = keycloak
    app[USERS] = UserDirectory(keycloak, settings.keycloak_sync_seconds)
    task = asyncio.create_task(_identity_sync_loop(app[DB], keycloak, settings))
    yield
    await stop_task(task)
    await keycloak.close()
