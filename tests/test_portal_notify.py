"""New-recording notifications: queued with the stored recording, a link to the portal,
no caller data unless the customer opted in to the number, never the name or audio."""

from __future__ import annotations

import asyncio
import json
from email.header import decode_header, make_header
from typing import Any

from aiohttp import web
from test_staff_notify import FakeSmtp

from factories import Tenant
from portal_helpers import store_voicemail
from recstore.consent import notify
from recstore.consent.notify_channels import SmtpNotifier, WebhookNotifier, set_webhook
from recstore.services import Services

PORTAL = "https://portal.example.se"


async def _mail(services: Services) -> Any:
    fake = FakeSmtp()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = notify.NotifySettings(channel="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                     smtp_starttls=False, portal_url=PORTAL)
    async with server:
        assert await notify.deliver_due(services.pool, SmtpNotifier(settings, services.keys)) == 1
    (message,) = fake.messages
    return message


async def test_stored_recording_mails_every_user_a_link_without_caller_data(
        services: Services, tenant: Tenant) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    message = await _mail(services)
    assert set(message["To"].split(", ")) == {tenant.admin_email, tenant.user_email}
    text = message.get_payload(decode=True).decode()
    assert f"{PORTAL}/recordings/{rid}" in text
    assert "+46701234567" not in text and "Svensson" not in text and "0701234567" not in text
    assert str(make_header(decode_header(message["Subject"]))) == \
        "Nytt röstmeddelande / New voicemail"
    assert "Ett nytt röstmeddelande har kommit in." in text


async def test_opt_in_adds_the_callers_number_but_never_the_name(
        services: Services, tenant: Tenant) -> None:
    await services.pool.execute("UPDATE customers SET notify_include_caller = true WHERE id = $1",
                                tenant.customer_id)
    await store_voicemail(services, tenant.customer_id)
    text = (await _mail(services)).get_payload(decode=True).decode()
    assert "+46701234567" in text and "Svensson" not in text


async def test_opted_out_customer_gets_no_notice(services: Services, tenant: Tenant) -> None:
    await services.pool.execute("UPDATE customers SET notify_new_recordings = false"
                                " WHERE id = $1", tenant.customer_id)
    await store_voicemail(services, tenant.customer_id)
    assert await services.pool.fetchval("SELECT count(*) FROM notifications") == 0


async def test_recording_deleted_before_delivery_sends_nothing(
        services: Services, tenant: Tenant) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    await services.pool.execute("DELETE FROM recordings WHERE id = $1", rid)
    fake = FakeSmtp()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    settings = notify.NotifySettings(channel="smtp", smtp_host="127.0.0.1",
                                     smtp_port=server.sockets[0].getsockname()[1],
                                     smtp_starttls=False)
    async with server:
        await notify.deliver_due(services.pool, SmtpNotifier(settings, services.keys))
    assert fake.messages == []


async def test_webhook_notice_carries_kind_time_and_link_only(
        services: Services, tenant: Tenant, aiohttp_server: Any) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    async with services.pool.acquire() as conn:
        await set_webhook(conn, services.keys, tenant.customer_id, str(server.make_url("/hook")))
    rid, _ = await store_voicemail(services, tenant.customer_id)
    settings = notify.NotifySettings(channel="webhook", portal_url=PORTAL)
    assert await notify.deliver_due(services.pool, WebhookNotifier(settings, services.keys)) == 1
    (event,) = received
    assert event["type"] == "recording.stored" and event["recording_id"] == str(rid)
    assert event["recording_kind"] == "voicemail" and event["caller_number"] is None
    assert event["portal_url"] == f"{PORTAL}/recordings/{rid}"
    assert "Svensson" not in json.dumps(event)
