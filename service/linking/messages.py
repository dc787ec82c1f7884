"""Validation of what the app backend asks us to send to Alexa, with errors that name the field.

Strict in what we send (docs/alexa-protocols.md §4.1): a health profile report is
``{"report": {"messageId", "profiles": [{"profileId", "name": {"firstName", "lastName",
"nickNames": [≥1]}, "capabilities": [{"name", "type", "version", "supportedOperations"
(with "Get")}]}]}}``; a smart-home event has an ``event.header`` of Alexa's shape (§4.2).
"""

from __future__ import annotations

from typing import Any, Final

from service.oauth.errors import InvalidRequest

HEALTH_INTERFACES: Final = frozenset(
    {
        "Alexa.Health.Weight",
        "Alexa.Health.Sleep",
        "Alexa.Health.DiaperChange",
        "Alexa.Health.InfantFeeding",
        "Alexa.Health.BreastPumping",
    }
)
MAX_PROFILES: Final = 100


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{path} must be a JSON object", field=path)
    return value


def _text(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InvalidRequest(f"{path} must be a non-empty string", field=path)
    return value


def _list(value: Any, path: str, *, minimum: int = 1, maximum: int | None = None) -> list[Any]:
    if not isinstance(value, list) or len(value) < minimum:
        raise InvalidRequest(
            f"{path} must be a list with at least {minimum} entr{'y' if minimum == 1 else 'ies'}",
            field=path,
        )
    if maximum is not None and len(value) > maximum:
        raise InvalidRequest(f"{path} must have at most {maximum} entries", field=path)
    return value


def validate_profile_report(report: Any) -> dict[str, Any]:
    """The body for POST /v1/health/profile, i.e. ``{"report": report}`` once `report` is valid."""
    report = _object(report, "report")
    _text(report.get("messageId"), "report.messageId")
    profiles = _list(report.get("profiles"), "report.profiles", maximum=MAX_PROFILES)
    seen: set[str] = set()
    for i, raw_profile in enumerate(profiles):
        at = f"report.profiles[{i}]"
        profile = _object(raw_profile, at)
        profile_id = _text(profile.get("profileId"), f"{at}.profileId")
        if profile_id in seen:
            raise InvalidRequest(
                f"{at}.profileId repeats an earlier profile", field=f"{at}.profileId"
            )
        seen.add(profile_id)
        name = _object(profile.get("name"), f"{at}.name")
        _text(name.get("firstName"), f"{at}.name.firstName")
        _text(name.get("lastName"), f"{at}.name.lastName", allow_empty=True)
        nick_names = _list(name.get("nickNames"), f"{at}.name.nickNames")
        for j, nick in enumerate(nick_names):
            _text(nick, f"{at}.name.nickNames[{j}]")
        capabilities = _list(profile.get("capabilities"), f"{at}.capabilities")
        for k, raw_capability in enumerate(capabilities):
            cat = f"{at}.capabilities[{k}]"
            capability = _object(raw_capability, cat)
            interface = _text(capability.get("name"), f"{cat}.name")
            if interface not in HEALTH_INTERFACES:
                raise InvalidRequest(
                    f"{cat}.name must be one of {', '.join(sorted(HEALTH_INTERFACES))}",
                    field=f"{cat}.name",
                )
            if capability.get("type") != "AlexaInterface":
                raise InvalidRequest(f'{cat}.type must be "AlexaInterface"', field=f"{cat}.type")
            _text(capability.get("version"), f"{cat}.version")
            operations = _list(capability.get("supportedOperations"), f"{cat}.supportedOperations")
            for m, operation in enumerate(operations):
                _text(operation, f"{cat}.supportedOperations[{m}]")
            if "Get" not in operations:
                raise InvalidRequest(
                    f'{cat}.supportedOperations must include "Get"',
                    field=f"{cat}.supportedOperations",
                )
    return {"report": report}


def validate_event(event: Any, context: Any = None) -> dict[str, Any]:
    """The body for POST /v3/events: ``{"event": …}`` plus ``context`` when given."""
    event = _object(event, "event")
    header = _object(event.get("header"), "event.header")
    for name in ("namespace", "name", "messageId", "payloadVersion"):
        _text(header.get(name), f"event.header.{name}")
    if "payload" in event:
        _object(event["payload"], "event.payload")
    if "endpoint" in event:
        _object(event["endpoint"], "event.endpoint")
    body: dict[str, Any] = {"event": event}
    if context is not None:
        body["context"] = _object(context, "context")
    return body


def with_scope_token(body: dict[str, Any], token: str) -> dict[str, Any]:
    """Alexa wants the LWA token in ``event.endpoint.scope`` as well as in the header; the
    app backend does not hold it, so we put it there (a copy; the input is left alone)."""
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("endpoint"), dict):
        return body
    endpoint = {**event["endpoint"], "scope": {"type": "BearerToken", "token": token}}
    return {**body, "event": {**event, "endpoint": endpoint}}
