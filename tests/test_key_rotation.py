"""Key rotation end to end: add a key to the master and the ingest keyring, `recstore keys
rewrap`, remove the old keys, and everything they wrapped still opens: login, audio, caller
search, webhook secrets, provider credentials, queued jobs, notification secrets."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from contextlib import redirect_stdout
from typing import Any

import pytest
from provider_fakes import configure

from crypto import MasterKeyring
from factories import PASSWORD, bearer, login, make_tenant, upload, wav
from recstore.accounts.customers import customer_row, customer_secrets
from recstore.accounts.providers import load_provider
from recstore.app import create_app
from recstore.cli.main import main as cli_main
from recstore.consent.notify_channels import set_webhook
from recstore.jobs import queue as jobs
from recstore.services import Services, open_services
from recstore.settings import Settings


def _rewrap(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"RECSTORE_{name.upper()}", str(raw))
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["keys", "rewrap", "--json"]) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


async def test_after_rewrap_the_old_master_key_can_go(
        client: Any, services: Services, settings: Settings, make_settings: Any,
        aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await make_tenant(services)
    audio = wav(1.0)
    recording = (await (await upload(client, tenant, audio,
                                     **{"X-Recstore-Caller": "+46701234567"})).json())["id"]
    await login(client, tenant.admin_email)  # makes the login throttle's service secret
    await configure(services, tenant.customer_id, "twilio", api_base=None)
    await jobs.enqueue(services.pool, services.keys, customer_id=tenant.customer_id,
                       provider="twilio", provider_recording_id="RE" + "1" * 32,
                       public={}, private={"caller": "+46701234567"})
    async with services.pool.acquire() as conn:
        notify_secret = await set_webhook(conn, services.keys, tenant.customer_id,
                                          "https://hooks.example/recstore")
    old_master = settings.master_keys.get_secret_value()
    old_ingest = settings.ingest_keys.get_secret_value()
    new_master = MasterKeyring.generate_entry("test-2")
    new_ingest = MasterKeyring.generate_entry("ingest-test-2")
    both = make_settings(master_keys=f"{old_master},{new_master}",
                         ingest_keys=f"{old_ingest},{new_ingest}")

    result = await asyncio.to_thread(_rewrap, both, monkeypatch)
    assert (result["master_key_id"], result["ingest_key_id"]) == ("test-2", "ingest-test-2")
    assert result["not_ours"] == 0
    assert {"epoch key file", "service_secrets.wrapped", "ingest secrets"} <= set(
        result["rewrapped"]), result
    again = await asyncio.to_thread(_rewrap, both, monkeypatch)
    assert again["total"] == 0  # idempotent

    only_new = make_settings(master_keys=new_master, ingest_keys=new_ingest)
    async with open_services(only_new, pool_size=2) as svc:
        app = await aiohttp_client(create_app(services=svc))
        token = await login(app, tenant.admin_email, PASSWORD)
        response = await app.get(f"/api/v1/recordings/{recording}/audio", headers=bearer(token))
        assert response.status == 200 and await response.read() == audio
        found = await (await app.get("/api/v1/recordings?caller=%2B46701234567",
                                     headers=bearer(token))).json()
        assert [item["id"] for item in found["items"]] == [recording]  # index secrets
        async with svc.pool.acquire() as conn:
            secrets = customer_secrets(svc.keys, await customer_row(conn, tenant.customer_id))
        assert secrets.webhook_secret == tenant.webhook_secret.encode()
        assert await load_provider(svc.pool, svc.keys, tenant.customer_id, "twilio") is not None
        [job] = await jobs.claim(svc.pool, uuid.uuid4(), limit=1, lease_seconds=30)
        assert jobs.open_private(svc.keys, job) == {"caller": "+46701234567"}
        wrapped = await svc.pool.fetchval(
            "SELECT secret_wrapped FROM notification_webhooks WHERE customer_id = $1",
            tenant.customer_id)
        assert svc.keys.unwrap_secret(tenant.customer_id, "notify-webhook",
                                      bytes(wrapped)).decode() == notify_secret


async def test_a_blob_of_another_keyring_is_counted_and_left_alone(
        services: Services, settings: Settings, make_settings: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = MasterKeyring.parse(MasterKeyring.generate_entry("elsewhere")).wrap(
        b"x" * 32, aad=b"recstore service secret other")
    await services.pool.execute("INSERT INTO service_secrets (name, wrapped) VALUES ('other', $1)",
                                foreign)
    rotated = make_settings(master_keys=f"{settings.master_keys.get_secret_value()},"
                                        f"{MasterKeyring.generate_entry('test-2')}")
    result = await asyncio.to_thread(_rewrap, rotated, monkeypatch)
    assert result["not_ours"] == 1
    assert bytes(await services.pool.fetchval(
        "SELECT wrapped FROM service_secrets WHERE name = 'other'")) == foreign
