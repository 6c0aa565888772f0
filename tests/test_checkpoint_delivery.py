"""The worker pushes a signed checkpoint to each customer's notification webhook once a day,
to a real HTTP receiver; a failed delivery is retried and is not logged as sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web
from nacl.signing import VerifyKey

from factories import audit_actions, make_tenant
from recstore import audit_keys, checkpoint_delivery, checkpoints
from recstore.consent.notify_channels import set_webhook
from recstore.services import Services


async def _receiver(aiohttp_server: Any, status: int = 204) -> tuple[str, list[Any]]:
    received: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook")), received


async def test_each_customer_gets_a_signed_checkpoint_once_a_day(
        services: Services, aiohttp_server: Any) -> None:
    url, received = await _receiver(aiohttp_server)
    tenant = await make_tenant(services)
    await make_tenant(services, name="No Webhook AB")  # gets nothing: no webhook set
    async with services.pool.acquire() as conn:
        secret = await set_webhook(conn, services.keys, tenant.customer_id, url)

    assert await checkpoint_delivery.deliver_due(services) == 1
    (headers, body), = received
    expected = hmac.new(secret.encode(), headers["X-Recstore-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Recstore-Signature"] == f"v1={expected}"
    event = json.loads(body)
    assert (event["type"], event["customer_id"]) == ("audit.checkpoint", str(tenant.customer_id))
    checkpoint = event["checkpoint"]
    keys = audit_keys.current(services.settings.audit_keys_path())
    VerifyKey(bytes(keys.public_keys()[checkpoint["key_id"]])).verify(
        checkpoints.message(tenant.customer_id, checkpoint["seq"], checkpoint["hash"],
                            checkpoint["at"]), base64.b64decode(checkpoint["signature"]))
    actions = [entry["action"] for entry in await audit_actions(services, tenant.customer_id)]
    assert actions[-1] == "audit.checkpoint_sent"
    assert checkpoint["seq"] == len(actions) - 1  # the head just before the delivery entry

    assert await checkpoint_delivery.deliver_due(services) == 0  # not again within the day
    assert len(received) == 1


async def test_a_refused_delivery_is_retried_and_not_logged(
        services: Services, aiohttp_server: Any) -> None:
    url, received = await _receiver(aiohttp_server, status=500)
    tenant = await make_tenant(services)
    async with services.pool.acquire() as conn:
        await set_webhook(conn, services.keys, tenant.customer_id, url)
    assert await checkpoint_delivery.deliver_due(services) == 0
    assert await checkpoint_delivery.deliver_due(services) == 0
    assert len(received) == 2  # tried again on the next pass
    actions = [entry["action"] for entry in await audit_actions(services, tenant.customer_id)]
    assert "audit.checkpoint_sent" not in actions
