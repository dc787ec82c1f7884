"""Our codes and tokens: 256-bit random values, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets


def new_secret_value() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def new_grant_id() -> str:
    return secrets.token_hex(12)


def secret_hash(value: str) -> str:
    """Lookup key of a code or token. Unsalted is right here: the values are 256-bit random, so
    the hash cannot be reversed by guessing, and it must be findable by value."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
