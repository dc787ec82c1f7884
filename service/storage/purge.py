"""The purges: expired codes, tokens, ended sessions, abandoned logins, revocation records and
refresh leases, for servers without TTL indexes (FerretDB; on MongoDB the TTL indexes have done
it already); and, on every server, what is kept only for a retention time: the audit trail
(ALS_AUDIT_RETENTION_DAYS), ended LWA links (ALS_ENDED_LINK_RETENTION_DAYS), revoked grants (a
week), and grants whose refresh token went unused (ALS_REFRESH_TOKEN_IDLE_DAYS, when set).
Run every few minutes by each server process (`service.contexts`); every delete is
idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.db import Database
from service.storage import (
    audit,
    authorization_codes,
    ended_sessions,
    login_attempts,
    partner_tokens,
    refresh_leases,
    revocations,
    token_grants,
    tokens,
)

# A revoked grant's tokens are refused whether it exists or not; it is kept a while so that a
# replayed code (its document lives a day past expiry) still finds it and is recognised.
REVOKED_GRANT_KEEP = timedelta(days=7)
# Idle grants are deleted a day after they expired: a refresh under way at the expiry either
# saw it or noted its use in time.
IDLE_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Retention:
    """How long what is kept for a while is kept; None: forever (or, for `refresh_idle`, no
    idle expiry)."""

    audit: timedelta | None = timedelta(days=365)
    ended_links: timedelta | None = timedelta(days=90)
    refresh_idle: timedelta | None = None

    @classmethod
    def of(cls, *, audit_days: int, ended_link_days: int, refresh_idle_days: int) -> Retention:
        def days(n: int) -> timedelta | None:
            return timedelta(days=n) if n > 0 else None

        return cls(days(audit_days), days(ended_link_days), days(refresh_idle_days))


async def purge_expired(db: Database, now: datetime, retention: Retention | None = None) -> int:
    """Everything due; the number of documents deleted."""
    keep = retention or Retention()
    purged = (
        await authorization_codes.purge(db, now)
        + await tokens.purge(db, now)
        + await ended_sessions.purge(db, now)
        + await login_attempts.purge(db, now)
        + await revocations.purge(db, now)
        + await refresh_leases.purge(db, now)
        + await token_grants.purge_revoked(db, now - REVOKED_GRANT_KEEP)
    )
    if keep.audit is not None:
        purged += await audit.purge(db, now - keep.audit)
    if keep.ended_links is not None:
        purged += await partner_tokens.purge_ended(db, now - keep.ended_links)
    if keep.refresh_idle is not None:
        purged += await token_grants.purge_idle(db, now - keep.refresh_idle - IDLE_GRACE)
    return purged
