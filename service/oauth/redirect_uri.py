"""Answers to the client's redirect URI (RFC 6749 §3.1.2, §4.1.2, §4.1.2.1).

The registered URI may carry a query of its own, which "MUST be retained when adding
additional query parameters" (§3.1.2): it is kept byte for byte, not decoded and re-encoded
(authlib's `add_params_to_uri` does that, turning `%20` into `+` and `flag` into `flag=`).
Our parameters are percent-encoded with `%20` for a space, which form decoders and plain
percent-decoders alike read back unchanged, so `state` returns exactly as it came.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlencode


def with_params(uri: str, params: Iterable[tuple[str, str]]) -> str:
    base, hash_sign, fragment = uri.partition("#")  # registered URIs have none; kept if so
    query = urlencode(list(params), quote_via=quote)
    if not query:
        return uri
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{query}{hash_sign}{fragment}"
