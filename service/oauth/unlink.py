"""Unlinking: a user (account page) or an admin revokes what a client holds for a user.

`revoke_grant(db, user_id=..., client_id=...)` revokes the user's access *and* refresh tokens
for the client (a later refresh gets `invalid_grant`), records it in the audit log, runs every
unlink hook, and then forgets the remembered consent (the next linking asks again).

Hooks let other features clean up what they hold for the same link without this module knowing
them. The reciprocal-linking feature registers one that deletes the user's partner (LWA) tokens:

    from service.oauth.unlink import unlink_hook

    @unlink_hook
    async def delete_partner_tokens(db: Database, user_id: str, client_id: str) -> None: ...

Register at import time of a module that `create_app` imports (a handler module is), so the
hook is in place in every process before the first request. Hooks must be idempotent: they
also run when a client is removed (once per user who had linked it) and on repeated unlinks.
Every hook runs even when one fails; the first failure is then raised, so the caller can tell
the person to try again (our own tokens are already revoked by then, the consent is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from service.db import Database
from service.storage import audit, revocations
from service.storage import authorization_codes as code_store
from service.storage import grants as grant_store
from service.storage import tokens as token_store

log = logging.getLogger(__name__)

UnlinkHook = Callable[[Database, str, str], Awaitable[None]]  # (db, user_id, client_id)
UNLINK_HOOKS: list[UnlinkHook] = []


def unlink_hook(hook: UnlinkHook) -> UnlinkHook:
    """Register `hook` (once, even if its module is imported again); usable as a decorator."""
    if hook not in UNLINK_HOOKS:
        UNLINK_HOOKS.append(hook)
    return hook


async def run_unlink_hooks(db: Database, *, user_id: str, client_id: str) -> None:
    failure: Exception | None = None
    for hook in list(UNLINK_HOOKS):
        try:
            await hook(db, user_id, client_id)
        except Exception as exc:  # the other hooks must still run
            log.exception("unlink hook %s failed for client %s", hook.__qualname__, client_id)
            failure = failure or exc
    if failure is not None:
        raise failure


async def revoke_grant(
    db: Database, *, user_id: str, client_id: str, actor: str | None = None
) -> int:
    """Unlink `client_id` from `user_id`; returns how many tokens were revoked.

    The order matters. The revocation record goes first: a token request already under way
    checks it after issuing and revokes what it issued (`storage.revocations`); then codes and
    tokens. The consent goes last, after the hooks: if one fails, the link is still listed on
    the account page and the person can try again."""
    await revocations.record_unlink(db, user_id, client_id, datetime.now(UTC))
    # A code issued just before the unlink must not produce tokens afterwards.
    await code_store.delete_for_user_client(db, user_id, client_id)
    revoked = await token_store.revoke_user_client(db, user_id, client_id)
    await audit.record(
        db,
        "oauth.unlink",
        actor=actor or user_id,
        user_id=user_id,
        client_id=client_id,
        revoked=revoked,
    )
    await run_unlink_hooks(db, user_id=user_id, client_id=client_id)
    await grant_store.forget(db, user_id=user_id, client_id=client_id)
    return revoked
