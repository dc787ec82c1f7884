"""Admin pages (Keycloak realm role `admin`): OAuth clients, partners and linked accounts.

Handlers parse the forms and call the domain, which validates, writes and audits. Every change
is a CSRF-protected POST; GET never changes anything. The paged lists, the overview and the
pages that confirm a delete are in `admin_list_views`. Secrets are never shown, except a newly
generated client secret, once, right after it was made.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from service.errors import NotFound
from service.linking import accounts, app_to_app
from service.linking import partners as partner_domain
from service.models.oauth import (
    GRANT_TYPES,
    PARTNER_TOKEN,
    REFRESH_POLICIES,
    OAuthClient,
    partner_token_permission,
)
from service.oauth import clients as client_domain
from service.web.appkeys import CLIENTS, DB, KEYRING, SETTINGS, UNLINK_HOOKS
from service.web.pages import render
from service.web.session import admin_required, require_csrf

PERMISSIONS = client_domain.PERMISSIONS  # all of them, or an edit would drop the others


def _see_other(request: web.Request, route: str, **parts: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(request.app.router[route].url_for(**parts))


# --- OAuth clients -------------------------------------------------------------------------


def _seconds(value: str | None, default: int) -> int:
    value = (value or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):  # int() would also take "١٢" or "+5"
        raise client_domain.ClientConfigError("token lifetimes must be whole numbers of seconds")
    return int(value)


def _client_settings(form: dict[str, str], multi: MultiDictProxy[Any]) -> dict[str, Any]:
    """Form fields → the settings `register_client`/`update_client` take. The partners whose
    tokens an app backend may use come from one checkbox per known partner and a text field
    for other ids: each becomes `partner_token:<id>`."""
    partner_ids = [p for p in multi.getall(PARTNER_TOKEN, []) if isinstance(p, str)]
    partner_ids += form.get("partner_token_other", "").split()
    return {
        "name": form.get("name", ""),
        "redirect_uris": form.get("redirect_uris", "").splitlines(),
        "grant_types": [g for g in multi.getall("grant_types", []) if isinstance(g, str)],
        "scopes": form.get("scopes", "").split(),
        "require_pkce": form.get("require_pkce") == "on",
        "access_token_ttl": _seconds(form.get("access_token_ttl"), 3600),
        "refresh_token_ttl": _seconds(form.get("refresh_token_ttl"), 0),
        "refresh_policy": form.get("refresh_policy", "reuse"),
        "permissions": [p for p in multi.getall("permissions", []) if p in PERMISSIONS]
        + [partner_token_permission(p) for p in dict.fromkeys(partner_ids)],
        "authorization_response_iss": form.get("authorization_response_iss") == "on",
    }


async def _render_client_form(
    request: web.Request,
    client: OAuthClient | None,
    values: dict[str, Any],
    error: str | None = None,
) -> web.Response:
    known = [p["partner_id"] for p in await partner_domain.list_partners(request.app[DB])]
    prefix = PARTNER_TOKEN + ":"
    permissions = values.get("permissions", ())
    if isinstance(permissions, str):  # the form's last value, when the form was not read
        permissions = [permissions]
    chosen = [p[len(prefix) :] for p in permissions if p.startswith(prefix)]
    return await render(
        request,
        "admin/client_form.html",
        {
            "client": client,
            "values": values,
            "error": error,
            "all_grants": GRANT_TYPES,
            "policies": REFRESH_POLICIES,
            "all_permissions": PERMISSIONS,
            "known_partners": known,
            "partner_ids": chosen,
            "other_partner_ids": [p for p in chosen if p not in known],
        },
        status=400 if error else 200,
    )


def _client_values(client: OAuthClient | None) -> dict[str, Any]:
    """Form values: the client's settings, or a new client's defaults."""
    return client_domain.describe(client or OAuthClient(client_id="", secret_hash="", name=""))


async def _client_or_404(request: web.Request) -> OAuthClient:
    client = await client_domain.get_client(request.app[DB], request.match_info["client_id"])
    if client is None:
        raise NotFound("There is no such client.")
    return client


async def client_new(request: web.Request) -> web.Response:
    await admin_required(request)
    return await _render_client_form(request, None, _client_values(None))


async def client_create(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    values: dict[str, Any] = {**_client_values(None), **form}
    try:
        settings = _client_settings(form, await request.post())
        values.update(settings)
        client, secret = await client_domain.register_client(
            request.app[DB],
            actor=admin.username,
            client_id=form.get("client_id", "").strip() or None,
            allow_http_redirect_uris=request.app[SETTINGS].dev,
            **settings,
        )
    except client_domain.ClientConfigError as exc:
        return await _render_client_form(request, None, values, str(exc))
    except client_domain.ClientExists:
        return await _render_client_form(
            request, None, values, "A client with this id already exists."
        )
    return await render(request, "admin/client_secret.html", {"client": client, "secret": secret})


async def client_edit(request: web.Request) -> web.Response:
    await admin_required(request)
    client = await _client_or_404(request)
    return await _render_client_form(request, client, _client_values(client))


async def client_update(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    client = await _client_or_404(request)
    values = {**_client_values(client), **form}
    try:
        settings = _client_settings(form, await request.post())
        values.update(settings)
        updated = await client_domain.update_client(
            request.app[DB],
            client.client_id,
            actor=admin.username,
            allow_http_redirect_uris=request.app[SETTINGS].dev,
            **settings,
        )
    except client_domain.ClientConfigError as exc:
        return await _render_client_form(request, client, values, str(exc))
    if updated is None:
        raise NotFound("There is no such client.")
    request.app[CLIENTS].forget(client.client_id)
    raise _see_other(request, "admin_clients")


async def client_rotate(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    client = await _client_or_404(request)
    secret = await client_domain.rotate_secret(
        request.app[DB], client.client_id, actor=admin.username
    )
    if secret is None:
        raise NotFound("There is no such client.")
    request.app[CLIENTS].forget(client.client_id)
    return await render(request, "admin/client_secret.html", {"client": client, "secret": secret})


async def client_delete(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    client_id = request.match_info["client_id"]
    await client_domain.remove_client(
        request.app[DB], request.app[UNLINK_HOOKS], client_id, actor=admin.username
    )
    request.app[CLIENTS].forget(client_id)
    raise _see_other(request, "admin_clients")


# --- Partners ------------------------------------------------------------------------------


async def partner_new(request: web.Request) -> web.Response:
    await admin_required(request)
    return await render(
        request,
        "admin/partner_form.html",
        {"partner": None, "values": {}, "error": None, "callback": None},
    )


async def partner_edit(request: web.Request) -> web.Response:
    await admin_required(request)
    partner = await partner_domain.get_partner(request.app[DB], request.match_info["partner_id"])
    if partner is None:
        raise NotFound("There is no such partner.")
    # "Link with Alexa": our callback must be a redirect URI of the partner's OAuth client.
    client = await client_domain.get_client(request.app[DB], partner.partner_id)
    url = request.app[SETTINGS].url(app_to_app.CALLBACK_PATH)
    callback = {
        "url": url,
        "has_client": client is not None,
        "registered": client is not None and url in client.redirect_uris,
    }
    return await render(
        request,
        "admin/partner_form.html",
        {
            "partner": partner,
            "values": partner_domain.describe(partner),
            "error": None,
            "callback": callback,
        },
    )


async def partner_save(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    db = request.app[DB]
    partner_id = form.get("partner_id", "").strip()
    replace = form.get("replace") == "on"
    try:
        await partner_domain.add_partner(
            db,
            request.app[KEYRING],
            partner_id=partner_id,
            lwa_client_id=form.get("lwa_client_id", ""),
            lwa_client_secret=form.get("lwa_client_secret", ""),  # blank on edit: keep it
            lwa_token_url=form.get("lwa_token_url") or None,
            alexa_api_base=form.get("alexa_api_base") or None,
            scopes=tuple(form.get("scopes", "").split()),
            replace=replace,
            actor=admin.username,
            allow_custom_urls=request.app[SETTINGS].allow_custom_amazon_urls,
            skill_id=form.get("skill_id") or None,
            skill_stage=form.get("skill_stage") or None,
            lwa_authorize_url=form.get("lwa_authorize_url") or None,
        )
    except (partner_domain.PartnerConfigError, partner_domain.PartnerExists) as exc:
        message = (
            "A partner with this id already exists."
            if isinstance(exc, partner_domain.PartnerExists)
            else str(exc)
        )
        existing = await partner_domain.get_partner(db, partner_id) if replace else None
        values = {k: v for k, v in form.items() if k != "lwa_client_secret"}
        return await render(
            request,
            "admin/partner_form.html",
            {"partner": existing, "values": values, "error": message, "callback": None},
            status=400,
        )
    raise _see_other(request, "admin_partners")


async def partner_delete(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    await partner_domain.remove_partner(
        request.app[DB], request.match_info["partner_id"], actor=admin.username
    )
    raise _see_other(request, "admin_partners")


# --- Linked accounts -----------------------------------------------------------------------


async def link_revoke(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    await accounts.unlink_app(
        request.app[DB],
        request.app[UNLINK_HOOKS],
        user_id=form.get("user_id", ""),
        client_id=form.get("client_id", ""),
        actor=admin.username,
    )
    raise _see_other(request, "admin_links")
