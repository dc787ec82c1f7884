"""A small closed-loop load generator: C concurrent workers send requests for D seconds."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

# Sends one request and returns its status, or None when it has nothing left to send (the
# worker then stops: a run over a finite supply, such as single-use codes, ends when it is spent).
Request = Callable[[aiohttp.ClientSession], Awaitable[int | None]]


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def line(self) -> str:
        ok = sum(n for s, n in self.statuses.items() if 200 <= s < 300)
        mean = statistics.fmean(self.latencies) * 1000
        return (
            f"{self.name:<44} {self.rps:8.1f} req/s   p50 {self.percentile(50):7.2f} ms   "
            f"p99 {self.percentile(99):7.2f} ms   mean {mean:7.2f} ms   ok {ok}/{self.requests}"
        )


async def run_load(
    name: str,
    send: Request,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
    max_requests: int = 200_000,
) -> Result:
    """Run `send` from `concurrency` workers; bounded by `duration` seconds and `max_requests`."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm_end = time.perf_counter() + warmup
        while time.perf_counter() < warm_end:
            await asyncio.gather(*(send(session) for _ in range(concurrency)))
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        end = time.perf_counter() + duration
        started = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() < end and len(latencies) < max_requests:
                t0 = time.perf_counter()
                try:
                    status = await send(session)
                except aiohttp.ClientError:
                    status = 0
                if status is None:
                    return
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Result(name, len(latencies), time.perf_counter() - started, latencies, statuses)


def combine(rounds: list[Result]) -> Result:
    """Several rounds of one load as one result (alternating rounds even out machine noise)."""
    statuses: Counter[int] = Counter()
    for r in rounds:
        statuses.update(r.statuses)
    return Result(
        rounds[0].name,
        sum(r.requests for r in rounds),
        sum(r.seconds for r in rounds),
        [t for r in rounds for t in r.latencies],
        statuses,
    )


def token_senders(
    base: str, auth: dict[str, str], refresh: list[str], access: list[str]
) -> tuple[Request, Request]:
    """Requests to `/oauth/token` (refresh_token grant) and `/oauth/introspect`, cycling
    through the prepared tokens, as the client `auth` (an Authorization header)."""
    refresh_cycle, access_cycle = itertools.cycle(refresh), itertools.cycle(access)

    async def refresh_one(session: aiohttp.ClientSession) -> int:
        async with session.post(
            f"{base}/oauth/token",
            headers=auth,
            data={"grant_type": "refresh_token", "refresh_token": next(refresh_cycle)},
        ) as resp:
            await resp.read()
            return resp.status

    async def introspect_one(session: aiohttp.ClientSession) -> int:
        async with session.post(
            f"{base}/oauth/introspect", headers=auth, data={"token": next(access_cycle)}
        ) as resp:
            await resp.read()
            return resp.status

    return refresh_one, introspect_one
