"""The linking collections against the real Mongo-protocol server: indexes, one token set per
(user, partner) even when links race, and the lease that only one caller can take."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from service.appkeys import KEYRING
from service.storage import partner_tokens, refresh_leases
from tests.support.linking import PARTNER_ID, USER_ID, Linking


async def _index_keys(linking: Linking, collection: str) -> dict[str, bool]:
    indexes = await (await linking.db[collection].list_indexes()).to_list(None)
    return {ix["name"]: bool(ix.get("unique")) for ix in indexes}


async def test_indexes(linking: Linking) -> None:
    tokens = await _index_keys(linking, partner_tokens.COLLECTION)
    assert tokens["user_id_1_partner_id_1"] is True
    assert "username_1_partner_id_1" in tokens
    leases = await _index_keys(linking, refresh_leases.COLLECTION)
    assert leases["user_id_1_partner_id_1_generation_1_attempt_1"] is True


async def test_racing_links_leave_one_token_set(linking: Linking) -> None:
    now = datetime.now(UTC)

    async def store(i: int) -> None:
        await partner_tokens.store_link(
            linking.db, linking.app[KEYRING], user_id=USER_ID, username="jane",
            partner_id=PARTNER_ID, access_token=f"Atza|{i}", refresh_token=f"Atzr|{i}",
            expires_at=now + timedelta(hours=1), refresh_at=now + timedelta(minutes=55),
            alexa_api_base="https://api.amazonalexa.com", now=now,
        )

    await asyncio.gather(*(store(i) for i in range(10)))
    docs = await linking.db[partner_tokens.COLLECTION].find({"user_id": USER_ID}).to_list(None)
    assert len(docs) == 1


async def test_only_one_caller_takes_a_lease(linking: Linking) -> None:
    now = datetime.now(UTC)
    taken = await asyncio.gather(*(
        refresh_leases.try_acquire(linking.db, USER_ID, PARTNER_ID, 1, attempt=0,
                                   owner=f"caller-{i}", now=now,
                                   expires_at=now + timedelta(seconds=8))
        for i in range(50)
    ))
    assert sum(lease is not None for lease in taken) == 1
