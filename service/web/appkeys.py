"""Typed application state keys: the one place that names what an app holds, and the domain
dependencies built from them."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from service.amazon.retry import RetryPolicy
from service.crypto import KeyRing
from service.keycloak_oidc import KeycloakOidc
from service.linking.deps import LinkingDeps
from service.oauth.clients import ClientDirectory
from service.oauth.deps import OAuthDeps
from service.oauth.unlink import UnlinkHooks
from service.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
MONGO = web.AppKey("mongo", AsyncMongoClient[dict[str, Any]])
DB = web.AppKey("db", AsyncDatabase[dict[str, Any]])
HTTP = web.AppKey("http", aiohttp.ClientSession)  # outbound calls: LWA, Alexa
OIDC = web.AppKey("oidc", KeycloakOidc)
KEYRING = web.AppKey("keyring", KeyRing)  # seals what we hold for others (ALS_ENCRYPTION_KEYS)
TOKEN_KEYS = web.AppKey("token_keys", KeyRing)  # signs and checks our tokens (ALS_TOKEN_KEYS)
UNLINK_HOOKS = web.AppKey("unlink_hooks", UnlinkHooks)  # built by service.wiring
CLIENTS = web.AppKey("clients", ClientDirectory)  # client registrations, briefly remembered
ALEXA_RETRY = web.AppKey("alexa_retry", RetryPolicy)  # 429/5xx retries to Alexa


def oauth_deps(app: web.Application) -> OAuthDeps:
    return OAuthDeps(db=app[DB], keyring=app[TOKEN_KEYS], clients=app[CLIENTS])


def linking_deps(app: web.Application) -> LinkingDeps:
    settings = app[SETTINGS]
    return LinkingDeps(
        db=app[DB],
        http=app[HTTP],
        keyring=app[KEYRING],
        token_keys=app[TOKEN_KEYS],
        lwa_timeout=settings.lwa_timeout,
        alexa_timeout=settings.alexa_timeout,
        retry=app.get(ALEXA_RETRY) or RetryPolicy(),
    )
