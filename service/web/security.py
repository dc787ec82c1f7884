"""Security headers on every response (pages are never framed, nothing is sniffed), and
`Strict-Transport-Security` when the public URL is https (RFC 6797): browsers then refuse
plain http for our host for a year, so a network attacker cannot strip TLS from the login
and consent pages. Our https is served by the reverse proxy in front of us (see
`service/web/proxy.py`), so the header goes with every answer whenever `ALS_PUBLIC_URL` is
https; without `includeSubDomains`, since other hosts of the domain are not ours to pin.

`Content-Security-Policy: form-action` names only where our forms lead: our own origin
('self'). Browsers that follow CSP Level 3 (W3C, §6.4.1 "form-action") check the redirects
that answer a form submission too, and Chromium does (the web-platform test
content-security-policy/form-action/form-action-src-redirect-blocked), so the consent form,
whose answer is a redirect to the client's redirect URI (Alexa), needs that URI's origin as
well: a handler adds such origins for its page with `allow_form_targets`. Logout ends
Keycloak's session over the back channel and redirects to our home page, so no page needs
Keycloak's origin.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import web

from service.web.appkeys import SETTINGS
from service.web.session import Handler

CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'{targets}; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP.format(targets=""),
}
HSTS = "max-age=31536000"  # one year

_FORM_TARGETS = web.RequestKey("form_targets", str)  # extra form-action sources, space-separated
_HOST = re.compile(r"[a-z0-9.-]+")


def csp_origin(url: str) -> str | None:
    """`url`'s origin as a CSP host-source (`https://host[:port]`), or None when it is not an
    http(s) URL with a plain host name or address (nothing else may reach the header)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        return None
    if ":" in host:  # an IPv6 address
        if not re.fullmatch(r"[0-9a-f:.]+", host):
            return None
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def allow_form_targets(request: web.Request, *urls: str) -> None:
    """Let this response's page submit forms whose answers redirect to `urls`' origins."""
    origins = [o for o in (csp_origin(u) for u in urls) if o is not None]
    request[_FORM_TARGETS] = " ".join(dict.fromkeys(origins))


def _headers(request: web.Request) -> dict[str, str]:
    headers = dict(HEADERS)
    targets = request.get(_FORM_TARGETS)
    if targets:
        headers["Content-Security-Policy"] = CSP.format(targets=" " + targets)
    if request.app[SETTINGS].secure_cookies:  # the public URL is https
        headers["Strict-Transport-Security"] = HSTS
    return headers


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        headers = _headers(request)
        exc.headers.update({k: v for k, v in headers.items() if k not in exc.headers})
        raise
    for name, value in _headers(request).items():
        response.headers.setdefault(name, value)
    return response
