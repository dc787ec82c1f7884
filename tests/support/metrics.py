"""Reading Prometheus metrics in tests: a sample's value out of an exposition text, and the
change of the in-process registry across a block of a test (other tests in the same pytest
process count into it too, so tests compare before with after)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from service.web.metrics import metrics_text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly these labels; 0 when there is none (a
    labelled series exists only once it has been counted)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


class Delta:
    """`delta.of(name, **labels)`: how much a sample of this process grew since `Delta()`."""

    def __init__(self) -> None:
        self._before = metrics_text()

    def of(self, name: str, **labels: str) -> float:
        return sample(metrics_text(), name, **labels) - sample(self._before, name, **labels)


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return await resp.text()
