"""Our OIDC relying-party side of Keycloak: login URL, code exchange, ID token checks, logout.

python-keycloak does the HTTP calls. Two of its traps are handled here (see docs/libraries.md §1):
it does not URL-encode `a_auth_url`, so the URL is built with `urlencode` from the cached
discovery document; and `a_decode_token` neither caches the JWKS nor checks `iss`/`aud` unless
told, so the ID token is verified with joserfc against a cached key set, checking signature,
`iss`, `aud`, `exp` and `nonce`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from keycloak.exceptions import KeycloakError

from keycloak import KeycloakOpenID
from service.errors import ServiceError
from service.models.identity import User
from service.settings import Settings

DISCOVERY_TTL = 3600.0
JWKS_MIN_REFRESH = 30.0  # an unknown `kid` refetches the key set at most this often
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256"]
LEEWAY = 30


class OidcError(ServiceError):
    """Login through Keycloak failed; the description is safe to show to the person logging
    in."""

    error = "login_failed"
    status = 400


class KeycloakUnavailable(OidcError):
    error = "temporarily_unavailable"
    status = 503
    default_description = (
        "The login service (Keycloak) is not reachable right now. Try again shortly."
    )

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Retry-After": "5"}


@dataclass(frozen=True)
class LoginResult:
    user: User
    refresh_token: str | None  # Keycloak's; kept only to end its session at logout


class KeycloakOidc:
    def __init__(self, settings: Settings) -> None:
        self._kc = KeycloakOpenID(
            server_url=settings.keycloak_url.rstrip("/") + "/",
            realm_name=settings.keycloak_realm,
            client_id=settings.keycloak_client_id,
            client_secret_key=settings.keycloak_client_secret,
            timeout=int(max(1, settings.keycloak_timeout)),
        )
        self._client_id = settings.keycloak_client_id
        self._discovery: dict[str, Any] | None = None
        self._discovery_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def close(self) -> None:
        await self._kc.connection.aclose()

    async def discovery(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is None or now - self._discovery_at > DISCOVERY_TTL:
            try:
                self._discovery = await self._kc.a_well_known()
            except (KeycloakError, httpx.HTTPError, TypeError) as exc:
                raise KeycloakUnavailable from exc
            self._discovery_at = now
        return self._discovery

    async def ping(self) -> bool:
        try:
            await self._kc.a_well_known()
        except (KeycloakError, httpx.HTTPError, TypeError):
            return False
        return True

    async def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
        prompt: str | None = None,
        ui_locales: str | None = None,
    ) -> str:
        """`ui_locales`: the language(s) of our pages, so that Keycloak's login page speaks
        the same (OpenID Connect Core §3.1.2.1; the realm's supportedLocales must list it)."""
        endpoint = (await self.discovery())["authorization_endpoint"]
        params = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        if ui_locales:
            params["ui_locales"] = ui_locales
        return f"{endpoint}?{urlencode(params)}"

    async def finish_login(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> LoginResult:
        """Exchange Keycloak's code and verify the ID token it returns."""
        await self.discovery()
        try:
            tokens = await self._kc.a_token(
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            )
        except KeycloakError as exc:
            if exc.response_code is not None and 400 <= exc.response_code < 500:
                raise OidcError(
                    "The login could not be completed (the code was refused). Please log in again."
                ) from exc
            raise KeycloakUnavailable from exc
        except httpx.HTTPError as exc:
            raise KeycloakUnavailable from exc
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("Keycloak did not return an ID token.")
        claims = await self.verify_id_token(id_token, nonce=nonce)
        refresh = tokens.get("refresh_token")
        return LoginResult(User.from_claims(claims), refresh if isinstance(refresh, str) else None)

    async def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        discovery = await self.discovery()
        try:
            token = jwt.decode(id_token, await self._key_set(), algorithms=ID_TOKEN_ALGORITHMS)
        except (JoseError, ValueError) as first:
            # Keycloak may have rotated its keys: refetch once, then give up.
            if not await self._refresh_keys():
                raise OidcError("The login answer could not be verified.") from first
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=ID_TOKEN_ALGORITHMS)
            except (JoseError, ValueError) as exc:
                raise OidcError("The login answer could not be verified.") from exc
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": discovery["issuer"]},
            aud={"essential": True, "value": self._client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise OidcError("The login answer was not meant for this login.") from exc
        return dict(token.claims)

    async def logout(self, refresh_token: str) -> None:
        """End the Keycloak session (back-channel); failure is not fatal for our own logout."""
        try:
            await self._kc.a_logout(refresh_token)
        except (KeycloakError, httpx.HTTPError, TypeError):
            pass

    async def _key_set(self) -> KeySet:
        if self._keys is None:
            await self._refresh_keys(force=True)
        assert self._keys is not None
        return self._keys

    async def _refresh_keys(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._keys_at < JWKS_MIN_REFRESH:
            return False
        try:
            jwks = await self._kc.a_certs()
        except (KeycloakError, httpx.HTTPError, TypeError) as exc:
            raise KeycloakUnavailable from exc
        # Keycloak also lists encryption keys (RSA-OAEP); keep only signing keys.
        keys = [k for k in jwks.get("keys", []) if k.get("use", "sig") == "sig"]
        self._keys = KeySet.import_key_set({"keys": keys})
        self._keys_at = now
        return True


async def login_page_url(keycloak_url: str, realm: str, *, wait_seconds: float) -> str:
    """The realm's `authorization_endpoint`, where browsers log in, as Keycloak publishes it
    in its discovery document: with the public login host (KC_HOSTNAME) even when it is asked
    on an internal address (`http://keycloak:8080` in docker-compose.yml)."""
    url = f"{keycloak_url.rstrip('/')}/realms/{realm}/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=wait_seconds) as http:
            response = await http.get(url)
            response.raise_for_status()
            endpoint = response.json().get("authorization_endpoint")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise KeycloakUnavailable from exc
    if not isinstance(endpoint, str):
        raise KeycloakUnavailable("Keycloak's discovery document has no authorization_endpoint.")
    return endpoint
