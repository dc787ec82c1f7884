"""Running an admin command against the configured database (one event loop, one client)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.errors import PyMongoError

from service.db import Database, connect
from service.settings import Settings
from service.storage import ensure_indexes

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        client = connect(settings.mongodb_uri)
        try:
            db = client[settings.mongodb_db]
            try:
                await ensure_indexes(db)
            except PyMongoError as exc:  # as at server start: the command may still work
                log.warning("could not create every index: %s", exc)
            return await work(db)
        finally:
            await client.close()

    return asyncio.run(main())
