"""Credentials: signing requests, the rate budget's waits, OAuth 2.0 tokens, and `tap-x-dm-auth`."""
