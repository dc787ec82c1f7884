"""The one wiring point: `create_app(settings)` builds the aiohttp application.

`ROUTES` is the whole HTTP surface: every path with the handler that serves it, one hop away.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from service import contexts, wiring
from service.crypto import KeyRing
from service.oauth.clients import ClientDirectory
from service.resources import templates_dir
from service.settings import Settings
from service.web import (
    account_views,
    admin_audit_views,
    admin_list_views,
    admin_user_views,
    admin_views,
    alexa_link_views,
    auth_views,
    health_views,
    home_views,
    i18n,
    linking_views,
    me_views,
    metrics,
    oauth_views,
    openapi,
    partner_api_views,
)
from service.web.appkeys import (
    CLIENTS,
    KEYRING,
    RATE_LIMITS,
    SETTINGS,
    TOKEN_KEYS,
    UNLINK_HOOKS,
)
from service.web.errors import error_middleware
from service.web.proxy import trusted_proxy_middleware
from service.web.rate_limit import RateLimits
from service.web.request_id import request_id_middleware
from service.web.security import security_headers_middleware
from service.web.session import session_middleware

TEMPLATES: Path = templates_dir()  # in the package of a wheel, else the checkout's templates/

ROUTES = [
    # Pages for people: login through Keycloak, the account page, the admin pages.
    web.get("/", home_views.home, name="home"),
    web.get("/login", auth_views.login, name="login"),
    web.get("/login/callback", auth_views.login_callback, name="login_callback"),
    web.post("/logout", auth_views.logout, name="logout"),
    web.get("/account", account_views.account, name="account"),
    web.get("/account/remove", account_views.account_remove, name="account_remove"),
    web.post("/account/revoke", account_views.account_revoke, name="account_revoke"),
    # Linking that starts on our side (app-to-app account linking): "Link with Alexa".
    web.post("/account/alexa/link", alexa_link_views.alexa_link, name="account_alexa_link"),
    web.get(
        "/account/alexa/callback", alexa_link_views.alexa_callback, name="account_alexa_callback"
    ),
    web.post("/account/alexa/unlink", alexa_link_views.alexa_unlink, name="account_alexa_unlink"),
    web.get("/admin", admin_list_views.admin_home, name="admin"),
    web.get("/admin/clients", admin_list_views.clients_list, name="admin_clients"),
    web.get("/admin/clients/new", admin_views.client_new, name="admin_client_new"),
    web.post("/admin/clients", admin_views.client_create, name="admin_client_create"),
    web.get("/admin/clients/{client_id}", admin_views.client_edit, name="admin_client"),
    web.post("/admin/clients/{client_id}", admin_views.client_update, name="admin_client_update"),
    web.post(
        "/admin/clients/{client_id}/rotate-secret",
        admin_views.client_rotate,
        name="admin_client_rotate",
    ),
    web.get(
        "/admin/clients/{client_id}/delete",
        admin_list_views.client_delete_confirm,
        name="admin_client_delete_confirm",
    ),
    web.post(
        "/admin/clients/{client_id}/delete", admin_views.client_delete, name="admin_client_delete"
    ),
    web.get("/admin/partners", admin_list_views.partners_list, name="admin_partners"),
    web.get("/admin/partners/new", admin_views.partner_new, name="admin_partner_new"),
    web.get("/admin/partners/{partner_id}", admin_views.partner_edit, name="admin_partner"),
    web.post("/admin/partners", admin_views.partner_save, name="admin_partner_save"),
    web.get(
        "/admin/partners/{partner_id}/delete",
        admin_list_views.partner_delete_confirm,
        name="admin_partner_delete_confirm",
    ),
    web.post(
        "/admin/partners/{partner_id}/delete",
        admin_views.partner_delete,
        name="admin_partner_delete",
    ),
    web.post(
        "/admin/partners/{partner_id}/alexa-callback",
        alexa_link_views.admin_register_callback,
        name="admin_partner_alexa_callback",
    ),
    web.get("/admin/links", admin_list_views.links_list, name="admin_links"),
    web.get(
        "/admin/links/revoke",
        admin_list_views.link_revoke_confirm,
        name="admin_link_revoke_confirm",
    ),
    web.post("/admin/links/revoke", admin_views.link_revoke, name="admin_link_revoke"),
    # Support: one customer on one page, and the audit trail (issue 13).
    web.get("/admin/users/{user_id}", admin_user_views.user_page, name="admin_user"),
    web.get(
        "/admin/users/{user_id}/end-link",
        admin_user_views.end_link_confirm,
        name="admin_user_end_link_confirm",
    ),
    web.post(
        "/admin/users/{user_id}/end-link", admin_user_views.end_link, name="admin_user_end_link"
    ),
    web.get(
        "/admin/users/{user_id}/end-all",
        admin_user_views.end_all_confirm,
        name="admin_user_end_all_confirm",
    ),
    web.post("/admin/users/{user_id}/end-all", admin_user_views.end_all, name="admin_user_end_all"),
    web.get("/admin/audit", admin_audit_views.audit_page, name="admin_audit"),
    web.get("/admin/audit.csv", admin_audit_views.audit_csv, name="admin_audit_csv"),
    # The OAuth server Alexa links against (RFC 6749, 7009, 7662, 8414) and its resource.
    web.get("/oauth/authorize", oauth_views.authorize_page, name="oauth_authorize"),
    web.post("/oauth/authorize", oauth_views.authorize_decision),
    web.post("/oauth/token", oauth_views.token, name="oauth_token"),
    web.post("/oauth/revoke", oauth_views.revoke, name="oauth_revoke"),
    web.post("/oauth/introspect", oauth_views.introspect, name="oauth_introspect"),
    web.get(
        "/.well-known/oauth-authorization-server",
        oauth_views.server_metadata,
        name="oauth_metadata",
    ),
    web.get("/api/me", me_views.me, name="api_me"),
    # Mutual linking: Alexa's calls, and the app backend's API.
    web.post("/api/reciprocal/authorize", linking_views.reciprocal, name="reciprocal_authorize"),
    web.post(
        "/alexa/accept-grant", linking_views.accept_grant_directive, name="alexa_accept_grant"
    ),
    web.get("/api/partner/token", partner_api_views.partner_token, name="partner_token"),
    web.post("/api/partner/token", partner_api_views.partner_token),
    web.post(
        "/api/partner/profile-report",
        partner_api_views.profile_report,
        name="partner_profile_report",
    ),
    web.post("/api/partner/events", partner_api_views.events, name="partner_events"),
    web.post(
        "/api/partner/alexa-enablement",
        alexa_link_views.alexa_enablement,
        name="partner_alexa_enablement",
    ),
    # Operations.
    web.get("/healthz", health_views.healthz, name="healthz"),
    web.get("/readyz", health_views.readyz, name="readyz"),
    web.get("/openapi.json", openapi.openapi, name="openapi"),
]


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            # Outermost: every answer, the error pages included, carries X-Request-Id, and
            # every log record written while handling the request carries its id.
            request_id_middleware,
            # Next: the caller's address and scheme behind our TLS proxy (ALS_TRUSTED_PROXIES)
            # for all inside it; it marks the request aiohttp's access log is given, so no
            # middleware before it may clone the request.
            trusted_proxy_middleware(settings),
            # Prometheus metrics are served on their own port (ALS_METRICS_PORT), not here.
            metrics.metrics_middleware,
            # Outside the error middleware, so the error pages and JSON errors it makes
            # (404, 405, 413, 500) carry the security headers too.
            security_headers_middleware,
            error_middleware,
            # 503 until the indexes that uniqueness rests on exist (health checks excepted).
            health_views.readiness_middleware,
            session_middleware(settings),
        ],
        client_max_size=256 * 1024,
    )
    app[SETTINGS] = settings
    app[KEYRING] = KeyRing.parse(settings.encryption_keys)
    app[TOKEN_KEYS] = KeyRing.parse(settings.token_keys)
    app[UNLINK_HOOKS] = wiring.unlink_hooks()
    app[CLIENTS] = ClientDirectory(settings.client_cache_seconds)
    app[RATE_LIMITS] = RateLimits.of(settings)  # per process, in memory
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        context_processors=[i18n.context_processor],  # pages in the request's language
    )
    i18n.install(env)
    app.cleanup_ctx.extend(
        [
            contexts.mongo_ctx,
            contexts.http_ctx,
            contexts.oidc_ctx,
            contexts.housekeeping_ctx,
            contexts.identity_ctx,  # Keycloak's admin API: user changes reach our tokens
        ]
    )
    app.add_routes(ROUTES)
    return app
