"""docker-compose.yml, checked without Docker (no engine runs here): valid against the Compose
Specification's JSON schema (vendored in tests/schemas/, Apache-2.0), and what it deploys —
only the TLS proxy publishes ports; Keycloak in production mode on PostgreSQL importing the
production realm template; MongoDB with authentication as a replica set with its init step; the
service's multi-worker command; healthchecks and grace periods; every secret from .env, the
required ones required — and .env.example listing exactly what compose and the service read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.settings import PREFIX, Settings
from tests.support.compose import (
    CADDYFILE,
    COMPOSE_FILE,
    REPO,
    Reference,
    env_example,
    load_compose,
    references,
    strings,
)
from tests.support.keycloak_admin import DEV_REALM, PRODUCTION_TEMPLATE

SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
ONE_SHOT = {"mongo-keyfile", "mongo-init"}  # init steps: run once, then exit
SECRETS = re.compile(r"PASSWORD|SECRET|_KEY$|_KEYS$")
# The template's placeholders: ${NAME} or ${NAME:default} (Keycloak's syntax).
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def service_settings() -> set[str]:
    """The variables the service reads: one per Settings field (service/settings.py; the
    MONGODB_URI alias of ALS_MONGODB_URI is left out on purpose)."""
    return {PREFIX + name.upper() for name in Settings.__dataclass_fields__}


def compose_references(compose: dict[str, Any]) -> list[Reference]:
    return [ref for text in strings(compose) for ref in references(text)]


def environment(compose: dict[str, Any], service: str) -> dict[str, Any]:
    env: dict[str, Any] = compose["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return env


def caddy_address(compose: dict[str, Any]) -> str:
    return str(compose["services"]["caddy"]["networks"]["edge"]["ipv4_address"])


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_only_the_tls_proxy_publishes_ports(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in compose["services"].items() if "ports" in s}
    assert published == {"caddy": ["80:80", "443:443", "443:443/udp"]}
    caddy = compose["services"]["caddy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    for name, service in compose["services"].items():
        assert "network_mode" not in service, name  # host networking would publish all


def test_keycloak_runs_in_production_mode_on_postgres_importing_the_production_template(
    compose: dict[str, Any],
) -> None:
    keycloak = compose["services"]["keycloak"]
    assert keycloak["command"][0] == "start" and "--import-realm" in keycloak["command"]
    template = PRODUCTION_TEMPLATE.relative_to(REPO)
    assert keycloak["volumes"] == [
        f"./{template}:/opt/keycloak/data/import/alexa-linking-realm.json:ro",
        # the login theme both realm files name (loginTheme), from the checkout
        "./keycloak/themes/alexa-linking:/opt/keycloak/themes/alexa-linking:ro",
    ]
    assert (REPO / "keycloak" / "themes" / "alexa-linking" / "login" / "theme.properties").is_file()
    assert str(DEV_REALM.relative_to(REPO)) not in COMPOSE_FILE.read_text()  # never deployed
    env = environment(compose, "keycloak")
    assert env["KC_DB"] == "postgres"
    assert env["KC_DB_URL"] == "jdbc:postgresql://postgres:5432/keycloak"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert keycloak["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Behind the proxy: its headers believed from Caddy only; the admin console has a host of
    # its own (deploy/Caddyfile answers it to KC_ADMIN_ALLOWED_IPS only).
    assert env["KC_PROXY_HEADERS"] == "xforwarded"
    assert env["KC_PROXY_TRUSTED_ADDRESSES"] == caddy_address(compose)
    assert "KC_HOSTNAME" in env and "KC_HOSTNAME_ADMIN" in env
    # No password for a Keycloak admin in any file: the first one is made by a documented
    # step (README.md, "Production").
    assert not any(name.startswith("KC_BOOTSTRAP_ADMIN") for name in env)
    # Every placeholder of the template reaches Keycloak; those without a default are required.
    for name, default in PLACEHOLDER.findall(PRODUCTION_TEMPLATE.read_text()):
        assert name in env, name
        if not default:
            assert [r.required for r in references(str(env[name]))] == [True], name


def test_mongodb_has_authentication_and_is_a_replica_set_with_an_init_step(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    mongo = services["mongo"]
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    assert "--keyFile" in command  # authentication between members, implied access control
    env = environment(compose, "mongo")
    assert [r.required for r in references(env["MONGO_INITDB_ROOT_PASSWORD"])] == [True]
    assert mongo["depends_on"]["mongo-keyfile"]["condition"] == "service_completed_successfully"
    init = services["mongo-init"]
    assert init["depends_on"]["mongo"]["condition"] == "service_healthy"
    for volume in (*mongo["volumes"], *init["volumes"]):
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            assert (REPO / source).is_file(), source
    assert "rs.initiate" in (REPO / "deploy" / "mongo-replica-set.js").read_text()
    service = services["service"]
    assert service["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
    uri = environment(compose, "service")["ALS_MONGODB_URI"]
    assert uri.startswith("mongodb://als:${MONGO_APP_PASSWORD:?")
    assert uri.endswith("@mongo:27017/?replicaSet=rs0&authSource=admin")
    assert "mongo" not in {n for n in services if "edge" in services[n].get("networks", [])}


def test_the_service_runs_its_workers_behind_the_proxy_with_every_setting(
    compose: dict[str, Any],
) -> None:
    service = compose["services"]["service"]
    command = service["command"]
    assert command[:4] == ["python", "-m", "service", "serve"]
    assert command[command.index("--workers") + 1] == "${ALS_WORKERS:-2}"
    env = environment(compose, "service")
    assert env["ALS_ENV"] == "production"
    assert env["ALS_TRUSTED_PROXIES"] == caddy_address(compose)
    # Every setting the service has reaches it (a value, or the one from .env when set there),
    # and nothing else does.
    assert set(env) == service_settings()
    for name in ("ALS_KEYCLOAK_CLIENT_SECRET", "ALS_SESSION_KEY", "ALS_ENCRYPTION_KEYS"):
        assert [r.required for r in references(env[name])] == [True], name


def test_every_container_has_a_healthcheck_and_a_grace_period(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
        assert service["stop_grace_period"], name


def test_secrets_come_from_env_and_the_required_ones_are_required(
    compose: dict[str, Any],
) -> None:
    refs = compose_references(compose)
    for name in {r.name for r in refs if SECRETS.search(r.name)}:
        assert all(r.required for r in refs if r.name == name), name
    # No literal secret in the file: every secret-named variable's value is a reference.
    for service, spec in compose["services"].items():
        for name, value in spec.get("environment", {}).items():
            if SECRETS.search(name) and value is not None:
                assert list(references(str(value))), f"{service}: {name}"


def test_env_example_lists_what_compose_and_the_service_read_and_nothing_else(
    compose: dict[str, Any],
) -> None:
    lines = env_example()
    names = [line.name for line in lines]
    assert len(names) == len(set(names)), "a variable is listed twice"
    read = {r.name for r in compose_references(compose)} | service_settings()
    assert set(names) == read
    # What compose requires must be filled in: listed uncommented, and no value is shipped.
    required = {r.name for r in compose_references(compose) if r.required}
    for line in lines:
        if line.name in required:
            assert not line.commented, line.name
        if SECRETS.search(line.name):
            assert line.value == "" or line.value.startswith("<"), line.name


def test_the_caddyfile_gets_every_variable_it_needs_from_compose(
    compose: dict[str, Any],
) -> None:
    # Caddy's `{$VAR}` has no default; `{$VAR:default}` has one.
    needed = set(re.findall(r"\{\$([A-Z_]+)\}", CADDYFILE.read_text()))
    assert needed == {
        "ALS_PUBLIC_URL",
        "KC_HOSTNAME",
        "KC_HOSTNAME_ADMIN",
        "KC_ADMIN_ALLOWED_IPS",
        "CADDY_TLS",
    }
    env = environment(compose, "caddy")
    assert set(env) == needed
    assert all(r.required for name in needed for r in references(str(env[name])))
