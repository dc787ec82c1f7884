"""A form-posting browser: follows redirects on loopback, keeps cookies, fills in HTML forms.

It stops at a redirect that leaves this machine (for example to Alexa's redirect URI) and
reports where it was sent, so OAuth tests can read the code and state from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
from yarl import URL

from tests.support.stack import load_stack_env

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class Form:
    action: str
    method: str
    attrs: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._select: str | None = None  # name of the <select> being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower(), a)
            self.forms.append(self._current)
        elif self._current is not None and tag == "select":
            self._select = a.get("name")
        elif self._current is not None and tag == "option" and self._select:
            # The selected option wins; else the first one, as a browser submits.
            if "selected" in a or self._select not in self._current.fields:
                self._current.fields[self._select] = a.get("value", "")
        elif self._current is not None and tag in ("input", "button", "textarea"):
            name = a.get("name")
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if not name:
                return
            if kind == "submit":
                self._current.buttons.append((name, a.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._current.fields[name] = a.get("value", "on")
            else:
                self._current.fields[name] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form":
            self._current = None


@dataclass
class Page:
    url: str
    status: int
    text: str
    redirect_to: str | None = None  # set when the chain left this machine

    @property
    def forms(self) -> list[Form]:
        parser = _FormParser()
        parser.feed(self.text)
        return parser.forms

    def form(self, **attrs: str) -> Form:
        for form in self.forms:
            if all(
                form.attrs.get(k) == v or (k == "action" and v in form.action)
                for k, v in attrs.items()
            ):
                return form
        raise AssertionError(f"no form with {attrs} on {self.url}:\n{self.text[:2000]}")

    @property
    def redirect_params(self) -> dict[str, str]:
        assert self.redirect_to, (
            f"expected a redirect off this machine, got {self.status} {self.url}"
        )
        return {k: v[0] for k, v in parse_qs(urlsplit(self.redirect_to).query).items()}


class Browser:
    def __init__(self, accept_language: str | None = None) -> None:
        # unsafe=True: keep cookies set by IP-address hosts (127.0.0.1). Keycloak marks its
        # cookies Secure; browsers treat loopback origins as secure, so this jar does too.
        keycloak = load_stack_env().get("ALS_KEYCLOAK_URL", "http://127.0.0.1:8180")
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(keycloak).origin()])
        # A browser set to a language sends it with every request, as `Accept-Language`.
        headers = {"Accept-Language": accept_language} if accept_language else None
        # A hung server fails the test within a minute instead of stalling the suite.
        self.session = aiohttp.ClientSession(
            cookie_jar=jar, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, url: str, **kwargs: Any) -> Page:
        for _ in range(20):
            async with self.session.request(method, url, allow_redirects=False, **kwargs) as resp:
                text = await resp.text()
                if resp.status in (301, 302, 303, 307) and "Location" in resp.headers:
                    target = urljoin(url, resp.headers["Location"])
                    if urlsplit(target).hostname not in LOCAL_HOSTS:
                        return Page(url, resp.status, text, redirect_to=target)
                    url, method, kwargs = target, "GET", {}
                    continue
                return Page(str(resp.url), resp.status, text)
        raise AssertionError("too many redirects")

    async def get(self, url: str, **kwargs: Any) -> Page:
        return await self.request("GET", url, **kwargs)

    async def submit(
        self, page: Page, form: Form, button: str | None = None, **values: str
    ) -> Page:
        data = {**form.fields, **values}
        for name, value in form.buttons:
            if button is None or name == button:
                data[name] = value
                break
        return await self.request(form.method.upper(), urljoin(page.url, form.action), data=data)

    async def keycloak_login(self, page: Page, username: str, password: str) -> Page:
        """Fill in Keycloak's real login form as a person would."""
        form = page.form(id="kc-form-login")
        return await self.submit(page, form, username=username, password=password)

    async def login(
        self, base_url: str, username: str, password: str = "password", next_path: str = "/"
    ) -> Page:
        page = await self.get(f"{base_url}/login?next={next_path}")
        return await self.keycloak_login(page, username, password)
