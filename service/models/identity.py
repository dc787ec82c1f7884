"""The logged-in person, as our code sees them (from Keycloak's verified ID token), and a login
on its way through Keycloak."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class User:
    id: str  # Keycloak `sub`
    username: str
    roles: frozenset[str] = frozenset()
    name: str = ""
    email: str = ""  # as Keycloak said at login (the admin pages search by it)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def to_session(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "roles": sorted(self.roles),
            "name": self.name,
            "email": self.email,
        }

    @classmethod
    def from_session(cls, data: Any) -> User | None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        return cls(
            id=data["id"],
            username=str(data.get("username", "")),
            roles=frozenset(str(r) for r in data.get("roles", [])),
            name=str(data.get("name", "")),
            email=str(data.get("email", "")),
        )

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> User:
        realm_access = claims.get("realm_access") or {}
        roles = realm_access.get("roles", []) if isinstance(realm_access, dict) else []
        return cls(
            id=str(claims["sub"]),
            username=str(claims.get("preferred_username") or claims["sub"]),
            roles=frozenset(str(r) for r in roles),
            name=str(claims.get("name") or ""),
            email=str(claims.get("email") or ""),
        )


@dataclass(frozen=True)
class LoginAttempt:
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    next_url: str
