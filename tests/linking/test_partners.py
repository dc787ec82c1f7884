"""Partners: regions, validation, the secret stored encrypted and never shown, and the
`python -m service partners` and `seed` commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from service.amazon import regions
from service.linking.partners import PartnerConfigError, add_partner, remove_partner
from service.settings import Settings
from service.storage import partner_tokens, partners
from service.web.appkeys import DB, KEYRING, SETTINGS
from tests.amazon_standin import AmazonStandIn
from tests.support.linking import LWA_SECRET, PARTNER_ID, Linking
from tests.support.processes import REPO, settings_env


def cli(
    settings: Settings, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=REPO,
        env=env or settings_env(settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("value", "token_url", "api_base"),
    [
        (None, "https://api.amazon.com/auth/o2/token", "https://api.amazonalexa.com"),
        ("NA", "https://api.amazon.com/auth/o2/token", "https://api.amazonalexa.com"),
        ("eu", "https://api.amazon.co.uk/auth/o2/token", "https://api.eu.amazonalexa.com"),
        ("FE", "https://api.amazon.co.jp/auth/o2/token", "https://api.fe.amazonalexa.com"),
        ("http://127.0.0.1:9400/", "http://127.0.0.1:9400/", "http://127.0.0.1:9400"),
    ],
)
def test_regions(value: str | None, token_url: str, api_base: str) -> None:
    assert regions.lwa_token_url(value, allow_custom=True) == token_url
    assert regions.alexa_api_base(value, allow_custom=True) == api_base


@pytest.mark.parametrize("bad", ["US", "ftp://x", "https://", "https://x/?q=1", "https://[x/o2"])
def test_unknown_region_or_url_is_refused(bad: str) -> None:
    with pytest.raises(regions.RegionError):
        regions.lwa_token_url(bad, allow_custom=True)


async def test_region_sets_both_hosts_and_secret_is_sealed(linking: Linking) -> None:
    partner = await add_partner(
        linking.db,
        linking.app[KEYRING],
        partner_id="eu-skill",
        lwa_client_id="amzn1.x",
        lwa_client_secret="s3cret-value",
        region="EU",
    )
    assert partner.lwa_token_url == regions.LWA_TOKEN_URLS["EU"]
    assert partner.alexa_api_base == regions.ALEXA_API_BASES["EU"]
    assert partner.scopes == ("alexa::health:profile:write",)
    assert "s3cret" not in repr(partner)
    doc = await linking.db[partners.COLLECTION].find_one({"_id": "eu-skill"})
    assert doc is not None and "s3cret-value" not in repr(doc)
    assert partner.lwa_client_secret.open(linking.app[KEYRING]) == "s3cret-value"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partner_id": "has space"}, "partner id"),
        ({"lwa_client_id": " "}, "LWA client id"),
        ({"lwa_client_secret": ""}, "secret"),
        ({"lwa_token_url": "not a url"}, "LWA token URL"),
        ({"alexa_api_base": "XX"}, "Alexa API base"),
    ],
)
async def test_invalid_partner_settings_are_refused(
    linking: Linking, changes: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {
        "partner_id": "p",
        "lwa_client_id": "amzn1.x",
        "lwa_client_secret": "secret",
        **changes,
    }
    with pytest.raises(PartnerConfigError, match=message):
        await add_partner(linking.db, linking.app[KEYRING], **values)


async def test_removing_a_partner_deletes_its_links(linking: Linking) -> None:
    await linking.link()
    removed, links = await remove_partner(linking.db, PARTNER_ID)
    assert removed and links == 1
    assert await linking.db[partner_tokens.COLLECTION].count_documents({}) == 0
    assert (await linking.partner_token()).status == 404


async def test_partners_cli_add_list_show_remove(linking: Linking) -> None:
    settings: Settings = linking.app[SETTINGS]
    added = cli(
        settings,
        "partners",
        "add",
        "cli-skill",
        "--lwa-client-id",
        "amzn1.cli",
        "--region",
        "FE",
        "--scope",
        "a",
        "--scope",
        "b",
        stdin="cli-secret-do-not-print\n",
    )
    assert added.returncode == 0, added.stderr
    shown = json.loads(added.stdout)
    assert shown["lwa_token_url"] == regions.LWA_TOKEN_URLS["FE"]
    assert shown["alexa_region"] == "FE" and shown["scopes"] == ["a", "b"]
    assert shown["lwa_client_secret"] == "(set, encrypted)"

    again = cli(
        settings, "partners", "add", "cli-skill", "--lwa-client-id", "amzn1.cli", stdin="x\n"
    )
    assert again.returncode == 1 and "--replace" in again.stderr

    listed = cli(settings, "partners", "list")
    assert {p["partner_id"] for p in json.loads(listed.stdout)} == {PARTNER_ID, "cli-skill"}
    await linking.link()
    one = cli(settings, "partners", "show", PARTNER_ID)
    assert json.loads(one.stdout)["links"] == {"active": 1}
    for result in (added, listed, one):
        assert "cli-secret-do-not-print" not in result.stdout + result.stderr
        assert LWA_SECRET not in result.stdout + result.stderr

    removed = cli(settings, "partners", "remove", PARTNER_ID)
    assert json.loads(removed.stdout) == {"removed": PARTNER_ID, "links_deleted": 1}
    assert cli(settings, "partners", "show", PARTNER_ID).returncode == 1
    stored = await partners.get(linking.db, "cli-skill")
    assert stored is not None
    assert stored.lwa_client_secret.open(linking.app[KEYRING]) == "cli-secret-do-not-print"


async def test_partners_cli_warns_when_no_client_has_the_partner_id(linking: Linking) -> None:
    """The partner id is the id of the skill's OAuth client; a typo would make a partner that
    no reciprocal call finds. Allowed (the client may come next), but said."""
    settings: Settings = linking.app[SETTINGS]
    typo = cli(
        settings, "partners", "add", "baby-activity-skil", "--lwa-client-id", "amzn1.x", stdin="s\n"
    )
    assert typo.returncode == 0, typo.stderr
    assert "warning: there is no OAuth client 'baby-activity-skil'" in typo.stderr
    right = cli(
        settings,
        "partners",
        "add",
        PARTNER_ID,
        "--replace",
        "--lwa-client-id",
        "amzn1.x",
        stdin="s\n",
    )
    assert right.returncode == 0 and "warning" not in right.stderr


async def test_partners_cli_does_not_guess_an_abbreviated_option(linking: Linking) -> None:
    # `--lwa-client-secret` is not `--lwa-client-secret-file`: the secret must not be taken for
    # a path (nor echoed back as one in an error).
    settings: Settings = linking.app[SETTINGS]
    done = cli(
        settings,
        "partners",
        "add",
        "other-skill",
        "--lwa-client-id",
        "amzn1.x",
        "--lwa-client-secret",
        "abc-secret",
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --lwa-client-secret" in done.stderr
    assert await partners.get(linking.db, "other-skill") is None


async def test_partners_cli_refuses_a_throwaway_dev_key(linking: Linking) -> None:
    settings: Settings = linking.app[SETTINGS]
    env = settings_env(settings)
    del env["ALS_ENCRYPTION_KEYS"]
    result = cli(
        settings, "partners", "add", "x", "--lwa-client-id", "amzn1.x", stdin="s\n", env=env
    )
    assert result.returncode == 1 and "ALS_ENCRYPTION_KEYS is not set" in result.stderr


async def test_seed_creates_the_demo_partner_against_the_standin(linking: Linking) -> None:
    """`make run`: the stand-in is another process; seed registers the LWA client there."""
    settings: Settings = linking.app[SETTINGS]
    standin = AmazonStandIn()
    await standin.start()
    try:
        result = await _run_async(cli, settings, "seed", "--amazon-standin", standin.base_url)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        demo = out["partner:demo-alexa-client"]
        assert demo["lwa_token_url"] == standin.lwa_token_url
        assert demo["alexa_api_base"] == standin.base_url
        assert "demo-lwa-client-secret" not in result.stdout
        # The stand-in now knows the LWA client: a code can be issued and exchanged.
        partner = await partners.get(linking.app[DB], "demo-alexa-client")
        assert partner is not None
        standin.issue_code(partner.lwa_client_id)
    finally:
        await standin.stop()


async def _run_async(func: Any, *args: Any) -> subprocess.CompletedProcess[str]:
    """Run a blocking CLI call in a thread, so the in-process stand-in keeps answering."""
    result: subprocess.CompletedProcess[str] = await asyncio.to_thread(func, *args)
    return result
