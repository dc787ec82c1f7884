"""Clients for Amazon's servers: Login with Amazon's token endpoint (`lwa`), the Alexa APIs
(`alexa_api`: sending with bounded retries), and their regional hosts (`regions`).

Transport only: what an answer means for a link (refresh on 401, deactivate on 403) is decided
in `service.linking`. Every URL comes from the caller (the partner's settings).
"""
