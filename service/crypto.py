"""Encryption at rest for secrets we hold on behalf of others.

LWA client secrets and the LWA access/refresh tokens of our users are bearer credentials for
*Amazon's* APIs, so unlike our own tokens they cannot be stored as hashes: we must get them back.
They are sealed with AES-256-GCM (authenticated, so tampering is detected) under a key ring:

* spec ``"kid1:KEY1,kid2:KEY2"``, KEY = urlsafe base64 of 32 random bytes, padding optional;
* the first key is the primary and encrypts; every key decrypts, so keys rotate by prepending
  a new one, re-encrypting (``is_current`` finds stale rows), then dropping the old one;
* ciphertext format ``v1.<kid>.<urlsafe-b64(nonce12 || ciphertext || tag16)>``;
* each key also yields, by HKDF, an HMAC-SHA256 key with the same id (`sign`/`verify`): the
  MAC that makes our access and refresh tokens self-validating (`service.oauth.token_format`);
* a caller-chosen ``context`` (e.g. ``"partner_tokens:<user>:<partner>:access"``) is the
  associated data, so a ciphertext copied into another record or field fails to decrypt.

Error messages never contain key material, plaintext or ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KeyRing", "KeyRingError"]

_VERSION: Final = "v1"
_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_KID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class KeyRingError(ValueError):
    """A key ring spec is invalid, or a ciphertext cannot be decrypted with the ring."""


def _b64url_decode(text: str) -> bytes:
    """Strict urlsafe base64: the stdlib decoder silently skips foreign characters."""
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not urlsafe base64")
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not urlsafe base64") from exc


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _derive_mac_key(key: bytes) -> bytes:
    """A MAC key of its own for each encryption key (RFC 5869 HKDF), so one secret per key id
    serves both purposes without using the same key for two algorithms."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"als token mac v1").derive(
        key
    )


class KeyRing:
    """An immutable set of AES-256-GCM keys; the primary one encrypts, all of them decrypt."""

    __slots__ = ("_ciphers", "_macs", "_primary")

    _ciphers: Mapping[str, AESGCM]
    _macs: Mapping[str, bytes]
    _primary: str

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        """Prefer ``KeyRing.parse``; this constructor is for callers that already hold bytes."""
        if not keys:
            raise KeyRingError("key ring is empty")
        if primary not in keys:
            raise KeyRingError(f"primary key id {primary!r} is not in the ring")
        ciphers: dict[str, AESGCM] = {}
        macs: dict[str, bytes] = {}
        ordered = [primary, *(kid for kid in keys if kid != primary)]
        for kid in ordered:
            key = keys[kid]
            if not _KID_RE.fullmatch(kid):
                raise KeyRingError("key id must match [A-Za-z0-9_-]{1,32}")
            if len(key) != _KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be {_KEY_BYTES} bytes, got {len(key)}")
            ciphers[kid] = AESGCM(key)
            macs[kid] = _derive_mac_key(key)
        object.__setattr__(self, "_ciphers", MappingProxyType(ciphers))
        object.__setattr__(self, "_macs", MappingProxyType(macs))
        object.__setattr__(self, "_primary", primary)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("KeyRing is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("KeyRing is immutable")

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self._ciphers)!r}, primary={self._primary!r})"

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Build a ring from ``"kid:KEY,kid:KEY"``; the first entry becomes the primary."""
        if not spec or not spec.strip():
            raise KeyRingError("key ring spec is empty")
        keys: dict[str, bytes] = {}
        # Messages name the entry by position, never echo it: a mangled entry may be a key.
        for position, raw_entry in enumerate(spec.split(","), start=1):
            entry = raw_entry.strip()
            if not entry:
                raise KeyRingError(f"key ring entry {position} is empty")
            kid, sep, encoded = entry.partition(":")
            kid, encoded = kid.strip(), encoded.strip()
            if not sep or not encoded:
                raise KeyRingError(f"key ring entry {position} is not of the form kid:KEY")
            if not _KID_RE.fullmatch(kid):
                raise KeyRingError(
                    f"key ring entry {position}: key id must match [A-Za-z0-9_-]{{1,32}}"
                )
            if kid in keys:
                raise KeyRingError(f"key ring entry {position}: duplicate key id {kid!r}")
            try:
                key = _b64url_decode(encoded)
            except ValueError:
                raise KeyRingError(
                    f"key ring entry {position} ({kid!r}): key is not urlsafe base64"
                ) from None
            if len(key) != _KEY_BYTES:
                raise KeyRingError(
                    f"key ring entry {position} ({kid!r}): key must decode to "
                    f"{_KEY_BYTES} bytes, got {len(key)}"
                )
            keys[kid] = key
        return cls(keys, primary=next(iter(keys)))

    @staticmethod
    def generate_key() -> str:
        """A fresh random key in the spec's encoding (unpadded, so it is env-var friendly)."""
        return _b64url_encode(os.urandom(_KEY_BYTES))

    @property
    def primary_kid(self) -> str:
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        """All key ids, primary first."""
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Seal ``plaintext`` under the primary key, bound to ``context``."""
        if not context:
            # An empty context would let a ciphertext be moved between records unnoticed.
            raise KeyRingError("encryption context must not be empty")
        nonce = os.urandom(_NONCE_BYTES)  # random 96-bit nonces: safe far beyond our volumes
        sealed = self._ciphers[self._primary].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{_VERSION}.{self._primary}.{_b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Open a ciphertext made by ``encrypt`` with the same ``context``."""
        kid, blob = self._split(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise KeyRingError(f"ciphertext uses unknown key id {kid!r}")
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            data = cipher.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise KeyRingError(
                f"ciphertext failed authentication under key {kid!r} "
                "(tampered, or stored under another context)"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyRingError("decrypted data is not UTF-8 text") from None

    def sign(self, data: bytes) -> tuple[str, bytes]:
        """An HMAC-SHA256 tag of `data` under the primary key's MAC key, with that key's id."""
        return self._primary, hmac.new(self._macs[self._primary], data, hashlib.sha256).digest()

    def verify(self, kid: str, data: bytes, tag: bytes) -> bool:
        """Whether `tag` is the MAC of `data` under key `kid` (False for an unknown key id)."""
        key = self._macs.get(kid)
        if key is None:
            return False
        return hmac.compare_digest(hmac.new(key, data, hashlib.sha256).digest(), tag)

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is sealed under the primary key; False for malformed tokens too,
        so a rekey pass picks them up and reports them when it tries to decrypt."""
        try:
            kid, _ = self._split(token)
        except KeyRingError:
            return False
        return kid == self._primary

    def reencrypt(self, token: str, *, context: str) -> str:
        """Decrypt with whichever key sealed ``token`` and seal again under the primary."""
        return self.encrypt(self.decrypt(token, context=context), context=context)

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        if not isinstance(token, str):
            raise KeyRingError("ciphertext is not a string")
        parts = token.split(".")
        if len(parts) != 3:
            raise KeyRingError("malformed ciphertext: expected v1.<kid>.<data>")
        version, kid, encoded = parts
        if version != _VERSION:
            raise KeyRingError("malformed ciphertext: unsupported version")
        if not _KID_RE.fullmatch(kid):
            raise KeyRingError("malformed ciphertext: invalid key id")
        try:
            blob = _b64url_decode(encoded)
        except ValueError:
            raise KeyRingError("malformed ciphertext: data is not urlsafe base64") from None
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise KeyRingError("malformed ciphertext: too short")
        return kid, blob
