"""Scopes (RFC 6749 §3.3): a space-separated, order-free set of scope tokens."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list


def N_(message: str) -> str:  # the usual gettext marker name
    """Marks a text for the pages' catalogs (`pybabel extract -k N_`, see babel.cfg): the
    pages translate it into the customer's language when they show it."""
    return message


# What the consent and account pages tell the person, in English (the catalogs' ids); an
# unlisted scope is shown as it is.
DESCRIPTIONS = {
    "profile": N_("See your user name and account id"),
    "openid": N_("Know who you are"),
    "offline_access": N_("Stay connected when you are not using it"),
    "alexa::health:profile:write": N_("Send your profiles (for example your baby's) to Alexa"),
}


def parse(scope: str | None) -> frozenset[str]:
    return frozenset(scope_to_list(scope) or ())


def render(scopes: frozenset[str]) -> str:
    text: str = list_to_scope(sorted(scopes))
    return text


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(scope, scope)
