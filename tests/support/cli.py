"""Running `python -m service …` as an admin runs it, against the test server's database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from service.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def cli(
    settings: Settings, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALS_")}
    environ.update(
        {
            "ALS_ENV": "dev",
            "ALS_MONGODB_URI": settings.mongodb_uri,
            "ALS_MONGODB_DB": settings.mongodb_db,
            **(env or {}),
        }
    )
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "service", *args],
        input=stdin,
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
