"""Unlinking: a user (account page) or an admin revokes what a client holds for a user.

`revoke_grant(db, hooks, user_id=..., client_id=...)` revokes the user's grants for the
client, so their access *and* refresh tokens stop working (a later refresh gets
`invalid_grant`), records it in the audit log, runs the unlink hooks, and then forgets the
remembered consent (the next linking asks again).

Hooks let other features clean up what they hold for the same link without this package
knowing them: `service.wiring.unlink_hooks()` builds them (today: ending the user's LWA links
for the partner of that client) and hands them to the server and to the command line alike.
Hooks must be idempotent: they also run when a client is removed (once per user who had linked
it) and on repeated unlinks. Every hook runs even when one fails; the first failure is then
raised, so the caller can tell the person to try again (our own tokens are already revoked by
then, the consent is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service.clock import utcnow
from service.db import Database
from service.storage import audit, revocations, token_grants
from service.storage import authorization_codes as code_store
from service.storage import grants as grant_store
from service.storage import tokens as token_store

log = logging.getLogger(__name__)

UnlinkHook = Callable[[Database, str, str], Awaitable[None]]  # (db, user_id, client_id)


@dataclass(frozen=True)
class UnlinkHooks:
    hooks: tuple[UnlinkHook, ...] = ()

    async def run(self, db: Database, *, user_id: str, client_id: str) -> None:
        failure: Exception | None = None
        for hook in self.hooks:
            try:
                await hook(db, user_id, client_id)
            except Exception as exc:  # the other hooks must still run
                log.exception("unlink hook %s failed for client %s", hook.__qualname__, client_id)
                failure = failure or exc
        if failure is not None:
            raise failure


async def revoke_grant(
    db: Database, hooks: UnlinkHooks, *, user_id: str, client_id: str, actor: str | None = None
) -> int:
    """Unlink `client_id` from `user_id`; returns how many grants (and stored tokens from before
    grants held the state) were revoked.

    The order matters. The revocation record goes first: a code exchange under way checks it
    after creating its grant (`storage.revocations`); then codes and grants. The consent goes
    last, after the hooks: if one fails, the link is still listed on the account page and the
    person can try again."""
    now = utcnow()
    await revocations.record_unlink(db, user_id, client_id, now)
    # A code issued just before the unlink must not produce tokens afterwards.
    await code_store.delete_for_user_client(db, user_id, client_id)
    revoked = await token_grants.revoke_user_client(db, user_id, client_id, now)
    revoked += await token_store.revoke_user_client(db, user_id, client_id)
    await audit.record(
        db,
        "oauth.unlink",
        actor=actor or user_id,
        user_id=user_id,
        client_id=client_id,
        revoked=revoked,
    )
    await hooks.run(db, user_id=user_id, client_id=client_id)
    await grant_store.forget(db, user_id=user_id, client_id=client_id)
    return revoked
