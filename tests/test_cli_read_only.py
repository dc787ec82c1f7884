"""The read-only admin commands (`clients list|show`, `partners list|show`) need only the
database settings: in production mode they run where the server's secrets are not set, while
the commands that write still refuse to."""

from __future__ import annotations

import json

from service.crypto import KeyRing
from service.db import connect
from service.linking.partners import add_partner
from service.settings import Settings
from tests.support.cli import cli
from tests.support.oauth import create_client

LWA_SECRET = "lwa-secret-never-printed"
# With the database settings that cli() adds, and no other ALS_ variable.
ONLY_THE_DATABASE = {"ALS_ENV": "production"}


async def _one_client_and_partner(settings: Settings) -> str:
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_db]
        created, _ = await create_client(db, client_id="ro-skill", name="Read-only skill")
        await add_partner(
            db,
            KeyRing.parse(settings.encryption_keys),
            partner_id=created.client_id,
            lwa_client_id="amzn1.application-oa2-client.ro",
            lwa_client_secret=LWA_SECRET,
            region="EU",
            actor="test",
        )
    finally:
        await client.close()
    return created.client_id


async def test_read_only_commands_run_with_only_the_database_settings(
    settings: Settings,
) -> None:
    client_id = await _one_client_and_partner(settings)

    listed = await cli(settings, "clients", "list", env=ONLY_THE_DATABASE)
    assert listed.returncode == 0, listed.stderr
    assert [c["client_id"] for c in json.loads(listed.stdout)] == [client_id]
    shown = await cli(settings, "clients", "show", client_id, env=ONLY_THE_DATABASE)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "Read-only skill"

    partners = await cli(settings, "partners", "list", env=ONLY_THE_DATABASE)
    assert partners.returncode == 0, partners.stderr
    assert [p["partner_id"] for p in json.loads(partners.stdout)] == [client_id]
    partner = await cli(settings, "partners", "show", client_id, env=ONLY_THE_DATABASE)
    assert partner.returncode == 0, partner.stderr
    assert json.loads(partner.stdout)["lwa_client_id"] == "amzn1.application-oa2-client.ro"

    for result in (listed, shown, partners, partner):
        assert LWA_SECRET not in result.stdout + result.stderr


async def test_an_unknown_id_is_still_an_error(settings: Settings) -> None:
    for kind in ("clients", "partners"):
        missing = await cli(settings, kind, "show", "no-such-id", env=ONLY_THE_DATABASE)
        assert missing.returncode == 1
        assert "no-such-id" in missing.stderr


async def test_commands_that_write_still_need_the_production_settings(
    settings: Settings,
) -> None:
    refused = await cli(
        settings,
        "clients",
        "add",
        "--name",
        "x",
        "--redirect-uri",
        "https://a.example/cb",
        env=ONLY_THE_DATABASE,
    )
    assert refused.returncode == 2
    assert "configuration error" in refused.stderr and "ALS_" in refused.stderr
    assert json.loads((await cli(settings, "clients", "list")).stdout) == []
