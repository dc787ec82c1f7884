"""The errors of linking that starts on our side (`service.linking.app_to_app`), each a
`LinkingError` (so a `ServiceError`, rendered by `service.web.errors`: JSON for the app
backend's API, a page for the customer).

Their descriptions are written for the customer, whose page shows them translated (the texts
are marked for the catalogs in `service.web.alexa_link_views`); the app backend reads `error`.
Amazon's own answer (its status and message) goes to the log and the audit record, never into
a description.
"""

from __future__ import annotations

from service.linking.errors import LinkingError


class AppToAppError(LinkingError):
    """A link from our side did not happen; nothing was kept."""


class SkillNotConfigured(AppToAppError):
    status = 404
    error = "skill_not_configured"
    default_description = "This app cannot be linked with Alexa from here."


class RedirectUriNotRegistered(AppToAppError):
    """The partner's OAuth client (our client for the skill) lacks the redirect URI the code
    would be bound to: Alexa could not redeem it. An administrator adds it (admin partner
    page)."""

    status = 400
    error = "invalid_redirect_uri"
    default_description = "Linking with Alexa is not completely set up yet. Please try again later."


class LinkStateInvalid(AppToAppError):
    """The callback's `state` is not the one of this browser's pending link (forged, replayed,
    or from another browser), or the pending link is too old."""

    status = 400
    error = "invalid_state"
    default_description = (
        "This answer from Amazon does not belong to a link started here, or it came too late. "
        "Please start again from your account page."
    )


class AmazonDenied(AppToAppError):
    status = 403
    error = "access_denied"
    default_description = "You did not allow the link at Amazon. Nothing was changed."


class AmazonCodeRefused(AppToAppError):
    """LWA refused Amazon's code: expired (5 minutes), used before, or of another client."""

    status = 400
    error = "invalid_grant"
    default_description = (
        "Amazon's sign-in was no longer valid (it expires after five minutes and works only "
        "once). Please start again."
    )


class AmazonTokenRevoked(AppToAppError):
    """The Skill Enablement API answered 401: the Amazon token was revoked."""

    status = 400
    error = "alexa_token_revoked"
    default_description = "Amazon no longer accepts your sign-in. Please start again."


class AlexaForbidden(AppToAppError):
    """403: the token lacks the scope, or the account is no beta tester of a skill in
    development."""

    status = 403
    error = "alexa_forbidden"
    default_description = (
        "Amazon did not allow enabling the skill for your Amazon account. A skill still in "
        "development can only be enabled by its beta testers."
    )


class AlexaSkillNotFound(AppToAppError):
    """404: Amazon does not know the skill for this customer (not published in their country
    or marketplace, or a wrong skill id or stage)."""

    status = 404
    error = "alexa_skill_not_found"
    default_description = (
        "The skill is not available for your Amazon account. It may not be offered in your country."
    )


class AlexaRefusedEnablement(AppToAppError):
    """Any other refusal (400: our request was malformed; 5xx after the one try)."""

    status = 502
    error = "alexa_refused"
    default_description = "Amazon could not enable the skill. Please try again later."


class AmazonUnreachable(AppToAppError):
    """Login with Amazon or the Alexa API did not answer."""

    status = 503
    error = "alexa_unavailable"
    default_description = (
        "Amazon could not be reached. Nothing was changed. Please try again later."
    )

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Retry-After": "5"}


class UserNotFound(AppToAppError):
    """The app backend named a user Keycloak does not know (or who is disabled)."""

    status = 404
    error = "user_not_found"
    default_description = "There is no such user."
