"""Rendering HTML pages with the context every page needs (user, CSRF token)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from service.web.session import csrf_token, current_user


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    page: dict[str, Any] = {
        "user": await current_user(request),
        "csrf_token": await csrf_token(request),
        **(context or {}),
    }
    response = aiohttp_jinja2.render_template(template, request, page, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
