"""One customer on one page (`/admin/users/<Keycloak id>`): Keycloak's current view of them,
their grants, their Alexa links and why one ended, their audit trail; and the admin's actions
on them, each asked for on a confirmation page and done by a CSRF-protected POST: end one link,
end all."""

from __future__ import annotations

from aiohttp import web

from service import admin_support
from service.errors import BadRequest
from service.web import admin_params
from service.web.admin_list_views import confirm
from service.web.appkeys import DB, KEYCLOAK_ADMIN, SETTINGS, UNLINK_HOOKS
from service.web.pages import render
from service.web.session import admin_required, require_csrf


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if len(user_id) > admin_params.MAX_TEXT or any(c < " " for c in user_id):
        raise BadRequest("That is not a user id.")
    return user_id


def _back(request: web.Request, user_id: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(request.app.router["admin_user"].url_for(user_id=user_id))


async def user_page(request: web.Request) -> web.Response:
    await admin_required(request)
    app = request.app
    view = await admin_support.customer(
        app[DB], app[KEYCLOAK_ADMIN], app[SETTINGS], _user_id(request)
    )
    return await render(request, "admin/user.html", {"view": view})


async def end_link_confirm(request: web.Request) -> web.Response:
    await admin_required(request)
    user_id = _user_id(request)
    client_id = admin_params.text(request, "client_id")
    partner_id = admin_params.text(request, "partner_id")
    if not (client_id or partner_id):
        raise BadRequest("Say which link to end: client_id or partner_id.")
    what = (
        f"the link with the client {client_id} (its tokens, the consent, and the Alexa link of "
        "this id)"
        if client_id
        else f"the Alexa link with the partner {partner_id} (its Amazon tokens are deleted)"
    )
    return await confirm(
        request,
        title="End this link?",
        message=f"End {what} for user {user_id}?",
        action=request.path,
        fields={"client_id": client_id} if client_id else {"partner_id": partner_id},
    )


async def end_link(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    form = await require_csrf(request)
    user_id = _user_id(request)
    client_id, partner_id = form.get("client_id", ""), form.get("partner_id", "")
    if not (client_id or partner_id):
        raise BadRequest("Say which link to end: client_id or partner_id.")
    await admin_support.end_link(
        request.app[DB],
        request.app[UNLINK_HOOKS],
        user_id=user_id,
        actor=admin.username,
        client_id=client_id,
        partner_id=partner_id,
    )
    raise _back(request, user_id)


async def end_all_confirm(request: web.Request) -> web.Response:
    await admin_required(request)
    user_id = _user_id(request)
    return await confirm(
        request,
        title="End every link?",
        message=f"End every link of user {user_id}: every client's tokens and consent, and "
        "every Alexa link?",
        action=request.path,
        fields={},
    )


async def end_all(request: web.Request) -> web.Response:
    admin = await admin_required(request)
    await require_csrf(request)
    user_id = _user_id(request)
    await admin_support.end_all(
        request.app[DB], request.app[UNLINK_HOOKS], user_id=user_id, actor=admin.username
    )
    raise _back(request, user_id)
