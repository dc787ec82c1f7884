"""What Keycloak says about a user now, remembered briefly (ALS_KEYCLOAK_SYNC_SECONDS).

- `user_id(username)`: a username given to the partner API is resolved to the current user's
  id by an exact username search in Keycloak (users can be renamed, and a freed name reused),
  never by the name stored when the user linked. While Keycloak does not answer this raises
  `KeycloakAdminUnavailable` (503); ids need no lookup and keep working.
- `is_admin(user, roles_read_at=…)`: the admin pages re-read the user's effective realm roles,
  so a user removed from the `admin` role (directly, through a group or a composite role), or
  disabled or deleted, gets 403 within the interval. While Keycloak does not answer, the last
  known answer stands (the one read before, else the one of the login) and is asked again one
  interval later.

Each process remembers answers for itself; concurrent questions about one key share one call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, Generic, TypeVar

from service.keycloak_admin import KeycloakAdminClient, KeycloakAdminUnavailable
from service.models.identity import ADMIN_ROLE, User

log = logging.getLogger(__name__)

MAX_ENTRIES: Final = 10_000  # per cache; usernames come from API callers, so it is bounded
V = TypeVar("V")


class _Remembered(Generic[V]):
    """Answers per key for `ttl` seconds; one load per key at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}

    def last(self, key: str) -> tuple[float, V] | None:
        return self._entries.get(key)

    def remember(self, key: str, value: V) -> None:
        now = self._clock()
        if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
            self._entries = {k: e for k, e in self._entries.items() if now - e[0] < self._ttl}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
        self._entries[key] = (now, value)

    async def get(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[0] < self._ttl:
            return entry[1]
        future = self._loading.get(key)
        if future is None:
            future = asyncio.ensure_future(load())
            self._loading[key] = future
            future.add_done_callback(lambda done: self._loaded(key, done))
        # Shielded: a caller that gives up does not cancel the others' answer.
        return await asyncio.shield(future)

    def _loaded(self, key: str, done: asyncio.Future[V]) -> None:
        self._loading.pop(key, None)
        if not done.cancelled() and done.exception() is None:
            self.remember(key, done.result())


class UserDirectory:
    def __init__(
        self,
        keycloak: KeycloakAdminClient,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._keycloak = keycloak
        self._ttl = ttl
        self._wall_clock = wall_clock
        self._ids: _Remembered[str | None] = _Remembered(ttl, clock)
        self._admins: _Remembered[bool] = _Remembered(ttl, clock)

    async def user_id(self, username: str) -> str | None:
        """The id of the user who has this username now, or None."""

        async def load() -> str | None:
            user = await self._keycloak.user_by_username(username)
            return None if user is None else user.id

        return await self._ids.get(username.lower(), load)

    async def is_admin(self, user: User, *, roles_read_at: float | None) -> bool:
        """Whether the user holds the realm role `admin` now. `user.roles` were read at
        `roles_read_at` (epoch seconds: the login); within the interval they stand as they are."""
        if roles_read_at is not None and self._wall_clock() - roles_read_at < self._ttl:
            return user.is_admin

        async def load() -> bool:
            account = await self._keycloak.user(user.id)
            if account is None or not account.enabled:
                return False
            roles = await self._keycloak.realm_roles(user.id)
            return roles is not None and ADMIN_ROLE in roles

        try:
            return await self._admins.get(user.id, load)
        except KeycloakAdminUnavailable as exc:
            last = self._admins.last(user.id)
            answer = user.is_admin if last is None else last[1]
            log.warning(
                "could not re-read the roles of user %s (%s); keeping the last known answer "
                "(admin: %s) and asking again in %g s",
                user.id,
                exc.description,
                answer,
                self._ttl,
            )
            self._admins.remember(user.id, answer)
            return answer
