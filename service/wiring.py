"""Explicit wiring: what the features plug into each other, built in one place and used by the
server (`service.app.create_app`) and the command line (`service.commands.database`) alike.

Nothing is registered as a side effect of an import: a process gets exactly what is built here.
"""

from __future__ import annotations

from service.linking.links import end_partner_link_on_unlink
from service.oauth.unlink import UnlinkHooks


def unlink_hooks() -> UnlinkHooks:
    """What else ends when a user's link with one of our clients ends (an unlink on the account
    or admin page, a client removal): the user's LWA tokens for the partner of that client."""
    return UnlinkHooks((end_partner_link_on_unlink,))
