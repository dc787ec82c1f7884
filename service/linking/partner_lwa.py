"""Login with Amazon with a partner's credentials: its LWA client id and (sealed) secret, at its
token URL (docs/alexa-protocols.md §3). The one place that opens the secret to call LWA, for
mutual linking (`links`, `tokens`) and linking from our side (`app_to_app`)."""

from __future__ import annotations

import logging

from service.amazon import lwa
from service.linking.deps import LinkingDeps
from service.linking.sealing import open_sealed
from service.models.linking import Partner

log = logging.getLogger(__name__)


async def exchange_partner_code(
    deps: LinkingDeps,
    partner: Partner,
    code: str,
    *,
    redirect_uri: str | None = None,
    code_verifier: str | None = None,
) -> lwa.LwaTokens:
    """An LWA code exchanged for tokens. LWA's refusal is logged and raised (`lwa.LwaError`),
    as is `lwa.LwaUnavailable`."""
    try:
        return await lwa.exchange_code(
            deps.http,
            token_url=partner.lwa_token_url,
            client_id=partner.lwa_client_id,
            client_secret=_secret(deps, partner),
            code=code,
            timeout=deps.lwa_timeout,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )
    except lwa.LwaError as exc:
        # invalid_client means *our* partner configuration is wrong: say so loudly in the log;
        # the caller's answer is the same either way (the link failed, try with a new code).
        level = (
            logging.ERROR
            if exc.error in ("invalid_client", "unauthorized_client")
            else logging.WARNING
        )
        log.log(
            level,
            "LWA refused the code exchange for partner %s: %s",
            partner.partner_id,
            exc.error,
        )
        raise


async def refresh_partner_tokens(
    deps: LinkingDeps, partner: Partner, refresh_token: str
) -> lwa.LwaTokens:
    """Fresh tokens for a refresh token LWA issued to the partner's client (`lwa.LwaError`,
    `lwa.LwaUnavailable` raised)."""
    return await lwa.refresh_tokens(
        deps.http,
        token_url=partner.lwa_token_url,
        client_id=partner.lwa_client_id,
        client_secret=_secret(deps, partner),
        refresh_token=refresh_token,
        timeout=deps.lwa_timeout,
    )


def _secret(deps: LinkingDeps, partner: Partner) -> str:
    return open_sealed(partner.lwa_client_secret, deps.keyring, "LWA client secret")
