"""Amazon's regional hosts: LWA token endpoints (docs/alexa-protocols.md §3), Alexa API
bases (§4) and LWA's authorization pages ("Link with Alexa", §5.1), and which URLs a partner may
use for them.

A partner's LWA token URL receives the skill's LWA client secret and users' LWA refresh tokens,
and its Alexa API base receives users' LWA access tokens: pointed elsewhere (a stolen admin
session, a typo), they would hand those to another host, or make us call internal ones
(SSRF). So only Amazon's documented hosts over https are accepted: for LWA `api.amazon.com`,
`api.amazon.co.uk`, `api.amazon.co.jp` (path `/auth/o2/token`), for Alexa
`api.amazonalexa.com`, `api.eu.amazonalexa.com`, `api.fe.amazonalexa.com`. Any other absolute
http(s) URL only when the operator allows it (`ALS_ALLOW_CUSTOM_AMAZON_URLS=true`: the Amazon
stand-in of the dev stack and the tests), and even then never a link-local or cloud metadata
address (docs/alexa-protocols.md §6). A literal IP address is read as the resolver would read
it (`2852039166` and `0xa9.0xfe.0xa9.0xfe` are 169.254.169.254); a host name is checked as
written.

The same rules are applied where the URLs are set (partner administration) and where they
are used (before each call), so a partner stored before them cannot be called.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import SplitResult, urlsplit

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
# Where LWA asks the customer's consent (the authorization endpoint, docs/alexa-protocols.md §5):
# a browser is sent there, nothing of ours is. Same rules as the other URLs all the same: a
# partner's setting must not send customers to a look-alike page.
LWA_AUTHORIZE_URLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NA": "https://www.amazon.com/ap/oa",
        "EU": "https://eu.account.amazon.com/ap/oa",
        "FE": "https://apac.account.amazon.com/ap/oa",
    }
)
DEFAULT_REGION: Final = "NA"
LWA_TOKEN_PATH: Final = "/auth/o2/token"  # noqa: S105 - a path, not a secret
LWA_AUTHORIZE_PATH: Final = "/ap/oa"

# Where cloud providers answer instance metadata (credentials!) and other link-local hosts.
_FORBIDDEN_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, Azure, GCP, OpenStack, Oracle metadata
        "fe80::/10",  # IPv6 link-local
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
    )
)
_FORBIDDEN_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
        "metadata.packet.net",
    }
)
# What inet_aton (and so the resolver) reads as an IPv4 address: 1-4 parts, decimal, octal or
# hex ("2852039166", "0251.0376.0251.0376", "0xa9fea9fe").
_IPV4_LIKE: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


_AMAZON_HOSTS: Final = frozenset(
    urlsplit(url).hostname
    for url in (
        *LWA_TOKEN_URLS.values(),
        *ALEXA_API_BASES.values(),
        *LWA_AUTHORIZE_URLS.values(),
    )
)


class RegionError(ValueError):
    """Neither a known region name nor a URL we may use; the message says why."""


def lwa_token_url(value: str | None, *, allow_custom: bool) -> str:
    """The LWA token endpoint for a region name or URL (default NA)."""
    value = (value or DEFAULT_REGION).strip()
    known = LWA_TOKEN_URLS.get(value.upper())
    return known if known is not None else check_lwa_token_url(value, allow_custom=allow_custom)


def alexa_api_base(value: str | None, *, allow_custom: bool) -> str:
    """The Alexa API base (no trailing slash) for a region name or URL (default NA)."""
    value = (value or DEFAULT_REGION).strip()
    known = ALEXA_API_BASES.get(value.upper())
    return known if known is not None else check_alexa_api_base(value, allow_custom=allow_custom)


def lwa_authorize_url(value: str | None, *, allow_custom: bool) -> str:
    """LWA's authorization page for a region name or URL (default NA)."""
    value = (value or DEFAULT_REGION).strip()
    known = LWA_AUTHORIZE_URLS.get(value.upper())
    if known is not None:
        return known
    return check_lwa_authorize_url(value, allow_custom=allow_custom)


def check_lwa_authorize_url(url: str, *, allow_custom: bool) -> str:
    """`url` as we store it and send browsers to it, or `RegionError`."""
    return _check_lwa_url(
        url, "LWA authorization URL", LWA_AUTHORIZE_URLS, LWA_AUTHORIZE_PATH, allow_custom
    )


def check_lwa_token_url(url: str, *, allow_custom: bool) -> str:
    """`url` as we store and call it (Amazon's own spelled canonically), or `RegionError`."""
    return _check_lwa_url(url, "LWA token URL", LWA_TOKEN_URLS, LWA_TOKEN_PATH, allow_custom)


def _check_lwa_url(
    url: str, what: str, table: Mapping[str, str], path: str, allow_custom: bool
) -> str:
    parts = _parse(url, what)
    if _is_amazon(parts, table) and parts.path == path:
        return f"https://{parts.hostname}{path}"
    _check_custom(parts, what, table, allow_custom=allow_custom)
    return url


def check_alexa_api_base(url: str, *, allow_custom: bool) -> str:
    """`url` without a trailing slash, as we store and call it, or `RegionError`."""
    parts = _parse(url, "Alexa API base")
    if _is_amazon(parts, ALEXA_API_BASES) and parts.path in ("", "/"):
        return f"https://{parts.hostname}"
    _check_custom(parts, "Alexa API base", ALEXA_API_BASES, allow_custom=allow_custom)
    return url.rstrip("/")


def region_of(url: str, table: Mapping[str, str]) -> str | None:
    """The region name of a known URL, for display."""
    for name, known in table.items():
        if known == url.rstrip("/") or known == url:
            return name
    return None


def _parse(url: str, what: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # e.g. an unclosed "[" in the host
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
    ):
        raise RegionError(f"{what} must be a region (NA, EU, FE) or an absolute URL without query")
    return parts


def _is_amazon(parts: SplitResult, table: Mapping[str, str]) -> bool:
    hosts = {urlsplit(url).hostname for url in table.values()}
    return (
        parts.scheme == "https"
        and parts.hostname in hosts
        and parts.port in (None, 443)
        and parts.username is None
        and parts.password is None
    )


def _check_custom(
    parts: SplitResult, what: str, table: Mapping[str, str], *, allow_custom: bool
) -> None:
    amazon = ", ".join(table.values())
    if not allow_custom:
        raise RegionError(
            f"{what} must be Amazon's ({amazon}) or a region (NA, EU, FE); other URLs need "
            "ALS_ALLOW_CUSTOM_AMAZON_URLS=true"
        )
    if parts.hostname in _AMAZON_HOSTS:  # Amazon's hosts only as Amazon documents them
        raise RegionError(f"{what} on Amazon's host must be one of {amazon}")
    if parts.username is not None or parts.password is not None:
        raise RegionError(f"{what} must not carry a user name or password")
    if is_forbidden_host(str(parts.hostname)):
        raise RegionError(f"{what} must not point at a link-local or cloud metadata address")


def is_forbidden_host(host: str) -> bool:
    """A link-local or cloud metadata host: never called, whatever the settings say."""
    name = host.strip().lower().rstrip(".")
    if name in _FORBIDDEN_NAMES:
        return True
    address = _literal_ip(name)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _FORBIDDEN_NETWORKS)


def _literal_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])  # fe80::1%eth0: the zone aside
    except ValueError:
        pass
    if _IPV4_LIKE.fullmatch(name):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:  # out of range: not an address (the resolver would refuse it too)
            return None
    return None
