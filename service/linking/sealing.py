"""The one sealing layer of linking: what we hold for others (partners' LWA client secrets,
users' LWA tokens) is sealed here before storage sees it, and opened here where it is used."""

from __future__ import annotations

import logging

from service.crypto import KeyRing, KeyRingError
from service.linking.errors import StoredSecretUnreadable
from service.models.linking import secret_context, token_context
from service.models.oauth import TokenKind
from service.models.sealed import Sealed

log = logging.getLogger(__name__)


def seal_token(
    keyring: KeyRing, value: str, *, user_id: str, partner_id: str, kind: TokenKind
) -> Sealed:
    return Sealed.seal(keyring, value, context=token_context(user_id, partner_id, kind))


def seal_client_secret(keyring: KeyRing, value: str, *, partner_id: str) -> Sealed:
    return Sealed.seal(keyring, value, context=secret_context(partner_id))


def open_sealed(sealed: Sealed, keyring: KeyRing, what: str) -> str:
    """The plaintext, or `StoredSecretUnreadable` when no key of the ring opens it."""
    try:
        return sealed.open(keyring)
    except KeyRingError:
        log.error("%s cannot be decrypted with the configured key ring", what)
        raise StoredSecretUnreadable(f"the stored {what} cannot be read") from None
