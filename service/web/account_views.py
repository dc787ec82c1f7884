"""The account page: a logged-in customer sees the apps linked to their account and revokes one."""

from __future__ import annotations

from aiohttp import web

from service.appkeys import DB
from service.oauth.unlink import revoke_grant
from service.storage import clients as client_store
from service.storage import grants as grant_store
from service.storage import partner_tokens
from service.web.pages import render
from service.web.session import login_required, require_csrf

routes = web.RouteTableDef()


@routes.get("/account", name="account")
async def account(request: web.Request) -> web.Response:
    user = await login_required(request)
    db = request.app[DB]
    grants = await grant_store.list_for_user(db, user.id)
    names = {c.client_id: c.name for c in await client_store.list_all(db)}
    alexa_links = {
        link.partner_id: link for link in await partner_tokens.list_links(db, user_id=user.id)
    }
    rows = [
        {
            "grant": g,
            "name": names.get(g.client_id, g.client_id),
            "alexa": alexa_links.get(g.client_id),
        }
        for g in grants
    ]
    return await render(
        request, "account/links.html", {"rows": rows, "revoked": request.query.get("revoked")}
    )


@routes.post("/account/revoke", name="account_revoke")
async def account_revoke(request: web.Request) -> web.Response:
    user = await login_required(request)
    form = await require_csrf(request)
    client_id = form.get("client_id", "")
    if client_id:
        await revoke_grant(request.app[DB], user_id=user.id, client_id=client_id, actor=user.id)
    location = request.app.router["account"].url_for().with_query({"revoked": client_id})
    raise web.HTTPSeeOther(location)
