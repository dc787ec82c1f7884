"""Exactly one LWA refresh however many callers ask at once, also across server processes
(docs/alexa-protocols.md R23): the refresh lease lives in Mongo, not in a process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from service.storage import refresh_leases
from service.web.appkeys import SETTINGS
from tests.support.linking import PARTNER_ID, USER_ID, Linking
from tests.support.processes import ServiceProcess

CALLERS = 50
LWA_LATENCY = 0.5  # the refresh is in flight while every caller arrives


@pytest.fixture
async def two_more_processes(linking: Linking) -> AsyncIterator[list[ServiceProcess]]:
    procs = [ServiceProcess(linking.app[SETTINGS]) for _ in range(2)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield procs
    finally:
        for proc in procs:
            proc.stop()


async def test_concurrent_callers_in_one_process_cause_one_refresh(linking: Linking) -> None:
    await linking.link()
    await linking.age_link()
    linking.amazon.set_lwa_delay(LWA_LATENCY)
    answers = await asyncio.gather(*(linking.partner_token() for _ in range(CALLERS)))
    assert [a.status for a in answers] == [200] * CALLERS
    assert len({a.body["access_token"] for a in answers}) == 1
    assert linking.amazon.refresh_count == 1


async def test_concurrent_callers_across_processes_cause_one_refresh(
    linking: Linking, two_more_processes: list[ServiceProcess]
) -> None:
    await linking.link()
    stale = (await linking.partner_token()).body["access_token"]
    await linking.age_link()
    linking.amazon.set_lwa_delay(LWA_LATENCY)
    servers = [linking.base_url] + [p.base_url for p in two_more_processes]
    targets = [servers[i % len(servers)] for i in range(CALLERS)]

    async def ask(base_url: str) -> tuple[str, int, str]:
        answer = await Linking(**{**linking.__dict__, "base_url": base_url}).partner_token()
        return base_url, answer.status, answer.body.get("access_token", answer.body)

    started = time.monotonic()
    results = await asyncio.gather(*(ask(url) for url in targets))
    elapsed = time.monotonic() - started

    assert [status for _, status, _ in results] == [200] * CALLERS, results
    tokens = {token for _, _, token in results}
    assert len(tokens) == 1 and stale not in tokens
    assert linking.amazon.refresh_count == 1
    assert linking.amazon.is_access_token_valid(tokens.pop())
    assert elapsed >= LWA_LATENCY  # every caller waited for the one refresh
    per_server = Counter(url for url, _, _ in results)
    assert all(per_server[p.base_url] >= CALLERS // 3 for p in two_more_processes)
    print(
        f"\n{CALLERS} callers on {len(servers)} servers ({len(two_more_processes)} separate "
        f"processes): {linking.amazon.refresh_count} LWA refresh, 1 distinct token, "
        f"{elapsed * 1000:.0f} ms"
    )


async def test_lease_of_a_crashed_holder_is_taken_over_when_it_expires(linking: Linking) -> None:
    await linking.link()
    await linking.age_link()
    doc = await linking.link_doc()
    assert doc is not None
    # A process took the lease and died before finishing: its lease runs out in 1 s.
    now = datetime.now(UTC)
    await refresh_leases.try_acquire(
        linking.db,
        USER_ID,
        PARTNER_ID,
        doc["generation"],
        attempt=0,
        owner="crashed:1:x",
        now=now,
        expires_at=now + timedelta(seconds=1),
    )
    started = time.monotonic()
    answer = await linking.partner_token()
    assert answer.status == 200
    assert 0.8 <= time.monotonic() - started < 4
    assert linking.amazon.refresh_count == 1
    leases = (
        await linking.db["refresh_leases"]
        .find({"user_id": USER_ID})
        .sort("attempt", 1)
        .to_list(None)
    )
    assert [(lease["attempt"], lease["outcome"]) for lease in leases] == [(0, None), (1, "done")]


async def test_waiters_share_the_holders_lwa_failure(linking: Linking) -> None:
    """When the one refresh gets no answer from LWA, the callers waiting on it get 503 too
    instead of each trying an unreachable LWA in turn."""
    await linking.link()
    await linking.age_link()
    linking.amazon.set_lwa_delay(LWA_LATENCY)
    linking.amazon.set_lwa_down()
    answers = await asyncio.gather(*(linking.partner_token() for _ in range(10)))
    assert [a.status for a in answers] == [503] * 10
    assert linking.amazon.refresh_count == 1
    linking.amazon.set_lwa_delay(0)
    linking.amazon.set_lwa_down(False)
    assert (await linking.partner_token()).status == 200


async def test_a_recreated_link_is_not_blocked_by_an_old_lease(linking: Linking) -> None:
    """A link deleted and created again starts at generation 1 again; the finished lease of
    the old generation 1 must not stop its refresh for good."""
    await linking.link()
    await linking.age_link()
    assert (await linking.partner_token()).status == 200  # leaves a "done" lease, generation 1
    await linking.db["partner_tokens"].delete_many({})
    await linking.link()
    await linking.db["refresh_leases"].update_many(
        {}, {"$set": {"generation": 1, "finished_at": datetime.now(UTC) - timedelta(minutes=1)}}
    )
    await linking.age_link()
    answer = await linking.partner_token()
    assert answer.status == 200, answer.body
    assert linking.amazon.refresh_count == 2
