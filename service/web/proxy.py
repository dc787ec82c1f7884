"""Behind a TLS reverse proxy: the caller's address and scheme from `X-Forwarded-For` and
`X-Forwarded-Proto`, believed only when the request comes from a trusted proxy.

`ALS_TRUSTED_PROXIES` lists the proxies (IPs or CIDRs; none by default). From any other peer the
headers are ignored: anyone can send them, so believing them would let a caller pick the address
that logs and rate limits see. `X-Forwarded-For` is read from the right, the end our own proxy
wrote: hops that are themselves trusted proxies are skipped, and the first other address is the
client; anything to its left was written by the client and is not believed.

Handlers see the result as `request.remote` and `request.scheme` (aiohttp's `request.clone`).
aiohttp's access log is written with the request as the server received it, outside the
middleware chain (aiohttp issue 4580, closed as "can't fix"), so the client's address is also
stored on that request for the access log: `client_address(request)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

from aiohttp import web

from service.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Networks = tuple[IPv4Network | IPv6Network, ...]

CLIENT_ADDRESS = web.RequestKey("client_address", str)
SCHEMES = ("http", "https")


def _parse_ip(value: str) -> IPv4Address | IPv6Address | None:
    """An address as proxies write it: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443`,
    `203.0.113.7:51000`; IPv4-mapped IPv6 (`::ffff:203.0.113.7`) as its IPv4 address."""
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address, networks: Networks) -> bool:
    return any(address in network for network in networks)


def forwarded_client(
    peer: str | None, forwarded_for: Iterable[str], networks: Networks
) -> str | None:
    """The client's address when `peer` is a trusted proxy, else None (headers ignored)."""
    peer_address = _parse_ip(peer) if peer else None
    if peer_address is None or not _trusted(peer_address, networks):
        return None
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer_address
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:  # garbage: nothing further left can be believed
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def forwarded_scheme(forwarded_proto: Iterable[str]) -> str | None:
    """The scheme the nearest proxy reported (the last value), if it is http or https."""
    values = [v.strip().lower() for header in forwarded_proto for v in header.split(",")]
    scheme = values[-1] if values else ""
    return scheme if scheme in SCHEMES else None


def trusted_proxy_middleware(settings: Settings) -> Any:
    networks = settings.trusted_proxy_networks

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks:
            return await handler(request)
        client = forwarded_client(
            request.remote, request.headers.getall("X-Forwarded-For", []), networks
        )
        if client is None:  # not from a trusted proxy: its headers mean nothing
            return await handler(request)
        # Set on the request aiohttp's access log is given (see the module's docstring); the
        # clone below copies it.
        request[CLIENT_ADDRESS] = client
        scheme = forwarded_scheme(request.headers.getall("X-Forwarded-Proto", []))
        if scheme is None:
            return await handler(request.clone(remote=client))
        return await handler(request.clone(remote=client, scheme=scheme))

    return middleware


def client_address(request: web.BaseRequest) -> str | None:
    """The caller's address for logs: the forwarded client's behind a trusted proxy, else the
    peer's."""
    forwarded = request.get(CLIENT_ADDRESS)
    return forwarded if isinstance(forwarded, str) else request.remote
