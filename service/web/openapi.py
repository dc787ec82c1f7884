"""`GET /openapi.json`: the OpenAPI 3.1 description of our JSON endpoints (for Alexa-facing
OAuth endpoints, the skill backend and the developer's app backend).

Every status code and body an endpoint can answer with is listed: `make test` fuzzes the
served document with Schemathesis (tests/linking/test_openapi_fuzz.py) and fails on an answer
outside it. Request schemas say what the handlers accept, so that data outside them is refused
with a 4xx; the handlers may refuse more (a blank string, a repeated parameter) with a
documented 400."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.web.appkeys import SETTINGS

_ERROR = {"$ref": "#/components/schemas/Error"}
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {_FORM: {"schema": _object(properties, required)}}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


_STR = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}  # an empty parameter counts as absent (RFC 6749 §3.1)
_NULLABLE = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_USER_PARTNER = {"user_id": _TEXT, "partner_id": _TEXT}
# Every POST body is read whole, up to 256 KiB; every endpoint that reads the database answers
# 503 while it does not answer (with Retry-After).
_TOO_LARGE = {"413": _error("the request body is larger than 256 KiB")}
_UNAVAILABLE = _error("the database (or, where named, Keycloak, LWA or Alexa) does not answer")
_CLIENT_AUTH = {
    "401": _error("invalid_client, with a `WWW-Authenticate: Basic` challenge"),
    "429": _error(
        "too_many_requests: too many failed authentications of this client id from this "
        "address (ALS_CLIENT_AUTH_FAILURES_PER_MINUTE); see Retry-After"
    ),
    "503": _error(
        "temporarily_unavailable: too many client secret checks waiting, or the database "
        "does not answer; see Retry-After"
    ),
    **_TOO_LARGE,
}
_BACKEND_ERRORS = {
    "400": _error("invalid parameters or body; `field` names the offending field"),
    "401": _error("missing or invalid bearer token"),
    "403": _error(
        "insufficient_scope: not an app backend's client_credentials token, or its client "
        "lacks the permission partner_token:<partner id> for this partner"
    ),
    "404": _error("no such partner or link"),
    "409": _error("the link was revoked or made inactive (skill disabled): relink"),
    "500": _error("partner_misconfigured: the partner's stored Amazon URLs are refused"),
    "503": _error(
        "LWA or Alexa unreachable, the database does not answer, or Keycloak does not answer "
        "while `user_id` is a username (ids work without it)"
    ),
}
_SENDER_ERRORS = {
    **_BACKEND_ERRORS,
    "4XX": _error("another refusal of Alexa's, passed on with Alexa's status"),
    "429": _error("Alexa throttled after retries; see Retry-After"),
    "502": _error("Alexa rejected the call (`alexa_status`, `alexa_code`)"),
    **_TOO_LARGE,
}
_ALEXA_HEADER = _object(
    {"namespace": _TEXT, "name": _TEXT, "messageId": _TEXT, "payloadVersion": _TEXT},
    ["namespace", "name", "messageId", "payloadVersion"],
)
_HEALTH_INTERFACES = [
    "Alexa.Health.Weight",
    "Alexa.Health.Sleep",
    "Alexa.Health.DiaperChange",
    "Alexa.Health.InfantFeeding",
    "Alexa.Health.BreastPumping",
]


def _schemas() -> dict[str, Any]:
    return {
        "Error": _object({"error": _STR, "error_description": _STR, "field": _STR}, ["error"]),
        "TokenResponse": _object(
            {
                "access_token": _STR,
                "token_type": {"const": "Bearer"},
                "expires_in": _INT,
                "refresh_token": _STR,
                "scope": _STR,
            },
            ["access_token", "token_type", "expires_in"],
        ),
        "Enablement": _object(
            {
                "status": {"const": "linked"},
                "user_id": _STR,
                "partner_id": _STR,
                "skill_id": _STR,
                "stage": {"enum": ["development", "live"]},
            },
            ["status", "user_id", "partner_id", "skill_id", "stage"],
        ),
        "Delivery": _object(
            {
                "status": {"const": "accepted"},
                "alexa_status": _INT,
                "attempts": _INT,
                "token_refreshed": {"type": "boolean"},
            },
            ["status", "alexa_status", "attempts", "token_refreshed"],
        ),
        # docs/alexa-protocols.md §4.1: what /v1/health/profile takes.
        "ProfileReport": _object(
            {
                "messageId": _TEXT,
                "profiles": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 100,
                    "items": _object(
                        {
                            "profileId": _TEXT,
                            "name": _object(
                                {
                                    "firstName": _TEXT,
                                    "lastName": _STR,
                                    "nickNames": {"type": "array", "minItems": 1, "items": _TEXT},
                                },
                                ["firstName", "lastName", "nickNames"],
                            ),
                            "capabilities": {
                                "type": "array",
                                "minItems": 1,
                                "items": _object(
                                    {
                                        "name": {"enum": _HEALTH_INTERFACES},
                                        "type": {"const": "AlexaInterface"},
                                        "version": _TEXT,
                                        "supportedOperations": {
                                            "type": "array",
                                            "items": _TEXT,
                                            "contains": {"const": "Get"},
                                        },
                                    },
                                    ["name", "type", "version", "supportedOperations"],
                                ),
                            },
                        },
                        ["profileId", "name", "capabilities"],
                    ),
                },
            },
            ["messageId", "profiles"],
        ),
        # docs/alexa-protocols.md §4.2: a smart-home event for /v3/events.
        "AlexaEvent": _object(
            {
                "header": _ALEXA_HEADER,
                "endpoint": {"type": "object"},
                "payload": {"type": "object"},
            },
            ["header"],
        ),
        # docs/alexa-protocols.md §4.3: the directive, and the event we answer it with.
        "AcceptGrantDirective": _object(
            {
                "directive": _object(
                    {
                        "header": _object(
                            {
                                "namespace": {"const": "Alexa.Authorization"},
                                "name": {"const": "AcceptGrant"},
                            },
                            ["namespace", "name"],
                        ),
                        "payload": {
                            "description": "`grant.code` (the LWA code) and `grantee.token` "
                            "(our access token for the user) are read; when either is missing "
                            "or not a string the answer is an ErrorResponse event (200)"
                        },
                    },
                    ["header"],
                )
            },
            ["directive"],
        ),
        "AcceptGrantEvent": _object(
            {
                "event": _object(
                    {
                        "header": _ALEXA_HEADER,
                        "payload": _object(
                            {"type": {"const": "ACCEPT_GRANT_FAILED"}, "message": _STR}
                        ),
                    },
                    ["header", "payload"],
                )
            },
            ["event"],
        ),
    }


def _oauth_paths() -> dict[str, Any]:
    token_hint = {
        "type": "string",
        "description": "ignored: a token says what it is (RFC 7009 §2.1)",
    }
    return {
        "/oauth/token": {
            "post": {
                "summary": "Token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, "
                "client_credentials",
                "security": [{"clientBasic": []}, {}],
                "requestBody": _form(
                    {
                        "grant_type": {
                            "enum": ["authorization_code", "refresh_token", "client_credentials"]
                        },
                        "code": _STR,
                        "redirect_uri": _STR,
                        "code_verifier": _STR,
                        "refresh_token": _STR,
                        "scope": _STR,
                        "client_id": _STR,
                        "client_secret": _STR,
                    },
                    ["grant_type"],
                ),
                "responses": {
                    "200": _json(_ref("TokenResponse"), "tokens (`Cache-Control: no-store`)"),
                    "400": _error("RFC 6749 §5.2 error"),
                    **_CLIENT_AUTH,
                },
            }
        },
        "/oauth/revoke": {
            "post": {
                "summary": "Token revocation (RFC 7009)",
                "security": [{"clientBasic": []}, {}],
                "requestBody": _form({"token": _TEXT, "token_type_hint": token_hint}, ["token"]),
                "responses": {
                    "200": _json(_object({}), "revoked, or unknown (RFC 7009 §2.2)"),
                    "400": _error("invalid_request or unsupported_token_type"),
                    **_CLIENT_AUTH,
                },
            }
        },
        "/oauth/introspect": {
            "post": {
                "summary": "Token introspection (RFC 7662)",
                "security": [{"clientBasic": []}, {}],
                "requestBody": _form({"token": _TEXT, "token_type_hint": token_hint}, ["token"]),
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "active": {"type": "boolean"},
                                "sub": _NULLABLE,
                                "username": _NULLABLE,
                                "client_id": _STR,
                                "scope": _STR,
                                "exp": _INT,
                                "iat": _INT,
                                "token_type": _STR,
                            },
                            ["active"],
                        ),
                        "token state",
                    ),
                    "400": _error("invalid request (RFC 7662 §2.3)"),
                    **_CLIENT_AUTH,
                },
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
                "summary": "Authorization server metadata (RFC 8414)",
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "issuer": _STR,
                                "authorization_endpoint": _STR,
                                "token_endpoint": _STR,
                                "response_types_supported": {"type": "array", "items": _STR},
                            },
                            [
                                "issuer",
                                "authorization_endpoint",
                                "token_endpoint",
                                "response_types_supported",
                            ],
                        ),
                        "metadata",
                    )
                },
            }
        },
        "/api/me": {
            "get": {
                "summary": "The user of a bearer token (`sub` and `username` are null for a "
                "client_credentials token)",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "sub": _NULLABLE,
                                "username": _NULLABLE,
                                "client_id": _STR,
                                "scope": _STR,
                            },
                            ["sub", "username", "client_id", "scope"],
                        ),
                        "user",
                    ),
                    "401": _error("invalid_token"),
                    "503": _UNAVAILABLE,
                },
            }
        },
    }


def _linking_paths() -> dict[str, Any]:
    partner_token_response = _json(
        _object(
            {
                "access_token": _STR,
                "token_type": {"const": "Bearer"},
                "expires_in": _INT,
                "warning": {
                    "type": "string",
                    "description": "only when the token was refreshed at LWA but our database "
                    "did not store it (it is valid; the next call refreshes again)",
                },
            },
            ["access_token", "token_type", "expires_in"],
        ),
        "the user's LWA access token",
    )
    user_partner = _object(_USER_PARTNER, ["user_id", "partner_id"])
    enablement = _object(
        {**_USER_PARTNER, "code": _TEXT, "redirect_uri": _TEXT, "code_verifier": _TEXT},
        ["user_id", "partner_id", "code", "redirect_uri"],
    )
    return {
        "/api/reciprocal/authorize": {
            "post": {
                "summary": "Alexa hands over an LWA authorization code (mutual linking)",
                "security": [{"bearer": []}],
                "requestBody": _form(
                    {
                        "grant_type": {"const": "reciprocal_authorization_code"},
                        "client_id": _TEXT,
                        "code": _TEXT,
                    },
                    ["grant_type", "client_id", "code"],
                ),
                "responses": {
                    "200": _json(_object({"status": {"const": "linked"}}, ["status"]), "linked"),
                    "400": _error(
                        "unsupported_grant_type, invalid_request, invalid_client or invalid_grant"
                    ),
                    "401": _error("invalid_token"),
                    "500": _BACKEND_ERRORS["500"],
                    "503": _error("LWA unreachable, or the database does not answer"),
                    **_TOO_LARGE,
                },
            }
        },
        "/alexa/accept-grant": {
            "post": {
                "summary": "Alexa.Authorization AcceptGrant directive (smart home)",
                "requestBody": _json_body(_ref("AcceptGrantDirective")),
                "responses": {
                    "200": _json(
                        _ref("AcceptGrantEvent"), "AcceptGrant.Response or ErrorResponse event"
                    ),
                    "400": _error("not an AcceptGrant directive"),
                    "503": _UNAVAILABLE,
                    **_TOO_LARGE,
                },
            }
        },
        "/api/partner/token": {
            "get": {
                "summary": "A valid LWA access token for a user and partner",
                "security": [{"bearer": []}],
                "parameters": [
                    {"name": n, "in": "query", "required": True, "schema": _TEXT}
                    for n in _USER_PARTNER
                ],
                "responses": {"200": partner_token_response, **_BACKEND_ERRORS},
            },
            "post": {
                "summary": "As GET, the parameters in a form or JSON body (or the query)",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        _FORM: {"schema": user_partner},
                        _JSON: {"schema": user_partner},
                    },
                },
                "responses": {"200": partner_token_response, **_BACKEND_ERRORS, **_TOO_LARGE},
            },
        },
        "/api/partner/profile-report": {
            "post": {
                "summary": "Send a health profile report to Alexa for a user",
                "security": [{"bearer": []}],
                "requestBody": _json_body(
                    _object(
                        {**_USER_PARTNER, "report": _ref("ProfileReport")},
                        ["user_id", "partner_id", "report"],
                    )
                ),
                "responses": {
                    "202": _json(_ref("Delivery"), "Alexa accepted it"),
                    **_SENDER_ERRORS,
                },
            }
        },
        "/api/partner/events": {
            "post": {
                "summary": "Send a smart-home event to the Alexa Event Gateway for a user",
                "security": [{"bearer": []}],
                "requestBody": _json_body(
                    _object(
                        {
                            **_USER_PARTNER,
                            "event": _ref("AlexaEvent"),
                            "context": {"type": "object"},
                        },
                        ["user_id", "partner_id", "event"],
                    )
                ),
                "responses": {
                    "202": _json(_ref("Delivery"), "Alexa accepted it"),
                    **_SENDER_ERRORS,
                },
            }
        },
        "/api/partner/alexa-enablement": {
            "post": {
                "summary": "Enable and link the partner's skill for a user from the developer's "
                "app (Alexa app-to-app account linking)",
                "description": "The app got Amazon's `code` through the Alexa app URL or LWA "
                "(scope alexa::skills:account_linking, PKCE) with `redirect_uri`; we exchange "
                "it at LWA, issue our code bound to `redirect_uri` (a redirect URI of the "
                "partner's OAuth client), and the Skill Enablement API enables the skill, "
                'Alexa redeeming our code at /oauth/token. README: "Link with Alexa".',
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {_FORM: {"schema": enablement}, _JSON: {"schema": enablement}},
                },
                "responses": {
                    "201": _json(_ref("Enablement"), "the skill is enabled and linked"),
                    "400": _error(
                        "invalid parameters (`field`); invalid_grant: Amazon's code expired, "
                        "was used or is not the app's; invalid_redirect_uri: not registered "
                        "on the partner's OAuth client; alexa_token_revoked"
                    ),
                    "401": _BACKEND_ERRORS["401"],
                    "403": _error(
                        "insufficient_scope (as /api/partner/token); alexa_forbidden: Amazon "
                        "refused (scope, or no beta tester of a skill in development)"
                    ),
                    "404": _error(
                        "partner_not_found, user_not_found, skill_not_configured (no skill "
                        "id), alexa_skill_not_found (not available to the customer)"
                    ),
                    "500": _BACKEND_ERRORS["500"],
                    "502": _error("alexa_refused: the Skill Enablement API refused otherwise"),
                    "503": _error(
                        "alexa_unavailable: LWA or Alexa unreachable; the database or Keycloak "
                        "does not answer; see Retry-After"
                    ),
                    **_TOO_LARGE,
                },
            }
        },
    }


def _operations_paths() -> dict[str, Any]:
    status = _object({"status": _STR}, ["status"])
    readiness = _object(
        {
            "status": {"enum": ["ready", "unavailable"]},
            "checks": _object(
                {
                    "mongo": {"enum": ["up", "down"]},
                    "indexes": {"enum": ["ready", "pending"]},
                    "keycloak": {"enum": ["up", "down"]},
                },
                ["mongo", "indexes", "keycloak"],
            ),
            "requires": {"type": "array", "items": _STR},
        },
        ["status", "checks", "requires"],
    )
    return {
        "/healthz": {
            "get": {"summary": "Process is up", "responses": {"200": _json(status, "up")}}
        },
        "/readyz": {
            "get": {
                "summary": "The database answers and its indexes exist (with `full`, Keycloak "
                "answers too); `checks` says which is down",
                "description": "Without `full`: what serving tokens needs (the token, "
                "reciprocal and partner endpoints do not use Keycloak); use it for the load "
                "balancer. With `full=1`: also Keycloak, which the browser login needs; use it "
                "for alerts or to route the pages. `checks`: `mongo` up/down, `indexes` "
                "ready/pending, `keycloak` up/down; `requires`: what the status depends on.",
                "parameters": [
                    {
                        "name": "full",
                        "in": "query",
                        "required": False,
                        "schema": _STR,
                        "description": "anything but empty, `0` or `false`: Keycloak too",
                    }
                ],
                "responses": {
                    "200": _json(readiness, "ready"),
                    "503": _json(readiness, "a dependency is down (`checks` names it)"),
                },
            }
        },
    }


def build_spec(public_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Alexa Account Linking Server", "version": "1"},
        "servers": [{"url": public_url}],
        "components": {
            "securitySchemes": {
                "clientBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "RFC 6749 §2.3.1; body credentials work too",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token from /oauth/token",
                },
            },
            "schemas": _schemas(),
        },
        "paths": {**_oauth_paths(), **_linking_paths(), **_operations_paths()},
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app[SETTINGS].public_base))
