"""The account page: a logged-in customer sees the apps linked to their account and revokes one."""

from __future__ import annotations

from aiohttp import web

from service.linking import accounts
from service.web.appkeys import DB, UNLINK_HOOKS
from service.web.pages import render
from service.web.session import login_required, require_csrf


async def account(request: web.Request) -> web.Response:
    user = await login_required(request)
    rows = await accounts.linked_apps(request.app[DB], user.id)
    return await render(
        request, "account/links.html", {"rows": rows, "revoked": request.query.get("revoked")}
    )


async def account_revoke(request: web.Request) -> web.Response:
    user = await login_required(request)
    form = await require_csrf(request)
    client_id = form.get("client_id", "")
    await accounts.unlink_app(
        request.app[DB],
        request.app[UNLINK_HOOKS],
        user_id=user.id,
        client_id=client_id,
        actor=user.id,
    )
    location = request.app.router["account"].url_for().with_query({"revoked": client_id})
    raise web.HTTPSeeOther(location)
