"""The authorization endpoint (RFC 6749 §4.1.1-§4.1.2; PKCE per RFC 7636 §4.3).

`validate` checks a request in the order §4.1.2.1 prescribes: first the client and its
redirect URI (failures raise `UntrustedRedirect`, shown as our own error page, because
redirecting to an unverified URI would make us an open redirector); then everything else
(failures raise `ClientRedirect`, which sends the browser back to the client with `error` and
the unchanged `state`).

Remembered consent skips the consent page only while the user still holds an active grant of
the client (a code they exchanged, not revoked): a first link, and a link again after an
unlink, always ask. Without that rule, an attacker who starts linking in their own Alexa app
and gets a logged-in victim to open the authorization URL would link the victim's account to
the attacker's Alexa account without the victim seeing anything (login CSRF, RFC 6749 §10.12;
RFC 9700 §4.7). `prompt` (OpenID Connect Core 1.0 §3.1.2.1) is honoured: `login` sends the user
through Keycloak's login again, `consent` always shows the consent page, `none` never shows a
page (`login_required` / `consent_required` instead). A client registered with
`authorization_response_iss` gets `iss` (our issuer) in every authorization response, errors
included (RFC 9207 §2), to tell our responses from another server's (mix-up attacks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from service.clock import utcnow
from service.db import Database
from service.models.identity import User
from service.models.oauth import AUTHORIZATION_CODE, AuthorizationCode, OAuthClient
from service.oauth import pkce, scopes
from service.oauth.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
    UntrustedRedirect,
)
from service.oauth.redirect_uri import with_params
from service.oauth.token_values import new_grant_id, new_secret_value, secret_hash
from service.storage import audit, token_grants
from service.storage import authorization_codes as code_store
from service.storage import clients as client_store
from service.storage import grants as grant_store

log = logging.getLogger(__name__)


PROMPTS = ("none", "login", "consent")


class ClientRedirect(Exception):
    """An OAuth error to send back to the (verified) redirect URI."""

    def __init__(
        self, error: OAuthError, redirect_uri: str, state: str | None, issuer: str | None = None
    ) -> None:
        super().__init__(error.error)
        self.error = error
        self.location = error.redirect_location(redirect_uri, state, issuer)


@dataclass(frozen=True)
class AuthorizationRequest:
    client: OAuthClient
    redirect_uri: str  # where the answer goes
    redirect_uri_param: str | None  # as the client sent it (None: omitted, one registered URI)
    scopes: frozenset[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset[str] = frozenset()  # OpenID Connect Core 1.0 §3.1.2.1
    issuer: str | None = None  # sent as `iss` (RFC 9207) when the client asked for it

    def form_fields(self) -> dict[str, str]:
        """The request's parameters, for the consent form to send back unchanged (`prompt`
        has been served by then)."""
        fields = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri_param,
            "scope": scopes.render(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
        }
        return {k: v for k, v in fields.items() if v}

    def error(self, error: OAuthError) -> ClientRedirect:
        return ClientRedirect(error, self.redirect_uri, self.state, self.issuer)


async def validate(
    db: Database, values: Mapping[str, Sequence[str]], *, issuer: str, allow_http: bool
) -> AuthorizationRequest:
    """`values`: every parameter with all the values it was sent with (§3.1 allows one);
    `issuer`: ours (the metadata's `issuer`); `allow_http`: whether a code may be sent to an
    http redirect URI (dev mode only, as for registering one)."""
    client_ids = values.get("client_id", [])
    if len(client_ids) != 1 or not client_ids[0]:
        raise UntrustedRedirect("The link that brought you here is incomplete (no client).")
    client = await client_store.get(db, client_ids[0])
    if client is None:
        raise UntrustedRedirect("The app that sent you here is not known to us.")
    redirect_uri = _redirect_uri(client, values.get("redirect_uri", []))
    if not allow_http and not redirect_uri.lower().startswith("https:"):
        # Registered before the server left dev mode: a code must not travel unencrypted
        # (RFC 6749 §3.1.2.1, §10.5), so it is not sent there at all.
        raise UntrustedRedirect(
            "The app that sent you here asked to return to an unencrypted (http) address, "
            "which this server does not allow."
        )
    states = values.get("state", [])
    state = states[0] if len(states) == 1 and states[0] else None
    iss = issuer if client.authorization_response_iss else None
    try:
        params = _single_valued(values)
        if "response_type" not in params:
            raise InvalidRequest("Missing parameter: response_type.")
        if params["response_type"] != "code":
            raise UnsupportedResponseType("Only response_type=code is supported.")
        if not client.allows_grant(AUTHORIZATION_CODE):
            raise UnauthorizedClient()
        wanted = scopes.parse(params.get("scope")) or client.scopes
        unknown = client.unknown_scopes(wanted)
        if unknown:
            raise InvalidScope(f"Unknown scope: {scopes.render(unknown)}.")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        pkce.check_challenge(challenge, method, required=client.require_pkce)
        prompt = _prompt(params.get("prompt"))
    except OAuthError as exc:
        raise ClientRedirect(exc, redirect_uri, state, iss) from None
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_param=params.get("redirect_uri"),
        scopes=wanted,
        state=state,
        code_challenge=challenge,
        code_challenge_method=method,
        prompt=prompt,
        issuer=iss,
    )


def _prompt(value: str | None) -> frozenset[str]:
    """OpenID Connect Core 1.0 §3.1.2.1: space-delimited; `none` only on its own."""
    prompt = frozenset((value or "").split())
    unknown = prompt - set(PROMPTS)
    if unknown:
        raise InvalidRequest(f"Unsupported prompt value: {' '.join(sorted(unknown))}.")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    return prompt


def _single_valued(values: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Each parameter once (§3.1); one sent without a value counts as omitted."""
    for name, sent in values.items():
        if len(sent) > 1:
            raise InvalidRequest(f"Parameter {name} was sent more than once.")
    return {name: sent[0] for name, sent in values.items() if sent and sent[0] != ""}


def _redirect_uri(client: OAuthClient, sent: Sequence[str]) -> str:
    if len(sent) > 1:
        raise UntrustedRedirect("The link that brought you here is malformed (redirect URI).")
    if sent:
        if not client.check_redirect_uri(sent[0]):
            raise UntrustedRedirect(
                "The app that sent you here asked to return to an address it has not registered."
            )
        return sent[0]
    if len(client.redirect_uris) == 1:  # RFC 6749 §3.1.2.3: optional with one registered URI
        return client.redirect_uris[0]
    raise UntrustedRedirect("The link that brought you here is incomplete (no redirect URI).")


async def has_consent(db: Database, request: AuthorizationRequest, user: User) -> bool:
    """Whether the consent page may be skipped: the user allowed these scopes before and is
    still linked (holds an active grant of the client), and the client did not ask for the
    page (`prompt=consent`)."""
    if "consent" in request.prompt:
        return False
    client_id = request.client.client_id
    grant = await grant_store.get(db, user_id=user.id, client_id=client_id)
    return (
        grant is not None
        and request.scopes <= grant.scopes
        and await token_grants.has_active(db, user.id, client_id)
    )


def consent_required(request: AuthorizationRequest) -> ClientRedirect:
    """`prompt=none` and the consent page would be needed."""
    return request.error(ConsentRequired())


async def approve(
    db: Database, request: AuthorizationRequest, user: User, *, code_ttl: int, remember: bool = True
) -> str:
    """Issue a code for the user (remembering the consent); returns the redirect location."""
    if remember:
        await grant_store.remember(
            db,
            user_id=user.id,
            username=user.username,
            client_id=request.client.client_id,
            scopes=request.scopes,
            email=user.email or None,
        )
        await audit.record(
            db,
            "oauth.consent",
            actor=user.id,
            user_id=user.id,
            client_id=request.client.client_id,
            scopes=sorted(request.scopes),
        )
    value, _ = await issue_code(
        db,
        client_id=request.client.client_id,
        redirect_uri=request.redirect_uri_param,
        user=user,
        scopes=request.scopes,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        code_ttl=code_ttl,
    )
    params = [("code", value)]
    if request.state is not None:
        params.append(("state", request.state))
    if request.issuer is not None:
        params.append(("iss", request.issuer))
    return with_params(request.redirect_uri, params)


async def issue_code(
    db: Database,
    *,
    client_id: str,
    redirect_uri: str | None,
    user: User,
    scopes: frozenset[str],
    code_ttl: int,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
) -> tuple[str, AuthorizationCode]:
    """A new code (its value, and what is stored of it: its hash) for the user and client,
    bound to `redirect_uri` (RFC 6749 §4.1.3). The authorization endpoint's, and the one
    linking from our side hands to Amazon (`service.linking.app_to_app`)."""
    value = new_secret_value()
    now = utcnow()
    code = AuthorizationCode(
        code_hash=secret_hash(value),
        client_id=client_id,
        redirect_uri=redirect_uri,
        user_id=user.id,
        username=user.username,
        scopes=scopes,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        grant_id=new_grant_id(),
        created_at=now,
        expires_at=now + timedelta(seconds=code_ttl),
    )
    await code_store.insert(db, code)
    log.info("authorization code issued to client %s for user %s", client_id, user.username)
    return value, code


def deny(request: AuthorizationRequest) -> str:
    return request.error(AccessDenied()).location
