"""Typed application state keys: the one place that names what an app holds, and the domain
dependencies built from them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from service.amazon.retry import RetryPolicy
from service.crypto import KeyRing
from service.keycloak_admin import KeycloakAdminClient
from service.keycloak_oidc import KeycloakOidc
from service.linking.deps import LinkingDeps
from service.oauth.clients import ClientDirectory
from service.oauth.deps import OAuthDeps
from service.oauth.unlink import UnlinkHooks
from service.settings import Settings
from service.user_directory import UserDirectory
from service.web.rate_limit import RateLimits

SETTINGS = web.AppKey("settings", Settings)
MONGO = web.AppKey("mongo", AsyncMongoClient[dict[str, Any]])
DB = web.AppKey("db", AsyncDatabase[dict[str, Any]])
HTTP = web.AppKey("http", aiohttp.ClientSession)  # outbound calls: LWA, Alexa
OIDC = web.AppKey("oidc", KeycloakOidc)
KEYCLOAK_ADMIN = web.AppKey("keycloak_admin", KeycloakAdminClient)  # admin API, service account
USERS = web.AppKey("users", UserDirectory)  # current roles, username → id (Keycloak)
KEYRING = web.AppKey("keyring", KeyRing)  # seals what we hold for others (ALS_ENCRYPTION_KEYS)
TOKEN_KEYS = web.AppKey("token_keys", KeyRing)  # signs and checks our tokens (ALS_TOKEN_KEYS)
UNLINK_HOOKS = web.AppKey("unlink_hooks", UnlinkHooks)  # built by service.wiring
CLIENTS = web.AppKey("clients", ClientDirectory)  # client registrations, briefly remembered
ALEXA_RETRY = web.AppKey("alexa_retry", RetryPolicy)  # 429/5xx retries to Alexa
INDEXES_READY = web.AppKey("indexes_ready", asyncio.Event)  # set once every index exists
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)  # this process's per-address limits


def oauth_deps(app: web.Application) -> OAuthDeps:
    idle_days = app[SETTINGS].refresh_token_idle_days
    return OAuthDeps(
        db=app[DB],
        keyring=app[TOKEN_KEYS],
        clients=app[CLIENTS],
        refresh_idle=timedelta(days=idle_days) if idle_days else None,
    )


def linking_deps(app: web.Application) -> LinkingDeps:
    settings = app[SETTINGS]
    return LinkingDeps(
        db=app[DB],
        http=app[HTTP],
        keyring=app[KEYRING],
        token_keys=app[TOKEN_KEYS],
        lwa_timeout=settings.lwa_timeout,
        alexa_timeout=settings.alexa_timeout,
        allow_custom_amazon_urls=settings.allow_custom_amazon_urls,
        retry=app.get(ALEXA_RETRY) or RetryPolicy(),
        resolve_username=app[USERS].user_id,
    )
