"""The production shape on this machine: Caddy (scripts/caddy.sh builds it once per machine)
running deploy/Caddyfile as it is, with its internal CA (`CADDY_TLS=internal`) on loopback
ports, in front of `python -m service serve --workers 2` in production mode; clients that trust
that CA, resolve the test's host names to loopback and may call from another loopback address
(127.0.0.2, …), so the service can tell the caller's address from the proxy's."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict
from yarl import URL

from tests.support.browser import LOCAL_HOSTS, Browser, Page
from tests.support.stack import load_stack_env

REPO = Path(__file__).resolve().parents[2]
CADDYFILE = REPO / "deploy" / "Caddyfile"
# The Keycloak hosts of deploy/Caddyfile, as names of their own (resolved to 127.0.0.1 by our
# clients); the service is https://localhost:<port>, which Keycloak's test realm is given.
LOGIN_HOST = "login.als.test"
ADMIN_HOST = "kc-admin.als.test"
STARTUP_SECONDS = 60.0


def caddy_binary() -> Path:
    """The cached Caddy build (scripts/caddy.sh builds it when this machine has none yet)."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "caddy.sh"), "install"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip().splitlines()[-1])


class LoopbackResolver(AbstractResolver):
    """Resolves the given names to 127.0.0.1, and nothing else."""

    def __init__(self, names: set[str]) -> None:
        self._names = names

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._names:
            raise OSError(f"{host} is not one of this test's names")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


def client_session(
    ca_file: Path,
    *,
    source: str | None = None,
    cookies: aiohttp.abc.AbstractCookieJar | None = None,
) -> aiohttp.ClientSession:
    """A session trusting Caddy's CA; `source`: the loopback address to call from."""
    connector = aiohttp.TCPConnector(
        ssl=ssl.create_default_context(cafile=str(ca_file)),
        resolver=LoopbackResolver({"localhost", LOGIN_HOST, ADMIN_HOST}),
        local_addr=(source, 0) if source else None,
        force_close=True,  # every request on a new connection: each one is logged as its own
    )
    jar = aiohttp.DummyCookieJar() if cookies is None else cookies  # (an empty jar is falsy)
    return aiohttp.ClientSession(connector=connector, cookie_jar=jar)


@dataclass(frozen=True)
class Hop:
    method: str
    url: str
    status: int
    headers: CIMultiDict[str]

    @property
    def location(self) -> str | None:
        target = self.headers.get("Location")
        return urljoin(self.url, target) if target else None


class TlsBrowser(Browser):
    """The form-posting Browser over https through Caddy, recording every answer it gets."""

    def __init__(self, ca_file: Path) -> None:  # its own session, not Browser's
        keycloak = load_stack_env().get("ALS_KEYCLOAK_URL", "http://127.0.0.1:8180")
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(keycloak).origin()])
        self.session = client_session(ca_file, cookies=jar)
        self.hops: list[Hop] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> Page:
        for _ in range(20):
            async with self.session.request(method, url, allow_redirects=False, **kwargs) as resp:
                text = await resp.text()
                hop = Hop(method, url, resp.status, CIMultiDict(resp.headers))
                self.hops.append(hop)
                if resp.status in (301, 302, 303, 307, 308) and hop.location:
                    if urlsplit(hop.location).hostname not in LOCAL_HOSTS:
                        return Page(url, resp.status, text, redirect_to=hop.location)
                    url, method, kwargs = hop.location, "GET", {}
                    continue
                return Page(str(resp.url), resp.status, text)
        raise AssertionError("too many redirects")


def _wait(what: str, check: Any, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-3000:]}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start: {log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class ServiceProcess:
    """`python -m service serve --workers 2`, its log (the access log included) in a file."""

    environment: Mapping[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALS_")}
        env.update(self.environment)
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{self.port}/healthz"
        _wait("the service", lambda: httpx.get(url).status_code == 200, self.process, self.log)

    def stop(self) -> None:
        _stop(self.process)
        if self._log_file is not None:
            self._log_file.close()

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if needle in line]


@dataclass
class CaddyProxy:
    """deploy/Caddyfile run by Caddy with its own CA, on ports of this test's own."""

    environment: Mapping[str, str]  # the Caddyfile's variables (sites, upstreams, …)
    home: Path
    https_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> Path:
        return self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def log(self) -> Path:
        return self.home / "caddy.log"

    def start(self) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "CADDY_TLS": "internal",
            "CADDY_ADMIN": "off",
            "CADDY_HTTP_PORT": str(self.http_port),
            "CADDY_HTTPS_PORT": str(self.https_port),
            **self.environment,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(caddy_binary()),
                    "run",
                    "--config",
                    str(CADDYFILE),
                    "--adapter",
                    "caddyfile",
                ],
                cwd=self.home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"https://localhost:{self.https_port}/healthz"

        def answers() -> bool:
            if not self.ca_file.exists():
                return False
            context = ssl.create_default_context(cafile=str(self.ca_file))
            return httpx.get(url, verify=context).status_code == 200

        assert self.process is not None
        _wait("Caddy", answers, self.process, self.log)

    def stop(self) -> None:
        _stop(self.process)


def new_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="als-caddy-"))
