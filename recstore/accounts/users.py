"""A customer's own user management: list, invite a colleague, change one's password,
remove a user. Every change is in the customer's audit log and ends the sessions and
tokens it should."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from crypto import hash_password, verify_password
from recstore import audit
from recstore.accounts.customers import CUSTOMER_ROLES, create_user
from recstore.auth import sessions
from recstore.db import Connection
from recstore.errors import Conflict, Invalid, NotFound, Unauthorized

MIN_PASSWORD = 12


@dataclass(frozen=True)
class User:
    id: UUID
    email: str | None
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Invitation:
    user_id: UUID
    initial_password: str  # shown once to the inviting admin, to hand over in person


async def list_users(conn: Connection, customer_id: UUID) -> list[User]:
    rows = await conn.fetch(
        "SELECT id, email, role, created_at FROM users WHERE customer_id = $1"
        " AND disabled_at IS NULL ORDER BY lower(email)", customer_id)
    return [User(r["id"], r["email"], r["role"], r["created_at"]) for r in rows]


def _check_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 254 or " " in email:
        raise Invalid("that is not an e-mail address")
    return email


async def invite(conn: Connection, customer_id: UUID, *, email: str, role: str,
                 invited_by: UUID) -> Invitation:
    """A new user with a one-time password that must be changed at first sign-in."""
    if role not in CUSTOMER_ROLES:
        raise Invalid(f"role must be one of {', '.join(CUSTOMER_ROLES)}")
    initial = secrets.token_urlsafe(12)
    async with conn.transaction():
        user_id = await create_user(conn, customer_id=customer_id, email=_check_email(email),
                                    password=initial, role=role)
        await conn.execute("UPDATE users SET must_change_password = true WHERE id = $1", user_id)
        await audit.append(conn, customer_id, actor_type="customer", actor_id=invited_by,
                           action="user.invited")
    return Invitation(user_id, initial)


async def confirm_password(conn: Connection, user_id: UUID, password: str) -> asyncpg.Record:
    """The user's row if `password` is theirs (re-authentication before a grave change)."""
    row = await conn.fetchrow("SELECT customer_id, password_hash FROM users WHERE id = $1"
                              " AND disabled_at IS NULL", user_id)
    if row is None or not row["password_hash"]:
        raise NotFound()
    if not await asyncio.to_thread(verify_password, row["password_hash"], password):
        raise Unauthorized("the current password is not right")
    return row


async def change_password(conn: Connection, user_id: UUID, *, current: str, new: str) -> None:
    """Checks the current password; afterwards every session and token of the user issued
    before now is refused (the caller starts a fresh session)."""
    if len(new) < MIN_PASSWORD:
        raise Invalid(f"the new password must have at least {MIN_PASSWORD} characters")
    row = await confirm_password(conn, user_id, current)
    if new == current:
        raise Invalid("the new password must differ from the current one")
    hashed = await asyncio.to_thread(hash_password, new)
    async with conn.transaction():
        # Whole seconds: JWTs carry `iat` in seconds, and a token issued after this change
        # within the same second must still work.
        await conn.execute(
            "UPDATE users SET password_hash = $2, must_change_password = false,"
            " tokens_valid_after = date_trunc('second', now()) WHERE id = $1", user_id, hashed)
        await sessions.end_all_for_user(conn, user_id)
        if row["customer_id"] is not None:
            await audit.append(conn, row["customer_id"], actor_type="customer",
                               actor_id=user_id, action="user.password_changed")


async def remove(conn: Connection, customer_id: UUID, user_id: UUID, *, removed_by: UUID) -> None:
    """Disables the user and forgets their e-mail and password; ids stay for the audit log."""
    if user_id == removed_by:
        raise Conflict("you cannot remove yourself")
    async with conn.transaction():
        row = await conn.fetchrow("SELECT role FROM users WHERE id = $1 AND customer_id = $2"
                                  " AND disabled_at IS NULL FOR UPDATE", user_id, customer_id)
        if row is None:
            raise NotFound()
        await conn.execute(
            "UPDATE users SET disabled_at = now(), email = NULL, password_hash = NULL,"
            " tokens_valid_after = now() WHERE id = $1", user_id)
        await sessions.end_all_for_user(conn, user_id)
        await audit.append(conn, customer_id, actor_type="customer", actor_id=removed_by,
                           action="user.removed")
