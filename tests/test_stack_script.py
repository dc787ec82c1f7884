"""scripts/stack.sh on a first start: downloads are checked against the strongest checksum the
repository publishes next to them (a corrupt one is refused), a download reports its size and
progress, and a component that dies while we wait for it is reported at once with the end of
its log. The script's functions run here against a local HTTP server (Maven Central's layout:
`<artifact>.sha512` … next to the artifact)."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

STACK_SH = Path(__file__).resolve().parent.parent / "scripts" / "stack.sh"
ARTIFACT = b"keycloak distribution stand-in\n" * 40_000  # ~1.2 MB


@dataclass
class Repository:
    url: str
    files: dict[str, bytes]
    chunk_pause: float = 0.0  # seconds between 64 KiB chunks: a slow download


def _handler(repo: Repository) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, with_body: bool) -> None:
            body = repo.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not with_body:
                return
            for start in range(0, len(body), 65536):
                self.wfile.write(body[start : start + 65536])
                time.sleep(repo.chunk_pause)

        def do_GET(self) -> None:
            self._send(with_body=True)

        def do_HEAD(self) -> None:
            self._send(with_body=False)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def repo() -> Iterator[Repository]:
    repository = Repository("", {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repository))
    repository.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield repository
    server.shutdown()
    server.server_close()


def _stack(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` run in bash with scripts/stack.sh's functions defined (sourced)."""
    return subprocess.run(
        ["bash", "-c", f'source "{STACK_SH}"\n{script}'],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ALS_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _publish(repo: Repository, name: str, body: bytes, *algorithms: str) -> str:
    repo.files[name] = body
    for algorithm in algorithms:
        repo.files[f"{name}.{algorithm}"] = hashlib.new(algorithm, body).hexdigest().encode()
    return f"{repo.url}/{name}"


def _verify(tmp_path: Path, file: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK_SH), "verify", str(file), url],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ALS_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_download_is_checked_against_the_strongest_published_checksum(
    repo: Repository, tmp_path: Path
) -> None:
    url = _publish(repo, "kc.tar.gz", ARTIFACT, "sha512", "sha1", "md5")
    good = tmp_path / "kc.tar.gz"
    good.write_bytes(ARTIFACT)
    done = _verify(tmp_path, good, url)
    assert done.returncode == 0, done.stderr
    assert "sha512 checksum matches" in done.stderr

    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(ARTIFACT[:-1] + b"X")
    refused = _verify(tmp_path, corrupt, url)
    assert refused.returncode == 1 and "is corrupt" in refused.stderr

    # A wrong .sha512 is not excused by a right .sha1: the strongest one decides.
    repo.files["kc.tar.gz.sha512"] = hashlib.sha512(b"something else").hexdigest().encode()
    assert _verify(tmp_path, good, url).returncode == 1


def test_a_weaker_checksum_serves_when_only_it_is_published_and_none_refuses(
    repo: Repository, tmp_path: Path
) -> None:
    file = tmp_path / "old.jar"
    file.write_bytes(ARTIFACT)
    md5_only = _publish(repo, "old.jar", ARTIFACT, "md5")
    done = _verify(tmp_path, file, md5_only)
    assert done.returncode == 0 and "md5 checksum matches" in done.stderr
    # Maven Central's files hold the bare digest; some add the file name after it.
    repo.files["old.jar.md5"] += b"  old.jar\n"
    assert _verify(tmp_path, file, md5_only).returncode == 0
    repo.files["bare.jar"] = ARTIFACT  # nothing next to it: not used
    none = _verify(tmp_path, file, f"{repo.url}/bare.jar")
    assert none.returncode == 1 and "no checksum is published" in none.stderr


def test_a_download_reports_its_size_and_progress(repo: Repository, tmp_path: Path) -> None:
    url = _publish(repo, "big.tar.gz", ARTIFACT)
    repo.chunk_pause = 0.15  # ~3 s for the whole file
    out = tmp_path / "big.tar.gz"
    done = _stack(tmp_path, f'download "{url}" "{out}" "Keycloak"')
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == ARTIFACT
    assert f"downloading Keycloak: 1.2 MB from {url}" in done.stderr
    progress = [line for line in done.stderr.splitlines() if " of 1.2 MB (" in line]
    assert progress, done.stderr  # e.g. "[stack] Keycloak: 0.5 MB of 1.2 MB (40%)"
    assert "Keycloak: downloaded 1.2 MB" in done.stderr


def test_a_component_that_dies_while_we_wait_is_reported_at_once(tmp_path: Path) -> None:
    log = tmp_path / "component.log"
    script = f"""
        (echo "starting"; echo "FATAL: port 8180 already in use"; exit 3) >"{log}" 2>&1 &
        wait_for 120 "Keycloak realm" $! "{log}" false
    """
    started = time.monotonic()
    done = _stack(tmp_path, script)
    assert done.returncode == 1
    assert time.monotonic() - started < 10  # not the 120 s time-out
    assert "exited while we waited for it" in done.stderr
    assert "FATAL: port 8180 already in use" in done.stderr
