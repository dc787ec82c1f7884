"""Sealed values: ciphertexts of secrets we hold for others, with the context they are bound to.

Storage returns `Sealed` instead of plaintext, so a listing never decrypts anything and a
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

    def resealed(self, keyring: KeyRing) -> Sealed:
        """This value under the key ring's primary key (itself when it already is)."""
        if keyring.is_current(self.ciphertext):
            return self
        return Sealed(keyring.reencrypt(self.ciphertext, context=self.context), self.context)


@dataclass(frozen=True)
class SealedField:
    """One sealed field of one stored document, for re-encryption under a new key."""

    collection: str
    doc_id: str
    field: str
    value: Sealed
