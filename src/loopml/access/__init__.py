"""Bearer tokens and their roles: make, list, revoke, and tell who a token is."""
