"""Sealed values: ciphertexts of secrets we hold for others, with the context they are bound to.

Storage modules return `Sealed` instead of plaintext so a listing never decrypts anything and a
secret is opened only where it is used. The context names the record and the field
(``partners:<id>:lwa_client_secret``), so a ciphertext copied elsewhere fails to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.crypto import KeyRing


@dataclass(frozen=True)
class Sealed:
    ciphertext: str = field(repr=False)
    context: str

    def open(self, keyring: KeyRing) -> str:
        return keyring.decrypt(self.ciphertext, context=self.context)

    @classmethod
    def seal(cls, keyring: KeyRing, plaintext: str, *, context: str) -> Sealed:
        return cls(keyring.encrypt(plaintext, context=context), context)


@dataclass(frozen=True)
class RekeyCount:
    """What a re-encryption pass did to one collection."""

    collection: str
    scanned: int = 0  # encrypted fields looked at
    reencrypted: int = 0  # moved to the primary key
    failed: int = 0  # could not be decrypted with any key of the ring
    raced: int = 0  # changed under us (e.g. a refresh wrote new tokens): already current
