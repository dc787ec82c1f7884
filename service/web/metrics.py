"""Prometheus metrics at `/metrics`: request counts and latency per route, in this process.

Hand-written text exposition (format 0.0.4) keeps the dependency list short; with several
worker processes each reports its own figures (scrape per process, or sum them).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

from service.web.session import Handler

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1


@dataclass
class Metrics:
    requests: defaultdict[tuple[str, str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    latency: defaultdict[str, _Histogram] = field(default_factory=lambda: defaultdict(_Histogram))
    events: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, event: str) -> None:
        """Count a domain event (e.g. `lwa_refresh`), exported as als_events_total."""
        self.events[event] += 1

    def render(self) -> str:
        lines = [
            "# HELP als_http_requests_total HTTP requests by method, route and status.",
            "# TYPE als_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",route="{route}",status="{status}"'
            lines.append(f"als_http_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP als_http_request_duration_seconds Time to answer, by route.",
            "# TYPE als_http_request_duration_seconds histogram",
        ]
        for route, hist in sorted(self.latency.items()):
            for bound, n in zip(BUCKETS, hist.counts, strict=True):
                lines.append(
                    f'als_http_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {n}'
                )
            inf = f'route="{route}",le="+Inf"'
            lines.append(f"als_http_request_duration_seconds_bucket{{{inf}}} {hist.total}")
            lines.append(f'als_http_request_duration_seconds_sum{{route="{route}"}} {hist.sum:.6f}')
            lines.append(f'als_http_request_duration_seconds_count{{route="{route}"}} {hist.total}')
        lines += ["# HELP als_events_total Domain events.", "# TYPE als_events_total counter"]
        for event, n in sorted(self.events.items()):
            lines.append(f'als_events_total{{event="{event}"}} {n}')
        return "\n".join(lines) + "\n"


METRICS = web.AppKey("metrics", Metrics)


def _route_label(request: web.Request) -> str:
    # The route's pattern, not the raw path: bounded label values, no ids or tokens.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics = request.app[METRICS]
        route = _route_label(request)
        metrics.requests[(request.method, route, str(status))] += 1
        metrics.latency[route].observe(time.perf_counter() - started)


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[METRICS].render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )
