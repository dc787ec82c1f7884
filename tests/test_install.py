"""A clean install, made as the Docker image makes it: the runtime dependencies from
requirements.lock (every file hash-checked), then the wheel built from exactly the files the
Dockerfile copies, without dependencies; the installed server then runs from another
directory, templates included, and `als` works. Also: the lock pins every runtime dependency
and nothing of the dev tools, and the venv of `make test` is left alone by git and Docker."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.settings import Settings
from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def _dockerfile_copies() -> list[tuple[list[str], str]]:
    """The `COPY <source>... <destination>` lines of the Dockerfile."""
    copies = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *sources, destination = [w for w in line.split()[1:] if not w.startswith("--")]
            copies.append((sources, destination))
    return copies


def _build_context(target: Path) -> None:
    """What the image's build directory holds once the Dockerfile's COPY lines have run."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo")  # as .dockerignore
    for sources, destination in _dockerfile_copies():
        into = target / destination
        for source in sources:
            path = ROOT / source
            if path.is_dir():  # Docker copies a directory's contents
                shutil.copytree(path, into, ignore=ignore, dirs_exist_ok=True)
            else:
                into.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into / path.name)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that could lead to the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALS_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return {**env, **extra}


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv (in a temporary directory) with the package installed as the Docker image
    installs it; yields the venv's bin directory. pip's cache makes a second run quick."""
    work = tmp_path_factory.mktemp("clean-install")
    context, venv, elsewhere = work / "src", work / "venv", work / "elsewhere"
    _build_context(context)
    elsewhere.mkdir()
    _run(sys.executable, "-m", "venv", venv, cwd=work)
    pip = (venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check")
    _run(*pip, "install", "-q", "--require-hashes", "-r", context / "requirements.lock", cwd=work)
    _run(*pip, "wheel", "-q", "--no-deps", "-w", work / "dist", context, cwd=work)
    (wheel,) = (work / "dist").glob("*.whl")
    _run(*pip, "install", "-q", "--no-deps", wheel, cwd=work)
    _run(*pip, "check", cwd=work)  # the locked versions satisfy the package's requirements
    yield venv / "bin"
    shutil.rmtree(work, ignore_errors=True)


def test_the_installed_package_is_used_with_its_own_templates(installed: Path) -> None:
    where = _run(
        installed / "python",
        "-c",
        "import service.resources as r; print(r.__file__); print(r.templates_dir())",
        cwd=installed.parent.parent / "elsewhere",
    ).split()
    site = str(installed.parent / "lib")
    assert all(path.startswith(site) for path in where), where
    assert (Path(where[1]) / "base.html").is_file() and (Path(where[1]) / "admin").is_dir()


def test_als_console_script(installed: Path) -> None:
    elsewhere = installed.parent.parent / "elsewhere"
    assert _run(installed / "als", "--version", cwd=elsewhere).strip() == f"als {VERSION}"
    assert _run(installed / "python", "-m", "service", "--version", cwd=elsewhere).strip() == (
        f"python -m service {VERSION}"
    )
    generated = _run(installed / "als", "keys", "generate", cwd=elsewhere)
    assert generated.startswith("ALS_SESSION_KEY=") and "\nALS_ENCRYPTION_KEYS=" in generated
    assert "usage: als " in _run(installed / "als", "--help", cwd=elsewhere)


async def test_the_installed_server_renders_pages_from_another_directory(
    installed: Path, settings: Settings
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _clean_env(
        ALS_ENV="dev",
        ALS_HOST="127.0.0.1",
        ALS_PORT=str(port),
        ALS_PUBLIC_URL=base,
        ALS_METRICS_PORT="0",
        ALS_KEYCLOAK_URL=settings.keycloak_url,
        ALS_MONGODB_URI=settings.mongodb_uri,
        ALS_MONGODB_DB=settings.mongodb_db,
        ALS_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [installed / "als", "serve"],
        cwd=installed.parent.parent / "elsewhere",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the installed server did not start"
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            async with http.get(f"{base}/no-such-page") as resp:
                assert resp.status == 404
                assert resp.content_type == "text/html"
                page = await resp.text()
            assert "Sorry, that did not work" in page  # error.html
            assert "<strong>Account linking</strong>" in page  # base.html, which it extends
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200
                assert "Log in" in await resp.text()  # home.html
            # The catalogs the build compiled (service/locale/*/LC_MESSAGES/messages.mo).
            async with http.get(f"{base}/", headers={"Accept-Language": "ja"}) as resp:
                assert '<html lang="ja"' in (page := await resp.text()) and "ログイン" in page
    finally:
        server.terminate()
        server.communicate(timeout=20)


def _locked() -> dict[str, tuple[str, int]]:
    """requirements.lock as {name: (pinned version, number of hashes)}."""
    text = (ROOT / "requirements.lock").read_text()
    entries: dict[str, tuple[str, int]] = {}
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        requirement, *options = entry.split()
        assert "==" in requirement, f"not pinned in requirements.lock: {entry}"
        name, version = requirement.split("==")
        hashes = [o for o in options if o.startswith("--hash=sha256:")]
        assert hashes and len(hashes) == len(options), f"lacks --hash: {entry}"
        entries[canonicalize_name(name)] = (version, len(hashes))
    return entries


def test_the_lock_pins_every_runtime_dependency_with_hashes_and_no_dev_tool() -> None:
    locked = _locked()
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: run `make lock`"
        version, _ = locked[name]
        assert requirement.specifier.contains(version), f"{name}=={version} ∉ {requirement}"
    for tool in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        assert canonicalize_name(Requirement(tool).name) not in locked


def test_the_venv_stays_out_of_git_and_of_the_image() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".venv/"], cwd=ROOT, check=False)
    assert ignored.returncode == 0
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env"} <= set(dockerignore)


@pytest.mark.skipif(
    Path(sys.prefix) != ROOT / ".venv", reason="checks the venv `make test` runs in"
)
def test_install_is_quick_and_silent_when_nothing_changed() -> None:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "scripts/install.sh"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "[install]" not in done.stderr  # nothing was (re)installed
    assert time.monotonic() - started < 15
