"""Re-encrypt everything we hold sealed under the key ring's primary key (key rotation).

Rotation: put the new key first in ALS_ENCRYPTION_KEYS (old ones after it), restart, run
`python -m service rekey` until it reports nothing stale, then drop the old key. Running it
again is harmless: current ciphertexts are skipped.
"""

from __future__ import annotations

from service.crypto import KeyRing
from service.db import Database
from service.storage import partner_tokens, partners
from service.storage.sealing import RekeyCount


async def rekey(db: Database, keyring: KeyRing) -> list[RekeyCount]:
    return [
        await partners.reseal_all(db, keyring),
        await partner_tokens.reseal_all(db, keyring),
    ]
