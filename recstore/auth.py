"""Login and the resolution of a bearer token into a live principal."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from crypto import hash_password, verify_password
from recstore.db import Connection
from recstore.errors import Unauthorized
from recstore.tokens import Claims, TokenService

# Verified against when the email is unknown, so both paths cost one Argon2id check.
_DUMMY_HASH = hash_password("recstore-dummy-password-for-timing")


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    role: str
    customer_id: UUID | None


def email_fingerprint(email: str) -> str:
    """A short, non-reversible tag for logs (no email in clear)."""
    return hashlib.blake2b(email.strip().lower().encode(), digest_size=6).hexdigest()


async def login(conn: Connection, tokens: TokenService, email: str, password: str) -> str:
    row = await conn.fetchrow(
        "SELECT u.id, u.role, u.customer_id, u.password_hash FROM users u"
        " LEFT JOIN customers c ON c.id = u.customer_id"
        " WHERE lower(u.email) = lower($1) AND u.disabled_at IS NULL AND c.erased_at IS NULL",
        email.strip(),
    )
    stored = row["password_hash"] if row is not None and row["password_hash"] else _DUMMY_HASH
    if not verify_password(stored, password) or row is None:
        raise Unauthorized("invalid email or password")
    return tokens.issue(row["id"], row["role"], row["customer_id"])


async def principal_for(conn: Connection, claims: Claims) -> Principal:
    """Checks against the database that the user still exists and the token is not revoked."""
    row = await conn.fetchrow(
        "SELECT u.role, u.customer_id, u.disabled_at, c.erased_at, c.tokens_valid_after"
        " FROM users u LEFT JOIN customers c ON c.id = u.customer_id WHERE u.id = $1",
        claims.user_id,
    )
    if (row is None or row["disabled_at"] is not None or row["erased_at"] is not None
            or row["role"] != claims.role or row["customer_id"] != claims.customer_id):
        raise Unauthorized("invalid token")
    valid_after = row["tokens_valid_after"]
    if valid_after is not None and datetime.fromtimestamp(claims.issued_at, UTC) < valid_after:
        raise Unauthorized("invalid token")
    return Principal(claims.user_id, row["role"], row["customer_id"])
