"""`GET /openapi.json`: the OpenAPI 3.1 description of our JSON endpoints (for Alexa-facing
OAuth endpoints, the skill backend and the developer's app backend)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.web.appkeys import SETTINGS

_ERROR = {"$ref": "#/components/schemas/Error"}
_FORM = "application/x-www-form-urlencoded"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {_FORM: {"schema": schema}}}


_STR = {"type": "string"}
_USER_PARTNER = {"user_id": _STR, "partner_id": _STR}
_SENT = _json({"$ref": "#/components/schemas/Delivery"}, "Alexa accepted it")
_SENDER_ERRORS = {
    "400": _error("invalid body; `field` names the offending field"),
    "401": _error("missing or invalid bearer token"),
    "403": _error("the client lacks the partner_token permission"),
    "404": _error("no such partner or link"),
    "409": _error("the link was revoked or made inactive (skill disabled): relink"),
    "429": _error("Alexa throttled after retries"),
    "502": _error("Alexa rejected the call"),
    "503": _error("LWA or Alexa unreachable"),
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": _STR, "error_description": _STR, "field": _STR},
                },
                "TokenResponse": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in"],
                    "properties": {
                        "access_token": _STR,
                        "token_type": {"const": "Bearer"},
                        "expires_in": {"type": "integer"},
                        "refresh_token": _STR,
                        "scope": _STR,
                    },
                },
                "Delivery": {
                    "type": "object",
                    "properties": {
                        "status": _STR,
                        "alexa_status": {"type": "integer"},
                        "attempts": {"type": "integer"},
                        "token_refreshed": {"type": "boolean"},
                    },
                },
            },
        },
        "paths": {
            "/oauth/token": {
                "post": {
                    "summary": "Token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, "
                    "client_credentials",
                    "security": [{"clientBasic": []}, {}],
                    "requestBody": _form(
                        {
                            "grant_type": {
                                "enum": [
                                    "authorization_code",
                                    "refresh_token",
                                    "client_credentials",
                                ]
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
                        "200": _json({"$ref": "#/components/schemas/TokenResponse"}, "tokens"),
                        "400": _error("RFC 6749 §5.2 error"),
                        "401": _error("invalid_client"),
                    },
                }
            },
            "/oauth/revoke": {
                "post": {
                    "summary": "Token revocation (RFC 7009)",
                    "security": [{"clientBasic": []}, {}],
                    "requestBody": _form({"token": _STR, "token_type_hint": _STR}, ["token"]),
                    "responses": {
                        "200": {"description": "revoked, or unknown"},
                        "400": _error("invalid request"),
                        "401": _error("invalid_client"),
                    },
                }
            },
            "/oauth/introspect": {
                "post": {
                    "summary": "Token introspection (RFC 7662)",
                    "security": [{"clientBasic": []}, {}],
                    "requestBody": _form({"token": _STR, "token_type_hint": _STR}, ["token"]),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["active"],
                                "properties": {
                                    "active": {"type": "boolean"},
                                    "sub": _STR,
                                    "username": _STR,
                                    "client_id": _STR,
                                    "scope": _STR,
                                    "exp": {"type": "integer"},
                                    "iat": {"type": "integer"},
                                    "token_type": _STR,
                                },
                            },
                            "token state",
                        ),
                        "401": _error("invalid_client"),
                    },
                }
            },
            "/.well-known/oauth-authorization-server": {
                "get": {
                    "summary": "Authorization server metadata (RFC 8414)",
                    "responses": {"200": _json({"type": "object"}, "metadata")},
                }
            },
            "/api/me": {
                "get": {
                    "summary": "The user of a bearer token",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "sub": _STR,
                                    "username": _STR,
                                    "client_id": _STR,
                                    "scope": _STR,
                                },
                            },
                            "user",
                        ),
                        "401": _error("invalid_token"),
                    },
                }
            },
            "/api/reciprocal/authorize": {
                "post": {
                    "summary": "Alexa hands over an LWA authorization code (mutual linking)",
                    "security": [{"bearer": []}],
                    "requestBody": _form(
                        {
                            "grant_type": {"const": "reciprocal_authorization_code"},
                            "client_id": _STR,
                            "code": _STR,
                        },
                        ["grant_type", "client_id", "code"],
                    ),
                    "responses": {
                        "200": _json({"type": "object"}, "linked"),
                        "400": _error(
                            "unsupported_grant_type, invalid_request, "
                            "invalid_client or invalid_grant"
                        ),
                        "401": _error("invalid_token"),
                        "503": _error("LWA unreachable; nothing stored"),
                    },
                }
            },
            "/alexa/accept-grant": {
                "post": {
                    "summary": "Alexa.Authorization AcceptGrant directive (smart home)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json(
                            {"type": "object"}, "AcceptGrant.Response or ErrorResponse event"
                        ),
                        "400": _error("not an AcceptGrant directive"),
                    },
                }
            },
            "/api/partner/token": {
                method: {
                    "summary": "A valid LWA access token for a user and partner",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": n, "in": "query", "required": method == "get", "schema": _STR}
                        for n in _USER_PARTNER
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "access_token": _STR,
                                    "token_type": _STR,
                                    "expires_in": {"type": "integer"},
                                },
                            },
                            "LWA token",
                        ),
                        **{k: v for k, v in _SENDER_ERRORS.items() if k != "429"},
                    },
                }
                for method in ("get", "post")
            },
            "/api/partner/profile-report": {
                "post": {
                    "summary": "Send a health profile report to Alexa for a user",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["user_id", "partner_id", "report"],
                                    "properties": {**_USER_PARTNER, "report": {"type": "object"}},
                                }
                            }
                        },
                    },
                    "responses": {"202": _SENT, **_SENDER_ERRORS},
                }
            },
            "/api/partner/events": {
                "post": {
                    "summary": "Send a smart-home event to the Alexa Event Gateway for a user",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["user_id", "partner_id", "event"],
                                    "properties": {
                                        **_USER_PARTNER,
                                        "event": {"type": "object"},
                                        "context": {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"202": _SENT, **_SENDER_ERRORS},
                }
            },
            "/healthz": {
                "get": {"summary": "Process is up", "responses": {"200": {"description": "up"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Mongo and Keycloak answer",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "a dependency is down"},
                    },
                }
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app[SETTINGS].public_base))
