"""The customer portal and staff console: server-rendered HTML at `/` over the same domain
functions the JSON API calls (docs/PORTAL.md). Cookie sessions, CSRF tokens, strict CSP.

May import: api (parsing, security, the JSON handlers it reuses) and recstore."""
