"""The test Keycloak's admin REST API (as the master realm's admin that `scripts/stack.sh up`
bootstraps), and our production realm template imported into it as Keycloak imports it.

Keycloak fills in a realm file's `${VAR}` / `${VAR:default}` placeholders from its environment
when it imports the file at startup (`kc.sh start --import-realm`). The tests cannot restart the
shared test Keycloak with other variables, so they run Keycloak's own code for that step
(`ResolveRealm.java`: `StringPropertyReplacer` over the file, environment variables as the
source, as `AbstractFileBasedImportProvider.parseFile` does), with the keycloak-common jar of
the running Keycloak's version, and create the realm from the result through the admin API
(`POST /admin/realms`, the same representation an import reads). Each import gets a realm name
of its own (`als-test-…`), deleted again at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack import CACHE, load_stack_env

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_TEMPLATE = REPO / "keycloak" / "alexa-linking-realm.production.json"
DEV_REALM = REPO / "keycloak" / "alexa-linking-realm.json"
RESOLVER = Path(__file__).with_name("ResolveRealm.java")
TOKEN_REUSE_SECONDS = 30.0  # the master realm's admin tokens live 60 s


class KeycloakAdmin:
    def __init__(self) -> None:
        stack = load_stack_env()
        self.base_url = stack["ALS_KEYCLOAK_URL"].rstrip("/")
        self._username = stack.get("ALS_KC_ADMIN_USERNAME", "admin")
        self._password = stack.get("ALS_KC_ADMIN_PASSWORD", "admin")
        self._http = httpx.Client(base_url=self.base_url, timeout=30.0)
        self._token: str | None = None
        self._token_at = 0.0

    def close(self) -> None:
        self._http.close()

    def _bearer(self) -> dict[str, str]:
        if self._token is None or time.monotonic() - self._token_at > TOKEN_REUSE_SECONDS:
            response = self._http.post(
                "/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self._username,
                    "password": self._password,
                },
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
            self._token_at = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, "/admin" + path, headers=self._bearer(), **kwargs)

    def get_json(self, path: str, **params: str) -> Any:
        response = self.request("GET", path, params=params)
        response.raise_for_status()
        return response.json()

    def server_version(self) -> str:
        return str(self.get_json("/serverinfo")["systemInfo"]["version"])

    def create_realm(self, representation: Mapping[str, Any]) -> None:
        response = self.request("POST", "/realms", json=dict(representation))
        assert response.status_code == 201, response.text

    def delete_realm(self, name: str) -> None:
        response = self.request("DELETE", f"/realms/{name}")
        assert response.status_code in (204, 404), response.text

    def create_user(
        self, realm: str, username: str, password: str, roles: Sequence[str] = ()
    ) -> str:
        """A user with a password and the given realm roles; returns the user's id."""
        response = self.request(
            "POST",
            f"/realms/{realm}/users",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "emailVerified": True,
                "firstName": "Test",
                "lastName": "User",
                "enabled": True,
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        assert response.status_code == 201, response.text
        user_id = response.headers["Location"].rsplit("/", 1)[-1]
        if roles:
            mappings = [self.get_json(f"/realms/{realm}/roles/{role}") for role in roles]
            response = self.request(
                "POST", f"/realms/{realm}/users/{user_id}/role-mappings/realm", json=mappings
            )
            assert response.status_code == 204, response.text
        return user_id


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").exists():
        return str(Path(java_home, "bin", "java"))
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("java is needed (it runs Keycloak, too)")
    return found


def _one(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.glob(pattern))
    if not matches:
        raise RuntimeError(f"no {pattern} in {folder}: is the test stack's Keycloak installed?")
    return matches[-1]


def resolve_placeholders(template: Path, environment: Mapping[str, str], version: str) -> str:
    """The template with its placeholders filled in by Keycloak `version`'s own code, given
    exactly `environment` (plus PATH) as the process environment."""
    lib = CACHE / f"keycloak-{version}" / "lib" / "lib"
    classpath = [
        _one(lib / "main", "org.keycloak.keycloak-common-*.jar"),
        _one(lib / "boot", "org.jboss.logging.jboss-logging-*.jar"),
    ]
    result = subprocess.run(
        [_java(), "-cp", os.pathsep.join(map(str, classpath)), str(RESOLVER), str(template)],
        env={"PATH": os.environ.get("PATH", ""), **environment},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


@dataclass(frozen=True)
class ImportedRealm:
    name: str
    client_id: str
    client_secret: str
    public_url: str
    representation: dict[str, Any]  # what was imported (placeholders filled in)


def production_environment(public_url: str) -> dict[str, str]:
    """What an operator's .env gives Keycloak for the template: a realm name of this run's own,
    our public URL and a fresh client secret; the client id is left to the template's default."""
    return {
        "ALS_KEYCLOAK_REALM": f"als-test-{uuid.uuid4().hex[:12]}",
        "ALS_PUBLIC_URL": public_url,
        "ALS_KEYCLOAK_CLIENT_SECRET": secrets.token_hex(24),
    }


@contextmanager
def production_realm(admin: KeycloakAdmin, public_url: str) -> Iterator[ImportedRealm]:
    """The production template imported as a new realm for `public_url`; deleted afterwards."""
    environment = production_environment(public_url)
    text = resolve_placeholders(PRODUCTION_TEMPLATE, environment, admin.server_version())
    representation: dict[str, Any] = json.loads(text)
    [client] = representation["clients"]
    admin.create_realm(representation)
    try:
        yield ImportedRealm(
            name=representation["realm"],
            client_id=client["clientId"],
            client_secret=environment["ALS_KEYCLOAK_CLIENT_SECRET"],
            public_url=public_url,
            representation=representation,
        )
    finally:
        admin.delete_realm(representation["realm"])
