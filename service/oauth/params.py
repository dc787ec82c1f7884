"""Request parameters as RFC 6749 §3.1/§3.2 allow them: each at most once, empty means absent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.oauth.errors import InvalidRequest


def single_valued(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """A plain dict of the string parameters; a repeated parameter is `invalid_request`."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(value, str):
            raise InvalidRequest(f"Parameter {key} must be a plain form field.")
        if key in params:
            raise InvalidRequest(f"Parameter {key} was sent more than once.")
        params[key] = value
    # "Parameters sent without a value MUST be treated as if they were omitted" (§3.1).
    return {k: v for k, v in params.items() if v != ""}


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"Missing parameter: {name}.")
    return value
