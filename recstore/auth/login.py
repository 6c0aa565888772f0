"""Login and the resolution of a bearer token into a live principal."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from crypto import hash_password, verify_password
from recstore import audit
from recstore.auth import throttle as login_throttle
from recstore.auth.tokens import Claims, TokenService
from recstore.db import Connection
from recstore.errors import TooManyRequests, Unauthorized
from recstore.keys import KeyService

# Verified against when the email is unknown, so both paths cost one Argon2id check.
log = logging.getLogger("recstore.auth")

_DUMMY_HASH = hash_password("recstore-dummy-password-for-timing")


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    role: str
    customer_id: UUID | None


async def login(conn: Connection, tokens: TokenService, keys: KeyService, email: str,
                password: str, *, client: str) -> str:
    """A token for the right password; Unauthorized otherwise, TooManyRequests while the
    account or the client address is throttled (checked before the password is)."""
    found = await check_credentials(conn, keys, email, password, client=client)
    return tokens.issue(found.user_id, found.role, found.customer_id)


async def check_credentials(conn: Connection, keys: KeyService, email: str, password: str, *,
                            client: str) -> Principal:
    """The one password check, throttled, audited and logged (with a keyed tag of the
    address, never the address), behind the API's login and the portal's sign-in alike."""
    now = datetime.now(UTC)
    buckets = await login_throttle.buckets_for(conn, keys, email, client)
    try:
        await login_throttle.reserve(conn, buckets, now)
    except TooManyRequests:
        log.warning("login throttled", extra={"email_tag": buckets.email_tag})
        raise
    row = await conn.fetchrow(
        "SELECT u.id, u.role, u.customer_id, u.password_hash FROM users u"
        " LEFT JOIN customers c ON c.id = u.customer_id"
        " WHERE lower(u.email) = lower($1) AND u.disabled_at IS NULL AND c.erased_at IS NULL",
        email.strip(),
    )
    stored = row["password_hash"] if row is not None and row["password_hash"] else _DUMMY_HASH
    # Argon2id takes tens of milliseconds of CPU: not on the event loop.
    if not await asyncio.to_thread(verify_password, stored, password) or row is None:
        if row is not None and row["customer_id"] is not None:
            await audit.append(conn, row["customer_id"], actor_type="customer",
                               actor_id=row["id"], action="login.failed")
        log.warning("login failed", extra={"email_tag": buckets.email_tag})
        raise Unauthorized("invalid email or password")
    await login_throttle.succeeded(conn, buckets, now)
    return Principal(row["id"], row["role"], row["customer_id"])


async def _provision_external(conn: Connection, claims: Claims) -> None:
    """A user of the external identity provider gets a users row (no email, no password) on
    first sight, so grants and audit entries point at a real id. The role follows the
    provider; the customer must exist, and a row disabled here stays disabled."""
    await conn.execute(
        "INSERT INTO users (id, customer_id, email, password_hash, role)"
        " SELECT $1, c.id, NULL, NULL, $3 FROM customers c WHERE c.id = $2 AND c.erased_at IS NULL"
        " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role"
        " WHERE users.customer_id = EXCLUDED.customer_id AND users.role <> EXCLUDED.role",
        claims.user_id, claims.customer_id, claims.role)


async def principal_for(conn: Connection, claims: Claims) -> Principal:
    """Checks against the database that the user still exists and the token is not revoked.

    A token that verifies but is refused here (user disabled, customer erased, token older
    than a forced logout) is written to that customer's audit log: it is a real credential
    being used after it was withdrawn."""
    if claims.external:
        await _provision_external(conn, claims)
    row = await conn.fetchrow(
        "SELECT u.role, u.customer_id, u.disabled_at, c.erased_at, c.tokens_valid_after,"
        " u.tokens_valid_after AS user_valid_after"
        " FROM users u LEFT JOIN customers c ON c.id = u.customer_id WHERE u.id = $1",
        claims.user_id,
    )
    if row is None or row["role"] != claims.role or row["customer_id"] != claims.customer_id:
        raise Unauthorized("invalid token")
    issued = datetime.fromtimestamp(claims.issued_at, UTC)
    revoked = any(after is not None and issued < after
                  for after in (row["tokens_valid_after"], row["user_valid_after"]))
    if row["disabled_at"] is not None or row["erased_at"] is not None or revoked:
        if row["customer_id"] is not None:
            await audit.append(conn, row["customer_id"], actor_type="customer",
                               actor_id=claims.user_id, action="access.denied.token_revoked")
        raise Unauthorized("invalid token")
    return Principal(claims.user_id, row["role"], row["customer_id"])


async def record_denial(conn: Connection, principal: Principal, reason: str) -> None:
    """An authenticated request refused for its role, in the principal's customer's log."""
    if principal.customer_id is not None:
        await audit.append(conn, principal.customer_id, actor_type="customer",
                           actor_id=principal.user_id, action=f"access.denied.{reason}")
