"""Schemathesis fuzzes every operation of our `/openapi.json` against a live server (with the
Amazon stand-in behind it and a user really linked): anonymous, with valid credentials (Basic
for the OAuth endpoints, an access token of a user and an app backend's token for the APIs),
and with the linked user and partner named, so the fuzzed reports, events and LWA codes reach
the code behind the look-ups. No answer may be a 5xx or fall outside the document.

It lives with the mutual-linking tests for their fixtures (the stand-in, the partner, the app
backend). `make fuzz` runs it with more examples (tests/support/fuzz.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable

from schemathesis import GenerationMode

from tests.support.fuzz import AnyCase, Variant, examples, fuzz_api, randomized
from tests.support.linking import PARTNER_ID, USER_ID, Linking, bearer
from tests.support.oauth import basic_auth, create_client

POSITIVE = (GenerationMode.POSITIVE,)
PARTNER_API = (
    "GET /api/partner/token",
    "POST /api/partner/token",
    "POST /api/partner/profile-report",
    "POST /api/partner/events",
    "POST /api/partner/alexa-enablement",
)
NO_INPUT = ("GET /healthz", "GET /readyz", "GET /.well-known/oauth-authorization-server")
OAUTH_CLIENT_API = ("POST /oauth/token", "POST /oauth/revoke", "POST /oauth/introspect")


def _name_the_link(case: AnyCase) -> None:
    """The linked user and partner instead of generated ids (still data the document allows)."""
    for part in (case.query, case.body):
        if isinstance(part, dict):
            part["user_id"], part["partner_id"] = USER_ID, PARTNER_ID


def _reciprocal(linking: Linking) -> Callable[[AnyCase], None]:
    """The partner's id and, every other time, an LWA code the stand-in really issued."""
    count = itertools.count()

    def adjust(case: AnyCase) -> None:
        if isinstance(case.body, dict):
            case.body["client_id"] = PARTNER_ID
            if next(count) % 2:
                case.body["code"] = linking.lwa_code()

    return adjust


def _accept_grant(linking: Linking, token: str) -> Callable[[AnyCase], None]:
    """A real access token of the user as the grantee and a real LWA code as the grant."""

    def adjust(case: AnyCase) -> None:
        directive = case.body.get("directive") if isinstance(case.body, dict) else None
        if isinstance(directive, dict):
            directive["payload"] = {
                "grant": {"type": "OAuth2.AuthorizationCode", "code": linking.lwa_code()},
                "grantee": {"type": "BearerToken", "token": token},
            }

    return adjust


async def test_every_operation_answers_within_the_document(linking: Linking) -> None:
    await linking.link()
    db = linking.db
    skill, skill_secret = await create_client(db, name="Fuzzed skill")
    backend, backend_secret = await create_client(
        db,
        name="Fuzzed backend",
        grant_types=["client_credentials"],
        permissions=["introspect"],
    )
    user_token = await linking.user_token()
    user = bearer(user_token)
    app_backend = bearer(linking.backend_token)
    anonymous = Variant("anonymous")

    def variants(label: str) -> Iterable[Variant]:
        if label in NO_INPUT:
            yield Variant("anonymous", modes=POSITIVE)  # nothing to send that breaks the document
            return
        yield anonymous
        if label in OAUTH_CLIENT_API:
            yield Variant("skill", {"Authorization": basic_auth(skill.client_id, skill_secret)})
            yield Variant(
                "backend", {"Authorization": basic_auth(backend.client_id, backend_secret)}
            )
        elif label in PARTNER_API:
            yield Variant("user token", user)  # acts for a user: 403 insufficient_scope
            yield Variant("backend", app_backend)
            yield Variant("backend, linked", app_backend, POSITIVE, _name_the_link)
        elif label == "GET /api/me":  # no input but the token
            yield Variant("user token", user, POSITIVE)
            yield Variant("backend", app_backend, POSITIVE)  # a token of no user
        elif label == "POST /alexa/accept-grant":
            yield Variant("user token as grantee", {}, POSITIVE, _accept_grant(linking, user_token))
        elif label == "POST /api/reciprocal/authorize":
            yield Variant("user token", user)
            yield Variant("user token, partner", user, POSITIVE, _reciprocal(linking))

    started = time.monotonic()
    report = await asyncio.to_thread(fuzz_api, linking.base_url, variants)
    elapsed = time.monotonic() - started
    summary = "; ".join(f"{op}: {sorted(codes)}" for op, codes in sorted(report.statuses.items()))
    print(f"\nfuzzed {report.calls} calls in {elapsed:.1f}s ({examples()} examples): {summary}")
    assert not report.failures, "\n\n".join(report.failures)
    assert len(report.statuses) == 14, report.statuses  # every operation
    if randomized() and examples() < 100:
        return  # a few random examples may not get this far
    # The credentials and the linked user took the fuzzer past the authentication and the
    # look-ups, to the answers of success (their schemas checked too).
    assert 200 in report.statuses["POST /oauth/token"]  # the backend's client_credentials
    assert 200 in report.statuses["GET /api/partner/token"]  # the linked user's LWA token
    assert 200 in report.statuses["GET /api/me"]
    assert 200 in report.statuses["POST /api/reciprocal/authorize"]  # linked with a real code
    assert 202 in report.statuses["POST /api/partner/profile-report"]  # a valid report sent
