"""Where the real components of the test stack are (written by scripts/stack.sh up)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

CACHE = Path(os.environ.get("ALS_CACHE", Path.home() / ".cache" / "alexa-linking"))
STACK_ENV = CACHE / "run" / "stack.env"
# Registered as exact redirect URIs (…/login/callback) of the service client in our realm;
# several, so that test runs in parallel (several developers on one machine) do not collide.
TEST_PORTS = range(8089, 8100)

# How long the test servers trust a client registration they read: short, so that a change
# made by the command line reaches them quickly; a test that depends on it waits this long.
CLIENT_CACHE_SECONDS = 0.5


def pick_test_port() -> int:
    """A free port among TEST_PORTS, picked at random to make collisions unlikely."""
    for port in random.sample(list(TEST_PORTS), len(TEST_PORTS)):
        with closing(socket.socket()) as sock:
            # As the test server binds (aiohttp sets SO_REUSEADDR): a port whose last
            # connections linger in TIME_WAIT (60 s on Linux) is free for it, one with a
            # listener is not. Without this, a run that closed connections on all eleven ports
            # within a minute found none free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"all test ports {TEST_PORTS} are taken")


def load_stack_env() -> dict[str, str]:
    """ALS_* values from the environment, else from the file `stack.sh up` wrote."""
    values: dict[str, str] = {}
    if STACK_ENV.exists():
        for line in STACK_ENV.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export ") :].partition("=")
                values[key] = value
    values.update({k: v for k, v in os.environ.items() if k.startswith("ALS_")})
    return values


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mongo_answers(uri: str) -> bool:
    try:
        MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
    except PyMongoError:
        return False
    return True


def _stopped(task: Path) -> bool:
    """Whether a thread (/proc/<pid>/task/<tid>) is stopped (state T) or gone."""
    try:
        stat = (task / "stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "Tt"


class MongoServer:
    """A Mongo-protocol server of the test's own, so a test can stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self._dir = tempfile.mkdtemp(prefix="als-mongo-")
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mongod")) or (CACHE / "bin" / "ferretdb").exists()

    def start(self) -> None:
        if shutil.which("mongod"):
            cmd = [
                "mongod",
                "--bind_ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dbpath",
                self._dir,
            ]
        else:
            cmd = [
                str(CACHE / "bin" / "ferretdb"),
                "--handler=sqlite",
                f"--sqlite-url=file:{self._dir}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                "--telemetry=disable",
                "--debug-addr=-",
                f"--state-dir={self._dir}",
                "--log-level=error",
            ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not mongo_answers(self.uri):
            if time.monotonic() > deadline:
                raise RuntimeError("the test's own Mongo-protocol server did not start")
            time.sleep(0.2)

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a stalled database);
        what was sent to it meanwhile is done once it is thawed."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)
        # The stop takes effect asynchronously, thread by thread: wait until every thread of it
        # has stopped, or a request sent right after could still be served.
        tasks = Path(f"/proc/{self._proc.pid}/task")
        deadline = time.monotonic() + 5
        while not all(_stopped(task) for task in tasks.iterdir()):
            if time.monotonic() > deadline:
                raise RuntimeError("the test's Mongo-protocol server did not stop")
            time.sleep(0.001)

    def thaw(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is not None:
            self.thaw()  # a stopped process would not act on SIGTERM
            self._proc.terminate()
            self._proc.wait(timeout=20)
            self._proc = None

    def cleanup(self) -> None:
        """Gone for good: killed (its files are deleted next, so there is nothing to shut down
        cleanly, and FerretDB's clean shutdown takes 3 s)."""
        if self._proc is not None:
            self.thaw()
            self._proc.kill()
            self._proc.wait(timeout=20)
            self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)
