"""Alexa Account Linking Server: an OAuth 2.0 authorization server for Alexa account linking."""
