"""Mutual account linking: partners, the user's LWA tokens, and what we send to Alexa with them.

Domain code only: functions take plain values and a `LinkingDeps`, never a `web.Request`
(docs/alexa-protocols.md §2-4; docs/flows.md flows 3-6). Linking builds on the OAuth server
(`service.oauth`), never the other way round: the OAuth server reaches linking only through the
unlink hooks that `service.wiring` builds.
"""
