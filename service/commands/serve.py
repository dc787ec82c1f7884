"""`serve`: run the HTTP server (several processes share the port with --workers)."""

from __future__ import annotations

import argparse
import logging
import multiprocessing.connection
import signal
import sys
from types import FrameType
from typing import Any

from aiohttp import web

from service.app import create_app
from service.settings import load_settings
from service.web.logging_setup import AccessLogger, setup_logging


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("serve", help="run the HTTP server")
    parser.add_argument("--host", help="listen address (default ALS_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default ALS_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.set_defaults(run=run)


def _serve(host: str, port: int, reuse_port: bool) -> None:
    settings = load_settings()
    setup_logging(settings.log_level)
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        reuse_port=reuse_port,
        access_log_class=AccessLogger,
        print=None,
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # fail fast, before forking, on a bad configuration
    setup_logging(settings.log_level)
    host = args.host or settings.host
    port = args.port or settings.port
    logging.getLogger(__name__).info(
        "serving on http://%s:%s (public URL %s, %s mode)",
        host,
        port,
        settings.public_url,
        settings.env,
    )
    if args.workers <= 1:
        _serve(host, port, reuse_port=False)
        return 0
    return _supervise(host, port, args.workers)


def _supervise(host: str, port: int, workers: int) -> int:
    """Run the workers; SIGTERM or SIGINT to this process stops them all (each closes its
    connections as web.run_app does on SIGTERM), and so does any worker dying."""
    procs = [
        multiprocessing.Process(target=_serve, args=(host, port, True), daemon=False)
        for _ in range(workers)
    ]
    asked_to_stop = False

    def stop_all() -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        stop_all()

    for proc in procs:
        proc.start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    multiprocessing.connection.wait([proc.sentinel for proc in procs])
    stop_all()  # one worker ended: a half-sized server is not what was asked for
    for proc in procs:
        proc.join()
    if asked_to_stop:
        return 0
    print(
        f"a worker exited ({[proc.exitcode for proc in procs]}); stopped the others",
        file=sys.stderr,
    )
    return 1
