"""Re-encrypt everything we hold sealed under the key ring's primary key (key rotation).

Rotation: put the new key first in ALS_ENCRYPTION_KEYS (old ones after it), restart, run
`python -m service rekey` until it reports nothing stale, then drop the old key. Running it
again is harmless: current ciphertexts are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from service.crypto import KeyRing, KeyRingError
from service.db import Database
from service.models.sealed import SealedField
from service.storage import partner_tokens, partners, sealed_fields, skill_enablements


@dataclass
class RekeyCount:
    """What a re-encryption pass did to one collection."""

    collection: str
    scanned: int = 0  # encrypted fields looked at
    reencrypted: int = 0  # moved to the primary key
    failed: int = 0  # could not be decrypted with any key of the ring
    raced: int = 0  # changed under us (e.g. a refresh wrote new tokens): already current


SOURCES: tuple[tuple[str, Callable[[Database], AsyncIterator[SealedField]]], ...] = (
    (partners.COLLECTION, partners.sealed_fields),
    (partner_tokens.COLLECTION, partner_tokens.sealed_fields),
    (skill_enablements.COLLECTION, skill_enablements.sealed_fields),
)


async def rekey(db: Database, keyring: KeyRing) -> list[RekeyCount]:
    counts = []
    for collection, fields in SOURCES:
        count = RekeyCount(collection)
        async for item in fields(db):
            count.scanned += 1
            if keyring.is_current(item.value.ciphertext):
                continue
            try:
                new = item.value.resealed(keyring)
            except KeyRingError:
                count.failed += 1
                continue
            old = item.value.ciphertext
            if await sealed_fields.swap(
                db, item.collection, item.doc_id, item.field, old, new.ciphertext
            ):
                count.reencrypted += 1
            else:
                count.raced += 1
        counts.append(count)
    return counts
