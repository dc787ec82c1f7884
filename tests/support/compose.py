"""docker-compose.yml and .env.example as data, and Compose's variable interpolation, for the
tests that check the deployment files without Docker (no engine runs on this machine).

Interpolation follows the Compose Specification ("Interpolation"): `${VAR}`, `${VAR:-default}`
(unset or empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (required),
`$VAR`, and `$$` for a literal `$`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
CADDYFILE = REPO / "deploy" / "Caddyfile"

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_ENV_LINE = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


class MissingVariable(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    name: str
    required: bool  # `:?` or `?`
    default: str | None  # `:-` or `-`


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def references(text: str) -> Iterator[Reference]:
    for match in _REFERENCE.finditer(text):
        if match["escaped"]:
            continue
        op, arg = match["op"], match["arg"]
        yield Reference(
            name=match["braced"] or match["bare"],
            required=bool(op) and op.endswith("?"),
            default=arg if op and op.endswith("-") else None,
        )


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["braced"] or match["bare"], match["op"], match["arg"]
        value = environment.get(name)
        missing = value is None or (value == "" and bool(op) and op.startswith(":"))
        if op and op.endswith("?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        if op and op.endswith("-") and missing:
            return str(arg)
        return value or ""

    return _REFERENCE.sub(replace, text)


@dataclass(frozen=True)
class EnvLine:
    name: str
    value: str
    commented: bool  # `# NAME=value`: listed, with its default, but not set


def env_example() -> list[EnvLine]:
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = _ENV_LINE.match(line)
        if match:
            lines.append(EnvLine(match["name"], match["value"], bool(match["comment"])))
    return lines
