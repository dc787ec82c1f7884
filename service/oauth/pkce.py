"""PKCE (RFC 7636), S256 only: `plain` would hand the verifier to anyone who sees the request."""

from __future__ import annotations

import re
import secrets

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from service.oauth.errors import InvalidGrant, InvalidRequest

S256 = "S256"
# RFC 7636 §4.1 and §4.2: 43-128 characters of the unreserved set.
_PATTERN = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> None:
    """Validate the authorization request's PKCE parameters (errors go back to the client)."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge.")
        if required:
            raise InvalidRequest("This client must use PKCE (code_challenge with S256).")
        return
    if method != S256:
        # Also when absent: RFC 7636 would then mean `plain`, which we do not accept.
        raise InvalidRequest("code_challenge_method must be S256.")
    if not _PATTERN.match(challenge):
        raise InvalidRequest("code_challenge is malformed.")


def verify(challenge: str | None, method: str | None, verifier: str | None) -> None:
    """Check the token request's verifier against the stored challenge (RFC 7636 §4.6)."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier sent, but the authorization used no PKCE.")
        return
    if verifier is None:
        raise InvalidGrant("Missing code_verifier.")
    if method != S256 or not _PATTERN.match(verifier):
        raise InvalidGrant("code_verifier does not match.")
    expected: str = create_s256_code_challenge(verifier)
    if not secrets.compare_digest(expected.encode(), challenge.encode()):
        raise InvalidGrant("code_verifier does not match.")
