"""A partner's LWA token URL and Alexa API base are Amazon's (issue 10, item 1): other URLs only
with ALS_ALLOW_CUSTOM_AMAZON_URLS, never link-local or metadata addresses; checked where they
are set and again before every call; a URL change needs the LWA secret again; and Amazon's
answers are read up to 64 KiB."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from service.amazon import alexa_api, lwa, regions
from service.amazon.retry import RetryPolicy
from service.clock import utcnow
from service.linking.partners import PartnerConfigError, add_partner
from service.settings import Settings
from service.storage import partners
from service.web.appkeys import KEYRING, SETTINGS
from tests.support.cli import cli
from tests.support.linking import LWA_CLIENT_ID, LWA_SECRET, PARTNER_ID, Linking
from tests.support.processes import settings_env
from tests.support.stack import free_port

AMAZON_LWA = tuple(regions.LWA_TOKEN_URLS.values())
AMAZON_ALEXA = tuple(regions.ALEXA_API_BASES.values())
METADATA = (
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/",
    "http://[fe80::a9fe:a9fe%25eth0]/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://2852039166/",  # 169.254.169.254 as one number, as the resolver reads it
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
)


@pytest.mark.parametrize("url", AMAZON_LWA)
def test_amazons_lwa_urls_are_taken_without_the_setting(url: str) -> None:
    assert regions.lwa_token_url(url, allow_custom=False) == url
    shouted = url.replace("https://api", "https://API").replace("/auth", ":443/auth")
    assert regions.lwa_token_url(shouted, allow_custom=False) == url


@pytest.mark.parametrize("url", AMAZON_ALEXA)
def test_amazons_alexa_hosts_are_taken_without_the_setting(url: str) -> None:
    assert regions.alexa_api_base(url + "/", allow_custom=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9400/auth/o2/token",  # the stand-in: only with the setting
        "https://evil.example/auth/o2/token",
        "http://api.amazon.com/auth/o2/token",  # Amazon's host, but plain http
        "https://api.amazon.com.evil.example/auth/o2/token",
        "https://api.amazon.com:8443/auth/o2/token",
        "https://user@api.amazon.com/auth/o2/token",
        "https://api.amazon.com/other/path",
        "https://api.amazonalexa.com/auth/o2/token",  # an Alexa host is no LWA host
    ],
)
def test_other_lwa_urls_need_the_setting(url: str) -> None:
    with pytest.raises(regions.RegionError, match="ALS_ALLOW_CUSTOM_AMAZON_URLS"):
        regions.lwa_token_url(url, allow_custom=False)


@pytest.mark.parametrize("url", ["https://evil.example", "https://api.amazon.com", "http://x:1"])
def test_other_alexa_hosts_need_the_setting(url: str) -> None:
    with pytest.raises(regions.RegionError, match="ALS_ALLOW_CUSTOM_AMAZON_URLS"):
        regions.alexa_api_base(url, allow_custom=False)


@pytest.mark.parametrize("url", METADATA)
def test_metadata_and_link_local_addresses_are_refused_even_when_allowed(url: str) -> None:
    for check in (regions.lwa_token_url, regions.alexa_api_base):
        with pytest.raises(regions.RegionError, match="link-local or cloud metadata"):
            check(url, allow_custom=True)


def test_a_host_name_is_checked_as_written() -> None:
    # Resolving names at check time would not protect us (DNS can change afterwards); an
    # operator who allows custom URLs allows what those names resolve to.
    assert regions.alexa_api_base("http://standin.test:9400", allow_custom=True)
    assert regions.alexa_api_base("http://127.0.0.1:9400/", allow_custom=True) == (
        "http://127.0.0.1:9400"
    )


async def test_a_partner_gets_no_custom_url_without_the_setting(linking: Linking) -> None:
    cases: list[dict[str, Any]] = [
        {"lwa_token_url": linking.amazon.lwa_token_url},
        {"alexa_api_base": linking.amazon.base_url},
        {"lwa_token_url": "https://attacker.example/auth/o2/token"},
    ]
    for urls in cases:
        with pytest.raises(PartnerConfigError, match="ALS_ALLOW_CUSTOM_AMAZON_URLS=true"):
            await add_partner(
                linking.db,
                linking.app[KEYRING],
                partner_id="p2",
                lwa_client_id="amzn1.x",
                lwa_client_secret="secret",
                **urls,
            )
    assert await partners.get(linking.db, "p2") is None


@pytest.fixture
async def strict(
    linking: Linking,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    make_app: Callable[..., web.Application],
) -> Linking:
    """The same database and keys, served by a process that allows only Amazon's URLs: the
    partner and the link were stored while the stand-in was allowed."""
    server = await aiohttp_server(make_app(allow_custom_amazon_urls=False))
    return dataclasses.replace(linking, base_url=f"http://127.0.0.1:{server.port}")


async def test_a_stored_partner_with_a_forbidden_url_is_not_called(
    linking: Linking, strict: Linking, caplog: pytest.LogCaptureFixture
) -> None:
    await linking.link()
    calls, sent = len(linking.amazon.lwa_calls), len(linking.amazon.requests)
    await linking.age_link()  # the next token request would refresh at LWA
    caplog.set_level(logging.ERROR, logger="service.linking.partners")

    answers = [
        await strict.reciprocal(await strict.user_token(), code=strict.lwa_code()),
        await strict.partner_token(),
        await strict.profile_report(),
    ]
    for answer in answers:
        assert answer.status == 500
        assert answer.body["error"] == "partner_misconfigured"
        assert "not one we may call" in answer.body["error_description"]
        assert answer.body["partner_id"] == PARTNER_ID
    # Neither LWA (the secret, the refresh token) nor "Alexa" (the access token) saw anything.
    assert (len(linking.amazon.lwa_calls), len(linking.amazon.requests)) == (calls, sent)
    logged = [r.getMessage() for r in caplog.records if r.name == "service.linking.partners"]
    assert logged and f"partner {PARTNER_ID} not called" in logged[0]
    assert LWA_SECRET not in "\n".join(logged)


async def test_a_stored_metadata_url_is_not_called_even_when_allowed(linking: Linking) -> None:
    """A partner document from before the rules (or written around them) pointing at the
    metadata service is refused by the server that allows custom URLs too."""
    await linking.link()
    await linking.db[partners.COLLECTION].update_one(
        {"_id": PARTNER_ID},
        {"$set": {"lwa_token_url": "http://169.254.169.254/latest/meta-data/iam"}},
    )
    calls = len(linking.amazon.lwa_calls)
    answer = await linking.reciprocal(await linking.user_token(), code=linking.lwa_code())
    assert answer.status == 500 and answer.body["error"] == "partner_misconfigured"
    assert "link-local or cloud metadata" in answer.body["error_description"]
    assert len(linking.amazon.lwa_calls) == calls


async def test_a_link_made_with_a_forbidden_alexa_host_is_not_sent_to(linking: Linking) -> None:
    """The Alexa API base is stored with each link when it is made: checked before sending."""
    await linking.link()
    await linking.db["partner_tokens"].update_many(
        {"partner_id": PARTNER_ID}, {"$set": {"alexa_api_base": "http://[fd00:ec2::254]"}}
    )
    answer = await linking.profile_report()
    assert answer.status == 500 and answer.body["error"] == "partner_misconfigured"
    assert linking.amazon.requests == []


async def test_changing_a_url_needs_the_lwa_secret_again(linking: Linking) -> None:
    keyring, db = linking.app[KEYRING], linking.db
    common: dict[str, Any] = {
        "partner_id": PARTNER_ID,
        "lwa_client_id": LWA_CLIENT_ID,
        "replace": True,
        "allow_custom_urls": True,
    }
    with pytest.raises(PartnerConfigError, match="needs the LWA client secret entered again"):
        await add_partner(db, keyring, lwa_client_secret="", region="EU", **common)
    attacker = "http://127.0.0.1:1/auth/o2/token"
    with pytest.raises(PartnerConfigError, match="needs the LWA client secret entered again"):
        await add_partner(
            db,
            keyring,
            lwa_client_secret="",
            lwa_token_url=attacker,
            alexa_api_base=linking.amazon.base_url,
            **common,
        )
    stored = await partners.get(db, PARTNER_ID)
    assert stored is not None and stored.lwa_token_url == linking.amazon.lwa_token_url
    # Other changes keep the stored secret when none is given; a URL change with it works.
    same_urls: dict[str, Any] = {
        "lwa_token_url": stored.lwa_token_url,
        "alexa_api_base": stored.alexa_api_base,
    }
    kept = await add_partner(
        db, keyring, lwa_client_secret="", scopes=("a",), **common, **same_urls
    )
    assert kept.scopes == ("a",) and kept.lwa_client_secret.open(keyring) == LWA_SECRET
    moved = await add_partner(db, keyring, lwa_client_secret="new-secret", region="EU", **common)
    assert moved.lwa_token_url == regions.LWA_TOKEN_URLS["EU"]


async def test_partners_cli_refuses_a_url_change_without_the_secret(linking: Linking) -> None:
    settings: Settings = linking.app[SETTINGS]
    args = ["partners", "add", PARTNER_ID, "--replace", "--lwa-client-id", LWA_CLIENT_ID]
    moved = await cli(settings, *args, "--region", "EU", stdin="\n", env=settings_env(settings))
    assert moved.returncode == 1
    assert "needs the LWA client secret entered again" in moved.stderr
    strict_env = settings_env(settings, ALS_ALLOW_CUSTOM_AMAZON_URLS="false")
    custom = await cli(
        settings,
        *args,
        "--lwa-token-url",
        "https://attacker.example/auth/o2/token",
        stdin="secret\n",
        env=strict_env,
    )
    assert custom.returncode == 1 and "ALS_ALLOW_CUSTOM_AMAZON_URLS=true" in custom.stderr
    stored = await partners.get(linking.db, PARTNER_ID)
    assert stored is not None and stored.lwa_token_url == linking.amazon.lwa_token_url


# --- answers larger than any of Amazon's -------------------------------------------------------


@pytest.fixture
async def endless() -> AsyncIterator[tuple[str, list[int]]]:
    """A server whose answers never end (200, JSON-looking, no Content-Length): what a broken
    or hostile endpoint may send. Yields its base URL and how many bytes each answer sent."""
    sent: list[int] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        total = 0
        try:
            await response.write(b'{"access_token": "x", "padding": "')
            while total < 50 * 1024 * 1024:
                await response.write(b"a" * 65536)
                total += 65536
        except ConnectionError:  # the client hung up
            pass
        sent.append(total)
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", sent
    await runner.cleanup()


async def test_an_endless_lwa_answer_is_unavailable_not_read(
    endless: tuple[str, list[int]],
) -> None:
    base, sent = endless
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(lwa.LwaUnavailable, match="more than 65536 bytes"):
            await lwa.exchange_code(
                http,
                token_url=f"{base}/auth/o2/token",
                client_id="c",
                client_secret="s",
                code="x",
                timeout=20,
            )
    assert time.monotonic() - started < 5  # not after the 20 s budget: at 64 KiB
    await _hung_up(sent)


async def _hung_up(sent: list[int]) -> None:
    """The endless server saw us hang up long before the end of its 50 MB."""
    for _ in range(50):
        if sent:
            break
        await asyncio.sleep(0.1)
    assert sent and sent[0] < 50 * 1024 * 1024


async def test_an_endless_alexa_answer_counts_as_no_body(endless: tuple[str, list[int]]) -> None:
    base, sent = endless
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        answer = await alexa_api.post_json(
            http,
            f"{base}/v1/health/profile",
            {"x": 1},
            token="t",
            timeout=20,
            retry=RetryPolicy(attempts=1),
            clock=utcnow,
        )
    assert answer.status == 200 and answer.body is None
    assert time.monotonic() - started < 5
    await _hung_up(sent)


async def test_a_too_large_lwa_answer_stores_nothing(linking: Linking) -> None:
    """Through the service: LWA's 200 with 100 KiB of JSON is garbage, not tokens."""
    huge = {"access_token": "a", "refresh_token": "r", "padding": "x" * 100_000}
    linking.amazon.queue_lwa_responses(200, huge)
    answer = await linking.reciprocal(await linking.user_token(), code=linking.lwa_code())
    assert answer.status == 503 and answer.body["error"] == "temporarily_unavailable"
    assert await linking.link_doc() is None
