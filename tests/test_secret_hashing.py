"""Client secrets at rest: bcrypt, constant-time checks, remembered successes that never
outlive the stored hash, and hashes from before bcrypt still accepted."""

from __future__ import annotations

import hashlib

import pytest

from service.oauth import secret_hashing
from service.oauth.clients import ClientConfigError, check_secret_strength


async def test_bcrypt_hash_verifies_only_its_secret() -> None:
    stored = secret_hashing.hash_secret("a-secret-of-enough-length-123")
    assert stored.startswith("$2b$")
    assert await secret_hashing.verify_secret("a-secret-of-enough-length-123", stored)
    assert await secret_hashing.verify_secret("a-secret-of-enough-length-123", stored)  # cached
    assert not await secret_hashing.verify_secret("a-secret-of-enough-length-124", stored)


async def test_a_remembered_success_is_tied_to_the_stored_hash() -> None:
    secret = "the-same-secret-for-both-hashes"
    old = secret_hashing.hash_secret(secret)
    assert await secret_hashing.verify_secret(secret, old)
    new = secret_hashing.hash_secret("a-different-secret-entirely-0")
    assert not await secret_hashing.verify_secret(secret, new)


async def test_hashes_from_before_bcrypt_are_still_accepted() -> None:
    salt = bytes(range(16))
    legacy = f"sha256${salt.hex()}${hashlib.sha256(salt + b'old-style-secret').hexdigest()}"
    assert await secret_hashing.verify_secret("old-style-secret", legacy)
    assert not await secret_hashing.verify_secret("old-style-secreT", legacy)
    assert not await secret_hashing.verify_secret("x", "sha256$zz$00")
    assert not await secret_hashing.verify_secret("x", "not a hash at all")


async def test_secrets_longer_than_bcrypt_reads_are_refused() -> None:
    with pytest.raises(ClientConfigError, match="at most 72 bytes"):
        check_secret_strength("x" * 73)
    check_secret_strength("x" * 72)
    stored = secret_hashing.hash_secret("x" * 72)
    assert not await secret_hashing.verify_secret("x" * 73, stored)
