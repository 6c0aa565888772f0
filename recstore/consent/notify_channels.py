"""Notification channels beyond the log: e-mail to the customer's admins, or the
customer's own webhook, signed like recstore's upload webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import aiohttp

from recstore.consent.new_recording import (
    RecordingFacts,
    new_recording_text,
    recording_facts,
    recording_link,
)
from recstore.consent.notify import LogNotifier, Notice, Notifier, NotifySettings
from recstore.db import Connection
from recstore.errors import Invalid, NotFound
from recstore.keys import KeyService
from recstore.tls.links import url_link

_PURPOSE = "notify-webhook"
WEBHOOK_SECRET_PURPOSE = _PURPOSE  # also signs the daily checkpoints (checkpoint_delivery)
_SUBJECTS = {
    "access_request.created": "Support asks for access to your recordings",
    "grant.used": "Support used your access grant",
}


def message_text(notice: Notice, portal_url: str | None,
                 recording: RecordingFacts | None = None) -> tuple[str, str]:
    """Subject and body: ids and what to do, nothing a mailbox should not hold."""
    where = f" at {portal_url}" if portal_url else ""
    if notice.kind == "recording.stored":
        return new_recording_text(notice, portal_url, recording)
    if notice.kind == "access_request.created":
        body = (f"A support engineer asked for access to recordings (request {notice.request_id})."
                f"\nApprove or deny it under Access requests{where}. Unanswered requests"
                " expire after 72 hours.")
    else:
        body = (f"A support engineer listened to recording {notice.recording_id} under grant"
                f" {notice.grant_id}.\nEvery access is in your access log{where}; you can"
                " revoke the grant there at any time.")
    return _SUBJECTS[notice.kind], body


class SmtpNotifier:
    def __init__(self, settings: NotifySettings, keys: KeyService) -> None:
        if not settings.smtp_host:
            raise Invalid("RECSTORE_NOTIFY_SMTP_HOST is required for the smtp channel")
        self._settings, self._keys = settings, keys

    async def send(self, conn: Connection, notice: Notice) -> None:
        # News of a recording is for everyone who listens; staff-access news for admins.
        roles = (["customer_admin", "customer_user"] if notice.kind == "recording.stored"
                 else ["customer_admin"])
        rows = await conn.fetch(
            "SELECT email FROM users WHERE customer_id = $1 AND role = ANY($2::text[])"
            " AND disabled_at IS NULL AND email IS NOT NULL", notice.customer_id, roles)
        if not rows:
            return
        facts = await recording_facts(conn, self._keys, notice)
        if notice.kind == "recording.stored" and facts is None:
            return  # deleted before the notice went out: nothing to tell
        subject, body = message_text(notice, self._settings.portal_url, facts)
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = ", ".join(row["email"] for row in rows)
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> None:
        s = self._settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password is not None:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Outgoing notifications keep their own scheme: the body is the whole message."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class WebhookNotifier:
    """POSTs JSON with `X-Recstore-Timestamp` and `X-Recstore-Signature: v1=<hex HMAC-SHA256
    (secret, timestamp + "." + body)>`. Customers without a webhook get a log line."""

    def __init__(self, settings: NotifySettings, keys: KeyService, *,
                 require_tls: bool = False) -> None:
        self._settings, self._keys, self._fallback = settings, keys, LogNotifier()
        self._require_tls = require_tls

    async def send(self, conn: Connection, notice: Notice) -> None:
        row = await conn.fetchrow("SELECT url, secret_wrapped FROM notification_webhooks"
                                  " WHERE customer_id = $1", notice.customer_id)
        if row is None:
            await self._fallback.send(conn, notice)
            return
        if self._require_tls and not url_link("notify_webhook", "", row["url"]).acceptable:
            raise RuntimeError("the customer's webhook url is plain http and "
                               "RECSTORE_REQUIRE_TLS is set")
        secret = self._keys.unwrap_secret(notice.customer_id, _PURPOSE,
                                          bytes(row["secret_wrapped"])).decode()
        payload: dict[str, Any] = webhook_payload(notice)
        if notice.kind == "recording.stored":
            facts = await recording_facts(conn, self._keys, notice)
            if facts is None:
                return
            payload.update(facts.payload(recording_link(self._settings.portal_url, notice)))
        body = json.dumps(payload).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "X-Recstore-Timestamp": str(timestamp),
                   "X-Recstore-Signature": sign(secret, timestamp, body)}
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                row["url"], data=body, headers=headers, allow_redirects=False) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")


def webhook_payload(notice: Notice) -> dict[str, str | None]:
    def text(value: UUID | None) -> str | None:
        return str(value) if value is not None else None

    return {"id": str(notice.id), "type": notice.kind, "customer_id": str(notice.customer_id),
            "request_id": text(notice.request_id), "grant_id": text(notice.grant_id),
            "recording_id": text(notice.recording_id), "staff_id": text(notice.staff_id),
            "created_at": notice.created_at.isoformat()}


async def set_webhook(conn: Connection, keys: KeyService, customer_id: UUID, url: str, *,
                      require_tls: bool = False) -> str:
    """Point the customer's notifications at `url`; returns the new signing secret."""
    if not url.startswith(("https://", "http://")):
        raise Invalid("the webhook url must start with https:// or http://")
    if require_tls and not url_link("notify_webhook", "", url).acceptable:
        raise Invalid("RECSTORE_REQUIRE_TLS is set: the webhook url must be https:// "
                      "(plain http only to loopback)")
    if not await conn.fetchval("SELECT 1 FROM customers WHERE id = $1 AND erased_at IS NULL",
                               customer_id):
        raise NotFound("no such customer")
    secret = "ntsec_" + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO notification_webhooks (customer_id, url, secret_wrapped) VALUES ($1, $2, $3)"
        " ON CONFLICT (customer_id) DO UPDATE SET url = EXCLUDED.url,"
        " secret_wrapped = EXCLUDED.secret_wrapped, created_at = now()",
        customer_id, url, keys.wrap_secret(customer_id, _PURPOSE, secret.encode()))
    return secret


def notifier_for(settings: NotifySettings, keys: KeyService, *,
                 require_tls: bool = False) -> Notifier:
    if settings.channel == "smtp":
        return SmtpNotifier(settings, keys)
    if settings.channel == "webhook":
        return WebhookNotifier(settings, keys, require_tls=require_tls)
    return LogNotifier()
