"""Our access and refresh tokens: opaque to clients, self-validating for us.

A token is ``als1.<kid>.<payload>.<tag>``: `payload` is the base64url JSON of its claims (grant
id, kind, refresh generation, issue and expiry times in milliseconds, a narrower scope if any,
16 random bytes), `tag` the HMAC-SHA256 of everything before it under the key `kid` of the
token key ring (ALS_TOKEN_KEYS; each key's MAC key is derived by HKDF in `service.crypto`).
Nothing of a token is stored: a database dump yields no usable token, and a forged or altered
one fails the MAC before any database read. A token is valid while its MAC holds, it has not
expired, and its grant accepts it (`TokenGrant.accepts`). Old key ids verify until their key
leaves the ring.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from datetime import UTC, datetime
from typing import Any, Final

from service.crypto import KeyRing
from service.models.oauth import TokenClaims

PREFIX: Final = "als1"
_KINDS: Final = {"access": "a", "refresh": "r"}
_KIND_NAMES: Final = {v: k for k, v in _KINDS.items()}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def is_minted(token: str) -> bool:
    """Whether the token has our format (else it may be one from before it: a stored hash)."""
    return token.startswith(PREFIX + ".")


def mint(keyring: KeyRing, claims: TokenClaims) -> str:
    body: dict[str, Any] = {
        "g": claims.grant_id,
        "k": _KINDS[claims.kind],
        "n": claims.generation,
        "i": _ms(claims.issued_at),
        "e": 0 if claims.expires_at is None else _ms(claims.expires_at),
        "x": claims.nonce or _b64(secrets.token_bytes(16)),
    }
    if claims.scopes is not None:
        body["s"] = sorted(claims.scopes)
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    kid, tag = keyring.sign(f"{PREFIX}.{keyring.primary_kid}.{payload}".encode())
    return f"{PREFIX}.{kid}.{payload}.{_b64(tag)}"


def read(keyring: KeyRing, token: str) -> TokenClaims | None:
    """The claims of a token we minted, or None (not ours, altered, or its key is gone)."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    _, kid, payload, tag = parts
    try:
        signature = _unb64(tag)
    except (binascii.Error, ValueError):
        return None
    if not keyring.verify(kid, f"{PREFIX}.{kid}.{payload}".encode(), signature):
        return None
    try:  # the MAC held: this is our own encoding, read it plainly
        body = json.loads(_unb64(payload))
        scopes = body.get("s")
        return TokenClaims(
            grant_id=str(body["g"]),
            kind=_KIND_NAMES[body["k"]],  # type: ignore[arg-type]
            generation=int(body["n"]),
            issued_at=_moment(int(body["i"])),
            expires_at=_moment(int(body["e"])) if body["e"] else None,
            scopes=None if scopes is None else frozenset(str(s) for s in scopes),
            nonce=str(body["x"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def minted_at_precision(moment: datetime) -> datetime:
    """`moment` as a token records it (milliseconds), to compare with a token's times."""
    return _moment(_ms(moment))
