"""Load from wrk (Debian's `wrk`), a load generator in C: it leaves the cores to the servers
being measured, where the Python generator (`loadgen`) takes a good part of one itself.

Each load is a Lua script that cycles through prepared tokens; wrk's `done` hook prints the
figures as one JSON line, read back here.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "us": %d, "p50": %d, "p99": %d, "failed": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Summary:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int  # connection errors and timeouts, and answers other than 2xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return {50: self.p50_ms, 99: self.p99_ms}[int(p)]

    def line(self) -> str:
        return (
            f"{self.name:<44} {self.rps:8.1f} req/s   p50 {self.p50_ms:7.2f} ms   "
            f"p99 {self.p99_ms:7.2f} ms   (wrk)   ok {self.requests - self.failed}/{self.requests}"
        )


def _lua_list(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def script(
    method: str, path: str, *, headers: dict[str, str], body: str = "", each: list[str]
) -> str:
    """A request per call, with `{}` in `body` or in a header value replaced by the next of
    `each` (cycling)."""
    header_table = ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in headers.items())
    return (
        f"""
local values = {_lua_list(each)}
local i = 0
local function fill(text, value) return (string.gsub(text, "{{}}", value)) end
request = function()
  i = i + 1
  local v = values[(i % #values) + 1]
  local h = {{{header_table}}}
  for k, x in pairs(h) do h[k] = fill(x, v) end
  return wrk.format({json.dumps(method)}, {json.dumps(path)}, h, fill({json.dumps(body)}, v))
end
"""
        + _DONE
    )


async def run(
    name: str, base_url: str, lua: str, *, concurrency: int, duration: float, threads: int = 2
) -> Summary:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.lua"
        path.write_text(lua)
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{duration:.0f}s",
            "--timeout",
            "5s",
            "-s",
            str(path),
            base_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[len("RESULT ") :])
            return Summary(
                name,
                data["requests"],
                data["us"] / 1e6,
                data["p50"] / 1000,
                data["p99"] / 1000,
                data["failed"] + data["non2xx"],
            )
    raise RuntimeError(f"wrk gave no result: {out.decode()[-500:]} {err.decode()[-500:]}")
