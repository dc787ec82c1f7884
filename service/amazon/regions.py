"""Amazon's regional hosts: LWA token endpoints (docs/alexa-protocols.md §3) and Alexa API
bases (§4).

A partner picks a region by name (NA/EU/FE) or gives any absolute http(s) URL (tests point
them at the local Amazon stand-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

LWA_TOKEN_URLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NA": "https://api.amazon.com/auth/o2/token",
        "EU": "https://api.amazon.co.uk/auth/o2/token",
        "FE": "https://api.amazon.co.jp/auth/o2/token",
    }
)
ALEXA_API_BASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NA": "https://api.amazonalexa.com",
        "EU": "https://api.eu.amazonalexa.com",
        "FE": "https://api.fe.amazonalexa.com",
    }
)
DEFAULT_REGION: Final = "NA"


class RegionError(ValueError):
    """Neither a known region name nor an absolute http(s) URL."""


def _resolve(value: str, table: Mapping[str, str], what: str) -> str:
    value = value.strip()
    known = table.get(value.upper())
    if known is not None:
        return known
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" in the host
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise RegionError(
            f"{what} must be one of {', '.join(table)} or an absolute http(s) URL without query"
        )
    return value


def lwa_token_url(value: str | None) -> str:
    """The LWA token endpoint for a region name or URL (default NA)."""
    return _resolve(value or DEFAULT_REGION, LWA_TOKEN_URLS, "LWA token URL")


def alexa_api_base(value: str | None) -> str:
    """The Alexa API base (no trailing slash) for a region name or URL (default NA)."""
    return _resolve(value or DEFAULT_REGION, ALEXA_API_BASES, "Alexa API base").rstrip("/")


def region_of(url: str, table: Mapping[str, str]) -> str | None:
    """The region name of a known URL, for display."""
    for name, known in table.items():
        if known == url.rstrip("/") or known == url:
            return name
    return None
