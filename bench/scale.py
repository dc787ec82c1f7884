"""Cost as work grows: refresh and introspection latency with 10k, 100k and 1M grants stored.

    python -m bench.run_bench --scale 10000,100000,1000000 [--duration 5] [--workers 2]

Grants are bulk-inserted (as many as the step needs) into the service's database while it
runs; at each step 50 grants spread over the whole collection get tokens (minted with the
service's token keys: no write), and the refresh grant and introspection are loaded. Prints
the figures and the database size at each step, then how p50 moved from the first step.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient

from bench.loadgen import Result, run_load, token_senders
from service.clock import utcnow
from service.crypto import KeyRing
from service.models.oauth import OAuthClient
from service.oauth import token, token_format
from service.oauth.clients import ClientDirectory
from service.oauth.deps import OAuthDeps
from service.storage import clients as client_store
from service.storage import token_grants

BATCH = 5_000
SAMPLE = 50


async def _fill(db: Any, client: OAuthClient, have: int, want: int) -> list[str]:
    """Insert grants until `want` are stored; returns ids spread over what was inserted."""
    now = utcnow()
    every = max(1, (want - have) // SAMPLE)
    picked: list[str] = []
    made = have
    while made < want:
        docs = []
        for _ in range(min(BATCH, want - made)):
            grant_id = secrets.token_hex(12)
            if (made - have) % every == 0 and len(picked) < SAMPLE:
                picked.append(grant_id)
            docs.append(
                {
                    "_id": grant_id,
                    "client_id": client.client_id,
                    "user_id": f"scale-user-{made}",
                    "username": f"scale{made}",
                    "scopes": ["profile"],
                    "created_at": token_format.minted_at_precision(now),
                    "revoked_at": None,
                    "access_revoked_before": None,
                }
            )
            made += 1
        await db[token_grants.COLLECTION].insert_many(docs, ordered=False)
    return picked


async def run_scale(
    *,
    uri: str,
    db_name: str,
    base: str,
    client_id: str,
    auth: dict[str, str],
    token_keys: str,
    sizes: list[int],
    concurrency: int,
    duration: float,
    out: Callable[[str], None],
) -> list[tuple[int, Result, Result]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = mongo[db_name]
    deps = OAuthDeps(db, KeyRing.parse(token_keys), ClientDirectory(0))
    client = await client_store.get(db, client_id)
    assert client is not None
    rows: list[tuple[int, Result, Result]] = []
    stored = await db[token_grants.COLLECTION].count_documents({})
    picked: list[str] = []
    try:
        for size in sizes:
            picked = (await _fill(db, client, stored, size)) or picked
            stored = max(stored, size)
            refresh, access = [], []
            for grant_id in picked:
                grant = await token_grants.get(db, grant_id)
                assert grant is not None
                tokens = token.issue(deps, client, grant, scope=grant.scopes, with_refresh=True)
                assert tokens.refresh_token is not None
                refresh.append(tokens.refresh_token)
                access.append(tokens.access_token)
            refresh_one, introspect_one = token_senders(base, auth, refresh, access)
            r = await run_load(
                f"{size:>9,} grants: refresh_token",
                refresh_one,
                concurrency=concurrency,
                duration=duration,
            )
            i = await run_load(
                f"{size:>9,} grants: introspect",
                introspect_one,
                concurrency=concurrency,
                duration=duration,
            )
            stats = await db.command("dbStats")
            out(r.line())
            out(i.line())
            out(
                f"{'':>9} database: {stats.get('objects', 0):,} documents, "
                f"{stats.get('totalSize', stats.get('storageSize', 0)) / 2**20:,.1f} MiB"
            )
            rows.append((size, r, i))
        first = rows[0]
        for size, r, i in rows[1:]:
            out(
                f"p50 at {size:,} vs {first[0]:,} grants: refresh "
                f"{(r.percentile(50) / first[1].percentile(50) - 1) * 100:+.0f} %, introspect "
                f"{(i.percentile(50) / first[2].percentile(50) - 1) * 100:+.0f} %"
            )
    finally:
        await mongo.close()
    return rows
