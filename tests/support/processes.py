"""`python -m service serve` as a separate OS process sharing a test's settings and database,
for tests that need several server processes (cross-process races)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from service.settings import Settings
from tests.support.stack import free_port

REPO = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The ALS_* environment that reproduces `settings` in another process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALS_")}
    for name in Settings.__dataclass_fields__:
        env["ALS_" + name.upper()] = str(getattr(settings, name))
    env.update(extra)
    return env


class ServiceProcess:
    def __init__(self, settings: Settings, *, workers: int = 1, **extra_env: str) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Metrics on a free port of their own, so test servers never share one.
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self._env = settings_env(
            settings,
            ALS_PORT=str(self.port),
            ALS_HOST="127.0.0.1",
            ALS_LOG_LEVEL="WARNING",
            ALS_METRICS_HOST="127.0.0.1",
            ALS_METRICS_PORT=str(self.metrics_port),
            **extra_env,
        )
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--workers", str(self.workers)],
            cwd=REPO,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                    raise RuntimeError(f"service process exited: {err[-2000:]}")
                try:
                    async with http.get(f"{self.base_url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("service process did not start")

    def returncode(self) -> int | None:
        assert self._proc is not None
        return self._proc.poll()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stop(self) -> int | None:
        """SIGTERM, as a process manager stops it; returns the exit status."""
        status = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                status = self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        return status
