"""Redirects to other sites (Keycloak, the OAuth client), sent exactly as we built them.

aiohttp re-quotes a `Location` string through yarl, which decodes the `%2F` and `%3A` that
`urlencode` wrote into query values (`redirect_uri=http://…`). Both forms mean the same, but the
client should get the value byte for byte as encoded, so the URL is passed as already encoded.
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL


def redirect_off_site(location: str) -> web.HTTPFound:
    if location.isascii() and location.isprintable() and " " not in location:
        return web.HTTPFound(URL(location, encoded=True))
    return web.HTTPFound(location)  # not a URL we encoded: let yarl quote it
