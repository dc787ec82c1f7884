"""Keycloak's admin REST API, read as our client's service account (docs/keycloak.md).

What we read: a user (`GET /admin/realms/{realm}/users/{id}`), a user by exact username, a
user's effective realm roles, and the realm's stored admin events. The service account of our
client (`account-linking-service`) holds the realm-management roles `view-users` and
`view-events` and nothing else: it can read, never change.

A plain httpx client (the HTTP stack python-keycloak uses) rather than python-keycloak's
`KeycloakAdmin`, whose token refresh has no lock (docs/libraries.md §1): the service account's
token is fetched with the client credentials grant, kept until shortly before it expires, and
fetched by one caller at a time. Every failure (network, timeout, 5xx, a refused service
account, an answer that is not what the API documents) is `KeycloakAdminUnavailable`, a 503
for whoever needs the answer now; callers that can go on without it (the identity sync, the
role check) catch it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from service.errors import Unavailable
from service.settings import Settings

TOKEN_MARGIN: Final = 30.0  # seconds before its expiry a service account token is replaced
MAX_USERNAME: Final = 255  # Keycloak stores no longer username
EVENT_PAGE: Final = 200
_USER_PATH = re.compile(r"users/([^/]+)")


class KeycloakAdminUnavailable(Unavailable):
    """Keycloak's admin API did not answer, or refused our service account (503, Retry-After);
    the description says which, never with a token or secret."""

    default_description = "The user directory (Keycloak) cannot be reached right now."

    @classmethod
    def because(cls, reason: str) -> KeycloakAdminUnavailable:
        return cls(f"The user directory (Keycloak) cannot be reached right now ({reason}).")


@dataclass(frozen=True)
class KeycloakUser:
    id: str
    username: str
    enabled: bool
    email: str | None = None


@dataclass(frozen=True)
class AdminEvent:
    """One stored admin event (AdminEventRepresentation): what an administrator did, when
    (Keycloak's clock, epoch milliseconds), and, with details stored, the JSON sent."""

    key: str  # the event's id; time and path for a Keycloak that sends none
    time_ms: int
    operation: str  # CREATE, UPDATE, DELETE, ACTION
    resource_type: str  # USER, REALM_ROLE_MAPPING, …
    resource_path: str  # users/<id>, users/<id>/role-mappings/realm, …
    representation: Any  # the parsed JSON sent with the operation, or None

    @property
    def user_id(self) -> str | None:
        """The user the event is about when it is about a user itself (`users/<id>`)."""
        match = _USER_PATH.fullmatch(self.resource_path)
        return match.group(1) if match else None

    @classmethod
    def from_json(cls, data: Any) -> AdminEvent | None:
        if not isinstance(data, dict) or not isinstance(data.get("time"), int):
            return None
        path = str(data.get("resourcePath") or "")
        operation = str(data.get("operationType") or "")
        event_id = data.get("id")
        raw = data.get("representation")
        try:
            representation = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            representation = None
        return cls(
            key=str(event_id) if event_id else f"{data['time']} {operation} {path}",
            time_ms=data["time"],
            operation=operation,
            resource_type=str(data.get("resourceType") or ""),
            resource_path=path,
            representation=representation,
        )


class KeycloakAdminClient:
    """One per process, made inside the running loop (an httpx.AsyncClient belongs to it)."""

    def __init__(self, settings: Settings) -> None:
        base = settings.keycloak_url.rstrip("/")
        realm = quote(settings.keycloak_realm, safe="")
        self._token_url = f"{base}/realms/{realm}/protocol/openid-connect/token"
        self._admin = f"{base}/admin/realms/{realm}"
        self._client = (settings.keycloak_client_id, settings.keycloak_client_secret)
        self._http = httpx.AsyncClient(
            timeout=settings.keycloak_timeout,
            headers={"User-Agent": "alexa-account-linking-server"},
        )
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    # --- what we read ----------------------------------------------------------------------

    async def user(self, user_id: str) -> KeycloakUser | None:
        """The user with this id, or None when there is none (deleted)."""
        data = await self._get(f"/users/{quote(user_id, safe='')}", missing_ok=True)
        return None if data is None else _user(data)

    async def user_by_username(self, username: str) -> KeycloakUser | None:
        """The user whose username is exactly this one (Keycloak keeps usernames in lower
        case and compares them so), or None. A name Keycloak could not hold (too long, or one
        it refuses to search for, such as one with a NUL) names nobody."""
        if not username or len(username) > MAX_USERNAME:
            return None
        data = await self._get(
            "/users",
            params={"username": username, "exact": "true", "briefRepresentation": "true"},
            refused_ok=True,
        )
        if data is None:
            return None
        if not isinstance(data, list):
            raise _unexpected("a list of users")
        wanted = username.lower()
        for item in data:
            user = _user(item)
            if user.username.lower() == wanted:
                return user
        return None

    async def realm_roles(self, user_id: str) -> frozenset[str] | None:
        """The user's effective realm roles (direct, through groups and composite roles), or
        None when the user does not exist."""
        data = await self._get(
            f"/users/{quote(user_id, safe='')}/role-mappings/realm/composite",
            params={"briefRepresentation": "true"},
            missing_ok=True,
        )
        if data is None:
            return None
        if not isinstance(data, list):
            raise _unexpected("a list of roles")
        return frozenset(str(r["name"]) for r in data if isinstance(r, dict) and "name" in r)

    async def admin_events(
        self,
        *,
        since_ms: int,
        resource_types: tuple[str, ...],
        operations: tuple[str, ...],
        first: int = 0,
        limit: int = EVENT_PAGE,
    ) -> list[AdminEvent]:
        """Stored admin events from `since_ms` (Keycloak's clock, inclusive), oldest first."""
        data = await self._get(
            "/admin-events",
            params={
                "dateFrom": str(since_ms),
                "resourceTypes": list(resource_types),
                "operationTypes": list(operations),
                "direction": "asc",
                "first": str(first),
                "max": str(limit),
            },
        )
        if not isinstance(data, list):
            raise _unexpected("a list of admin events")
        events = [AdminEvent.from_json(item) for item in data]
        return sorted((e for e in events if e is not None), key=lambda e: e.time_ms)

    # --- HTTP ------------------------------------------------------------------------------

    async def _get(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
        refused_ok: bool = False,
    ) -> Any:
        """The JSON answer; None for 404 with `missing_ok`, for 400 with `refused_ok`."""
        for attempt in (1, 2):
            token = await self._service_token()
            try:
                response = await self._http.get(
                    self._admin + path,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise KeycloakAdminUnavailable.because(type(exc).__name__) from None
            if response.status_code == 401 and attempt == 1:
                self._token = None  # revoked or expired early: fetch a new one, once
                continue
            if (response.status_code == 404 and missing_ok) or (
                response.status_code == 400 and refused_ok
            ):
                return None
            if response.status_code == 403:
                raise KeycloakAdminUnavailable.because(
                    "it refused our service account: it needs the realm-management roles "
                    "view-users and view-events"
                )
            if response.status_code != 200:
                raise KeycloakAdminUnavailable.because(f"it answered {response.status_code}")
            try:
                return response.json()
            except ValueError:
                raise _unexpected("JSON") from None
        raise KeycloakAdminUnavailable.because("it refused our service account's token")

    async def _service_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_until:
            return self._token
        async with self._token_lock:  # one fetch for all callers waiting
            if self._token is not None and time.monotonic() < self._token_until:
                return self._token
            try:
                response = await self._http.post(
                    self._token_url,
                    data={"grant_type": "client_credentials"},
                    auth=self._client,
                )
            except httpx.HTTPError as exc:
                raise KeycloakAdminUnavailable.because(type(exc).__name__) from None
            body = _json_or_none(response)
            if response.status_code != 200 or not isinstance(body, dict):
                error = body.get("error") if isinstance(body, dict) else None
                raise KeycloakAdminUnavailable.because(
                    f"it refused our service account: {error or response.status_code}"
                )
            token, expires_in = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not isinstance(expires_in, int | float):
                raise _unexpected("a token response")
            self._token = token
            self._token_until = time.monotonic() + max(0.0, float(expires_in) - TOKEN_MARGIN)
            return token


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _user(data: Any) -> KeycloakUser:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise _unexpected("a user")
    return KeycloakUser(
        id=data["id"],
        username=str(data.get("username") or ""),
        enabled=data.get("enabled") is not False,
        email=str(data["email"]) if data.get("email") else None,
    )


def _unexpected(what: str) -> KeycloakAdminUnavailable:
    return KeycloakAdminUnavailable.because(f"its admin API did not answer with {what}")
