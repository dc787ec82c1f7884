"""Schemathesis against a live test server: every operation of our `/openapi.json`, with data
that fits the document (positive) and data that does not (negative), under each set of
credentials a test names, checking that no answer is a 5xx and none is outside the document
(status code, content type, body schema).

Schemathesis calls with `requests`, which blocks: the test runs `fuzz_api` in a worker thread
(`asyncio.to_thread`) while its event loop serves the app and the Amazon stand-in. Its traps:
docs/libraries.md §9.

`FUZZ_EXAMPLES` sets the examples per operation, mode and credential set (25 in `make test`;
`make fuzz` runs more, with fresh random data each run: `make test` is derandomized, so a red
build is reproducible).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

AnyCase: TypeAlias = Case[Any]
DEFAULT_EXAMPLES = 25
# What every answer must satisfy: no 5xx at all (everything behind the server is up, so not
# even the documented 502/503 of an outage), a documented status code and content type, a body
# that fits the documented schema; and data that breaks the document is refused with a 4xx.
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# What refuses data outside the document: Schemathesis's list, and 413 (a body over 256 KiB).
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)


def examples() -> int:
    return int(os.environ.get("FUZZ_EXAMPLES", DEFAULT_EXAMPLES))


def randomized() -> bool:
    """`make fuzz` explores afresh each run; the bounded run in `make test` repeats itself."""
    return "FUZZ_EXAMPLES" in os.environ


@dataclass(frozen=True)
class Variant:
    """One way of calling an operation: its credentials (an Authorization header or none) and
    optionally a change to each generated case (e.g. naming a user who is really linked)."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    adjust: Callable[[AnyCase], None] | None = None


@dataclass
class Report:
    calls: int = 0
    statuses: dict[str, set[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def saw(self, label: str, status: int) -> None:
        self.calls += 1
        self.statuses.setdefault(label, set()).add(status)


def _adjusted(adjust: Callable[[AnyCase], None] | None) -> Callable[[AnyCase], AnyCase]:
    def apply(case: AnyCase) -> AnyCase:
        if adjust is not None:
            adjust(case)
        return case

    return apply


def _run(
    operation: Any,
    variant: Variant,
    mode: GenerationMode,
    *,
    base_url: str,
    report: Report,
) -> None:
    strategy: st.SearchStrategy[AnyCase] = operation.as_strategy(
        generation_mode=mode, headers=dict(variant.headers) or None
    ).map(_adjusted(variant.adjust))

    @settings(
        max_examples=examples(),
        deadline=None,
        database=None,
        derandomize=not randomized(),
        suppress_health_check=list(HealthCheck),
        # Generate only: shrinking a failure can take minutes; the report names the request.
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def property_holds(case: AnyCase) -> None:
        response = case.call(base_url=base_url, timeout=15)
        report.saw(operation.label, response.status_code)
        case.validate_response(response, checks=CHECKS)

    try:
        property_holds()
    except Unsatisfiable:  # nothing of the operation can break the document (GET /healthz)
        if mode is not GenerationMode.NEGATIVE:
            raise
    # Failed checks come as a group (a BaseExceptionGroup): collect them and go on.
    except (Exception, BaseExceptionGroup) as exc:
        report.failures.append(f"{operation.label} [{variant.name}, {mode.value}]:\n{exc}")


def fuzz_api(base_url: str, variants: Callable[[str], Iterable[Variant]]) -> Report:
    """Fuzz every operation of the served document; `variants(label)` names the ways to call
    the operation `"POST /oauth/token"`."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=CONFIG)
    report = Report()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            report.failures.append(f"Schemathesis cannot read an operation: {result.err()}")
            continue
        operation = result.ok()
        for variant in variants(operation.label):
            for mode in variant.modes:
                _run(operation, variant, mode, base_url=base_url, report=report)
    return report
