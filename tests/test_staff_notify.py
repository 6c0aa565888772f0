"""Notifications to the customer: queued with the event, delivered by the worker through the
log (default), e-mail or the customer's webhook, with ids only and retries on failure."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web

from factories import Tenant, make_staff, make_tenant, token_headers, upload, wav
from recstore.consent import jobs as consent_jobs
from recstore.consent import notify
from recstore.consent.notify_channels import SmtpNotifier, WebhookNotifier, set_webhook
from recstore.services import Services

REASON, TICKET = "caller says Anna Svensson hung up", "SUP-777"


@pytest.fixture
async def asked(client: Any, services: Services) -> tuple[Tenant, UUID, str]:
    """A customer whose recording support has asked to hear: one notice is waiting."""
    tenant = await make_tenant(services)
    # These tests count staff-access notices only (new-recording ones: test_portal_notify.py).
    await services.pool.execute("UPDATE customers SET notify_new_recordings = false"
                                " WHERE id = $1", tenant.customer_id)
    recording_id = (await (await upload(client, tenant, wav(1.0))).json())["id"]
    staff = await make_staff(services)
    response = await client.post("/staff/v1/access-requests", headers=token_headers(
        services, staff, "staff"), json={"customer_id": str(tenant.customer_id), "all": True,
                                         "reason": REASON, "ticket": TICKET})
    assert response.status == 201
    return tenant, staff, recording_id


async def test_log_channel_delivers_once_and_logs_ids_only(
        services: Services, asked: Any, caplog: pytest.LogCaptureFixture) -> None:
    tenant, _, _ = asked
    with caplog.at_level(logging.INFO, logger="recstore.notify"):
        assert await notify.deliver_due(services.pool, notify.LogNotifier()) == 1
        assert await notify.deliver_due(services.pool, notify.LogNotifier()) == 0
    (record,) = [r for r in caplog.records if r.getMessage() == "notification"]
    assert record.__dict__["customer_id"] == str(tenant.customer_id)
    assert record.__dict__["event_kind"] == "access_request.created"
    logged = " ".join(str(v) for v in record.__dict__.values())
    for private in ("Svensson", TICKET, tenant.admin_email, "@"):
        assert private not in logged


async def test_a_grant_used_again_is_notified_once_per_recording(
        client: Any, services: Services, asked: Any) -> None:
    tenant, staff, recording_id = asked
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "purpose": "p",
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    for extra in ({}, {"Range": "bytes=0-99"}, {"Range": "bytes=100-199"}):
        response = await client.get(f"/staff/v1/recordings/{recording_id}/audio",
                                    headers={**token_headers(services, staff, "staff"), **extra})
        assert response.status in (200, 206)
    kinds = await services.pool.fetch("SELECT kind, recording_id FROM notifications ORDER BY kind")
    assert [(r["kind"], str(r["recording_id"])) for r in kinds] == [
        ("access_request.created", "None"), ("grant.used", recording_id)]


class FakeSmtp:
    """Just enough of an SMTP server on loopback to receive what smtplib sends."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 fake\r\n")
        lines: list[bytes] | None = None
        while line := await reader.readline():
            if lines is not None:
                if line == b".\r\n":
                    self.messages.append(email.message_from_bytes(b"".join(lines)))
                    lines = None
                    writer.write(b"250 ok\r\n")
                else:
                    lines.append(line)
            elif line[:4].upper() == b"DATA":
                lines = []
                writer.write(b"354 go on\r\n")
            elif line[:4].upper() == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


async def test_smtp_channel_mails_the_customer_admins(services: Services, asked: Any) -> None:
    tenant, _, _ = asked
    fake = FakeSmtp()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = notify.NotifySettings(channel="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                     smtp_starttls=False, smtp_from="support@recstore.example")
    async with server:
        assert await notify.deliver_due(services.pool, SmtpNotifier(settings, services.keys)) == 1
    (message,) = fake.messages
    assert message["To"] == tenant.admin_email  # admins only, not every user
    request_id = await services.pool.fetchval("SELECT id FROM access_requests")
    text = message.get_payload(decode=True).decode()
    assert str(request_id) in text and "72 hours" in text
    assert "Svensson" not in text and TICKET not in text


async def test_webhook_channel_posts_a_signed_ids_only_event(
        services: Services, asked: Any, aiohttp_server: Any) -> None:
    tenant, staff, _ = asked
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    async with services.pool.acquire() as conn:
        secret = await set_webhook(conn, services.keys, tenant.customer_id,
                                   str(server.make_url("/hook")))
    notifier = WebhookNotifier(notify.NotifySettings(channel="webhook"), services.keys)
    assert await notify.deliver_due(services.pool, notifier) == 1
    (headers, body) = received[0]
    mac = hmac.new(secret.encode(), f"{headers['X-Recstore-Timestamp']}.".encode() + body,
                   hashlib.sha256).hexdigest()
    assert headers["X-Recstore-Signature"] == f"v1={mac}"
    event = json.loads(body)
    assert (event["type"], event["customer_id"], event["staff_id"]) == (
        "access_request.created", str(tenant.customer_id), str(staff))
    assert "Svensson" not in body.decode() and TICKET not in body.decode()


async def test_failed_deliveries_back_off_and_finally_give_up(
        services: Services, asked: Any, aiohttp_server: Any) -> None:
    tenant, _, _ = asked

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/hook", broken)
    server = await aiohttp_server(app)
    async with services.pool.acquire() as conn:
        await set_webhook(conn, services.keys, tenant.customer_id, str(server.make_url("/hook")))
    notifier = WebhookNotifier(notify.NotifySettings(channel="webhook"), services.keys)
    assert await notify.deliver_due(services.pool, notifier) == 0
    row = await services.pool.fetchrow("SELECT * FROM notifications")
    assert row["attempts"] == 1 and row["delivered_at"] is None and row["failed_at"] is None
    assert row["run_after"] > datetime.now(UTC)
    assert await notify.deliver_due(services.pool, notifier) == 0  # not due yet: untouched
    await services.pool.execute("UPDATE notifications SET attempts = $1, run_after = now()",
                                notify.MAX_ATTEMPTS - 1)
    assert await notify.deliver_due(services.pool, notifier) == 0
    assert await services.pool.fetchval("SELECT failed_at FROM notifications") is not None


async def test_worker_pass_expires_requests_and_delivers(
        services: Services, asked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await services.pool.execute(
        "UPDATE access_requests SET created_at = now() - interval '80 hours'")
    monkeypatch.setenv("RECSTORE_NOTIFY_CHANNEL", "smtp")  # with no host: falls back to log
    notifier = consent_jobs.configured_notifier(services)
    assert isinstance(notifier, notify.LogNotifier)
    await consent_jobs.one_pass(services, notifier)
    assert await services.pool.fetchval("SELECT status FROM access_requests") == "expired"
    assert await services.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL") == 1
