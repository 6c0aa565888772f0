"""Telling a customer's admins when staff ask for access and when staff use a grant.

Events go into an outbox in the same transaction as what they report; the worker hands
due ones to the configured channel and retries with backoff. Notices carry ids only, and
the default channel only logs them (ids, never addresses or names).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID

import asyncpg
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from recstore.db import Connection, Pool

log = logging.getLogger("recstore.notify")
NoticeKind = Literal["access_request.created", "grant.used", "recording.stored"]
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)


class NotifySettings(BaseSettings):
    """RECSTORE_NOTIFY_*: the channel and, for e-mail, the SMTP relay."""

    model_config = SettingsConfigDict(env_prefix="RECSTORE_NOTIFY_", extra="ignore", frozen=True)

    channel: Literal["log", "smtp", "webhook"] = "log"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "recstore@localhost"
    portal_url: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Notice:
    id: UUID
    customer_id: UUID
    kind: NoticeKind
    request_id: UUID | None
    grant_id: UUID | None
    recording_id: UUID | None
    staff_id: UUID | None
    created_at: datetime


class Notifier(Protocol):
    async def send(self, conn: Connection, notice: Notice) -> None:
        """Deliver one notice or raise; the outbox retries what raised."""


class LogNotifier:
    async def send(self, conn: Connection, notice: Notice) -> None:
        log.info("notification", extra={"event_kind": notice.kind,
                                        "customer_id": str(notice.customer_id),
                                        "grant_id": _str(notice.grant_id),
                                        "recording_id": _str(notice.recording_id),
                                        "access_request_id": _str(notice.request_id)})


def _str(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


async def enqueue(conn: Connection, customer_id: UUID, kind: NoticeKind, *,
                  request_id: UUID | None = None, grant_id: UUID | None = None,
                  recording_id: UUID | None = None, staff_id: UUID | None = None) -> None:
    # A grant used again on the same recording is not news: the unique index drops it.
    await conn.execute(
        "INSERT INTO notifications (id, customer_id, kind, request_id, grant_id, recording_id,"
        " staff_id) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        uuid.uuid4(), customer_id, kind, request_id, grant_id, recording_id, staff_id)


def _notice(row: asyncpg.Record) -> Notice:
    return Notice(row["id"], row["customer_id"], row["kind"], row["request_id"],
                  row["grant_id"], row["recording_id"], row["staff_id"], row["created_at"])


async def deliver_due(pool: Pool, notifier: Notifier, *, batch: int = 50) -> int:
    """Send what is due; returns how many were delivered. Rows are leased first, so several
    workers never send one notice twice and a crashed worker's lease runs out."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "UPDATE notifications SET attempts = attempts + 1, run_after = now() + $2::interval"
            " WHERE id IN (SELECT id FROM notifications WHERE delivered_at IS NULL"
            " AND failed_at IS NULL AND run_after <= now() ORDER BY run_after LIMIT $1"
            " FOR UPDATE SKIP LOCKED) RETURNING *", batch, LEASE)
        delivered = 0
        for row in rows:
            try:
                if await _customer_gone(conn, row["customer_id"]):
                    raise LookupError("customer erased")
                await notifier.send(conn, _notice(row))
            except Exception as exc:
                await _failed(conn, row, exc)
                continue
            await conn.execute("UPDATE notifications SET delivered_at = now() WHERE id = $1",
                               row["id"])
            delivered += 1
    return delivered


async def _customer_gone(conn: Connection, customer_id: UUID) -> bool:
    erased = await conn.fetchval("SELECT erased_at IS NOT NULL FROM customers WHERE id = $1",
                                 customer_id)
    return erased is not False


async def _failed(conn: Connection, row: asyncpg.Record, exc: Exception) -> None:
    final = row["attempts"] >= MAX_ATTEMPTS or isinstance(exc, LookupError)
    backoff = timedelta(seconds=30 * 2 ** min(row["attempts"], 10))
    await conn.execute(
        "UPDATE notifications SET run_after = now() + $2::interval,"
        " failed_at = CASE WHEN $3 THEN now() END WHERE id = $1",
        row["id"], backoff, final)
    # The exception text may name a mail address or a URL: only its type is logged.
    log.warning("notification not delivered", extra={
        "customer_id": str(row["customer_id"]), "attempt": row["attempts"],
        "error": type(exc).__name__, "reason": "gave up" if final else "will retry"})
