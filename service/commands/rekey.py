"""`rekey`: re-encrypt every sealed field (partner LWA client secrets, users' LWA tokens)
under the newest key of ALS_ENCRYPTION_KEYS, so that older keys can be dropped.

Idempotent; prints what it did per collection as JSON; exits 1 if anything could not be
decrypted with any key of the ring (do not drop a key while that is so).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from service.commands.database import CommandContext, keyring_for_writing, run_with_db
from service.linking.rekey import RekeyCount, rekey
from service.settings import load_settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "rekey", help="re-encrypt stored secrets and tokens under the newest encryption key"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    keyring = keyring_for_writing(settings)
    if isinstance(keyring, str):
        print(f"error: {keyring}", file=sys.stderr)
        return 2

    async def work(ctx: CommandContext) -> list[RekeyCount]:
        return await rekey(ctx.db, keyring)

    counts = run_with_db(settings, work)
    print(
        json.dumps(
            {
                "primary_key": keyring.primary_kid,
                "collections": [dataclasses.asdict(c) for c in counts],
            },
            indent=2,
        )
    )
    failed = sum(c.failed for c in counts)
    if failed:
        print(
            f"error: {failed} value(s) could not be decrypted with any configured key",
            file=sys.stderr,
        )
        return 1
    return 0
