"""Authorization server metadata (RFC 8414), with absolute URLs from the public base URL."""

from __future__ import annotations

from typing import Any

from service.models.oauth import GRANT_TYPES
from service.settings import Settings

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def server_metadata(settings: Settings, paths: dict[str, str]) -> dict[str, Any]:
    """`paths` names our endpoints' paths: authorize, token, revoke, introspect."""
    return {
        "issuer": settings.public_base,
        "authorization_endpoint": settings.url(paths["authorize"]),
        "token_endpoint": settings.url(paths["token"]),
        "revocation_endpoint": settings.url(paths["revoke"]),
        "introspection_endpoint": settings.url(paths["introspect"]),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207 §3: `iss` in authorization responses, to clients registered for it
        # (`clients add --authorization-response-iss`).
        "authorization_response_iss_parameter_supported": True,
    }
