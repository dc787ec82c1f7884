"""Admin pages (Keycloak realm role `admin`): OAuth clients, partners and linked accounts.

Every change is a CSRF-protected POST; GET never changes anything. Secrets are never shown,
except a newly generated client secret, once, right after it was made.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.appkeys import DB, KEYRING
from service.linking import partners as partner_domain
from service.linking.partners import PartnerConfigError
from service.oauth import clients as client_domain
from service.oauth.clients import ClientConfigError
from service.oauth.models import GRANT_TYPES, REFRESH_POLICIES, OAuthClient
from service.oauth.unlink import revoke_grant
from service.storage import audit, partner_tokens
from service.storage import clients as client_store
from service.storage import grants as grant_store
from service.storage import partners as partner_store
from service.storage.clients import ClientExists
from service.storage.partners import PartnerExists
from service.web.errors import error_page
from service.web.pages import render
from service.web.session import admin_required, require_csrf

routes = web.RouteTableDef()
PERMISSIONS = client_domain.PERMISSIONS  # all of them, or an edit would drop the others


def _see_other(request: web.Request, route: str, **parts: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(request.app.router[route].url_for(**parts))


@routes.get("/admin", name="admin")
async def admin_home(request: web.Request) -> web.Response:
    await admin_required(request)
    db = request.app[DB]
    return await render(
        request,
        "admin/index.html",
        {
            "clients": len(await client_store.list_all(db)),
            "partners": len(await partner_store.list_all(db)),
            "links": len(await grant_store.list_all(db)),
            "events": await audit.recent(db, limit=20),
        },
    )


# --- OAuth clients -------------------------------------------------------------------------


def _seconds(value: str | None, default: int) -> int:
    value = (value or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):  # int() would also take "١٢" or "+5"
        raise ClientConfigError("token lifetimes must be whole numbers of seconds")
    return int(value)


def _client_form(form: dict[str, str], multi: Any) -> dict[str, Any]:
    """Form fields → keyword arguments of register_client (ClientConfigError on bad numbers)."""
    access_ttl = _seconds(form.get("access_token_ttl"), 3600)
    refresh_ttl = _seconds(form.get("refresh_token_ttl"), 0)
    return {
        "name": form.get("name", "").strip(),
        "redirect_uris": [
            u.strip() for u in form.get("redirect_uris", "").splitlines() if u.strip()
        ],
        "grant_types": [g for g in multi.getall("grant_types", []) if isinstance(g, str)],
        "scopes": form.get("scopes", "").split(),
        "require_pkce": form.get("require_pkce") == "on",
        "access_token_ttl": access_ttl,
        "refresh_token_ttl": refresh_ttl,
        "refresh_policy": form.get("refresh_policy", "reuse"),
        "permissions": [p for p in multi.getall("permissions", []) if p in PERMISSIONS],
    }


async def _render_client_form(
    request: web.Request,
    client: OAuthClient | None,
    values: dict[str, Any],
    error: str | None = None,
) -> web.Response:
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
        },
        status=400 if error else 200,
    )


def _client_values(client: OAuthClient | None) -> dict[str, Any]:
    """Form values: the client's settings, or a new client's defaults."""
    return client_domain.describe(client or OAuthClient(client_id="", secret_hash="", name=""))


@routes.get("/admin/clients", name="admin_clients")
async def clients_list(request: web.Request) -> web.Response:
    await admin_required(request)
    return await render(
        request, "admin/clients.html", {"clients": await client_store.list_all(request.app[DB])}
    )


@routes.get("/admin/clients/new", name="admin_client_new")
async def client_new(request: web.Request) -> web.Response:
    await admin_required(request)
    return await _render_client_form(request, None, _client_values(None))


@routes.post("/admin/clients", name="admin_client_create")
async def client_create(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    multi = await request.post()
    values: dict[str, Any] = {
        **_client_values(None),
        **form,
        "client_id": form.get("client_id", ""),
    }
    try:
        fields = _client_form(form, multi)
        values.update(fields)
        client, secret = await client_domain.register_client(
            request.app[DB], client_id=form.get("client_id", "").strip() or None, **fields
        )
    except ClientConfigError as exc:
        return await _render_client_form(request, None, values, str(exc))
    except ClientExists:
        return await _render_client_form(
            request, None, values, "A client with this id already exists."
        )
    await audit.record(
        request.app[DB], "client_created", actor=admin.username, client_id=client.client_id
    )
    return await render(request, "admin/client_secret.html", {"client": client, "secret": secret})


@routes.get("/admin/clients/{client_id}", name="admin_client")
async def client_edit(request: web.Request) -> web.Response:
    await admin_required(request)
    client = await client_store.get(request.app[DB], request.match_info["client_id"])
    if client is None:
        raise error_page(request, 404, "There is no such client.")
    return await _render_client_form(request, client, _client_values(client))


@routes.post("/admin/clients/{client_id}", name="admin_client_update")
async def client_update(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    multi = await request.post()
    db = request.app[DB]
    client = await client_store.get(db, request.match_info["client_id"])
    if client is None:
        raise error_page(request, 404, "There is no such client.")
    values = {**_client_values(client), **form}
    try:
        fields = _client_form(form, multi)
        values.update(fields)
        fields["redirect_uris"] = tuple(dict.fromkeys(fields["redirect_uris"]))
        for key in ("grant_types", "scopes", "permissions"):
            fields[key] = frozenset(fields[key])
        await client_domain.update_client(db, client_domain.with_changes(client, **fields))
    except ClientConfigError as exc:
        return await _render_client_form(request, client, values, str(exc))
    await audit.record(db, "client_updated", actor=admin.username, client_id=client.client_id)
    raise _see_other(request, "admin_clients")


@routes.post("/admin/clients/{client_id}/rotate-secret", name="admin_client_rotate")
async def client_rotate(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    db = request.app[DB]
    client_id = request.match_info["client_id"]
    client = await client_store.get(db, client_id)
    secret = await client_domain.rotate_secret(db, client_id)
    if client is None or secret is None:
        raise error_page(request, 404, "There is no such client.")
    await audit.record(db, "client_secret_rotated", actor=admin.username, client_id=client_id)
    return await render(request, "admin/client_secret.html", {"client": client, "secret": secret})


@routes.post("/admin/clients/{client_id}/delete", name="admin_client_delete")
async def client_delete(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    db = request.app[DB]
    client_id = request.match_info["client_id"]
    if await client_domain.remove_client(db, client_id):
        await audit.record(db, "client_removed", actor=admin.username, client_id=client_id)
    raise _see_other(request, "admin_clients")


# --- Partners ------------------------------------------------------------------------------


@routes.get("/admin/partners", name="admin_partners")
async def partners_list(request: web.Request) -> web.Response:
    await admin_required(request)
    db = request.app[DB]
    client_ids = {c.client_id for c in await client_store.list_all(db)}
    # Alexa's reciprocal and AcceptGrant calls find the partner through the client their token
    # was issued to, so a partner id without such a client is never reached.
    partners = [
        {**partner_domain.describe(p), "has_client": p.partner_id in client_ids}
        for p in await partner_store.list_all(db)
    ]
    return await render(request, "admin/partners.html", {"partners": partners})


@routes.get("/admin/partners/new", name="admin_partner_new")
async def partner_new(request: web.Request) -> web.Response:
    await admin_required(request)
    return await render(
        request, "admin/partner_form.html", {"partner": None, "values": {}, "error": None}
    )


@routes.get("/admin/partners/{partner_id}", name="admin_partner")
async def partner_edit(request: web.Request) -> web.Response:
    await admin_required(request)
    partner = await partner_store.get(request.app[DB], request.match_info["partner_id"])
    if partner is None:
        raise error_page(request, 404, "There is no such partner.")
    return await render(
        request,
        "admin/partner_form.html",
        {"partner": partner, "values": partner_domain.describe(partner), "error": None},
    )


@routes.post("/admin/partners", name="admin_partner_save")
async def partner_save(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    db, keyring = request.app[DB], request.app[KEYRING]
    partner_id = form.get("partner_id", "").strip()
    existing = await partner_store.get(db, partner_id) if form.get("replace") == "on" else None
    secret = form.get("lwa_client_secret", "")
    if not secret and existing is not None:
        secret = existing.lwa_client_secret.open(keyring)  # blank on edit: keep the stored one
    try:
        await partner_domain.add_partner(
            db,
            keyring,
            partner_id=partner_id,
            lwa_client_id=form.get("lwa_client_id", ""),
            lwa_client_secret=secret,
            lwa_token_url=form.get("lwa_token_url") or None,
            alexa_api_base=form.get("alexa_api_base") or None,
            scopes=tuple(form.get("scopes", "").split()),
            replace=existing is not None,
            actor=admin.username,
        )
    except (PartnerConfigError, PartnerExists) as exc:
        message = (
            "A partner with this id already exists." if isinstance(exc, PartnerExists) else str(exc)
        )
        values = {k: v for k, v in form.items() if k != "lwa_client_secret"}
        return await render(
            request,
            "admin/partner_form.html",
            {"partner": existing, "values": values, "error": message},
            status=400,
        )
    raise _see_other(request, "admin_partners")


@routes.post("/admin/partners/{partner_id}/delete", name="admin_partner_delete")
async def partner_delete(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    await partner_domain.remove_partner(
        request.app[DB], request.match_info["partner_id"], actor=admin.username
    )
    raise _see_other(request, "admin_partners")


# --- Linked accounts -----------------------------------------------------------------------


@routes.get("/admin/links", name="admin_links")
async def links_list(request: web.Request) -> web.Response:
    await admin_required(request)
    db = request.app[DB]
    alexa = {(link.user_id, link.partner_id): link for link in await partner_tokens.list_links(db)}
    rows = [
        {"grant": g, "alexa": alexa.get((g.user_id, g.client_id))}
        for g in await grant_store.list_all(db)
    ]
    return await render(request, "admin/links.html", {"rows": rows})


@routes.post("/admin/links/revoke", name="admin_link_revoke")
async def link_revoke(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    user_id, client_id = form.get("user_id", ""), form.get("client_id", "")
    if user_id and client_id:
        await revoke_grant(
            request.app[DB], user_id=user_id, client_id=client_id, actor=admin.username
        )
    raise _see_other(request, "admin_links")
