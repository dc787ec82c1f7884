"""The admin overview and its paged, searchable lists (clients, partners, linked accounts), and
the pages that ask before a delete or unlink: a GET that changes nothing and shows what will
happen, whose form makes the CSRF-protected POST (`admin_views`). No script is needed: our
Content-Security-Policy allows none inline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from service import admin_support
from service.db import Database
from service.errors import BadRequest, NotFound
from service.linking import partners as partner_domain
from service.oauth import clients as client_domain
from service.web import admin_params
from service.web.appkeys import DB, SETTINGS
from service.web.pages import render
from service.web.session import admin_required

PageReader = Callable[[Database, str, int], Awaitable[tuple[list[Any], admin_support.Paging]]]


async def admin_home(request: web.Request) -> web.Response:
    await admin_required(request)
    return await render(request, "admin/index.html", await admin_support.overview(request.app[DB]))


async def _listing(request: web.Request, template: str, read: PageReader) -> web.Response:
    """A paged, searchable list: `q` (the start of an id, name or email) and `page`."""
    await admin_required(request)
    q = admin_params.text(request, "q")
    rows, paging = await read(request.app[DB], q, admin_params.page_number(request))
    return await render(request, template, {"rows": rows, "paging": paging, "q": q})


async def clients_list(request: web.Request) -> web.Response:
    return await _listing(request, "admin/clients.html", admin_support.clients_page)


async def partners_list(request: web.Request) -> web.Response:
    allow_custom = request.app[SETTINGS].allow_custom_amazon_urls
    read = partial(admin_support.partners_page, allow_custom=allow_custom)
    return await _listing(request, "admin/partners.html", read)


async def links_list(request: web.Request) -> web.Response:
    """Linked accounts found by the start of a username, email or Keycloak id (`q`), newest
    activity first, a page at a time."""
    return await _listing(request, "admin/links.html", admin_support.linked_accounts)


async def confirm(
    request: web.Request, *, title: str, message: str, action: str, fields: dict[str, str]
) -> web.Response:
    """The page that asks before a delete or unlink; its form makes the POST to `action`."""
    return await render(
        request,
        "admin/confirm.html",
        {"title": title, "message": message, "action": action, "fields": fields},
    )


async def client_delete_confirm(request: web.Request) -> web.Response:
    await admin_required(request)
    client_id = request.match_info["client_id"]
    client = await client_domain.get_client(request.app[DB], client_id)
    if client is None:
        raise NotFound("There is no such client.")
    return await confirm(
        request,
        title=f"Delete the client {client_id}?",
        message=f"Delete the client {client.name} ({client_id})? Its tokens stop working at "
        "once, and every user's link with it ends (with their Alexa link of this id). This "
        "cannot be undone.",
        action=request.path,
        fields={},
    )


async def partner_delete_confirm(request: web.Request) -> web.Response:
    await admin_required(request)
    partner_id = request.match_info["partner_id"]
    if await partner_domain.get_partner(request.app[DB], partner_id) is None:
        raise NotFound("There is no such partner.")
    return await confirm(
        request,
        title=f"Delete the partner {partner_id}?",
        message=f"Delete the partner {partner_id}? Its LWA credentials and every user's Alexa "
        "tokens for it are deleted: nothing more can be sent to Alexa for its users. This "
        "cannot be undone.",
        action=request.path,
        fields={},
    )


async def link_revoke_confirm(request: web.Request) -> web.Response:
    await admin_required(request)
    user_id = admin_params.text(request, "user_id")
    client_id = admin_params.text(request, "client_id")
    if not (user_id and client_id):
        raise BadRequest("Say which link to end: user_id and client_id.")
    return await confirm(
        request,
        title="End this link?",
        message=f"End the link of user {user_id} with the client {client_id}? The client's "
        "tokens for them stop working, and their Alexa link of this id ends too.",
        action=request.path,
        fields={"user_id": user_id, "client_id": client_id},
    )
