"""`keys generate`: fresh secrets for a new installation, as lines for its .env file.

Prints `ALS_SESSION_KEY=…`, `ALS_ENCRYPTION_KEYS=<kid>:…` and `ALS_TOKEN_KEYS=<kid>:…` (key
rings of one new key each, whose id names the day it was made). Nothing is stored or sent
anywhere: the values exist only in this output. To rotate the encryption key, put the new
`kid:key` entry first in the existing ALS_ENCRYPTION_KEYS, keep the old entries, restart, then
run `rekey`; to rotate the token key, put the new entry first in ALS_TOKEN_KEYS and keep the
old one while tokens signed with it live.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from service.clock import utcnow
from service.crypto import KeyRing, KeyRingError
from service.settings import generate_key


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "keys", help="make new secrets (ALS_SESSION_KEY, ALS_ENCRYPTION_KEYS, ALS_TOKEN_KEYS)"
    )
    commands = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = commands.add_parser(
        "generate",
        help="print a new ALS_SESSION_KEY, ALS_ENCRYPTION_KEYS and ALS_TOKEN_KEYS as .env lines",
        description="Print a new ALS_SESSION_KEY, ALS_ENCRYPTION_KEYS and ALS_TOKEN_KEYS as "
        "lines for a .env file. To rotate a key ring, prepend the new entry to the existing "
        "value (and run `rekey` for ALS_ENCRYPTION_KEYS): replacing a ring makes what was "
        "sealed or signed with its keys unreadable.",
    )
    generate.add_argument(
        "--kid",
        type=_kid,
        help="id of the new keys in their rings (default k<date>-<random>, e.g. k20250131-3f9a)",
    )
    generate.set_defaults(run=_generate)


def _kid(value: str) -> str:
    """A key id the key ring accepts (checked by parsing a ring with it)."""
    try:
        kids = KeyRing.parse(f"{value}:{KeyRing.generate_key()}").kids
    except KeyRingError:
        kids = ()
    if kids != (value,):
        raise argparse.ArgumentTypeError("a key id is 1 to 32 letters, digits, '_' or '-'")
    return value


def _generate(args: argparse.Namespace) -> int:
    kid = args.kid or f"k{utcnow():%Y%m%d}-{secrets.token_hex(2)}"
    print(f"ALS_SESSION_KEY={generate_key()}")
    print(f"ALS_ENCRYPTION_KEYS={kid}:{KeyRing.generate_key()}")
    print(f"ALS_TOKEN_KEYS={kid}:{KeyRing.generate_key()}")
    return 0
