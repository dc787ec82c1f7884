"""Liveness (`/healthz`) and readiness (`/readyz`), and the gate that keeps traffic out until
the indexes exist.

`/readyz` answers 200 when this process can serve tokens: the database answers and every index
is in place (the unique ones are what make a code single-use and a refresh lease exclusive).
That is all the token endpoint, the reciprocal endpoint and the app backend's API need, so a
load balancer in front of them should use it: Keycloak being down must not take them out of
rotation. Keycloak is reported under `checks` all the same; `/readyz?full=1` also requires it,
for whatever routes browser logins (the authorize and login pages need Keycloak).

Each check is bounded (READY_CHECK_SECONDS), so the answer comes well within a health
checker's timeout even when a dependency hangs.
"""

from __future__ import annotations

import asyncio

import pymongo
from aiohttp import web

from service.db import ping
from service.errors import Unavailable
from service.web.appkeys import DB, INDEXES_READY, OIDC
from service.web.session import Handler

READY_CHECK_SECONDS = 1.5
# Answered while the indexes are being created: they read no collection.
NOT_GATED = ("/healthz", "/readyz", "/openapi.json", "/.well-known/oauth-authorization-server")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _indexes_ready(app: web.Application) -> bool:
    ready = app.get(INDEXES_READY)
    return ready is not None and ready.is_set()


async def _mongo_up(request: web.Request) -> bool:
    with pymongo.timeout(READY_CHECK_SECONDS):
        return await ping(request.app[DB])


async def _keycloak_up(request: web.Request) -> bool:
    try:
        return await asyncio.wait_for(request.app[OIDC].ping(), READY_CHECK_SECONDS)
    except TimeoutError:
        return False


async def readyz(request: web.Request) -> web.Response:
    mongo_ok, keycloak_ok = await asyncio.gather(_mongo_up(request), _keycloak_up(request))
    indexes_ok = _indexes_ready(request.app)
    full = request.query.get("full", "") not in ("", "0", "false")
    ready = mongo_ok and indexes_ok and (keycloak_ok or not full)
    return web.json_response(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {
                "mongo": "up" if mongo_ok else "down",
                "indexes": "ready" if indexes_ok else "pending",
                "keycloak": "up" if keycloak_ok else "down",
            },
            "requires": ["mongo", "indexes", "keycloak"] if full else ["mongo", "indexes"],
        },
        status=200 if ready else 503,
    )


@web.middleware
async def readiness_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Until every index exists, only the health checks and static documents are answered: a
    refresh lease or a consent stored before its unique index exists could be doubled (a
    second LWA refresh, two consent documents for one user and client)."""
    if request.path not in NOT_GATED and not _indexes_ready(request.app):
        raise Unavailable("The service is starting: its database is not ready yet.")
    return await handler(request)
