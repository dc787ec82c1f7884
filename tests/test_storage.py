"""Storage against the real Mongo-protocol server: indexes exist, documents round-trip."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

from service.appkeys import DB
from service.storage import audit


async def test_indexes_created_and_audit_round_trip(server: TestServer) -> None:
    db = server.app[DB]
    names = {ix["name"] for ix in await (await db[audit.COLLECTION].list_indexes()).to_list(None)}
    assert "at_-1" in names and "user_id_1_at_-1" in names
    await audit.record(db, "link", actor="user-1", user_id="user-1", partner_id="p1")
    rows = await audit.recent(db, user_id="user-1")
    assert len(rows) == 1
    assert rows[0]["action"] == "link" and rows[0]["details"] == {"partner_id": "p1"}
    assert rows[0]["at"].tzinfo is not None
