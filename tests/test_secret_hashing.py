"""Client secrets at rest: bcrypt, constant-time checks, remembered successes that never
outlive the stored hash, and hashes from before bcrypt still accepted."""

from __future__ import annotations

import asyncio
import hashlib
import threading

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


async def test_a_flood_for_one_client_leaves_room_for_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    real_check = secret_hashing._check

    def slow_check(secret: str, stored: str) -> bool:
        if stored == "flooded-client-hash":
            release.wait(5)
            return False
        return real_check(secret, stored)

    monkeypatch.setattr(secret_hashing, "_check", slow_check)
    flood = [
        asyncio.create_task(secret_hashing.verify_secret(f"guess-{i}", "flooded-client-hash"))
        for i in range(secret_hashing.MAX_PENDING_PER_HASH)
    ]
    await asyncio.sleep(0.05)
    with pytest.raises(secret_hashing.CheckerBusy):
        await secret_hashing.verify_secret("one-more-guess", "flooded-client-hash")
    other = secret_hashing.hash_secret("the-other-clients-secret-000")
    admitted = asyncio.create_task(
        secret_hashing.verify_secret("the-other-clients-secret-000", other)
    )  # not refused: it waits its turn behind at most one client's share
    release.set()
    assert await admitted
    assert not any(await asyncio.gather(*flood))


async def test_a_burst_with_one_secret_waits_for_one_check() -> None:
    """After a restart nothing is remembered, and Alexa's first refreshes arrive together:
    they share one bcrypt run instead of being refused as a flood."""
    stored = secret_hashing.hash_secret("burst-secret-0123456789abcdef")
    results = await asyncio.gather(
        *(
            secret_hashing.verify_secret("burst-secret-0123456789abcdef", stored)
            for _ in range(secret_hashing.MAX_PENDING + 8)
        )
    )
    assert results == [True] * (secret_hashing.MAX_PENDING + 8)
