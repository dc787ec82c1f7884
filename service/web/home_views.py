"""The landing page: who is logged in, and where to go next."""

from __future__ import annotations

from aiohttp import web

from service.web.pages import render


async def home(request: web.Request) -> web.Response:
    return await render(request, "home.html")
