"""The Alexa-facing OAuth 2.0 authorization server (RFC 6749, 6750, 7009, 7636, 7662, 8414).

Domain code: functions take plain values (`service.models`) and the database, never a
`web.Request`. Modules: `clients` (registration, secrets, client authentication), `authorize`,
`token`, `revocation`, `introspection`, `metadata`, `access` (access token validation),
`unlink` (with the unlink hooks the wiring passes in), `pkce`, `scopes`, `secret_hashing`,
`token_values`, `errors`. Nothing here imports `service.linking` or `service.web`.
"""
