"""Server-side browser sessions for the portal.

The cookie carries 32 random bytes; the database keeps only their BLAKE2b hash,
so reading the table does not let anyone take a session over. A session ends when its row
goes: logout, a password change, the user's removal, the account's erasure. Each session
has its own CSRF token, compared in constant time on every state-changing request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from recstore import audit
from recstore.auth.login import Principal
from recstore.db import Connection
from recstore.errors import Unauthorized

IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    must_change_password: bool
    email: str | None


def _hash(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=32, person=b"portal-session").digest()


async def start(conn: Connection, principal: Principal) -> str:
    """A new session for a principal that has just proven its password; returns the cookie."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO portal_sessions (token_hash, user_id, customer_id, role, csrf_token,"
        " created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        _hash(token), principal.user_id, principal.customer_id, principal.role,
        secrets.token_urlsafe(32), now, now + ABSOLUTE_TIMEOUT)
    await conn.execute("DELETE FROM portal_sessions WHERE token_hash IN (SELECT token_hash"
                       " FROM portal_sessions WHERE expires_at < $1 LIMIT 100)", now)
    return token


async def resolve(conn: Connection, token: str) -> Session:
    """The live session of a cookie, checked against the user and customer as a bearer token
    is (disabled user, erased customer, changed role); Unauthorized otherwise."""
    now = datetime.now(UTC)
    row = await conn.fetchrow(
        "SELECT s.user_id, s.customer_id, s.role, s.csrf_token, s.created_at, s.last_seen_at,"
        " s.expires_at, u.role AS user_role, u.customer_id AS user_customer, u.disabled_at,"
        " u.must_change_password, u.email, c.erased_at, c.tokens_valid_after"
        " FROM portal_sessions s JOIN users u ON u.id = s.user_id"
        " LEFT JOIN customers c ON c.id = s.customer_id WHERE s.token_hash = $1", _hash(token))
    if row is None:
        raise Unauthorized("no session")
    valid_after = row["tokens_valid_after"]
    if (row["expires_at"] <= now or row["last_seen_at"] + IDLE_TIMEOUT <= now
            or row["disabled_at"] is not None or row["erased_at"] is not None
            or row["user_role"] != row["role"] or row["user_customer"] != row["customer_id"]
            or (valid_after is not None and row["created_at"] < valid_after)):
        await conn.execute("DELETE FROM portal_sessions WHERE token_hash = $1", _hash(token))
        if row["customer_id"] is not None:
            await audit.append(conn, row["customer_id"], actor_type="customer",
                               actor_id=row["user_id"], action="access.denied.session_ended")
        raise Unauthorized("the session has ended")
    if now - row["last_seen_at"] > timedelta(minutes=1):  # one write a minute, not per request
        await conn.execute("UPDATE portal_sessions SET last_seen_at = $2 WHERE token_hash = $1",
                           _hash(token), now)
    principal = Principal(row["user_id"], row["role"], row["customer_id"])
    return Session(principal, row["csrf_token"], row["must_change_password"], row["email"])


def csrf_ok(session: Session, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(session.csrf_token.encode(),
                                                       offered.encode())


async def end(conn: Connection, token: str) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE token_hash = $1", _hash(token))


async def end_all_for_user(conn: Connection, user_id: UUID) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE user_id = $1", user_id)
