"""Scopes (RFC 6749 §3.3): a space-separated, order-free set of scope tokens."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

# What the consent page tells the person; an unlisted scope is shown as it is.
DESCRIPTIONS = {
    "profile": "See your user name and account id",
    "openid": "Know who you are",
    "offline_access": "Stay connected when you are not using it",
    "alexa::health:profile:write": "Send your profiles (for example your baby's) to Alexa",
}


def parse(scope: str | None) -> frozenset[str]:
    return frozenset(scope_to_list(scope) or ())


def render(scopes: frozenset[str]) -> str:
    text: str = list_to_scope(sorted(scopes))
    return text


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(scope, scope)
