"""Running an admin command against the configured database (one event loop, one client),
with the same wiring as the server (`service.wiring`)."""

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
from service.settings import Settings, load_settings
from service.storage.indexes import ensure_indexes

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CommandContext:
    db: Database
    settings: Settings
    unlink_hooks: UnlinkHooks


def run_with_db(settings: Settings, work: Callable[[CommandContext], Awaitable[T]]) -> T:
    async def main() -> T:
        client = connect(settings.mongodb_uri)
        try:
            db = client[settings.mongodb_db]
            try:
                await ensure_indexes(db)
            except PyMongoError as exc:  # as at server start: the command may still work
                log.warning("could not create every index: %s", exc)
            return await work(CommandContext(db, settings, wiring.unlink_hooks()))
        finally:
            await client.close()

    return asyncio.run(main())


def keyring_for_writing(settings: Settings) -> KeyRing | str:
    """The configured key ring, or why it must not be used to store anything: in dev mode a
    missing ALS_ENCRYPTION_KEYS is replaced by a throw-away key for each process, and a secret
    sealed with it could never be read by the server."""
    if settings.dev and load_settings().encryption_keys != settings.encryption_keys:
        return "ALS_ENCRYPTION_KEYS is not set; set it to the server's key ring first"
    return KeyRing.parse(settings.encryption_keys)
