"""Typed application state keys: the one place that names what an app holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from service.settings import Settings

if TYPE_CHECKING:
    from service.crypto import KeyRing
    from service.keycloak_oidc import KeycloakOidc
    from service.linking.deps import RetryPolicy

SETTINGS = web.AppKey("settings", Settings)
MONGO = web.AppKey("mongo", AsyncMongoClient[dict[str, Any]])
DB = web.AppKey("db", AsyncDatabase[dict[str, Any]])
HTTP = web.AppKey("http", aiohttp.ClientSession)  # outbound calls: LWA, Alexa, Keycloak
OIDC: web.AppKey[KeycloakOidc] = web.AppKey("oidc")
KEYRING: web.AppKey[KeyRing] = web.AppKey("keyring")
ALEXA_RETRY: web.AppKey[RetryPolicy] = web.AppKey("alexa_retry")  # 429/5xx retries to Alexa
