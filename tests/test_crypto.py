"""Encryption at rest: the key ring spec, AES-GCM sealing, context binding and key rotation."""

from __future__ import annotations

import base64

import pytest

from service.crypto import KeyRing, KeyRingError

CONTEXT = "partner_tokens:user-1:partner-a:access"


def _key(fill: int) -> str:
    return base64.urlsafe_b64encode(bytes([fill]) * 32).decode()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.parse(f"k1:{KeyRing.generate_key()}")


# -- round trip and format ----------------------------------------------------------------


def test_round_trip(ring: KeyRing) -> None:
    secret = "Atzr|IwEBIExample-refresh-token ünïcødé"
    token = ring.encrypt(secret, context=CONTEXT)
    assert ring.decrypt(token, context=CONTEXT) == secret


def test_ciphertext_is_compact_versioned_and_hides_plaintext(ring: KeyRing) -> None:
    token = ring.encrypt("Atza|secret-access-token", context=CONTEXT)
    version, kid, data = token.split(".")
    assert (version, kid) == ("v1", "k1")
    assert "secret" not in token
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    assert len(raw) == 12 + len("Atza|secret-access-token") + 16  # nonce + ct + tag


def test_encryption_is_randomised(ring: KeyRing) -> None:
    assert ring.encrypt("same", context=CONTEXT) != ring.encrypt("same", context=CONTEXT)


def test_empty_plaintext_round_trips(ring: KeyRing) -> None:
    assert ring.decrypt(ring.encrypt("", context=CONTEXT), context=CONTEXT) == ""


def test_empty_context_is_refused(ring: KeyRing) -> None:
    with pytest.raises(KeyRingError, match="context"):
        ring.encrypt("x", context="")


# -- context binding and tampering ------------------------------------------------------------


def test_ciphertext_moved_to_another_record_fails(ring: KeyRing) -> None:
    token = ring.encrypt("Atza|token-of-user-1", context=CONTEXT)
    with pytest.raises(KeyRingError, match="authentication"):
        ring.decrypt(token, context="partner_tokens:user-2:partner-a:access")
    with pytest.raises(KeyRingError, match="authentication"):
        ring.decrypt(token, context="partner_tokens:user-1:partner-a:refresh")


@pytest.mark.parametrize(
    "offset",
    [0, 11, 12, 20, -17, -1],  # nonce, first/middle ciphertext byte, tag
)
def test_tampered_ciphertext_is_detected(ring: KeyRing, offset: int) -> None:
    token = ring.encrypt("Atza|some-token-value", context=CONTEXT)
    header, data = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    raw[offset] ^= 0x01
    tampered = f"{header}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    assert tampered != token
    with pytest.raises(KeyRingError, match="authentication"):
        ring.decrypt(tampered, context=CONTEXT)


def test_truncated_ciphertext_is_detected(ring: KeyRing) -> None:
    token = ring.encrypt("Atza|some-token-value", context=CONTEXT)
    with pytest.raises(KeyRingError):
        ring.decrypt(token[:-4], context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "plaintext-token",
        "v1.k1",
        "v1.k1.data.extra",
        "v2.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.bad kid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k1.not*base64",
        "v1.k1.AAAA",  # shorter than nonce + tag
    ],
)
def test_malformed_ciphertext_is_rejected(ring: KeyRing, token: str) -> None:
    with pytest.raises(KeyRingError, match="malformed"):
        ring.decrypt(token, context=CONTEXT)
    assert not ring.is_current(token)


def test_unknown_kid_is_rejected_by_name(ring: KeyRing) -> None:
    other = KeyRing.parse(f"gone:{KeyRing.generate_key()}")
    token = other.encrypt("x", context=CONTEXT)
    with pytest.raises(KeyRingError, match="unknown key id 'gone'"):
        ring.decrypt(token, context=CONTEXT)


def test_same_kid_with_a_different_key_fails_authentication() -> None:
    a = KeyRing.parse(f"k1:{_key(1)}")
    b = KeyRing.parse(f"k1:{_key(2)}")
    with pytest.raises(KeyRingError, match="authentication"):
        b.decrypt(a.encrypt("x", context=CONTEXT), context=CONTEXT)


# -- rotation -------------------------------------------------------------------------------


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old_key, new_key = KeyRing.generate_key(), KeyRing.generate_key()
    before = KeyRing.parse(f"old:{old_key}")
    token = before.encrypt("Atzr|refresh", context=CONTEXT)

    after = KeyRing.parse(f"new:{new_key},old:{old_key}")
    assert after.primary_kid == "new"
    assert after.kids == ("new", "old")
    assert after.decrypt(token, context=CONTEXT) == "Atzr|refresh"
    assert not after.is_current(token)

    rekeyed = after.reencrypt(token, context=CONTEXT)
    assert rekeyed.startswith("v1.new.")
    assert after.is_current(rekeyed)
    assert after.decrypt(rekeyed, context=CONTEXT) == "Atzr|refresh"

    # Once everything is rekeyed the old key can go, and the old ciphertext is then dead.
    final = KeyRing.parse(f"new:{new_key}")
    assert final.decrypt(rekeyed, context=CONTEXT) == "Atzr|refresh"
    with pytest.raises(KeyRingError, match="unknown key id 'old'"):
        final.decrypt(token, context=CONTEXT)


def test_new_ciphertexts_use_the_primary_key() -> None:
    ring = KeyRing.parse(f"new:{_key(1)},old:{_key(2)}")
    token = ring.encrypt("x", context=CONTEXT)
    assert token.startswith("v1.new.")
    assert ring.is_current(token)


def test_reencrypt_refuses_a_wrong_context() -> None:
    ring = KeyRing.parse(f"new:{_key(1)},old:{_key(2)}")
    token = KeyRing.parse(f"old:{_key(2)}").encrypt("x", context=CONTEXT)
    with pytest.raises(KeyRingError):
        ring.reencrypt(token, context="other")


# -- key ring specs -------------------------------------------------------------------------


def test_generated_keys_are_32_random_bytes() -> None:
    key = KeyRing.generate_key()
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    assert key != KeyRing.generate_key()


def test_padding_and_whitespace_are_optional() -> None:
    padded = _key(7)
    assert padded.endswith("=")
    ring = KeyRing.parse(f" a:{padded} , b:{padded.rstrip('=')} ")
    assert ring.kids == ("a", "b")
    token = KeyRing.parse(f"b:{padded}").encrypt("x", context=CONTEXT)
    assert ring.decrypt(token, context=CONTEXT) == "x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (f"k1:{_key(1)},", "entry 2 is empty"),
        ("k1", "kid:KEY"),
        ("k1:", "kid:KEY"),
        (f"k1:{_key(1)},k1:{_key(2)}", "duplicate key id 'k1'"),
        (f"bad.kid:{_key(1)}", "key id must match"),
        (f"{'x' * 33}:{_key(1)}", "key id must match"),
        (f"k1:{base64.urlsafe_b64encode(b'short').decode()}", "32 bytes, got 5"),
        (f"k1:{base64.urlsafe_b64encode(bytes(64)).decode()}", "32 bytes, got 64"),
        ("k1:not base64!!", "not urlsafe base64"),
        (f"k1:{base64.b64encode(bytes([251]) * 32).decode()}", "not urlsafe base64"),
    ],
)
def test_bad_specs_are_rejected(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(spec)


def test_errors_never_echo_key_material() -> None:
    key = _key(9)
    for spec in (f"{key}", f"{key}:k1", f"k1:{key}x", f"k1:{key},k1:{key}"):
        with pytest.raises(KeyRingError) as excinfo:
            KeyRing.parse(spec)
        assert key not in str(excinfo.value)
        assert key.rstrip("=")[:16] not in str(excinfo.value)


def test_repr_shows_kids_only() -> None:
    key = _key(3)
    ring = KeyRing.parse(f"k1:{key}")
    assert repr(ring) == "KeyRing(kids=['k1'], primary='k1')"
    assert key not in repr(ring)


def test_key_ring_is_immutable(ring: KeyRing) -> None:
    with pytest.raises(AttributeError):
        ring._primary = "other"
    with pytest.raises(AttributeError):
        ring.new_attribute = 1
