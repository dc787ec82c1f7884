"""Mutual account linking: partners, the user's LWA tokens, and what we send to Alexa with them.

Domain code only: functions take plain values and a `LinkingDeps`, never a `web.Request`
(alexa-protocols.md §2-4; design.md flows 3-6).
"""
