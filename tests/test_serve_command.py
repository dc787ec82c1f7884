"""`python -m service serve --workers N` as a process manager runs it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from service.settings import Settings
from service.web.appkeys import DB
from tests.support.oauth import create_client, token_request
from tests.support.processes import ServiceProcess


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_sigterm_stops_every_worker(settings: Settings) -> None:
    service = ServiceProcess(settings, workers=2)
    await service.start()
    try:
        workers = _children(service.pid)
        assert len(workers) == 2
    finally:
        status = service.stop()
    assert status == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "workers outlived the server process"


async def test_a_dead_worker_stops_the_server_so_it_can_be_restarted(settings: Settings) -> None:
    service = ServiceProcess(settings, workers=2)
    await service.start()
    try:
        first, second = sorted(_children(service.pid))
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while service.returncode() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.returncode() == 1
        assert not _alive(second)
    finally:
        service.stop()


async def test_dev_workers_share_the_keys_they_made_up(
    settings: Settings, server: TestServer
) -> None:
    """In dev mode without configured keys, the server makes them up once for all its workers:
    a token one worker issued is accepted by every other."""
    client, secret = await create_client(
        server.app[DB], grant_types=["client_credentials"], scopes=[]
    )
    unset = {"ALS_SESSION_KEY": "", "ALS_ENCRYPTION_KEYS": "", "ALS_TOKEN_KEYS": ""}
    service = ServiceProcess(settings, workers=2, **unset)
    await service.start()
    try:
        statuses = []
        for _ in range(20):  # a new connection each time: the kernel spreads them over workers
            answer = await token_request(
                service.base_url,
                {"grant_type": "client_credentials"},
                client_id=client.client_id,
                secret=secret,
            )
            assert answer.status == 200
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"{service.base_url}/api/me",
                    headers={"Authorization": f"Bearer {answer.body['access_token']}"},
                ) as resp,
            ):
                statuses.append(resp.status)
        assert statuses == [200] * 20
    finally:
        service.stop()
