"""Liveness (`/healthz`) and readiness (`/readyz`: Mongo and Keycloak answer)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from service.db import ping
from service.web.appkeys import DB, OIDC


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    mongo_ok, keycloak_ok = await asyncio.gather(ping(request.app[DB]), request.app[OIDC].ping())
    ready = mongo_ok and keycloak_ok
    return web.json_response(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {
                "mongo": "up" if mongo_ok else "down",
                "keycloak": "up" if keycloak_ok else "down",
            },
        },
        status=200 if ready else 503,
    )
