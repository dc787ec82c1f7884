"""The account page: a logged-in customer sees the apps linked to their account and removes one
after confirming it on a page of its own (no JavaScript needed)."""

from __future__ import annotations

from aiohttp import web

from service.linking import accounts, app_to_app
from service.oauth import scopes
from service.web.appkeys import DB, UNLINK_HOOKS, linking_deps
from service.web.i18n import N_
from service.web.pages import render
from service.web.security import allow_form_targets
from service.web.session import login_required, require_csrf

# The state of the Alexa-side link (LinkStatus), in words.
ALEXA_STATUS = {
    "active": N_("Active"),
    "revoked": N_("Ended"),
    "inactive": N_("Paused: the skill was disabled in Alexa"),
}
# The state of a link made with "Link with Alexa" (`app_to_app.LinkState`), in words.
SKILL_STATE = {
    "linked": N_("Enabled and linked"),
    "not_linked": N_("Not linked"),
    "unknown": N_("Amazon could not be asked right now"),
}


async def account(request: web.Request) -> web.Response:
    user = await login_required(request)
    rows = await accounts.linked_apps(request.app[DB], user.id)
    # "Link with Alexa" (app-to-app linking): one row per partner with a skill, its state
    # asked at Amazon; the button's answer is a redirect to LWA, so form-action names it.
    skills = await app_to_app.link_states(linking_deps(request.app), user.id)
    allow_form_targets(request, *(s.partner.lwa_authorize_url or "" for s in skills))
    return await render(
        request,
        "account/links.html",
        {
            "rows": rows,
            "revoked": request.query.get("revoked"),
            "describe_scope": scopes.describe,
            "alexa_status": ALEXA_STATUS,
            "skills": skills,
            "skill_state": SKILL_STATE,
            "alexa_unlinked": request.query.get("alexa_unlinked"),
            "amazon_untold": request.query.get("amazon") == "untold",
        },
    )


async def account_remove(request: web.Request) -> web.Response:
    """The confirmation page of a removal (the POST below does it)."""
    user = await login_required(request)
    client_id = request.query.get("client_id", "")
    rows = await accounts.linked_apps(request.app[DB], user.id)
    row = next((r for r in rows if r.grant.client_id == client_id), None)
    if row is None:  # not linked (any more): nothing to confirm
        raise web.HTTPSeeOther(request.app.router["account"].url_for())
    return await render(request, "account/remove.html", {"name": row.name, "client_id": client_id})


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
