"""Upserts that hold on FerretDB too.

FerretDB 1.24 applies an upsert as "find, then insert or update", so two concurrent upserts of
a new document can both try the insert; the loser's insert fails on the unique key. Its write
is then an update of the document the winner just inserted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


async def upsert_one(
    collection: AsyncCollection[dict[str, Any]],
    query: Mapping[str, Any],
    update: Mapping[str, Any],
) -> None:
    try:
        await collection.update_one(query, update, upsert=True)
    except DuplicateKeyError:  # a concurrent upsert inserted it first; now it is an update
        await collection.update_one(query, update)
