"""Prometheus metrics: counted per route and status and per token grant, served on a port of
their own (never the public one), and, with `serve --workers N`, one total for the whole
server however often it is scraped."""

from __future__ import annotations

import socket
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from service.settings import Settings, SettingsError, load_settings
from service.web.appkeys import DB
from service.web.metrics import metrics_text
from tests.support.fixture_types import AiohttpClient, AppFactory
from tests.support.metrics import Delta, sample, scrape
from tests.support.oauth import create_client, token_request
from tests.support.processes import ServiceProcess

REQUESTS = "als_http_requests_total"
METADATA = "/.well-known/oauth-authorization-server"


async def test_the_public_port_has_no_metrics(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app())
    resp = await client.get("/metrics")
    assert resp.status == 404
    assert "als_http_requests_total" not in await resp.text()


async def test_requests_are_counted_by_route_and_status(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(make_app())
    delta = Delta()
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get("/no/such/page?code=secret-code")).status == 404
    assert (await client.request("PROPFIND", "/healthz")).status == 405

    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert delta.of(REQUESTS, **healthz) == 3
    assert delta.of(REQUESTS, method="GET", route="unmatched", status="404") == 1
    # Methods we serve nowhere (WebDAV …) are one label value, not one series each.
    assert delta.of(REQUESTS, method="other", route="unmatched", status="405") == 1
    assert delta.of("als_http_request_duration_seconds_count", route="/healthz") == 3
    # Buckets reach 30 s (an answer that waited for LWA or Alexa).
    assert delta.of("als_http_request_duration_seconds_bucket", route="/healthz", le="30.0") == 3
    assert "secret-code" not in metrics_text()  # route patterns, never paths or queries


async def test_token_grants_are_counted_by_type_and_outcome(
    make_app: AppFactory, aiohttp_client: AiohttpClient
) -> None:
    app = make_app()
    client = await aiohttp_client(app)
    base_url = str(client.make_url("")).rstrip("/")
    backend, secret = await create_client(
        app[DB], name="Backend", grant_types=["client_credentials"]
    )
    delta = Delta()

    async def grant(grant_type: str | None, secret: str = secret) -> str:
        data = {} if grant_type is None else {"grant_type": grant_type}
        answer = await token_request(base_url, data, client_id=backend.client_id, secret=secret)
        return "issued" if answer.status == 200 else str(answer.body["error"])

    assert await grant("client_credentials") == "issued"
    assert await grant("client_credentials") == "issued"
    assert await grant("client_credentials", secret="wrong-secret-0123456789abcdef") == (
        "invalid_client"
    )
    unknown = await grant("urn:example:made-up")
    missing = await grant(None)

    metric = "als_oauth_token_requests_total"
    assert delta.of(metric, grant_type="client_credentials", outcome="issued") == 2
    assert delta.of(metric, grant_type="client_credentials", outcome="invalid_client") == 1
    assert unknown != "issued" and missing != "issued"
    # A grant type the caller made up is `other`, a missing one `none`: bounded labels.
    assert delta.of(metric, grant_type="other", outcome=unknown) == 1
    assert delta.of(metric, grant_type="none", outcome=missing) == 1


def test_metrics_and_log_settings() -> None:
    base = {"ALS_ENV": "dev"}
    assert load_settings(base).metrics_port == 9464
    assert load_settings(base).metrics_host == "127.0.0.1"
    assert load_settings(base).log_format == "text"
    assert load_settings({**base, "ALS_METRICS_PORT": ""}).metrics_port == 0  # off
    assert load_settings({**base, "ALS_METRICS_PORT": "0"}).metrics_port == 0
    assert load_settings({**base, "ALS_LOG_FORMAT": "json"}).log_format == "json"
    for bad, name in (
        ({"ALS_METRICS_PORT": "70000"}, "ALS_METRICS_PORT"),
        ({"ALS_METRICS_PORT": "8080", "ALS_PORT": "8080"}, "ALS_METRICS_PORT"),
        ({"ALS_LOG_FORMAT": "xml"}, "ALS_LOG_FORMAT"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_settings({**base, **bad})


async def _get_many(url: str, times: int) -> None:
    """`times` GETs, each on a new connection, so that the kernel spreads them over the
    workers sharing the port (one keep-alive connection would stay with one worker)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(times):
            async with http.get(url) as resp:
                assert resp.status == 200


def _worker_metrics_dir(supervisor_pid: int) -> Path:
    """PROMETHEUS_MULTIPROC_DIR as the serve command set it for its workers."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) != supervisor_pid:
            continue
        for variable in environ.split(b"\0"):
            name, _, value = variable.partition(b"=")
            if name == b"PROMETHEUS_MULTIPROC_DIR":
                return Path(value.decode())
    raise AssertionError("no worker with PROMETHEUS_MULTIPROC_DIR")


async def test_workers_report_one_total_for_the_whole_server(settings: Settings) -> None:
    service = ServiceProcess(settings, workers=2)
    await service.start()
    try:
        metrics_dir = _worker_metrics_dir(service.pid)
        # Until both workers answered some (a worker may still be starting when the first one
        # answers /healthz): what a scrape adds up must really be the two workers' counts.
        sent, writers = 0, set[str]()
        while len(writers) < 2 and sent < 400:
            await _get_many(service.base_url + METADATA, 40)
            sent += 40
            writers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
        assert len(writers) == 2
        async with aiohttp.ClientSession() as http, http.get(service.base_url + "/metrics") as r:
            assert r.status == 404  # never on the public port
        labels = {"method": "GET", "route": METADATA, "status": "200"}
        for _ in range(5):  # whichever worker answered, every scrape has every request
            text = await scrape(service.metrics_url)
            assert sample(text, REQUESTS, **labels) == sent
            assert sample(text, REQUESTS, method="GET", route="unmatched", status="404") == 1
            assert sample(text, "als_http_request_duration_seconds_count", route=METADATA) == sent
    finally:
        assert service.stop() == 0
    assert not metrics_dir.exists(), "the metrics directory outlived the server"

    # A restart begins from zero in a new directory: nothing is counted twice.
    service = ServiceProcess(settings, workers=2)
    await service.start()
    try:
        assert _worker_metrics_dir(service.pid) != metrics_dir
        await _get_many(service.base_url + METADATA, 3)
        text = await scrape(service.metrics_url)
        assert sample(text, REQUESTS, **labels) == 3
    finally:
        service.stop()


async def test_a_single_process_serves_its_metrics_on_their_own_port(
    settings: Settings,
) -> None:
    service = ServiceProcess(settings, workers=1)
    await service.start()
    try:
        await _get_many(service.base_url + METADATA, 5)
        async with aiohttp.ClientSession() as http, http.get(service.base_url + "/metrics") as r:
            assert r.status == 404
        text = await scrape(service.metrics_url)
        assert sample(text, REQUESTS, method="GET", route=METADATA, status="200") == 5
    finally:
        service.stop()


async def test_a_taken_metrics_port_stops_a_production_start(settings: Settings) -> None:
    production = settings.with_(
        env="production",
        public_url="https://link.example.test",
        keycloak_client_secret="a-production-like-secret-0123456789",
    )
    service = ServiceProcess(production, workers=2)
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", service.metrics_port))
        taken.listen()
        with pytest.raises(RuntimeError, match="ALS_METRICS_PORT"):
            await service.start()
        assert service.returncode() == 2  # a configuration error, named
        service.stop()


async def test_a_taken_metrics_port_is_only_a_warning_in_dev_mode(settings: Settings) -> None:
    """Tests, benchmarks and `make run` share a machine in dev mode: the server still serves."""
    service = ServiceProcess(settings, workers=2)
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", service.metrics_port))
        taken.listen()
        await service.start()
        try:
            await _get_many(service.base_url + "/healthz", 3)
        finally:
            assert service.stop() == 0
