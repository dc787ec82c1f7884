"""`python -m service <command>`: serve, and the admin commands (see --help)."""

from __future__ import annotations

import argparse
import sys

from service.commands import COMMANDS
from service.settings import SettingsError


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """`--lwa-client-secret x` must be an error, not `--lwa-client-secret-file x`."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service", description="Alexa Account Linking Server"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    _no_abbreviations(parser)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
