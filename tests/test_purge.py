"""Bounded growth: what is kept only for a while is purged (service/storage/purge.py, run by
every server process every few minutes), and refresh tokens can expire when unused
(ALS_REFRESH_TOKEN_IDLE_DAYS; off by default, and then a refresh writes nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from service.clock import utcnow
from service.crypto import KeyRing
from service.db import Database, connect
from service.linking.sealing import seal_token
from service.models.linking import LinkStatus
from service.models.oauth import TokenGrant
from service.oauth import token_format
from service.oauth.token_values import new_grant_id
from service.settings import Settings
from service.storage import audit, partner_tokens, refresh_leases, token_grants
from service.storage.indexes import ensure_indexes
from service.storage.purge import Retention, purge_expired
from service.web.appkeys import DB, TOKEN_KEYS
from tests.support.oauth import create_client, issue_tokens, token_request

NOW = utcnow()
DAY = timedelta(days=1)
KEYRING = KeyRing.parse("k:" + KeyRing.generate_key())


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    client = connect(settings.mongodb_uri, timeout=10)
    database = client[settings.mongodb_db]
    await ensure_indexes(database)
    yield database
    await client.close()


async def _ids(db: Database, collection: str) -> set[Any]:
    return {doc["_id"] async for doc in db[collection].find({}, {"_id": 1})}


async def test_the_audit_trail_is_kept_for_its_retention(db: Database) -> None:
    await audit.record(db, "link", actor="test", user_id="recent")
    await db[audit.COLLECTION].insert_one(
        {"at": NOW - 400 * DAY, "action": "link", "actor": "test", "user_id": "old"}
    )
    assert await purge_expired(db, NOW, Retention(audit=None)) == 0  # 0 days: kept forever
    assert await purge_expired(db, NOW, Retention(audit=365 * DAY)) == 1
    assert [row["user_id"] for row in await audit.recent(db)] == ["recent"]


async def _link(db: Database, user_id: str, *, at: datetime) -> None:
    sealed = seal_token(KEYRING, "lwa-access", user_id=user_id, partner_id="p", kind="access")
    await partner_tokens.store_link(
        db,
        user_id=user_id,
        username=user_id,
        partner_id="p",
        access_token=sealed,
        refresh_token=None,
        expires_at=at + timedelta(hours=1),
        refresh_at=at + timedelta(minutes=55),
        alexa_api_base="https://api.amazonalexa.com",
        now=at,
    )


async def test_ended_links_are_kept_for_their_retention(db: Database) -> None:
    for user in ("ended-long-ago", "ended-lately", "active-old"):
        await _link(db, user, at=NOW - 200 * DAY)
    for user, ended in (("ended-long-ago", NOW - 100 * DAY), ("ended-lately", NOW - DAY)):
        assert await partner_tokens.end_link(
            db, user, "p", status=LinkStatus.REVOKED, reason="unlinked", now=ended
        )
    assert await purge_expired(db, NOW, Retention(ended_links=90 * DAY)) == 1
    links = {link.user_id: link.status for link in await partner_tokens.list_links(db)}
    assert links == {"ended-lately": LinkStatus.REVOKED, "active-old": LinkStatus.ACTIVE}


async def test_refresh_leases_are_purged_where_no_ttl_index_does_it(db: Database) -> None:
    for user, taken in (("old", NOW - 2 * DAY), ("recent", NOW)):
        assert await refresh_leases.try_acquire(
            db, user, "p", 1, attempt=0, owner="test", now=taken, expires_at=taken
        )
    await purge_expired(db, NOW)
    leases = await db[refresh_leases.COLLECTION].find({}, {"user_id": 1}).to_list(None)
    assert [lease["user_id"] for lease in leases] == ["recent"]


async def _grant(db: Database, *, created: datetime) -> str:
    grant, _ = await token_grants.insert(
        db,
        TokenGrant(
            grant_id=new_grant_id(),
            client_id="c",
            user_id="u",
            username="u",
            scopes=frozenset({"profile"}),
            created_at=created,
        ),
    )
    return grant.grant_id


async def test_revoked_grants_go_a_week_after_their_revocation(db: Database) -> None:
    gone, kept, active = [await _grant(db, created=NOW - 30 * DAY) for _ in range(3)]
    await token_grants.revoke(db, gone, NOW - 8 * DAY)
    await token_grants.advance(db, gone, 0, "nonce")  # its rotation state goes with it
    await token_grants.revoke(db, kept, NOW - DAY)
    assert await purge_expired(db, NOW) == 1
    assert await _ids(db, token_grants.COLLECTION) == {kept, active}
    assert await _ids(db, token_grants.ROTATIONS) == set()


async def test_grants_unused_past_the_idle_time_are_purged_when_idle_expiry_is_on(
    db: Database,
) -> None:
    idle, used = [await _grant(db, created=NOW - 100 * DAY) for _ in range(2)]
    await token_grants.record_use(db, idle, NOW - 40 * DAY)
    await token_grants.record_use(db, used, NOW - 5 * DAY)
    assert await purge_expired(db, NOW) == 0  # idle expiry off: nothing
    assert await purge_expired(db, NOW, Retention(refresh_idle=30 * DAY)) == 1
    assert await _ids(db, token_grants.COLLECTION) == {used}
    assert await _ids(db, token_grants.USES) == {used}


def test_zero_days_mean_forever_and_no_idle_expiry() -> None:
    assert Retention.of(audit_days=0, ended_link_days=0, refresh_idle_days=0) == Retention(
        None, None, None
    )
    assert Retention.of(audit_days=365, ended_link_days=90, refresh_idle_days=30) == Retention(
        365 * DAY, 90 * DAY, 30 * DAY
    )


async def test_an_unused_refresh_token_expires_after_the_idle_time(
    aiohttp_server: Any, make_app: Any
) -> None:
    """RFC 9700 §4.14.2 with ALS_REFRESH_TOKEN_IDLE_DAYS=30: a refresh token used within the
    idle time keeps working (its use noted at most once a day); one unused longer is refused,
    and its grant's access tokens end with it."""
    server: TestServer = await aiohttp_server(make_app(refresh_token_idle_days=30))
    base_url = f"http://127.0.0.1:{server.port}"
    db = server.app[DB]
    client, secret = await create_client(db)

    async def refresh(tokens: dict[str, Any]) -> int:
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        answer = await token_request(base_url, form, client_id=client.client_id, secret=secret)
        return answer.status

    fresh = await issue_tokens(server.app, client, user_id="u-1", username="one")
    for _ in range(3):
        assert await refresh(fresh) == 200
    assert await db[token_grants.USES].count_documents({}) == 0  # used today: nothing written
    lately = await issue_tokens(server.app, client, user_id="u-2", username="two")
    idle = await issue_tokens(server.app, client, user_id="u-3", username="three")
    for tokens, last_use in ((lately, NOW - 29 * DAY), (idle, NOW - 31 * DAY)):
        await token_grants.record_use(db, _grant_of(server, tokens), last_use)
    assert await refresh(lately) == 200
    noted = await token_grants.last_used(db, _grant_of(server, lately))
    assert noted is not None and noted > NOW - DAY  # the use was noted, once
    assert await refresh(idle) == 400
    assert await _me(base_url, idle["access_token"]) == 401


def _grant_of(server: TestServer, tokens: dict[str, Any]) -> str:
    claims = token_format.read(server.app[TOKEN_KEYS], tokens["refresh_token"])
    assert claims is not None
    return claims.grant_id


async def _me(base_url: str, access_token: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base_url}/api/me", headers={"Authorization": f"Bearer {access_token}"}
        ) as resp,
    ):
        return resp.status
