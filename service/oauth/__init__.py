"""The Alexa-facing OAuth 2.0 authorization server (RFC 6749, 6750, 7009, 7636, 7662, 8414).

Layering: `models` (frozen dataclasses) ← `service.storage` (one module per collection) ←
the domain modules here (`clients`, `authorize`, `token`, `revocation`, `introspection`,
`metadata`, `bearer`, `unlink`) ← the thin handlers in `service.web.oauth_views`. Domain
functions take plain values and the database, never a `web.Request` (except `bearer.require_bearer`,
the one HTTP-facing helper other features use). Submodules are not imported here, so that
importing one never drags in the rest.
"""
