"""Users of the shared dev realm made for one test and deleted after it, and what an
administrator does to them in Keycloak's admin console (through the same admin REST API)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from tests.support.keycloak_admin import KeycloakAdmin
from tests.support.stack import free_port, load_stack_env

PASSWORD = "password"
T = TypeVar("T")


@dataclass(frozen=True)
class RealmUser:
    id: str
    username: str


@dataclass
class RealmUsers:
    admin: KeycloakAdmin
    realm: str
    made: list[str] = field(default_factory=list)

    @property
    def _users(self) -> str:
        return f"/realms/{self.realm}/users"

    def create(
        self, prefix: str = "sync", roles: tuple[str, ...] = (), *, username: str | None = None
    ) -> RealmUser:
        username = username or f"{prefix}-{secrets.token_hex(5)}"
        user_id = self.admin.create_user(self.realm, username, PASSWORD, roles=roles)
        self.made.append(user_id)
        return RealmUser(user_id, username)

    def update(self, user_id: str, **fields: object) -> None:
        response = self.admin.request("PUT", f"{self._users}/{user_id}", json=fields)
        assert response.status_code == 204, response.text

    def disable(self, user_id: str) -> None:
        self.update(user_id, enabled=False)

    def enable(self, user_id: str) -> None:
        self.update(user_id, enabled=True)

    def rename(self, user_id: str, username: str) -> None:
        """A new username (and the e-mail address made from it, which must stay unique)."""
        self.update(user_id, username=username, email=f"{username}@example.com")

    def delete(self, user_id: str) -> None:
        response = self.admin.request("DELETE", f"{self._users}/{user_id}")
        assert response.status_code in (204, 404), response.text

    def remove_realm_role(self, user_id: str, role: str) -> None:
        representation = self.admin.get_json(f"/realms/{self.realm}/roles/{role}")
        response = self.admin.request(
            "DELETE", f"{self._users}/{user_id}/role-mappings/realm", json=[representation]
        )
        assert response.status_code == 204, response.text


@contextmanager
def realm_users() -> Iterator[RealmUsers]:
    """Users made in the dev realm (shared by every test: unique names), deleted afterwards."""
    admin = KeycloakAdmin()
    users = RealmUsers(admin, load_stack_env().get("ALS_KEYCLOAK_REALM", "alexa-linking"))
    try:
        yield users
    finally:
        for user_id in users.made:
            users.delete(user_id)
        admin.close()


async def within(
    seconds: float, check: Callable[[], Awaitable[T]], done: Callable[[T], bool]
) -> tuple[T, float]:
    """Ask `check` until `done` says yes; its last answer and the seconds it took (fails the
    test after `seconds`)."""
    start = time.monotonic()
    while True:
        answer = await check()
        elapsed = time.monotonic() - start
        if done(answer):
            return answer, elapsed
        assert elapsed < seconds, f"still {answer!r} after {elapsed:.1f} s"
        await asyncio.sleep(0.1)


class Gate:
    """A TCP forwarder to Keycloak that can be shut: while shut, connecting is refused and the
    connections it carried are cut, as when Keycloak is down; opened again, on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.admin_event_reads = 0  # requests for Keycloak's admin events that went through

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def shut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer, count=True),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count:
                    self.admin_event_reads += data.count(b"/admin-events?")
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()


@asynccontextmanager
async def keycloak_gate() -> AsyncIterator[Gate]:
    """An open `Gate` in front of the stack's Keycloak, shut at the end."""
    keycloak = urlsplit(load_stack_env()["ALS_KEYCLOAK_URL"])
    gate = Gate(keycloak.hostname or "127.0.0.1", keycloak.port or 80)
    await gate.open()
    try:
        yield gate
    finally:
        await gate.shut()
