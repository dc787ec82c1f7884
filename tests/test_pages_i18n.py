"""The customer's pages in the customer's language: every page in every language we have, with
`<html lang>` (and `dir="rtl"` for Arabic), and no English text left where the language's
catalog has a translation; the language chosen from `ui_locales` or `Accept-Language`; texts a
catalog lacks shown in English; and catalogs that cover every text of the pages."""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from service.oauth import scopes
from service.web import i18n
from service.web.appkeys import DB
from tests.support.browser import Browser
from tests.support.oauth import authorize_url, create_client, open_authorize

ROOT = Path(__file__).resolve().parent.parent
OTHERS = [lang for lang in i18n.LANGUAGES if lang != i18n.ENGLISH]


def catalog(language: i18n.Language) -> dict[str, str]:
    """msgid → msgstr of the language's .po file (what its translators wrote)."""
    path = i18n.LOCALE_DIR / language.code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po) if m.id}


class _Text(HTMLParser):
    """The text a person sees (the title included), and `<html>`'s attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.html: dict[str, str | None] = {}
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.html = dict(attrs)
        if tag in ("style", "script"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def read(html: str) -> tuple[str, dict[str, str | None]]:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split()), parser.html


def _fragments(msgid: str) -> Iterator[str]:
    """The English words of a message that must not show through a translation: the text
    between its placeholders, markup removed."""
    for fragment in re.split(r"%\(\w+\)s", re.sub(r"<[^>]+>", " ", msgid)):
        fragment = " ".join(fragment.split()).strip(" ?.:,;()")
        if len(fragment) >= 4:
            yield fragment


def english_left(text: str, translations: dict[str, str]) -> list[str]:
    """The messages translated in the catalog whose English is on the page all the same (words
    that the language's own texts use too, such as Dutch "Log in", do not count)."""
    translated = " ".join(translations.values())
    return [
        msgid
        for msgid, msgstr in translations.items()
        if msgstr
        and msgstr != msgid
        and any(
            re.search(rf"(?<!\w){re.escape(f)}(?!\w)", text) and f not in translated
            for f in _fragments(msgid)
        )
    ]


async def _login_ended_page(browser: Browser, base_url: str, language: i18n.Language) -> str:
    """The page of a login that Keycloak ended with an error we do not know (for a login
    that did not come from Alexa): our callback with the state of a fresh login."""
    async with browser.session.get(f"{base_url}/login", allow_redirects=False) as resp:
        state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
    async with browser.session.get(
        f"{base_url}/login/callback",
        params={"state": state, "error": "server_error"},
        headers={"Accept-Language": language.tag},
    ) as resp:
        assert resp.status == 400
        return await resp.text()


async def test_every_page_in_every_language(
    server: TestServer, base_url: str, browser: Browser
) -> None:
    db = server.app[DB]
    linked, _ = await create_client(db, name="Baby Tracker skill")
    asking, _ = await create_client(db, name="Sleep Diary skill")
    # The customer links one app (its consent is remembered) and is asked about the other.
    first = await open_authorize(browser, authorize_url(base_url, linked))
    approved = await browser.submit(first, first.form(id="consent-form"), "approve")
    assert approved.redirect_to
    consent_url = authorize_url(base_url, asking, scope="profile alexa::health:profile:write")
    assert 'id="consent-form"' in (await browser.get(consent_url)).text

    pages = {  # page → a text of it that each language translates
        "home": (f"{base_url}/", "See the apps linked to your account"),
        "consent": (consent_url, "See your user name and account id"),
        "account": (f"{base_url}/account", "Apps linked to your account"),
        "remove": (
            f"{base_url}/account/remove?client_id={linked.client_id}",
            "Remove the link",
        ),
        "error": (
            f"{base_url}/oauth/authorize?client_id=nobody&response_type=code",
            "The app that sent you here is not known to us.",
        ),
        "not found": (f"{base_url}/no-such-page", "There is no page at this address."),
    }
    async with aiohttp.ClientSession() as anonymous:
        for language in i18n.LANGUAGES:
            translations = catalog(language) if language != i18n.ENGLISH else {}
            seen: dict[str, tuple[str, str]] = {}
            for name, (url, text) in pages.items():
                async with browser.session.get(
                    url, headers={"Accept-Language": language.tag}, allow_redirects=False
                ) as resp:
                    seen[name] = (await resp.text(), text)
            async with anonymous.get(
                f"{base_url}/", headers={"Accept-Language": f"{language.tag};q=0.9, *;q=0.1"}
            ) as resp:
                seen["home (logged out)"] = (await resp.text(), "Log in")
            seen["login ended"] = (
                await _login_ended_page(browser, base_url, language),
                "The login did not finish",
            )
            for name, (html, text) in seen.items():
                visible, html_attrs = read(html)
                where = f"{name} in {language.tag}"
                assert html_attrs.get("lang") == language.tag, where
                assert html_attrs.get("dir") == ("rtl" if language.rtl else "ltr"), where
                assert i18n.gettext_for(language, text) in visible, where
                assert english_left(visible, translations) == [], where


async def test_scope_descriptions_are_translated(base_url: str, server: TestServer) -> None:
    client, _ = await create_client(server.app[DB], name="Baby Tracker skill")
    browser = Browser(accept_language="fr-CA, en;q=0.5")
    try:
        url = authorize_url(base_url, client, scope="profile alexa::health:profile:write")
        page = await open_authorize(browser, url)
    finally:
        await browser.close()
    visible, html_attrs = read(page.text)
    assert html_attrs["lang"] == "fr"
    assert "Voir votre nom d'utilisateur et l'identifiant de votre compte" in visible
    assert "Envoyer vos profils (par exemple celui de votre bébé) à Alexa" in visible
    assert scopes.describe("profile") not in visible


@pytest.mark.parametrize(
    ("accept_language", "ui_locales", "expected"),
    [
        ("de-AT,de;q=0.9,en;q=0.5", None, "de"),
        ("zh-CN, fr;q=0.3", None, "fr"),  # the first language we have
        ("pt-PT", None, "pt-BR"),  # our one Portuguese
        ("en;q=0.2, ja", None, "ja"),  # by quality, not by position
        ("ja;q=0, nl", None, "nl"),  # q=0: "not this one"
        ("*", None, "en"),
        ("", None, "en"),
        ("de", "ar es", "ar"),  # ui_locales before Accept-Language
        ("de", "tlh", "de"),  # a ui_locales we do not have: Accept-Language decides
    ],
)
async def test_the_language_of_a_page(
    base_url: str, accept_language: str, ui_locales: str | None, expected: str
) -> None:
    query = f"?ui_locales={ui_locales}" if ui_locales else ""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/{query}", headers={"Accept-Language": accept_language}) as r,
    ):
        _, html_attrs = read(await r.text())
    assert html_attrs["lang"] == expected


async def test_admin_pages_stay_english(base_url: str) -> None:
    browser = Browser(accept_language="de")
    try:
        page = await browser.login(base_url, "admin", next_path="/admin")
    finally:
        await browser.close()
    assert page.url == f"{base_url}/admin"
    assert '<html lang="en" dir="ltr">' in page.text and "Log out" in page.text


def test_a_text_no_catalog_has_is_shown_in_english() -> None:
    for language in i18n.LANGUAGES:
        assert i18n.gettext_for(language, "A text added after the translations") == (
            "A text added after the translations"
        )


def test_every_text_of_the_pages_is_translated_into_every_language() -> None:
    """What `make messages` extracts from the customer templates is in every catalog with a
    translation, and the compiled catalog (the .mo the server reads) says the same as the .po
    (a .po edited but not compiled fails here)."""
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    texts = {
        message
        for path, _, message, _, _ in extract_from_dir(
            str(ROOT),
            method_map=[("templates/admin/**.html", "ignore"), ("templates/**.html", "jinja2")],
            options_map={"templates/**.html": options},
        )
        if isinstance(message, str)
    }
    texts |= set(scopes.DESCRIPTIONS.values()) | set(i18n.ERROR_MESSAGES)
    assert len(texts) > 40
    for language in OTHERS:
        translations = catalog(language)
        missing = sorted(t for t in texts if not translations.get(t))
        assert missing == [], f"{language.tag}: run `make messages` and translate {missing}"
        path = i18n.LOCALE_DIR / language.code / "LC_MESSAGES" / "messages.mo"
        with path.open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)
        stale = [t for t in translations if compiled.gettext(t) != translations[t]]
        assert stale == [], f"{language.tag}: compile the catalogs (scripts/install.sh)"


def test_placeholders_and_markup_survive_translation() -> None:
    """A translation keeps the placeholders and the markup of its English text (a page would
    fail to render, or lose an id the tests and styles use)."""
    for language in OTHERS:
        for msgid, msgstr in catalog(language).items():
            assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(
                re.findall(r"%\(\w+\)s", msgstr)
            ), (language.tag, msgid)
            assert sorted(re.findall(r"<[^>]+>", msgid)) == sorted(
                re.findall(r"<[^>]+>", msgstr)
            ), (
                language.tag,
                msgid,
            )
