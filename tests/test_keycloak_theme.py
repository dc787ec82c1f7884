"""Keycloak's login page speaks the language of our pages and looks like them: both realm files
turn internationalisation on with our languages and name our login theme
(keycloak/themes/alexa-linking); the production realm, imported into the test Keycloak, shows
its login page in the language `/login` passes on (`ui_locales`) or the browser asks for, in our
theme, and in Hindi with our texts (Keycloak has none of its own)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.app import create_app
from service.settings import Settings
from service.web import i18n
from tests.support.browser import Browser, Page
from tests.support.fixture_types import AiohttpServer
from tests.support.keycloak_admin import (
    DEV_REALM,
    PRODUCTION_TEMPLATE,
    REPO,
    ImportedRealm,
    KeycloakAdmin,
    production_realm,
)
from tests.support.stack import free_port

THEME = REPO / "keycloak" / "themes" / "alexa-linking" / "login"
TAGS = sorted(language.tag for language in i18n.LANGUAGES)


def _realm_file(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())  # placeholders are inside strings
    return data


def test_both_realms_use_the_theme_and_the_languages_of_our_pages() -> None:
    for path in (DEV_REALM, PRODUCTION_TEMPLATE):
        realm = _realm_file(path)
        assert realm["loginTheme"] == "alexa-linking", path.name
        assert realm["internationalizationEnabled"] is True, path.name
        assert sorted(realm["supportedLocales"]) == TAGS, path.name
        assert realm["defaultLocale"] == "en", path.name
    properties = dict(
        line.split("=", 1)
        for line in (THEME / "theme.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert properties["parent"] == "keycloak.v2"
    assert sorted(properties["locales"].split(",")) == TAGS
    for language in i18n.LANGUAGES:  # the header names the service as our pages do
        messages = (THEME / "messages" / f"messages_{language.code}.properties").read_text()
        assert f"loginTitleHtml={i18n.gettext_for(language, 'Account linking')}\n" in messages


@pytest.fixture(scope="module")
def realm() -> Iterator[ImportedRealm]:
    admin = KeycloakAdmin()
    try:
        with production_realm(admin, f"http://127.0.0.1:{free_port()}") as imported:
            yield imported
    finally:
        admin.close()


def _keycloak_page(page: Page) -> tuple[str, str, str]:
    """`<html lang>`, the header (the service's name) and the login button of Keycloak's page."""
    lang = re.search(r'<html[^>]* lang="([^"]+)"', page.text)
    header = re.search(r'id="kc-header-wrapper"[^>]*>\s*([^<]*?)\s*<', page.text)
    button = re.search(
        r'id="kc-login"[^>]*value="([^"]*)"|id="kc-login"[^>]*>\s*([^<]*?)\s*<', page.text
    )
    assert lang and header and button, page.text[:3000]
    return lang.group(1), header.group(1), (button.group(1) or button.group(2) or "").strip()


async def test_the_login_page_speaks_the_language_of_our_pages_in_our_theme(
    realm: ImportedRealm, aiohttp_server: AiohttpServer, settings: Settings
) -> None:
    port = urlsplit(realm.public_url).port
    assert port is not None
    configured = settings.with_(
        public_url=realm.public_url,
        port=port,
        keycloak_realm=realm.name,
        keycloak_client_id=realm.client_id,
        keycloak_client_secret=realm.client_secret,
    )
    await aiohttp_server(create_app(configured), port=port)
    expected = {
        # the browser's language, passed on by /login as ui_locales
        ("de-CH, en;q=0.5", ""): ("de", "Kontoverknüpfung", "Anmelden"),
        # an authorize request's ui_locales, over the browser's language
        ("de", "?next=/oauth/authorize%3Fui_locales%3Dja"): (
            "ja",
            "アカウントリンク",
            "サインイン",
        ),
        # Hindi: our theme's texts
        ("hi", ""): ("hi", "खाता लिंकिंग", "साइन इन करें"),
        ("ar", ""): ("ar", "ربط الحساب", "تسجيل دخول"),
    }
    for (accept_language, query), (lang, header, button) in expected.items():
        browser = Browser(accept_language=accept_language)
        try:
            page = await browser.get(f"{realm.public_url}/login{query}")
        finally:
            await browser.close()
        assert f"/realms/{realm.name}/" in page.url
        assert _keycloak_page(page) == (lang, header, button)
        assert "/login/alexa-linking/css/alexa-linking.css" in page.text  # our stylesheet
        if lang == "ar":
            assert 'dir="rtl"' in page.text
