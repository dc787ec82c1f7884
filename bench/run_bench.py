"""Load on /oauth/token (refresh_token and authorization_code grants) and /api/me, and the same
refresh load on Keycloak's own token endpoint, in one run on one machine; prints the figures
and the ratio ours/Keycloak.

    python -m bench.run_bench [--concurrency 16] [--duration 10] [--workers 2]

Needs the local stack (scripts/stack.sh up, or `make bench` which starts it). The service runs
as a real subprocess (`python -m service serve --workers N`) on its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from bench import wrk
from bench.admin_scale import run_admin_scale
from bench.loadgen import Result, combine, run_load, token_senders
from bench.scale import run_scale
from service.clock import utcnow
from service.crypto import KeyRing
from service.models.identity import User
from service.models.oauth import TokenGrant
from service.oauth import authorize, token, token_format
from service.oauth.clients import ClientDirectory, register_client
from service.oauth.deps import OAuthDeps
from service.oauth.token_values import new_grant_id
from service.settings import generate_key
from service.storage import token_grants
from tests.support.oauth import basic_auth
from tests.support.stack import free_port, load_stack_env, pick_test_port

ALEXA_REDIRECT = "https://pitangui.amazon.com/api/skill/link/BENCH"
KEYCLOAK_BENCH_CLIENT = ("bench-client", "dev-bench-secret")  # realm file, dev only


def start_service(
    stack: dict[str, str], port: int, db: str, workers: int, keys: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **stack,
        "ALS_ENV": "dev",
        # The same keys in every worker: each one signs and checks the tokens.
        "ALS_ENCRYPTION_KEYS": f"bench:{generate_key()}",
        "ALS_TOKEN_KEYS": keys,
        "ALS_SESSION_KEY": generate_key(),
        "ALS_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ALS_PORT": str(port),
        "ALS_MONGODB_DB": db,
        "ALS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--workers", str(workers)], env=env
    )


async def wait_healthy(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def prepare(uri: str, db_name: str, codes: int, keys: str) -> dict[str, Any]:
    """A client, refresh and access tokens for 50 users, and `codes` authorization codes."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = mongo[db_name]
    deps = OAuthDeps(db, KeyRing.parse(keys), ClientDirectory(0))
    client, secret = await register_client(
        db,
        actor="bench",
        name="Bench Alexa client",
        redirect_uris=[ALEXA_REDIRECT],
        scopes=["profile"],
        client_id="bench-alexa",
    )
    refresh, access = [], []
    for i in range(50):
        now = token_format.minted_at_precision(utcnow())
        grant, _ = await token_grants.insert(
            db,
            TokenGrant(
                grant_id=new_grant_id(),
                client_id=client.client_id,
                user_id=f"user-{i}",
                username=f"user{i}",
                scopes=frozenset({"profile"}),
                created_at=now,
            ),
        )
        pair = token.issue(deps, client, grant, scope=grant.scopes, with_refresh=True, now=now)
        assert pair.refresh_token is not None
        refresh.append(pair.refresh_token)
        access.append(pair.access_token)
    request = await authorize.validate(
        db,
        {
            "response_type": ["code"],
            "client_id": [client.client_id],
            "redirect_uri": [ALEXA_REDIRECT],
            "scope": ["profile"],
            "state": ["s"],
        },
        issuer="http://127.0.0.1",
        allow_http=False,
    )
    code_values = []
    for i in range(codes):
        location = await authorize.approve(
            db, request, User(id=f"code-user-{i}", username="u"), code_ttl=600, remember=i == 0
        )
        code_values.append(location.split("code=")[1].split("&")[0])
    await mongo.close()
    return {
        "client_id": client.client_id,
        "secret": secret,
        "refresh": refresh,
        "access": access,
        "codes": code_values,
    }


async def keycloak_refresh_tokens(keycloak: str, n: int) -> tuple[str, list[str]]:
    token_url = f"{keycloak}/realms/alexa-linking/protocol/openid-connect/token"
    tokens = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            user = ("user", "user2", "admin")[i % 3]
            async with session.post(
                token_url,
                data={
                    "grant_type": "password",
                    "client_id": KEYCLOAK_BENCH_CLIENT[0],
                    "client_secret": KEYCLOAK_BENCH_CLIENT[1],
                    "username": user,
                    "password": "password",
                },
            ) as resp:
                body = await resp.json()
                tokens.append(body["refresh_token"])
    return token_url, tokens


async def main(args: argparse.Namespace) -> None:
    stack = load_stack_env()
    # The admin scale mode logs in through Keycloak: a port registered in the realm.
    port = pick_test_port() if args.admin_scale else free_port()
    db_name = f"als_bench_{uuid.uuid4().hex[:8]}"
    base = f"http://127.0.0.1:{port}"
    keys = f"bench:{KeyRing.generate_key()}"
    codes = 0 if args.scale or args.admin_scale else args.codes
    data = await prepare(stack["ALS_MONGODB_URI"], db_name, codes=codes, keys=keys)
    proc = start_service(stack, port, db_name, args.workers, keys)
    results: list[Result] = []
    try:
        await wait_healthy(f"{base}/healthz")
        auth = {"Authorization": basic_auth(data["client_id"], data["secret"])}
        if args.admin_scale:
            users, events = args.admin_scale
            print(
                f"# admin scale mode: {users:,} linked accounts, {events:,} audit events, "
                f"{args.admin_samples} requests per page one after another, service with "
                f"{args.workers} worker(s), {os.cpu_count()} cores",
                flush=True,
            )
            await run_admin_scale(
                uri=stack["ALS_MONGODB_URI"],
                db_name=db_name,
                base=base,
                client_id=data["client_id"],
                users=users,
                events=events,
                samples=args.admin_samples,
                out=lambda line: print(line, flush=True),
            )
            return
        if args.scale:
            print(
                f"# scale mode: concurrency {args.concurrency}, {args.duration:.0f} s per load, "
                f"service with {args.workers} worker(s), {os.cpu_count()} cores",
                flush=True,
            )
            await run_scale(
                uri=stack["ALS_MONGODB_URI"],
                db_name=db_name,
                base=base,
                client_id=data["client_id"],
                auth=auth,
                token_keys=keys,
                sizes=args.scale,
                concurrency=args.concurrency,
                duration=args.duration,
                out=lambda line: print(line, flush=True),
            )
            return
        access_cycle = itertools.cycle(data["access"])
        codes = iter(data["codes"])

        ours_refresh, ours_introspect = token_senders(base, auth, data["refresh"], data["access"])

        async def ours_code(session: aiohttp.ClientSession) -> int | None:
            code = next(codes, None)
            if code is None:
                return None
            async with session.post(
                f"{base}/oauth/token",
                headers=auth,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": ALEXA_REDIRECT,
                },
            ) as resp:
                await resp.read()
                return resp.status

        async def ours_me(session: aiohttp.ClientSession) -> int:
            headers = {"Authorization": f"Bearer {next(access_cycle)}"}
            async with session.get(f"{base}/api/me", headers=headers) as resp:
                await resp.read()
                return resp.status

        kc_url, kc_tokens = await keycloak_refresh_tokens(stack["ALS_KEYCLOAK_URL"], 12)
        kc_cycle = itertools.cycle(kc_tokens)

        async def keycloak_refresh(session: aiohttp.ClientSession) -> int:
            async with session.post(
                kc_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": next(kc_cycle),
                    "client_id": KEYCLOAK_BENCH_CLIENT[0],
                    "client_secret": KEYCLOAK_BENCH_CLIENT[1],
                },
            ) as resp:
                await resp.read()
                return resp.status

        c, d = args.concurrency, args.duration
        generator = (
            "wrk"
            if args.generator == "wrk" or (args.generator == "auto" and wrk.available())
            else "python"
        )
        print(
            f"# concurrency {c}, {d:.0f} s per load and round, {args.rounds} round(s) of the "
            f"refresh loads (ours and Keycloak's alternate), service with {args.workers} "
            f"worker(s), {os.cpu_count()} cores; load from "
            + ("wrk" if generator == "wrk" else "Python (aiohttp) in this process"),
            flush=True,
        )
        if generator == "wrk":
            await _wrk_loads(base, auth, data, kc_url, kc_tokens, rounds=args.rounds, c=c, d=d)
            code_result = await run_load(
                "ours: /oauth/token authorization_code",
                ours_code,
                concurrency=c,
                duration=d,
                warmup=0,
            )
            print(code_result.line(), flush=True)
            return
        ours_rounds, kc_rounds = [], []
        for _ in range(args.rounds):
            ours_rounds.append(
                await run_load(
                    "ours: /oauth/token refresh_token", ours_refresh, concurrency=c, duration=d
                )
            )
            kc_rounds.append(
                await run_load(
                    "keycloak: token endpoint refresh_token",
                    keycloak_refresh,
                    concurrency=c,
                    duration=d,
                )
            )
        ours, kc = combine(ours_rounds), combine(kc_rounds)
        results += [ours, kc]
        print(ours.line(), flush=True)
        print(kc.line(), flush=True)
        code_result = await run_load(
            "ours: /oauth/token authorization_code", ours_code, concurrency=c, duration=d, warmup=0
        )
        results.append(code_result)
        print(code_result.line(), flush=True)
        me = await run_load("ours: GET /api/me", ours_me, concurrency=c, duration=d)
        results.append(me)
        print(me.line(), flush=True)
        introspected = await run_load(
            "ours: /oauth/introspect", ours_introspect, concurrency=c, duration=d
        )
        results.append(introspected)
        print(introspected.line(), flush=True)
        print(
            f"refresh throughput ours/Keycloak: {ours.rps / kc.rps:.2f}x   "
            f"p99 ours {ours.percentile(99):.1f} ms vs Keycloak {kc.percentile(99):.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack["ALS_MONGODB_URI"])
        await mongo.drop_database(db_name)
        await mongo.close()


async def _wrk_loads(
    base: str,
    auth: dict[str, str],
    data: dict[str, Any],
    kc_url: str,
    kc_tokens: list[str],
    *,
    rounds: int,
    c: int,
    d: float,
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    kc_base, _, kc_path = kc_url.partition("/realms/")
    loads = {
        "ours: /oauth/token refresh_token": (
            base,
            wrk.script(
                "POST",
                "/oauth/token",
                headers={**auth, **form},
                body="grant_type=refresh_token&refresh_token={}",
                each=data["refresh"],
            ),
        ),
        "keycloak: token endpoint refresh_token": (
            kc_base,
            wrk.script(
                "POST",
                "/realms/" + kc_path,
                headers=form,
                body="grant_type=refresh_token&refresh_token={}"
                f"&client_id={KEYCLOAK_BENCH_CLIENT[0]}&client_secret={KEYCLOAK_BENCH_CLIENT[1]}",
                each=kc_tokens,
            ),
        ),
        "ours: GET /api/me": (
            base,
            wrk.script(
                "GET", "/api/me", headers={"Authorization": "Bearer {}"}, each=data["access"]
            ),
        ),
        "ours: /oauth/introspect": (
            base,
            wrk.script(
                "POST",
                "/oauth/introspect",
                headers={**auth, **form},
                body="token={}",
                each=data["access"],
            ),
        ),
    }
    for name, (url, lua) in loads.items():  # warm-up, not counted
        await wrk.run(name, url, lua, concurrency=c, duration=2)
    refresh_names = list(loads)[:2]
    by_name: dict[str, list[wrk.Summary]] = {name: [] for name in loads}
    for _ in range(rounds):
        for name in refresh_names:  # ours and Keycloak's alternate
            url, lua = loads[name]
            by_name[name].append(await wrk.run(name, url, lua, concurrency=c, duration=d))
    for name in list(loads)[2:]:
        url, lua = loads[name]
        by_name[name].append(await wrk.run(name, url, lua, concurrency=c, duration=d))
    combined = {name: _combine_wrk(runs) for name, runs in by_name.items()}
    for summary in combined.values():
        print(summary.line(), flush=True)
    ours, kc = (combined[name] for name in refresh_names)
    print(
        f"refresh throughput ours/Keycloak: {ours.rps / kc.rps:.2f}x   "
        f"p99 ours {ours.p99_ms:.1f} ms vs Keycloak {kc.p99_ms:.1f} ms",
        flush=True,
    )


def _combine_wrk(runs: list[wrk.Summary]) -> wrk.Summary:
    """Rounds as one: totals, and percentiles weighted by each round's requests."""
    total = sum(r.requests for r in runs) or 1
    return wrk.Summary(
        runs[0].name,
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        sum(r.p50_ms * r.requests for r in runs) / total,
        sum(r.p99_ms * r.requests for r in runs) / total,
        sum(r.failed for r in runs),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating refresh rounds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--codes", type=int, default=3000)
    parser.add_argument(
        "--generator",
        choices=("python", "wrk"),
        default="python",
        help="load generator: the Python one in this process (the figures in README), or wrk "
        "(in C, Debian's `wrk`: leaves more of the cores to the servers measured)",
    )
    parser.add_argument(
        "--scale",
        type=lambda text: [int(n) for n in text.split(",")],
        metavar="N,N,…",
        help="instead: refresh and introspection with this many grants stored, e.g. "
        "10000,100000,1000000",
    )
    parser.add_argument(
        "--admin-scale",
        type=lambda text: tuple(int(n) for n in text.split(",", 1)),
        metavar="ACCOUNTS,EVENTS",
        help="instead: each admin page's p50/p95 with this many linked accounts and audit "
        "events stored, e.g. 100000,1000000",
    )
    parser.add_argument("--admin-samples", type=int, default=20, help="requests per page")
    asyncio.run(main(parser.parse_args()))
