"""Command-line commands; each module has `register(subparsers)` and sets `run` on its parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from service.commands import alexa, clients, keys, partners, rekey, seed, serve

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = [
    serve.register,
    clients.register,
    seed.register,
    partners.register,
    rekey.register,
    keys.register,
    alexa.register,
]
