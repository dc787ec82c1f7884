"""`serve`: run the HTTP server (several processes share the port with --workers), and the
Prometheus metrics endpoint on its own port (ALS_METRICS_HOST:ALS_METRICS_PORT)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any, Final

import uvloop
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry

from service.app import create_app
from service.settings import Settings, SettingsError, load_settings
from service.web.logging_setup import AccessLogger, setup_logging
from service.web.metrics import MetricsServer, multiprocess_registry

log = logging.getLogger(__name__)

# Where prometheus_client's multiprocess mode keeps each process's values (its name is the
# library's); set for the workers only, to a directory made for this start.
MULTIPROC_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
WORKER_POLL_SECONDS: Final = 0.1


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("serve", help="run the HTTP server")
    parser.add_argument("--host", help="listen address (default ALS_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default ALS_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    # How `--workers N` starts each worker (a fresh interpreter, see _supervise); not for people.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # fail fast, before starting workers, on a bad configuration
    setup_logging(settings.log_level, settings.log_format)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.worker:
        _serve(settings, host, port, reuse_port=True)  # the supervisor serves the metrics
        return 0
    if port == settings.metrics_port:
        raise SettingsError(
            "ALS_METRICS_PORT must differ from the port served (metrics stay private)"
        )
    log.info(
        "serving on http://%s:%s (public URL %s, %s mode)",
        host,
        port,
        settings.public_url,
        settings.env,
    )
    if args.workers <= 1:
        metrics = _metrics_server(settings, REGISTRY)
        try:
            _serve(settings, host, port, reuse_port=False)
        finally:
            if metrics is not None:
                metrics.close()
        return 0
    return _supervise(settings, host, port, args.workers)


async def _freeze_startup_heap(app: web.Application) -> None:
    """Everything made until the server is ready (modules, catalogs, clients) lives as long as
    the process: moved out of the garbage collector's sight (`gc.freeze`), a full collection
    no longer walks it. Measured with one worker under refresh load: full collections paused
    the worker for up to 67 ms (7 in 10 s); after the freeze, for at most a few ms."""
    gc.collect()
    gc.freeze()


def _serve(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)  # after the cleanup contexts have started
    web.run_app(
        app,
        host=host,
        port=port,
        reuse_port=reuse_port,
        access_log_class=AccessLogger,
        print=None,
        # uvloop: the same asyncio API on libuv; measured here, about 12 % less CPU per request
        # than the standard loop.
        loop=uvloop.new_event_loop(),
    )


def _metrics_server(settings: Settings, registry: CollectorRegistry) -> MetricsServer | None:
    """The metrics endpoint, or None when ALS_METRICS_PORT is 0. A port that cannot be bound
    stops a production start (a server nobody can watch is a misconfiguration); in dev mode,
    where tests, benchmarks and `make run` share the machine, it is a warning."""
    if not settings.metrics_port:
        return None
    where = f"{settings.metrics_host}:{settings.metrics_port}"
    try:
        server = MetricsServer(settings.metrics_host, settings.metrics_port, registry)
    except OSError as exc:
        message = f"cannot serve metrics on {where} (ALS_METRICS_HOST, ALS_METRICS_PORT): {exc}"
        if not settings.dev:
            raise SettingsError(message) from None
        log.warning("%s; serving without metrics", message)
        return None
    log.info("metrics on http://%s/metrics", where)
    return server


def _shared_dev_keys(settings: Settings) -> dict[str, str]:
    """In dev mode a missing key is made up at start, by each process for itself; the workers
    of one server must share them (a token or a session cookie made by one worker is checked
    by another), so they get the ones this process made."""
    if not settings.dev:
        return {}
    return {
        "ALS_SESSION_KEY": settings.session_key,
        "ALS_ENCRYPTION_KEYS": settings.encryption_keys,
        "ALS_TOKEN_KEYS": settings.token_keys,
    }


def _supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run `workers` processes on the shared port and serve the metrics of all of them.

    prometheus_client decides when it is imported whether values go to files (multiprocess
    mode) or stay in memory, and this process imported it long ago; so each worker is a fresh
    interpreter (`serve --worker`) started with PROMETHEUS_MULTIPROC_DIR set to a directory
    made for this start, empty, and removed when the server stops. One scrape of this process
    adds up every worker's files: the totals of the whole server, a worker that exited
    included."""
    with tempfile.TemporaryDirectory(prefix="als-metrics-") as metrics_dir:
        metrics = _metrics_server(settings, multiprocess_registry(metrics_dir))
        try:
            worker = ["serve", "--worker", "--host", host, "--port", str(port)]
            return _run_workers(
                [sys.executable, "-m", "service", *worker],
                workers,
                {**os.environ, **_shared_dev_keys(settings), MULTIPROC_DIR_VARIABLE: metrics_dir},
            )
        finally:
            if metrics is not None:
                metrics.close()


def _run_workers(command: list[str], workers: int, env: Mapping[str, str]) -> int:
    """SIGTERM or SIGINT to this process stops every worker (each closes its connections as
    web.run_app does on SIGTERM), and so does any worker ending."""
    procs: list[subprocess.Popen[bytes]] = []
    asked_to_stop = False

    def stop_all() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        stop_all()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for _ in range(workers):
            if not asked_to_stop:
                procs.append(subprocess.Popen(command, env=env))  # noqa: S603 - our command
        while not asked_to_stop and all(proc.poll() is None for proc in procs):
            time.sleep(WORKER_POLL_SECONDS)
    finally:
        stop_all()  # one worker ended: a half-sized server is not what was asked for
        for proc in procs:
            proc.wait()
    if asked_to_stop:
        return 0
    print(
        f"a worker exited ({[proc.returncode for proc in procs]}); stopped the others",
        file=sys.stderr,
    )
    return 1
