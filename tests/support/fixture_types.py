"""Types for annotating test parameters with the fixtures of tests/conftest.py and
pytest-aiohttp (`aiohttp_client`, `aiohttp_server`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from aiohttp import web
from pytest_aiohttp import AiohttpClient, AiohttpServer

from tests.support.browser import Browser

AppFactory: TypeAlias = Callable[..., web.Application]  # `make_app`: settings changes → app
BrowserFactory: TypeAlias = Callable[[], Browser]  # `browser_factory`: a fresh Browser per call

__all__ = ["AiohttpClient", "AiohttpServer", "AppFactory", "BrowserFactory"]
