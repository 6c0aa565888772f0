"""Customers, their users and staff accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from crypto import hash_password
from recstore.custody.provisioning import provision_customer
from recstore.db import Connection
from recstore.errors import Conflict, Invalid, NotFound
from recstore.keys import KeyService

MAX_RETENTION_DAYS = 90
CUSTOMER_ROLES = ("customer_admin", "customer_user")


@dataclass(frozen=True)
class CustomerSecrets:
    """Unwrapped on use: the webhooks role holds the ingest keyring only, and reading the
    webhook secret must not need the master keyring."""

    keys: KeyService
    row: asyncpg.Record

    @property
    def webhook_secret(self) -> bytes:
        customer_id: UUID = self.row["id"]
        return self.keys.unwrap_secret(customer_id, "webhook",
                                       bytes(self.row["webhook_secret_wrapped"]))


@dataclass(frozen=True)
class CreatedCustomer:
    customer_id: UUID
    webhook_secret: str


def _check_password(password: str) -> None:
    if len(password) < 12:
        raise Invalid("password must have at least 12 characters")


async def create_customer(
    conn: Connection,
    keys: KeyService,
    *,
    name: str,
    email: str,
    phone: str | None = None,
    org_number: str | None = None,
    retention_days: int = MAX_RETENTION_DAYS,
) -> CreatedCustomer:
    if not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise Invalid(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
    customer_id = uuid.uuid4()
    webhook_secret = keys.new_webhook_secret()
    await conn.execute(
        "INSERT INTO customers (id, name, email, phone, org_number, retention_days,"
        " webhook_secret_wrapped) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        customer_id, name, email, phone, org_number, retention_days,
        keys.wrap_secret(customer_id, "webhook", webhook_secret.encode()),
    )
    if keys.has_master:  # the new customer's keys exist before their first recording
        await provision_customer(conn, keys, customer_id)
    return CreatedCustomer(customer_id, webhook_secret)


async def customer_row(conn: Connection, customer_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM customers WHERE id = $1 AND erased_at IS NULL", customer_id
    )
    if row is None:
        raise NotFound()
    return row


def customer_secrets(keys: KeyService, row: asyncpg.Record) -> CustomerSecrets:
    return CustomerSecrets(keys, row)


async def _insert_user(
    conn: Connection, *, customer_id: UUID | None, email: str, password: str, role: str
) -> UUID:
    _check_password(password)
    user_id = uuid.uuid4()
    try:
        await conn.execute(
            "INSERT INTO users (id, customer_id, email, password_hash, role)"
            " VALUES ($1, $2, $3, $4, $5)",
            user_id, customer_id, email.strip().lower(), hash_password(password), role,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("a user with that email exists") from exc
    return user_id


async def create_user(
    conn: Connection, *, customer_id: UUID, email: str, password: str, role: str
) -> UUID:
    if role not in CUSTOMER_ROLES:
        raise Invalid(f"role must be one of {', '.join(CUSTOMER_ROLES)}")
    await customer_row(conn, customer_id)
    return await _insert_user(conn, customer_id=customer_id, email=email, password=password,
                              role=role)


async def create_staff(conn: Connection, *, email: str, password: str) -> UUID:
    return await _insert_user(conn, customer_id=None, email=email, password=password, role="staff")
