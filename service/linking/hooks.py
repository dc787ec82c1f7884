"""Plugs mutual linking into the OAuth server's unlink: when a user's link with a client is
revoked (account page, admin, client removal), that user's LWA tokens for the partner whose
partner id is that client id are deleted too (design.md flow 6)."""

from __future__ import annotations

from service.db import Database
from service.linking.links import unlink
from service.oauth.unlink import unlink_hook


@unlink_hook
async def delete_partner_tokens(db: Database, user_id: str, client_id: str) -> None:
    # Idempotent: without an active link for (user, partner) nothing happens.
    await unlink(db, user_id, client_id, actor="oauth.unlink", reason="unlinked")
