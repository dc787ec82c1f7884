"""What one source address may cost us: failed client authentications per client id and
address, and logins started per address (RFC 6585 §4: 429 with `Retry-After`).

Client ids are public (the Alexa client's travels in every authorization URL), and every wrong
secret costs a bcrypt run; the runs waiting for one client are capped
(`service.oauth.secret_hashing`), so a flood of wrong secrets from one address would fill that
cap and the real client's first check would be refused with a 503. So each (client id, source
address) may fail ALS_CLIENT_AUTH_FAILURES_PER_MINUTE times a minute (a token bucket: that many
at once, then one every 60/N seconds), and may have at most MAX_SECRETS_IN_FLIGHT different
secrets being checked at once; one address may fail ADDRESS_FACTOR times as often over all
client ids together (so cycling through the registered ids buys little); past any of these
it gets a 429 before any bcrypt run. A request with a
secret already being checked from there waits for that run, so a burst of a correct client's
requests (after a restart nothing is remembered) is never refused. Successes cost nothing.

`GET /login` stores a pending login for every call (`storage.login_attempts`): it is limited to
ALS_LOGINS_PER_MINUTE per source address.

The source address is `request.remote`: the caller's own address, or the client's address that
a trusted proxy reported (`service.web.proxy`). The counts are kept in each worker process's
memory: with N workers an address gets up to N times the limits (the kernel spreads its
connections over them), and a restart forgets them. Memory is bounded: past MAX_KEYS the
oldest entries are forgotten.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.errors import TooManyRequests
from service.oauth.errors import InvalidClient
from service.settings import Settings

MAX_KEYS = 100_000
# Different secrets checked at once for one client id from one address. A client has one
# secret (two while it is being rotated), so only guessing needs more.
MAX_SECRETS_IN_FLIGHT = 2
ADDRESS_FACTOR = 10  # failures one address may make over all client ids, per client id's share
CLIENT_AUTH_MESSAGE = "Too many failed client authentications from your address; try again later."
LOGIN_MESSAGE = "Too many logins started from your address. Please wait a moment and try again."


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """`per_minute` actions per key: up to that many at once, then one every 60/per_minute
    seconds. 0: no limit."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[object, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _bucket(self, key: object) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: object) -> int | None:
        """Seconds until `key` may act again, or None when it may now."""
        if not self.enabled:
            return None
        bucket = self._bucket(key)
        if bucket.tokens >= 1:
            return None
        return math.ceil((1 - bucket.tokens) / self.rate)

    def charge(self, key: object) -> None:
        """One action of `key` (it may go below zero: the wait grows with the excess)."""
        if self.enabled:
            self._bucket(key).tokens -= 1

    def take(self, key: object, message: str) -> None:
        """Charge `key` for one action, or raise `TooManyRequests` when it has none left."""
        wait = self.wait(key)
        if wait is not None:
            raise TooManyRequests(message, retry_after=wait)
        self.charge(key)


class ClientAuthLimiter:
    """Failed client authentications per (client id, source address)."""

    def __init__(self, failures_per_minute: int, *, max_in_flight: int = MAX_SECRETS_IN_FLIGHT):
        self.failures = TokenBuckets(failures_per_minute)
        self.address_failures = TokenBuckets(ADDRESS_FACTOR * failures_per_minute)
        self.max_in_flight = max_in_flight
        self._in_flight: dict[tuple[str, str], Counter[bytes]] = {}

    @contextmanager
    def attempt(self, client_id: str, address: str, secrets: tuple[str, ...]) -> Iterator[None]:
        """Around everything that authenticates the client: refused at once (429) when the
        address used up its failures for this client id, or is checking too many different
        secrets already; an `InvalidClient` raised inside counts as a failure."""
        if not self.failures.enabled:
            yield
            return
        key = (client_id, address)
        wait = self.failures.wait(key) or self.address_failures.wait(address)
        if wait is not None:
            raise TooManyRequests(CLIENT_AUTH_MESSAGE, retry_after=wait)
        digest = hashlib.sha256("\0".join(secrets).encode("utf-8", "surrogatepass")).digest()
        flights = self._in_flight.setdefault(key, Counter())
        if digest not in flights and len(flights) >= self.max_in_flight:
            raise TooManyRequests(CLIENT_AUTH_MESSAGE, retry_after=1)
        flights[digest] += 1
        try:
            yield
        except InvalidClient:
            self.failures.charge(key)
            self.address_failures.charge(address)
            raise
        finally:
            flights[digest] -= 1
            if not flights[digest]:
                del flights[digest]
            if not flights:
                self._in_flight.pop(key, None)


@dataclass(frozen=True)
class RateLimits:
    """The limits of one server process (kept in its memory)."""

    client_auth: ClientAuthLimiter
    logins: TokenBuckets

    @classmethod
    def of(cls, settings: Settings) -> RateLimits:
        return cls(
            ClientAuthLimiter(settings.client_auth_failures_per_minute),
            TokenBuckets(settings.logins_per_minute),
        )
