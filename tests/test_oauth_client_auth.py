"""Client authentication at the token endpoint (RFC 6749 §2.3.1, §5.2): HTTP Basic with
form-urlencoded parts, or body fields, never both; invalid_client is 401 with a challenge."""

from __future__ import annotations

import base64

import bcrypt
import pytest
from aiohttp.test_utils import TestServer

from service.oauth import secret_hashing
from service.oauth.clients import rotate_secret, settings_of, update_client
from service.storage import clients as client_store
from service.web.appkeys import DB
from tests.support.oauth import basic_auth, client_credentials_token, create_client, post

CC = {"grant_type": "client_credentials"}


async def _backend(server: TestServer, **fields: object) -> tuple[str, str]:
    client, secret = await create_client(
        server.app[DB], grant_types=["client_credentials"], scopes=[], **fields
    )
    return client.client_id, secret


async def test_wrong_secret_with_basic_is_401_with_www_authenticate(
    server: TestServer, base_url: str
) -> None:
    client_id, _ = await _backend(server)
    answer = await post(
        f"{base_url}/oauth/token", CC, headers={"Authorization": basic_auth(client_id, "wrong" * 6)}
    )
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert answer.body["error"] == "invalid_client"
    assert answer.headers["Cache-Control"] == "no-store"


async def test_wrong_secret_in_body_is_invalid_client(server: TestServer, base_url: str) -> None:
    client_id, _ = await _backend(server)
    answer = await post(
        f"{base_url}/oauth/token", {**CC, "client_id": client_id, "client_secret": "wrong" * 6}
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"


async def test_unknown_client_is_invalid_client(server: TestServer, base_url: str) -> None:
    answer = await post(
        f"{base_url}/oauth/token", CC, headers={"Authorization": basic_auth("nobody", "x" * 30)}
    )
    assert answer.status == 401 and answer.body["error"] == "invalid_client"


async def test_no_client_authentication_is_invalid_client(
    server: TestServer, base_url: str
) -> None:
    client_id, _ = await _backend(server)
    for data in (CC, {**CC, "client_id": client_id}):
        answer = await post(f"{base_url}/oauth/token", data)
        assert answer.status == 401 and answer.body["error"] == "invalid_client"


async def test_basic_and_body_secret_together_is_invalid_request(
    server: TestServer, base_url: str
) -> None:
    client_id, secret = await _backend(server)
    answer = await post(
        f"{base_url}/oauth/token",
        {**CC, "client_id": client_id, "client_secret": secret},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_request"


async def test_basic_with_matching_body_client_id_is_accepted(
    server: TestServer, base_url: str
) -> None:
    client_id, secret = await _backend(server)
    answer = await post(
        f"{base_url}/oauth/token",
        {**CC, "client_id": client_id},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    assert answer.status == 200
    answer = await post(
        f"{base_url}/oauth/token",
        {**CC, "client_id": "someone-else"},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    assert answer.status == 400 and answer.body["error"] == "invalid_request"


async def test_body_client_id_is_compared_with_the_decoded_basic_id(
    server: TestServer, base_url: str
) -> None:
    # Java's URLEncoder (Alexa runs on Java) writes `~` as %7E; the Basic id is form-decoded
    # before use, so it is the decoded id that the body's client_id must equal.
    client_id, secret = await _backend(server, client_id="alexa~skill.1")
    encoded = base64.b64encode(f"alexa%7Eskill.1:{secret}".encode()).decode()
    answer = await post(
        f"{base_url}/oauth/token",
        {**CC, "client_id": client_id},
        headers={"Authorization": "Basic " + encoded},
    )
    assert answer.status == 200, answer.body


async def test_basic_parts_are_form_urlencoded_per_rfc6749(
    server: TestServer, base_url: str
) -> None:
    secret = "a+b/c:d=e%f g&h-long-enough-secret"
    client_id, _ = await _backend(server, secret=secret)
    conforming = await post(
        f"{base_url}/oauth/token", CC, headers={"Authorization": basic_auth(client_id, secret)}
    )
    assert conforming.status == 200
    # Many clients (authlib's among them) skip the form-encoding; they are accepted too.
    raw = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    lenient = await post(f"{base_url}/oauth/token", CC, headers={"Authorization": raw})
    assert lenient.status == 200


async def test_secret_is_stored_only_as_a_hash(server: TestServer) -> None:
    db = server.app[DB]
    client_id, secret = await _backend(server)
    doc = await db[client_store.COLLECTION].find_one({"_id": client_id})
    assert doc is not None
    assert secret not in str(doc)
    assert bcrypt.checkpw(secret.encode(), doc["secret_hash"].encode())


async def test_client_credentials_issues_no_refresh_token_and_no_user(
    server: TestServer, base_url: str
) -> None:
    client_id, secret = await _backend(server, permissions=["partner_token:p1"])
    answer = await post(
        f"{base_url}/oauth/token", CC, headers={"Authorization": basic_auth(client_id, secret)}
    )
    assert answer.status == 200
    assert set(answer.body) == {"access_token", "token_type", "expires_in"}
    me = await post(
        f"{base_url}/oauth/introspect",
        {"token": answer.body["access_token"]},
        headers={"Authorization": basic_auth(client_id, secret)},
    )
    assert me.body["active"] is True and "sub" not in me.body


async def test_client_credentials_scope_must_be_allowed(server: TestServer, base_url: str) -> None:
    client, secret = await create_client(
        server.app[DB], grant_types=["client_credentials"], scopes=["reports"]
    )
    auth = {"Authorization": basic_auth(client.client_id, secret)}
    ok = await post(f"{base_url}/oauth/token", {**CC, "scope": "reports"}, headers=auth)
    assert ok.status == 200 and ok.body["scope"] == "reports"
    bad = await post(f"{base_url}/oauth/token", {**CC, "scope": "admin"}, headers=auth)
    assert bad.status == 400 and bad.body["error"] == "invalid_scope"


async def test_grant_not_allowed_for_client_is_unauthorized_client(
    server: TestServer, base_url: str
) -> None:
    client, secret = await create_client(server.app[DB])  # code + refresh only
    answer = await post(
        f"{base_url}/oauth/token",
        CC,
        headers={"Authorization": basic_auth(client.client_id, secret)},
    )
    assert answer.status == 400 and answer.body["error"] == "unauthorized_client"


async def test_helper_token_matches_endpoint_token(server: TestServer) -> None:
    db = server.app[DB]
    client, _ = await create_client(db, grant_types=["client_credentials"], scopes=[])
    assert len(await client_credentials_token(server.app, client)) >= 43


async def test_an_edit_made_from_an_older_copy_keeps_a_rotated_secret(
    server: TestServer, base_url: str
) -> None:
    db = server.app[DB]
    client, old = await create_client(db, grant_types=["client_credentials"], scopes=[])
    new = await rotate_secret(db, client.client_id, actor="test")
    assert new is not None
    # An admin's edit form was loaded before the rotation and is saved after it.
    assert await update_client(
        db, client.client_id, actor="test", **{**settings_of(client), "name": "Renamed"}
    )
    for secret, status in ((old, 401), (new, 200)):
        answer = await post(
            f"{base_url}/oauth/token",
            CC,
            headers={"Authorization": basic_auth(client.client_id, secret)},
        )
        assert answer.status == status


async def test_too_many_waiting_secret_checks_is_503_but_known_secrets_still_pass(
    server: TestServer, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, secret = await _backend(server)
    auth = {"Authorization": basic_auth(client_id, secret)}
    monkeypatch.setattr(secret_hashing, "MAX_PENDING", 0)  # as if a flood filled the queue
    busy = await post(f"{base_url}/oauth/token", CC, headers=auth)
    assert busy.status == 503 and busy.body["error"] == "temporarily_unavailable"
    assert busy.headers["Retry-After"] == "1"
    monkeypatch.setattr(secret_hashing, "MAX_PENDING", 32)
    assert (await post(f"{base_url}/oauth/token", CC, headers=auth)).status == 200
    monkeypatch.setattr(secret_hashing, "MAX_PENDING", 0)
    assert (await post(f"{base_url}/oauth/token", CC, headers=auth)).status == 200  # remembered
