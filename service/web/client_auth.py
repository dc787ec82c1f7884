"""Reading a client's credentials from a request (RFC 6749 §2.3.1): an HTTP Basic header or
`client_id`/`client_secret` body fields, never both. Checking them is the domain's job
(`service.oauth.clients.authenticate_client`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote_plus

from service.models.oauth import ClientCredentials
from service.oauth.errors import InvalidClient, InvalidRequest


def read_credentials(authorization: str | None, params: Mapping[str, str]) -> ClientCredentials:
    """authlib's `extract_basic_authorization` is not used: it raises UnicodeDecodeError on
    non-UTF-8 input and percent-decodes without turning `+` into a space."""
    basic = _parse_basic(authorization) if authorization else None
    if basic is not None:
        raw_id, raw_secret = basic
        client_id = unquote_plus(raw_id)  # §2.3.1: form-encoded before base64
        if "client_secret" in params:
            raise InvalidRequest("Use one client authentication method, not Basic and the body.")
        if params.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials.")
        candidates = tuple(dict.fromkeys((unquote_plus(raw_secret), raw_secret)))
        return ClientCredentials(client_id, candidates, "client_secret_basic")
    body_id = params.get("client_id")
    secret = params.get("client_secret")
    if body_id is None or secret is None:
        raise InvalidClient("Client authentication is missing.")
    return ClientCredentials(body_id, (secret,), "client_secret_post")


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # another scheme is not client authentication; the body may carry it
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # also non-ASCII input, and UnicodeDecodeError
        raise InvalidClient("The Basic credentials are malformed.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("The Basic credentials are malformed.")
    return client_id, secret
