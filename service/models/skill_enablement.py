"""Linking that starts on our side (Alexa app-to-app account linking, docs/alexa-protocols.md
§5): what we keep of it per (user, partner) so that its status can be read and the skill
disabled later: the customer's Amazon tokens (scope `alexa::skills:account_linking`), sealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from service.models.linking import SkillStage
from service.models.oauth import TokenKind
from service.models.sealed import Sealed

Via = Literal["website", "app"]


def enablement_token_context(user_id: str, partner_id: str, kind: TokenKind) -> str:
    """What a customer's sealed Amazon token of this flow is bound to (another context than
    the LWA tokens of mutual linking: a ciphertext of one cannot pass for the other)."""
    return f"skill_enablements:{user_id}:{partner_id}:{kind}"


@dataclass(frozen=True)
class SkillEnablement:
    """The skill was enabled and linked for the user from our side; Amazon's tokens to ask
    about it (GET) and to disable it (DELETE)."""

    user_id: str
    partner_id: str
    skill_id: str
    stage: SkillStage
    alexa_api_base: str  # where the enablement was made: status and unlinking go there too
    access_token: Sealed
    refresh_token: Sealed | None
    expires_at: datetime
    grant_id: str  # the grant of the code Amazon redeemed: our side of this link
    via: Via
    linked_at: datetime
    updated_at: datetime
