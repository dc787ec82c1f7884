"""Security headers on every response (pages are never framed, nothing is sniffed)."""

from __future__ import annotations

from aiohttp import web

from service.web.session import Handler

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self' https: http:; frame-ancestors 'none'",
}


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update({k: v for k, v in HEADERS.items() if k not in exc.headers})
        raise
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
