"""Security headers on every response (pages are never framed, nothing is sniffed), and
`Strict-Transport-Security` when the public URL is https (RFC 6797): browsers then refuse
plain http for our host for a year, so a network attacker cannot strip TLS from the login
and consent pages. Our https is served by the reverse proxy in front of us (see
`service/web/proxy.py`), so the header goes with every answer whenever `ALS_PUBLIC_URL` is
https; without `includeSubDomains`, since other hosts of the domain are not ours to pin."""

from __future__ import annotations

from aiohttp import web

from service.web.appkeys import SETTINGS
from service.web.session import Handler

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self' https: http:; frame-ancestors 'none'",
}
HSTS = "max-age=31536000"  # one year


def _headers(request: web.Request) -> dict[str, str]:
    if request.app[SETTINGS].secure_cookies:  # the public URL is https
        return {**HEADERS, "Strict-Transport-Security": HSTS}
    return HEADERS


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    headers = _headers(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update({k: v for k, v in headers.items() if k not in exc.headers})
        raise
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response
