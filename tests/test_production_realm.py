"""The production realm template (keycloak/alexa-linking-realm.production.json), filled in as
Keycloak fills it in at import and imported into the test Keycloak as a realm of its own: our
confidential client with PKCE S256 and redirect URIs built from the public URL, brute-force
protection, no demo users, no bench client, no password grant; and a user made for the test
logs in through it to the service configured for that realm."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from service.app import create_app
from service.keycloak_admin import KeycloakAdminClient
from service.settings import Settings
from tests.support.browser import Browser
from tests.support.fixture_types import AiohttpServer
from tests.support.keycloak_admin import (
    DEV_REALM,
    PRODUCTION_TEMPLATE,
    ImportedRealm,
    KeycloakAdmin,
    production_environment,
    production_realm,
    resolve_placeholders,
)
from tests.support.stack import free_port


@pytest.fixture(scope="module")
def admin() -> Iterator[KeycloakAdmin]:
    client = KeycloakAdmin()
    yield client
    client.close()


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def realm(admin: KeycloakAdmin, port: int) -> Iterator[ImportedRealm]:
    """Imported once for this module, for a service on http://127.0.0.1:<port> (dev mode: the
    https case is tests/test_tls_proxy.py, which imports the same template)."""
    with production_realm(admin, f"http://127.0.0.1:{port}") as imported:
        yield imported
    assert admin.request("GET", f"/realms/{imported.name}").status_code == 404


def new_password() -> str:
    return "Pw-" + secrets.token_hex(8)  # the realm's policy: 12+ characters


def _dev_realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEV_REALM.read_text())
    return data


def test_the_template_fills_in_as_keycloak_fills_it_in(admin: KeycloakAdmin) -> None:
    environment = production_environment("https://link.example.com")
    text = resolve_placeholders(PRODUCTION_TEMPLATE, environment, admin.server_version())
    assert "${" not in text
    realm = json.loads(text)
    assert realm["realm"] == environment["ALS_KEYCLOAK_REALM"]
    assert realm["bruteForceProtected"] is True
    assert realm["registrationAllowed"] is False
    assert [role["name"] for role in realm["roles"]["realm"]] == ["admin"]
    [client] = realm["clients"]
    # No person: the first admin is made by hand (README, "Production"). The one user is our
    # client's service account, which may read users and admin events (README, "Identity
    # changes in Keycloak") and nothing else.
    [service_account] = realm["users"]
    assert service_account["serviceAccountClientId"] == client["clientId"]
    assert service_account["clientRoles"] == {"realm-management": ["view-users", "view-events"]}
    assert "credentials" not in service_account
    assert (realm["adminEventsEnabled"], realm["adminEventsDetailsEnabled"]) == (True, True)
    # The id the service uses by default (ALS_KEYCLOAK_CLIENT_ID) when the variable is unset.
    assert client["clientId"] == Settings().keycloak_client_id
    assert client["secret"] == environment["ALS_KEYCLOAK_CLIENT_SECRET"]
    assert client["publicClient"] is False
    assert client["redirectUris"] == ["https://link.example.com/login/callback"]
    assert client["attributes"]["post.logout.redirect.uris"] == "https://link.example.com/"
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    flows = {
        name: client[name]
        for name in (
            "standardFlowEnabled",
            "implicitFlowEnabled",
            "directAccessGrantsEnabled",
            "serviceAccountsEnabled",
        )
    }
    assert flows == {
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True,
    }

    # Keycloak leaves a placeholder it cannot fill in as it is: the secret has no default, so
    # docker-compose.yml requires ALS_KEYCLOAK_CLIENT_SECRET rather than import `${…}`.
    del environment["ALS_KEYCLOAK_CLIENT_SECRET"]
    unset = json.loads(
        resolve_placeholders(PRODUCTION_TEMPLATE, environment, admin.server_version())
    )
    assert unset["clients"][0]["secret"] == "${ALS_KEYCLOAK_CLIENT_SECRET}"


def test_the_imported_realm_has_no_demo_users_no_bench_client_and_no_password_grant(
    admin: KeycloakAdmin, realm: ImportedRealm
) -> None:
    assert admin.get_json(f"/realms/{realm.name}/users") == []
    dev = _dev_realm()
    people = [user for user in dev["users"] if "serviceAccountClientId" not in user]
    assert people  # (the service account of our client is in both realms)
    for user in people:
        found = admin.get_json(
            f"/realms/{realm.name}/users", username=user["username"], exact="true"
        )
        assert found == [], user["username"]
    client_ids = {c["clientId"] for c in admin.get_json(f"/realms/{realm.name}/clients")}
    assert "bench-client" not in client_ids
    assert {c["clientId"] for c in dev["clients"]} & client_ids == {realm.client_id}
    settings = admin.get_json(f"/realms/{realm.name}")
    assert settings["bruteForceProtected"] is True

    # Our client refuses the password grant (direct access grants are off), even with its
    # secret.
    username, password = f"pw-{secrets.token_hex(4)}", new_password()
    admin.create_user(realm.name, username, password)
    answer = httpx.post(
        f"{admin.base_url}/realms/{realm.name}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": realm.client_id,
            "client_secret": realm.client_secret,
            "username": username,
            "password": password,
        },
    )
    assert answer.status_code in (400, 401)
    assert answer.json()["error"] == "unauthorized_client"


async def test_a_user_logs_in_to_the_service_through_the_realm(
    admin: KeycloakAdmin,
    realm: ImportedRealm,
    port: int,
    aiohttp_server: AiohttpServer,
    settings: Settings,
    browser: Browser,
) -> None:
    configured = settings.with_(
        public_url=realm.public_url,
        port=port,
        keycloak_realm=realm.name,
        keycloak_client_id=realm.client_id,
        keycloak_client_secret=realm.client_secret,
    )
    await aiohttp_server(create_app(configured), port=port)
    username, password = f"admin-{secrets.token_hex(4)}", new_password()
    admin.create_user(realm.name, username, password, roles=["admin"])

    page = await browser.get(f"{realm.public_url}/login?next=/admin")
    # Keycloak's login page of the imported realm, reached with PKCE S256 (the client
    # requires it: a login without a challenge is refused by Keycloak).
    assert f"/realms/{realm.name}/" in page.url
    page = await browser.keycloak_login(page, username, password)
    # Logged in, with the realm role `admin` in the ID token: the admin pages open.
    assert page.status == 200, page.text[:500]
    assert page.url == f"{realm.public_url}/admin"
    assert username in page.text


async def test_brute_force_protection_locks_the_user_out(
    admin: KeycloakAdmin, realm: ImportedRealm, browser: Browser
) -> None:
    """Keycloak's own login page, without the service: five wrong passwords in a row, and then
    the right one is refused too."""
    username, password = f"bf-{secrets.token_hex(4)}", new_password()
    user_id = admin.create_user(realm.name, username, password)
    auth = f"{admin.base_url}/realms/{realm.name}/protocol/openid-connect/auth?" + urlencode(
        {
            "response_type": "code",
            "client_id": realm.client_id,
            "redirect_uri": f"{realm.public_url}/login/callback",
            "scope": "openid",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWZF5ydSKJq0I",
            "code_challenge_method": "S256",
        }
    )
    page = await browser.get(auth)
    for _ in range(5):
        page = await browser.keycloak_login(page, username, "wrong-" + new_password())
        assert 'id="kc-form-login"' in page.text
    page = await browser.keycloak_login(page, username, password)
    assert page.redirect_to is None and 'id="kc-form-login"' in page.text  # still refused
    status = admin.get_json(f"/realms/{realm.name}/attack-detection/brute-force/users/{user_id}")
    assert status["disabled"] is True


async def test_our_service_account_reads_users_and_admin_events_and_changes_nothing(
    admin: KeycloakAdmin, realm: ImportedRealm, settings: Settings
) -> None:
    """What the identity sync and the user directory read, read through the imported realm
    with our own Keycloak admin client."""
    keycloak = KeycloakAdminClient(
        settings.with_(
            keycloak_realm=realm.name,
            keycloak_client_id=realm.client_id,
            keycloak_client_secret=realm.client_secret,
        )
    )
    try:
        username = f"sa-{secrets.token_hex(4)}"
        user_id = admin.create_user(realm.name, username, new_password(), roles=["admin"])
        found = await keycloak.user_by_username(username)
        assert found is not None and (found.id, found.enabled) == (user_id, True)
        assert "admin" in (await keycloak.realm_roles(user_id) or ())
        response = admin.request(
            "PUT", f"/realms/{realm.name}/users/{user_id}", json={"enabled": False}
        )
        assert response.status_code == 204
        events = await keycloak.admin_events(
            since_ms=0, resource_types=("USER",), operations=("UPDATE", "DELETE")
        )
        [disabled] = [e for e in events if e.user_id == user_id]
        assert disabled.operation == "UPDATE" and disabled.representation == {"enabled": False}

        # Read only: its token cannot change a user.
        token = httpx.post(
            f"{admin.base_url}/realms/{realm.name}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=(realm.client_id, realm.client_secret),
        ).json()["access_token"]
        refused = httpx.put(
            f"{admin.base_url}/admin/realms/{realm.name}/users/{user_id}",
            json={"enabled": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 403
    finally:
        await keycloak.close()
