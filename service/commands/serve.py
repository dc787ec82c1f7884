"""`serve`: run the HTTP server (several processes share the port with --workers)."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
from typing import Any

from aiohttp import web

from service.logging_setup import AccessLogger, setup_logging
from service.settings import load_settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("serve", help="run the HTTP server")
    parser.add_argument("--host", help="listen address (default ALS_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default ALS_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.set_defaults(run=run)


def _serve(host: str, port: int, reuse_port: bool) -> None:
    from service.app import create_app

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
    procs = [
        multiprocessing.Process(target=_serve, args=(host, port, True), daemon=False)
        for _ in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return 0
