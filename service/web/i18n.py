"""Pages in the customer's language: gettext catalogs, the language of each request, and the
callables of Jinja2's i18n extension.

The catalogs are `service/locale/<code>/LC_MESSAGES/messages.po`, compiled by Babel into
`messages.mo` at install (`scripts/install.sh`) and at build (`scripts/build_hooks.py`); the
message ids are the English texts, so a string a catalog lacks is shown in English, never as a
key. README ("Languages") says how to add a language.

A request's language is the first of these that names a language we have: the `ui_locales`
parameter (OpenID Connect Core §3.1.2.1: space-separated BCP 47 tags, preferred first) of the
request, or, on `/login`, of the page it returns to (the authorize request); then the
`Accept-Language` header (RFC 9110 §12.5.4); then English. The admin pages stay English.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from yarl import URL

DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
MAX_PREFERENCES = 20  # language ranges read from one header or parameter


@dataclass(frozen=True)
class Language:
    code: str  # the catalog's folder: pt_BR
    tag: str  # BCP 47, for <html lang> and Keycloak's ui_locales: pt-BR
    name: str  # in the language itself
    rtl: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.rtl else "ltr"


ENGLISH = Language("en", "en", "English")
LANGUAGES: tuple[Language, ...] = (
    ENGLISH,
    Language("de", "de", "Deutsch"),
    Language("fr", "fr", "Français"),
    Language("es", "es", "Español"),
    Language("it", "it", "Italiano"),
    Language("ja", "ja", "日本語"),
    Language("pt_BR", "pt-BR", "Português (Brasil)"),
    Language("hi", "hi", "हिन्दी"),
    Language("nl", "nl", "Nederlands"),
    Language("ar", "ar", "العربية", rtl=True),
)
_BY_TAG = {lang.tag.lower(): lang for lang in LANGUAGES}
# A range naming only the primary language ("pt", "pt-PT", "de-AT") gets our one variant of it.
_BY_PRIMARY = {lang.tag.split("-")[0].lower(): lang for lang in LANGUAGES}

LANGUAGE = web.RequestKey("language", Language)


def N_(message: str) -> str:  # the usual gettext marker name
    """Marks a message for the catalogs (`pybabel extract -k N_`) without translating it."""
    return message


# Error texts that are constants elsewhere (raised texts are extracted where they are raised,
# see babel.cfg); the error page translates whatever message it shows when a catalog has it.
ERROR_MESSAGES = (
    N_("The request was not understood."),
    N_("You are not allowed to do that."),
    N_("There is no page at this address."),
    N_("This address does not accept that kind of request."),
    N_("The request is too large."),
    N_("The request body could not be read."),
    N_("Something went wrong on our side. Please try again."),
    N_("The service is briefly unavailable. Please try again in a moment."),
    N_("The login service (Keycloak) is not reachable right now. Try again shortly."),
)


def match(ranges: Iterable[str]) -> Language | None:
    """The first of these language tags (preferred first) that we have a catalog for."""
    for given in ranges:
        tag = given.strip().lower().replace("_", "-")
        if not tag or tag == "*":
            continue
        found = _BY_TAG.get(tag) or _BY_PRIMARY.get(tag.split("-")[0])
        if found is not None:
            return found
    return None


def accept_language(header: str) -> list[str]:
    """The language ranges of an Accept-Language header, best first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:MAX_PREFERENCES]):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip():
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def _ui_locales(request: web.Request) -> str | None:
    value = request.query.get("ui_locales")
    if value is None and request.path == "/login":
        try:
            value = URL(request.query.get("next", "")).query.get("ui_locales")
        except ValueError:
            return None
    return value


def choose(request: web.Request) -> Language:
    if request.path == "/admin" or request.path.startswith("/admin/"):
        return ENGLISH
    ui_locales = _ui_locales(request)
    if ui_locales:
        found = match(ui_locales.split()[:MAX_PREFERENCES])
        if found is not None:
            return found
    return match(accept_language(request.headers.get("Accept-Language", ""))) or ENGLISH


def language_of(request: web.Request) -> Language:
    """The request's language (chosen once per request)."""
    if LANGUAGE not in request:
        request[LANGUAGE] = choose(request)
    return request[LANGUAGE]


def use_language(request: web.Request, language: Language) -> None:
    """Speak `language` for the rest of this request (the login callback: the language the
    login started in)."""
    request[LANGUAGE] = language


def language_of_url(url: str) -> Language | None:
    """The language a `ui_locales` parameter of this (relative) URL asks for."""
    try:
        value = URL(url).query.get("ui_locales")
    except ValueError:
        return None
    return match(value.split()[:MAX_PREFERENCES]) if value else None


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (English has none: its texts are the ids)."""
    if code == ENGLISH.code:
        return gettext.NullTranslations()
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as mo:
            return gettext.GNUTranslations(mo)
    except FileNotFoundError:
        raise RuntimeError(
            f"{path} is missing: compile the catalogs with `pybabel compile -d {LOCALE_DIR} "
            f"-D {DOMAIN}` (scripts/install.sh does)"
        ) from None


def load_all() -> None:
    """Read every catalog now, so that a missing one stops the start, not a page."""
    for language in LANGUAGES:
        translations(language.code)


def gettext_for(language: Language, message: str) -> str:
    return translations(language.code).gettext(message)


def _language(context: Any) -> Language:
    request = context.get("request")
    return language_of(request) if isinstance(request, web.Request) else ENGLISH


@jinja2.pass_context
def _gettext(context: Any, message: str) -> str:
    return gettext_for(_language(context), message)


@jinja2.pass_context
def _ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return translations(_language(context).code).ngettext(singular, plural, n)


@jinja2.pass_context
def _translate(context: Any, message: str) -> str:
    """A message made elsewhere (an error's description): translated when a catalog has it,
    shown as it is otherwise; no placeholders are filled in."""
    return gettext_for(_language(context), message)


@jinja2.pass_context
def _page_language(context: Any) -> Language:
    return _language(context)


async def context_processor(request: web.Request) -> dict[str, Any]:
    """Every template sees the request, so the callables above find its language."""
    return {"request": request}


def install(env: jinja2.Environment) -> None:
    """Wire the catalogs into an environment made with the `jinja2.ext.i18n` extension:
    `_()`/`gettext()`/`ngettext()` and `{% trans %}` speak the request's language (new-style
    gettext: placeholders are `%(name)s`, their values escaped), `translate()` translates a
    ready-made message, `page_language()` gives `tag`, `direction` for `<html>`."""
    load_all()
    env.policies["ext.i18n.trimmed"] = True  # {% trans %} ids without the template's line breaks
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    env.globals["translate"] = _translate
    env.globals["page_language"] = _page_language
