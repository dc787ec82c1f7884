"""`GET /api/me`: the user an access token acts for, the simplest resource for a skill backend."""

from __future__ import annotations

from aiohttp import web

from service.oauth import scopes
from service.web.bearer import require_bearer


async def me(request: web.Request) -> web.Response:
    ctx = await require_bearer(request)
    return web.json_response(
        {
            "sub": ctx.user_id,
            "username": ctx.username,
            "client_id": ctx.client_id,
            "scope": scopes.render(ctx.scopes),
        },
        headers={"Cache-Control": "no-store"},
    )
