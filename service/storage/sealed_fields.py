"""Sealed fields in place: what re-encryption under a new key needs from any collection."""

from __future__ import annotations

from service.db import Database


async def swap(db: Database, collection: str, doc_id: str, field: str, old: str, new: str) -> bool:
    """Replace a ciphertext only if the field still holds `old` (compare-and-set): a writer that
    changed the document meanwhile wins, and the caller counts the field as raced."""
    result = await db[collection].update_one({"_id": doc_id, field: old}, {"$set": {field: new}})
    return result.modified_count == 1
