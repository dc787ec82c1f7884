"""Prometheus metrics over HTTP: the middleware that counts and times every request, and the
metrics endpoint, which is served on its own port (ALS_METRICS_HOST:ALS_METRICS_PORT, loopback
by default), never on the public one.

With `serve --workers N` the supervising process serves the endpoint once for the whole server,
adding up the files every worker writes (prometheus_client's multiprocess mode); a single
process serves its own registry. What is counted: `service.metrics_registry`.
"""

from __future__ import annotations

import threading
import time
from wsgiref.simple_server import WSGIServer

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from service import metrics_registry
from service.web.session import Handler


def route_label(request: web.Request) -> str:
    # The route's pattern, not the raw path: bounded label values, no ids or tokens.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics_registry.observe_http(
            request.method, route_label(request), status, time.perf_counter() - started
        )


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """A registry that adds up what every worker wrote under `directory`, whether the worker
    is alive or not (a counter never goes down because a worker exited)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def metrics_text(registry: CollectorRegistry = REGISTRY) -> str:
    """The exposition text of `registry` (this process's metrics by default)."""
    return generate_latest(registry).decode()


class MetricsServer:
    """The metrics endpoint on a port of its own, served by a thread (so a supervisor that runs
    no event loop can serve it too). Any path answers GET with the metrics; `/metrics` is the
    one to scrape."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, host, registry)

    @property
    def port(self) -> int:
        return self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
