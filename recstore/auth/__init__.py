"""Who is calling: password login, access tokens (our own EdDSA JWTs and an external JWKS), and
login throttling.

May import: recstore infrastructure and accounts; never api/."""
