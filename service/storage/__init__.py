"""Storage: one module per MongoDB collection; only this package knows Mongo documents.

Persistence only: modules take and return `service.models` types, and store sealed values as
the domain sealed them (nothing is encrypted or decrypted here). `indexes.ensure_indexes`
creates every collection's indexes; `purge.purge_expired` stands in for TTL indexes.
"""
