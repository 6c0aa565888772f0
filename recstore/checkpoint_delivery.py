"""The worker pushes a signed checkpoint to every customer's notification webhook at least
once a day, so a copy of the chain head leaves the operator's reach even for customers who
never read their log (docs/AUDIT.md "What an operator can hide")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import aiohttp

from recstore import audit, checkpoints
from recstore.consent.notify_channels import WEBHOOK_SECRET_PURPOSE, sign
from recstore.services import Services

log = logging.getLogger("recstore.checkpoints")
ACTION = "audit.checkpoint_sent"
# Passes run hourly, so "sent within the last 23 hours" keeps every gap under a day.
RESEND_AFTER = timedelta(hours=23)
INTERVAL_SECONDS = 3600.0
TIMEOUT_SECONDS = 10.0
# Only the newest entries are searched for the last delivery (an index range scan, not the
# whole log); a customer with more entries than this in a day just gets one more checkpoint.
RECENT_ENTRIES = 5000
_PASS_LOCK_ID = 7_310_042_011  # one worker sends at a time; constant like db._MIGRATION_LOCK_ID

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            url, data=body, headers=headers, allow_redirects=False) as response:
        return response.status


def payload(checkpoint: checkpoints.Checkpoint) -> dict[str, Any]:
    return {"type": "audit.checkpoint", "customer_id": str(checkpoint.customer_id),
            "checkpoint": checkpoint.as_json()}


async def deliver_due(svc: Services, *, post: Post = _post) -> int:
    """Send a checkpoint to each customer with a webhook that got none within RESEND_AFTER;
    returns how many were delivered. A failed delivery is retried next pass."""
    delivered = 0
    async with svc.pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _PASS_LOCK_ID):
            return 0
        try:
            due = await conn.fetch(
                "SELECT w.customer_id, w.url, w.secret_wrapped FROM notification_webhooks w"
                " JOIN customers c ON c.id = w.customer_id AND c.erased_at IS NULL"
                " WHERE NOT EXISTS (SELECT 1 FROM (SELECT action, at FROM audit_log a"
                " WHERE a.customer_id = w.customer_id ORDER BY seq DESC LIMIT $3) recent"
                " WHERE recent.action = $1 AND recent.at > now() - $2::interval)",
                ACTION, RESEND_AFTER, RECENT_ENTRIES)
            for row in due:
                if await _send_one(svc, conn, row, post):
                    delivered += 1
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _PASS_LOCK_ID)
    return delivered


async def _send_one(svc: Services, conn: Any, row: Any, post: Post) -> bool:
    customer_id: UUID = row["customer_id"]
    try:
        checkpoint = await checkpoints.current(conn, svc.settings.audit_keys_path(), customer_id)
        secret = svc.keys.unwrap_secret(customer_id, WEBHOOK_SECRET_PURPOSE,
                                        bytes(row["secret_wrapped"])).decode()
        body = json.dumps(payload(checkpoint)).encode()
        timestamp = int(time.time())
        status = await post(row["url"], body, {
            "Content-Type": "application/json", "X-Recstore-Timestamp": str(timestamp),
            "X-Recstore-Signature": sign(secret, timestamp, body)})
        if status >= 300:
            raise RuntimeError(f"webhook answered {status}")
    except Exception as exc:
        # Only the type: the text may name the customer's URL.
        log.warning("checkpoint not delivered; retrying next pass",
                    extra={"customer_id": str(customer_id), "error": type(exc).__name__})
        return False
    await audit.append(conn, customer_id, actor_type="system", actor_id=None, action=ACTION)
    return True


async def run_checkpoint_delivery(svc: Services, stop: asyncio.Event,
                                  interval: float = INTERVAL_SECONDS) -> None:
    while not stop.is_set():
        try:
            await deliver_due(svc)
        except Exception:
            log.exception("checkpoint delivery pass failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
