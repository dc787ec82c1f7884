"""Client secrets at rest: bcrypt hashes, checked in constant time.

bcrypt is deliberately slow (about 60 ms at cost 10 here), and `/oauth/token` authenticates the
client on every call, so a successful check is remembered in process memory, keyed by a SHA-256
of the stored hash and the presented secret. The stored hash is still read on every call: a
rotated secret or a removed client stops working at once. Failed checks are not remembered.

Concurrent checks of the same secret share one run. Checks run on a pool of their own, so a
flood of wrong secrets cannot starve the threads the rest of the server uses (DNS lookups for
LWA and Alexa); past MAX_PENDING waiting checks (or
MAX_PENDING_PER_HASH for one client) a new one is refused at once (`CheckerBusy`) instead of
queueing for seconds. Remembered secrets are not affected: they need no check.

Hashes of the form `sha256$<salt>$<digest>` (made before bcrypt was used) are still accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor

import bcrypt

# Spring Security's BCryptPasswordEncoder default, as in Amazon's original sample. The cost is
# stored in each hash, so raising it later only affects secrets set from then on.
BCRYPT_ROUNDS = 10
MAX_SECRET_BYTES = 72  # bcrypt reads no further; longer secrets are refused when set
_CACHE_SIZE = 4096
_verified: OrderedDict[bytes, None] = OrderedDict()
_LEGACY_SCHEME = "sha256"
MAX_PENDING = 32
# One client's share of the waiting checks: a flood of wrong secrets for one (public) client id
# then cannot shut out the first checks of the other clients.
MAX_PENDING_PER_HASH = 8
_checks = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="bcrypt")
_pending: Counter[str] = Counter()
# Checks under way by key: a burst of requests with the same (not yet remembered) secret, as
# after a restart, waits for one bcrypt run instead of queueing one each.
_running: dict[bytes, asyncio.Future[bool]] = {}


class CheckerBusy(Exception):
    """Too many secret checks are waiting already."""


def hash_secret(secret: str) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


async def hash_secret_async(secret: str) -> str:
    """`hash_secret` off the event loop (it takes tens of milliseconds)."""
    return await asyncio.get_running_loop().run_in_executor(_checks, hash_secret, secret)


def _check(secret: str, stored: str) -> bool:
    candidate = secret.encode("utf-8", "surrogatepass")
    if stored.startswith(_LEGACY_SCHEME + "$"):
        _, salt_hex, digest = [*stored.split("$"), "", ""][:3]
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            return False
        return hmac.compare_digest(hashlib.sha256(salt + candidate).hexdigest(), digest)
    if len(candidate) > MAX_SECRET_BYTES:
        return False
    try:
        return bcrypt.checkpw(candidate, stored.encode())
    except ValueError:  # not a bcrypt hash
        return False


async def verify_secret(secret: str, stored: str) -> bool:
    key = hashlib.sha256(stored.encode() + b"\0" + secret.encode("utf-8", "surrogatepass")).digest()
    if key in _verified:
        _verified.move_to_end(key)
        return True
    running = _running.get(key)
    if running is not None:  # the same secret is being checked already: share its answer
        return await asyncio.shield(running)
    if _pending.total() >= MAX_PENDING or _pending[stored] >= MAX_PENDING_PER_HASH:
        raise CheckerBusy()
    _pending[stored] += 1
    check = asyncio.get_running_loop().run_in_executor(_checks, _check, secret, stored)
    _running[key] = check
    try:
        ok = await asyncio.shield(check)
    finally:
        _running.pop(key, None)
        _pending[stored] -= 1
        if not _pending[stored]:
            del _pending[stored]
    if not ok:
        return False
    _verified[key] = None
    if len(_verified) > _CACHE_SIZE:
        _verified.popitem(last=False)
    return True
