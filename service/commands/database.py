"""Running an admin command against the configured database (one event loop, one client),
with the same wiring as the server (`service.wiring`); a command that only reads needs only
the database settings (`run_read_only`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pymongo.errors import PyMongoError

from service import wiring
from service.crypto import KeyRing
from service.db import Database, connect
from service.oauth.unlink import UnlinkHooks
from service.settings import DatabaseSettings, Settings, load_settings
from service.storage.indexes import ensure_indexes

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CommandContext:
    db: Database
    settings: Settings
    unlink_hooks: UnlinkHooks


async def _with_db(uri: str, name: str, work: Callable[[Database], Awaitable[T]]) -> T:
    client = connect(uri)
    try:
        return await work(client[name])
    finally:
        await client.close()


def run_with_db(settings: Settings, work: Callable[[CommandContext], Awaitable[T]]) -> T:
    async def with_indexes(db: Database) -> T:
        try:
            await ensure_indexes(db)
        except PyMongoError as exc:  # as at server start: the command may still work
            log.warning("could not create every index: %s", exc)
        return await work(CommandContext(db, settings, wiring.unlink_hooks()))

    return asyncio.run(_with_db(settings.mongodb_uri, settings.mongodb_db, with_indexes))


def run_read_only(database: DatabaseSettings, work: Callable[[Database], Awaitable[T]]) -> T:
    """For a command that only reads: it needs no secrets (`load_database_settings`) and
    creates no indexes, so a database user with read access is enough."""
    return asyncio.run(_with_db(database.mongodb_uri, database.mongodb_db, work))


def keyring_for_writing(settings: Settings) -> KeyRing | str:
    """The configured key ring, or why it must not be used to store anything: in dev mode a
    missing ALS_ENCRYPTION_KEYS is replaced by a throw-away key for each process, and a secret
    sealed with it could never be read by the server."""
    if settings.dev and load_settings().encryption_keys != settings.encryption_keys:
        return "ALS_ENCRYPTION_KEYS is not set; set it to the server's key ring first"
    return KeyRing.parse(settings.encryption_keys)
