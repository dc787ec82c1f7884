"""The linking collections against the real Mongo-protocol server: indexes, one token set per
(user, partner) even when links race, and the lease that only one caller can take."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from service.linking.sealing import seal_token
from service.models.linking import LinkStatus, PartnerLink
from service.models.oauth import TokenKind
from service.models.sealed import Sealed
from service.storage import partner_tokens, refresh_leases
from service.web.appkeys import KEYRING
from tests.support.linking import PARTNER_ID, USER_ID, Linking


async def _index_keys(linking: Linking, collection: str) -> dict[str, bool]:
    indexes = await (await linking.db[collection].list_indexes()).to_list(None)
    return {ix["name"]: bool(ix.get("unique")) for ix in indexes}


def _sealed(linking: Linking, value: str, user_id: str, kind: TokenKind) -> Sealed:
    keyring = linking.app[KEYRING]
    return seal_token(keyring, value, user_id=user_id, partner_id=PARTNER_ID, kind=kind)


async def test_indexes(linking: Linking) -> None:
    tokens = await _index_keys(linking, partner_tokens.COLLECTION)
    # One document per generation of a set, the next one's `_id` is the race's referee.
    assert tokens["user_id_1_partner_id_1_generation_-1"] is False
    assert "user_id_1_partner_id_1" not in tokens
    # Links are never looked up by the stored username (it is resolved through Keycloak).
    assert "username_1_partner_id_1" not in tokens
    leases = await _index_keys(linking, refresh_leases.COLLECTION)
    assert leases["user_id_1_partner_id_1_generation_1_attempt_1"] is True


async def test_racing_links_leave_one_token_set(linking: Linking) -> None:
    now = datetime.now(UTC)

    async def store(i: int) -> None:
        await partner_tokens.store_link(
            linking.db,
            user_id=USER_ID,
            username="jane",
            partner_id=PARTNER_ID,
            access_token=_sealed(linking, f"Atza|{i}", USER_ID, "access"),
            refresh_token=_sealed(linking, f"Atzr|{i}", USER_ID, "refresh"),
            expires_at=now + timedelta(hours=1),
            refresh_at=now + timedelta(minutes=55),
            alexa_api_base="https://api.amazonalexa.com",
            now=now,
        )

    await asyncio.gather(*(store(i) for i in range(10)))
    docs = await linking.db[partner_tokens.COLLECTION].find({"user_id": USER_ID}).to_list(None)
    assert len(docs) == 1


async def test_only_one_caller_takes_a_lease(linking: Linking) -> None:
    now = datetime.now(UTC)
    taken = await asyncio.gather(
        *(
            refresh_leases.try_acquire(
                linking.db,
                USER_ID,
                PARTNER_ID,
                1,
                attempt=0,
                owner=f"caller-{i}",
                now=now,
                expires_at=now + timedelta(seconds=8),
            )
            for i in range(50)
        )
    )
    assert sum(lease is not None for lease in taken) == 1


async def _linked(linking: Linking, user_id: str, access: str = "Atza|1") -> PartnerLink:
    now = datetime.now(UTC)
    return await partner_tokens.store_link(
        linking.db,
        user_id=user_id,
        username=user_id,
        partner_id=PARTNER_ID,
        access_token=_sealed(linking, access, user_id, "access"),
        refresh_token=_sealed(linking, "Atzr|1", user_id, "refresh"),
        expires_at=now + timedelta(hours=1),
        refresh_at=now,
        alexa_api_base="https://a",
        now=now,
    )


async def _refreshed(linking: Linking, link: PartnerLink) -> bool:
    now = datetime.now(UTC)
    return await partner_tokens.complete_refresh(
        linking.db,
        link,
        access_token=_sealed(linking, "Atza|refreshed", link.user_id, "access"),
        refresh_token=_sealed(linking, "Atzr|refreshed", link.user_id, "refresh"),
        expires_at=now + timedelta(hours=1),
        refresh_at=now,
        now=now,
    )


RACES = 30


async def test_an_unlink_racing_a_refresh_is_never_lost(linking: Linking) -> None:
    """FerretDB 1.24 applies a conditional update as read, then write of the whole document,
    so a refresh and an unlink of the same set could both "succeed" and the refresh undo the
    unlink (measured before the fix: 24 of 60 unlinks lost, the link active with fresh tokens).
    Whichever comes first, an unlink that reports success must hold, tokens deleted."""
    for i in range(RACES):
        user = f"race-{i}"
        link = await _linked(linking, user)
        refreshed, ended = await asyncio.gather(
            _refreshed(linking, link),
            partner_tokens.end_link(
                linking.db,
                user,
                PARTNER_ID,
                status=LinkStatus.REVOKED,
                reason="unlinked",
                now=datetime.now(UTC),
            ),
        )
        assert ended, "an active link (refreshed or not) is ended by an unlink"
        final = await partner_tokens.get(linking.db, user, PARTNER_ID)
        assert final is not None and final.status is LinkStatus.REVOKED, (i, refreshed)
        docs = await linking.db[partner_tokens.COLLECTION].find({"user_id": user}).to_list(None)
        assert [(d["access_token_enc"], d["refresh_token_enc"]) for d in docs] == [(None, None)]


async def test_a_relink_racing_a_refresh_wins(linking: Linking) -> None:
    """Alexa's new code is the customer's latest word: a refresh of the set it replaces must
    never overwrite the new tokens."""
    keyring = linking.app[KEYRING]
    for i in range(RACES):
        user = f"race-{i}"
        link = await _linked(linking, user)
        await asyncio.gather(_refreshed(linking, link), _linked(linking, user, access="Atza|new"))
        final = await partner_tokens.get(linking.db, user, PARTNER_ID)
        assert final is not None and final.access_token is not None
        assert final.access_token.open(keyring) == "Atza|new", i
        assert await linking.db[partner_tokens.COLLECTION].count_documents({"user_id": user}) == 1


async def test_a_database_from_before_versioned_sets_keeps_working(linking: Linking) -> None:
    """Older databases have one document per link under a unique (user, partner) index, which
    would refuse the next generation: ensure_indexes drops it, the old document is read as the
    current set and replaced by the next link."""
    coll = linking.db[partner_tokens.COLLECTION]
    await coll.drop()
    await coll.create_index([("user_id", 1), ("partner_id", 1)], unique=True)
    legacy = await _linked(linking, "legacy-user")  # stored with a generation-1 `_id`…
    doc = await coll.find_one({"user_id": "legacy-user"})
    assert doc is not None
    await coll.delete_many({})
    await coll.insert_one({**doc, "_id": ObjectId()})  # …as the old code stored it
    await partner_tokens.ensure_indexes(linking.db)
    assert "user_id_1_partner_id_1" not in await _index_keys(linking, partner_tokens.COLLECTION)
    assert await partner_tokens.get(linking.db, "legacy-user", PARTNER_ID) is not None
    relinked = await _linked(linking, "legacy-user", access="Atza|2")
    assert relinked.generation == legacy.generation + 1
    assert await coll.count_documents({"user_id": "legacy-user"}) == 1


async def test_a_refresh_of_a_set_two_changes_old_is_not_stored(linking: Linking) -> None:
    """While the refresh was at LWA the customer re-linked and then unlinked: the unlink's
    clean-up freed the `_id` the refresh inserts, which must not leave its tokens behind."""
    first = await _linked(linking, "slow-refresh")
    await _linked(linking, "slow-refresh", access="Atza|2")
    assert await partner_tokens.end_link(
        linking.db,
        "slow-refresh",
        PARTNER_ID,
        status=LinkStatus.REVOKED,
        reason="unlinked",
        now=datetime.now(UTC),
    )
    assert not await _refreshed(linking, first)
    docs = (
        await linking.db[partner_tokens.COLLECTION].find({"user_id": "slow-refresh"}).to_list(None)
    )
    assert [(d["status"], d["access_token_enc"]) for d in docs] == [("revoked", None)]


async def test_ending_a_linking_survives_its_refreshes_but_not_a_relink(linking: Linking) -> None:
    """Alexa's 403 ends the linking its request was made for, even when a concurrent caller
    refreshed the token meanwhile; a re-link since then is the customer's new word."""
    link = await _linked(linking, "disabled-skill")
    assert await _refreshed(linking, link)
    assert not await partner_tokens.end_link(
        linking.db,
        "disabled-skill",
        PARTNER_ID,
        status=LinkStatus.INACTIVE,
        reason="SKILL_DISABLED_EXCEPTION",
        now=datetime.now(UTC),
        generation=link.generation,
    )
    assert await partner_tokens.end_link(
        linking.db,
        "disabled-skill",
        PARTNER_ID,
        status=LinkStatus.INACTIVE,
        reason="SKILL_DISABLED_EXCEPTION",
        now=datetime.now(UTC),
        linked_at=link.linked_at,
    )
    final = await partner_tokens.get(linking.db, "disabled-skill", PARTNER_ID)
    assert final is not None and final.status is LinkStatus.INACTIVE

    old = await _linked(linking, "relinked")
    await asyncio.sleep(0.01)
    await _linked(linking, "relinked", access="Atza|new")
    assert not await partner_tokens.end_link(
        linking.db,
        "relinked",
        PARTNER_ID,
        status=LinkStatus.INACTIVE,
        reason="SKILL_DISABLED_EXCEPTION",
        now=datetime.now(UTC),
        linked_at=old.linked_at,
    )
