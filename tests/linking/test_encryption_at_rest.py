"""Everything we hold for someone else is stored only encrypted (docs/alexa-protocols.md R22),
and key rotation keeps every link readable (`python -m service rekey`)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from service.crypto import KeyRing
from service.linking.rekey import rekey
from service.linking.sealing import seal_token
from service.linking.tokens import refresh_token_to_store
from service.settings import Settings
from service.storage import partner_tokens, partners
from service.web.appkeys import KEYRING, SETTINGS
from tests.support.linking import LWA_SECRET, PARTNER_ID, USER_ID, Linking
from tests.support.processes import REPO, settings_env


async def _all_documents(linking: Linking) -> str:
    dump: list[Any] = []
    for name in await linking.db.list_collection_names():
        dump += await linking.db[name].find({}).to_list(None)
    return repr(dump)


async def test_no_plaintext_token_or_secret_in_any_collection(linking: Linking) -> None:
    await linking.link()
    first = (await linking.partner_token()).body["access_token"]
    await linking.age_link()
    second = (await linking.partner_token()).body["access_token"]  # after a refresh too
    refresh_tokens = [t for t in linking.amazon._refresh]  # every refresh token LWA issued
    stored = await _all_documents(linking)
    for secret in [LWA_SECRET, first, second, *refresh_tokens]:
        assert secret not in stored
    assert "Atza|" not in stored and "Atzr|" not in stored
    partner = await linking.db[partners.COLLECTION].find_one({"_id": PARTNER_ID})
    assert partner is not None and partner["lwa_client_secret_enc"].startswith("v1.")


async def test_ciphertext_is_bound_to_its_record(linking: Linking) -> None:
    """A token copied into another user's link does not decrypt (AAD = user, partner, field)."""
    await linking.link()
    await linking.link(user_id="mallory", username="mallory")
    victim = await linking.link_doc()
    assert victim is not None
    await linking.db[partner_tokens.COLLECTION].update_one(
        {"user_id": "mallory"}, {"$set": {"access_token_enc": victim["access_token_enc"]}}
    )
    answer = await linking.partner_token("mallory")
    assert (answer.status, answer.body["error"]) == (500, "server_error")
    assert "Atza" not in json.dumps(answer.body)


async def test_rotation_keeps_every_link_readable(linking: Linking) -> None:
    await linking.link()
    await linking.link(user_id="u2", username="u2")
    before = {u: (await linking.partner_token(u)).body["access_token"] for u in (USER_ID, "u2")}
    old_spec = linking.app[SETTINGS].encryption_keys
    new_spec = f"k2:{KeyRing.generate_key()},{old_spec}"
    new_ring = KeyRing.parse(new_spec)

    counts = {c.collection: c for c in await rekey(linking.db, new_ring)}
    assert counts["partners"].reencrypted == 1
    assert counts["partner_tokens"].reencrypted == 4  # access + refresh for two users
    assert sum(c.failed for c in counts.values()) == 0
    again = await rekey(linking.db, new_ring)  # idempotent
    assert sum(c.reencrypted for c in again) == 0

    # Old key dropped: only k2 left. Every link still decrypts and refreshes.
    only_new = KeyRing.parse(new_spec.split(",")[0])
    link = await partner_tokens.get(linking.db, USER_ID, PARTNER_ID)
    assert link is not None and link.access_token is not None
    assert link.access_token.open(only_new) == before[USER_ID]
    partner = await partners.get(linking.db, PARTNER_ID)
    assert partner is not None and partner.lwa_client_secret.open(only_new) == LWA_SECRET
    assert all(
        doc["access_token_enc"].startswith("v1.k2.")
        for doc in await linking.db[partner_tokens.COLLECTION].find({}).to_list(None)
    )


async def test_a_refresh_racing_rekey_does_not_bring_back_the_old_key(linking: Linking) -> None:
    """A refresh read the set (sealed under k1) before `rekey` moved it to k2; LWA sent no new
    refresh token, so the kept one goes into the next generation: under k2, or dropping k1
    would break the link although rekey had reported it done."""
    await linking.link()
    read_before_rekey = await partner_tokens.get(linking.db, USER_ID, PARTNER_ID)
    assert read_before_rekey is not None and read_before_rekey.refresh_token is not None
    new_spec = f"k2:{KeyRing.generate_key()},{linking.app[SETTINGS].encryption_keys}"
    new_ring = KeyRing.parse(new_spec)  # the servers restarted with it (rotation step 1)
    await rekey(linking.db, new_ring)
    now = datetime.now(UTC)
    assert await partner_tokens.complete_refresh(
        linking.db,
        read_before_rekey,
        access_token=seal_token(
            new_ring, "Atza|new", user_id=USER_ID, partner_id=PARTNER_ID, kind="access"
        ),
        refresh_token=refresh_token_to_store(new_ring, read_before_rekey, None),
        expires_at=now + timedelta(hours=1),
        refresh_at=now + timedelta(minutes=55),
        now=now,
    )
    only_new = KeyRing.parse(new_spec.split(",")[0])
    current = await partner_tokens.get(linking.db, USER_ID, PARTNER_ID)
    assert current is not None and current.refresh_token is not None
    assert current.refresh_token.open(only_new) == read_before_rekey.refresh_token.open(new_ring)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=REPO,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_rekey_command_then_server_with_only_the_new_key(
    linking: Linking, make_app: Any, aiohttp_server: Any
) -> None:
    await linking.link()
    before = (await linking.partner_token()).body["access_token"]
    settings: Settings = linking.app[SETTINGS]
    new_key = f"k2:{KeyRing.generate_key()}"
    rotated = settings.with_(encryption_keys=f"{new_key},{settings.encryption_keys}")

    result = _cli(rotated, "rekey")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["primary_key"] == "k2"
    by_name = {c["collection"]: c for c in report["collections"]}
    assert by_name["partners"]["reencrypted"] == 1
    assert by_name["partner_tokens"]["reencrypted"] == 2
    second = json.loads(_cli(rotated, "rekey").stdout)
    assert all(c["reencrypted"] == 0 for c in second["collections"])

    # A server that knows only the new key serves the same link.
    app = make_app(encryption_keys=new_key)
    assert app[KEYRING].kids == ("k2",)
    server = await aiohttp_server(app)
    other = Linking(**{**linking.__dict__, "base_url": f"http://127.0.0.1:{server.port}"})
    answer = await other.partner_token()
    assert answer.status == 200 and answer.body["access_token"] == before
    await other.age_link()
    assert (await other.partner_token()).status == 200  # the partner secret decrypts too


async def test_rekey_reports_what_it_cannot_decrypt(linking: Linking) -> None:
    await linking.link()
    unrelated = f"k9:{KeyRing.generate_key()}"
    result = _cli(linking.app[SETTINGS].with_(encryption_keys=unrelated), "rekey")
    assert result.returncode == 1
    assert "could not be decrypted" in result.stderr
    report = json.loads(result.stdout)
    assert sum(c["failed"] for c in report["collections"]) == 3
    # Nothing was changed.
    doc = await linking.link_doc()
    assert doc is not None and doc["access_token_enc"].split(".")[1] != "k9"


async def test_keyring_from_the_settings_is_used(linking: Linking) -> None:
    ring: KeyRing = linking.app[KEYRING]
    doc = await linking.db[partners.COLLECTION].find_one({"_id": PARTNER_ID})
    assert doc is not None and doc["lwa_client_secret_enc"].split(".")[1] == ring.primary_kid
