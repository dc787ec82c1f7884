"""`python -m service <command>`, or `als <command>` where the package is installed: serve,
and the admin commands (see --help)."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from service.commands import COMMANDS
from service.settings import SettingsError

DISTRIBUTION = "alexa-account-linking-server"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a checkout that was never installed
        return "(not installed)"


def _prog() -> str:
    """How the user called us, for usage lines: the console script or `python -m service`."""
    return "als" if Path(sys.argv[0]).name == "als" else "python -m service"


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """`--lwa-client-secret x` must be an error, not `--lwa-client-secret-file x`."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_prog(), description="Alexa Account Linking Server")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
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
