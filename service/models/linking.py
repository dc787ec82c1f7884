"""Types of mutual linking: partners (skills whose LWA credentials we hold), the user's LWA
token sets (links), and the refresh leases that make a refresh happen once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from service.models.oauth import TokenKind
from service.models.sealed import Sealed


@dataclass(frozen=True)
class Partner:
    """A skill whose LWA credentials we hold; its id is the OAuth client id we vend to Alexa."""

    partner_id: str
    lwa_client_id: str
    lwa_client_secret: Sealed
    lwa_token_url: str
    alexa_api_base: str
    scopes: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    # Linking that starts on our side (app-to-app, docs/alexa-protocols.md §5): the skill's id
    # (`amzn1.ask.skill.…`), its stage and LWA's authorization page; None when not set up.
    skill_id: str | None = None
    skill_stage: SkillStage | None = None
    lwa_authorize_url: str | None = None


SkillStage = Literal["development", "live"]
SKILL_STAGES: tuple[SkillStage, ...] = ("development", "live")


def secret_context(partner_id: str) -> str:
    """What a partner's sealed LWA client secret is bound to."""
    return f"partners:{partner_id}:lwa_client_secret"


def token_context(user_id: str, partner_id: str, kind: TokenKind) -> str:
    """What a user's sealed LWA token for a partner is bound to."""
    return f"partner_tokens:{user_id}:{partner_id}:{kind}"


class LinkStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # LWA refused the refresh token, or the user/admin unlinked
    INACTIVE = "inactive"  # Alexa answered 403: skill disabled or permission withdrawn


@dataclass(frozen=True)
class PartnerLink:
    """The user's current LWA token set for a partner (one `generation` of it)."""

    user_id: str
    username: str | None
    partner_id: str
    status: LinkStatus
    status_reason: str | None
    access_token: Sealed | None
    refresh_token: Sealed | None
    expires_at: datetime | None
    refresh_at: datetime | None  # serve the stored access token until then
    alexa_api_base: str
    generation: int
    linked_at: datetime
    refreshed_at: datetime | None
    updated_at: datetime


Outcome = Literal["done", "unavailable", "refused", "error"]


@dataclass(frozen=True)
class RefreshLease:
    """Who may refresh one generation of a user's token set right now, and how it ended."""

    user_id: str
    partner_id: str
    generation: int  # the token set being refreshed
    attempt: int
    owner: str
    expires_at: datetime
    outcome: Outcome | None
    finished_at: datetime | None
