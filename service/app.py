"""The one wiring point: `create_app(settings)` builds the aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from service.appkeys import HTTP, KEYRING, OIDC, SETTINGS
from service.db import mongo_ctx
from service.keycloak_oidc import KeycloakOidc
from service.oauth.housekeeping import housekeeping_ctx
from service.settings import Settings
from service.web import (
    account_views,
    admin_views,
    auth_views,
    health_views,
    home_views,
    me_views,
    metrics,
    oauth_views,
    openapi,
    partner_api_views,
    reciprocal_views,
)
from service.web.errors import error_middleware
from service.web.security import security_headers_middleware
from service.web.session import session_middleware

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One outbound HTTP session per process (LWA, Alexa); created inside the running loop."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"User-Agent": "alexa-account-linking-server"},
    ) as session:
        app[HTTP] = session
        yield


async def oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    oidc = KeycloakOidc(app[SETTINGS])
    app[OIDC] = oidc
    yield
    await oidc.close()


def create_app(settings: Settings) -> web.Application:
    from service.crypto import KeyRing

    app = web.Application(
        middlewares=[
            metrics.metrics_middleware,
            # Outside the error middleware, so the error pages and JSON errors it makes
            # (404, 405, 413, 500) carry the security headers too.
            security_headers_middleware,
            error_middleware,
            session_middleware(settings),
        ],
        client_max_size=256 * 1024,
    )
    app[SETTINGS] = settings
    app[metrics.METRICS] = metrics.Metrics()
    app[KEYRING] = KeyRing.parse(settings.encryption_keys)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.extend([mongo_ctx, http_ctx, oidc_ctx, housekeeping_ctx])
    for module in (
        home_views,
        auth_views,
        health_views,
        metrics,
        oauth_views,
        me_views,
        reciprocal_views,
        partner_api_views,
        account_views,
        admin_views,
        openapi,
    ):
        app.add_routes(module.routes)
    return app
