"""The signed upload webhook against the real stack: success, idempotency and every refusal,
each refusal leaving no object and no row behind."""

from __future__ import annotations

from typing import Any

import pytest

from factories import (
    Tenant,
    bearer,
    counts,
    login,
    make_tenant,
    stop_webhook_clock,
    upload,
    upload_headers,
    wav,
)
from recstore.services import Services


async def test_signed_upload_is_stored_encrypted_and_comes_back(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav(2.0)
    response = await upload(client, tenant, body, **{"X-Recstore-Caller": "+46701234567",
                                                     "X-Recstore-Caller-Name": "Anna Svensson"})
    assert response.status == 201, await response.text()
    recording_id = (await response.json())["id"]

    keys = await services.store.list_keys()
    assert len(keys) == 1 and str(tenant.customer_id) in keys[0]
    stored = await services.store.get_range(keys[0], 0, len(body) + 1000)
    assert body[44:4000] not in stored  # the object holds no plaintext audio
    assert b"RIFF" not in stored

    token = await login(client, tenant.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{recording_id}",
                                   headers=bearer(token))).json()
    assert meta["caller_number"] == "+46701234567"
    assert meta["caller_name"] == "Anna Svensson"
    assert meta["size_bytes"] == len(body)
    assert meta["duration_ms"] == 2000
    assert meta["content_type"] == "audio/wav"
    audio = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=bearer(token))
    assert audio.status == 200
    assert await audio.read() == body

    row = await services.pool.fetchrow("SELECT * FROM recordings")
    assert b"+46701234567" not in bytes(row["caller_number_sealed"])
    assert row["caller_index"] is not None


async def test_same_idempotency_key_returns_the_same_id(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    first = await upload(client, tenant, body, **{"Idempotency-Key": "vm-1"})
    again = await upload(client, tenant, body, **{"Idempotency-Key": "vm-1"})
    assert first.status == 201 and again.status == 200
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await counts(services) == (1, 1)


async def test_replayed_request_without_key_stores_nothing_twice(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    url = f"/webhooks/upload/{tenant.customer_id}"
    first = await client.post(url, data=body, headers=headers)
    replay = await client.post(url, data=body, headers=headers)
    assert (first.status, replay.status) == (201, 200)
    assert await counts(services) == (1, 1)


@pytest.mark.parametrize("tamper", ["signature", "secret", "body", "missing", "stale", "future"])
async def test_bad_signatures_get_401_and_store_nothing(
        client: Any, services: Services, tenant: Tenant, tamper: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = stop_webhook_clock(monkeypatch)
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    if tamper == "signature":
        headers["X-Recstore-Signature"] = "v2=" + "00" * 32
    elif tamper == "secret":
        headers = upload_headers("whsec_wrong", tenant.customer_id, body)
    elif tamper == "body":
        body = body[:-1] + b"\x01"
    elif tamper == "missing":
        del headers["X-Recstore-Signature"]
    else:
        offset = -301 if tamper == "stale" else 301
        headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body,
                                 timestamp=now + offset)
    response = await client.post(f"/webhooks/upload/{tenant.customer_id}", data=body,
                                 headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert await counts(services) == (0, 0)


async def test_unknown_customer_is_401_not_404(client: Any, tenant: Tenant) -> None:
    body = wav()
    unknown = "00000000-0000-4000-8000-000000000000"
    response = await client.post(f"/webhooks/upload/{unknown}", data=body,
                                 headers=upload_headers(tenant.webhook_secret, unknown, body))
    assert response.status == 401


async def test_other_customers_secret_is_refused(
        client: Any, services: Services, tenant: Tenant) -> None:
    other = await make_tenant(services, "Other AB")
    body = wav()
    response = await client.post(f"/webhooks/upload/{tenant.customer_id}", data=body,
                                 headers=upload_headers(other.webhook_secret, tenant.customer_id, body))
    assert response.status == 401
    assert await counts(services) == (0, 0)


async def test_not_audio_is_422_and_nothing_stored(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = b"%PDF-1.7 definitely not audio " * 2000
    response = await upload(client, tenant, body)
    assert response.status == 422
    assert (await response.json())["status"] == 422
    assert await counts(services) == (0, 0)


async def test_unsigned_junk_gets_401_not_422(client: Any, services: Services,
                                              tenant: Tenant) -> None:
    """Refusal reasons are only told to callers who proved they hold the secret."""
    body = b"not audio at all" * 100
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Signature"] = "v2=" + "11" * 32
    response = await client.post(f"/webhooks/upload/{tenant.customer_id}", data=body,
                                 headers=headers)
    assert response.status == 401


async def test_non_audio_content_type_is_415(client: Any, services: Services,
                                             tenant: Tenant) -> None:
    response = await upload(client, tenant, wav(), content_type="application/json")
    assert response.status == 415
    assert await counts(services) == (0, 0)


async def test_past_retention_is_422_and_nothing_stored(
        client: Any, services: Services, tenant: Tenant) -> None:
    response = await upload(client, tenant, wav(),
                            **{"X-Recstore-Recorded-At": "2020-01-01T10:00:00Z"})
    assert response.status == 422
    assert "retention" in (await response.json())["detail"]
    assert await counts(services) == (0, 0)


async def test_over_the_size_limit_is_413_and_nothing_stored(
        make_settings: Any, aiohttp_client: Any) -> None:
    from recstore.app import create_app
    from recstore.services import open_services

    async with open_services(make_settings(max_upload_bytes=50_000)) as svc:
        await svc.store.ensure_bucket()
        client = await aiohttp_client(create_app(services=svc))
        tenant = await make_tenant(svc)
        response = await upload(client, tenant, wav(5.0))  # ~80 kB
        assert response.status == 413
        assert await counts(svc) == (0, 0)


async def test_large_upload_streams_through_multipart_and_ranges_work(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav(700.0)  # ~11 MB: more than one 8 MiB part
    response = await upload(client, tenant, body)
    assert response.status == 201, await response.text()
    recording_id = (await response.json())["id"]
    token = await login(client, tenant.user_email)
    whole = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=bearer(token))
    assert await whole.read() == body
    start = 9_000_000
    part = await client.get(f"/api/v1/recordings/{recording_id}/audio",
                            headers={**bearer(token), "Range": f"bytes={start}-{start + 99}"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes {start}-{start + 99}/{len(body)}"
    assert await part.read() == body[start:start + 100]


async def test_unsigned_bodies_never_reach_ffprobe(client: Any, services: Services,
                                                   tenant: Tenant, monkeypatch: Any) -> None:
    """ffprobe parses only bytes whose sender proved it holds the secret."""
    import recstore.recordings.store

    probed: list[int] = []
    real_probe = recstore.recordings.store.probe

    async def counting_probe(head: bytes) -> Any:
        probed.append(len(head))
        return await real_probe(head)

    monkeypatch.setattr(recstore.recordings.store, "probe", counting_probe)
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Signature"] = "v2=" + "22" * 32
    response = await client.post(f"/webhooks/upload/{tenant.customer_id}", data=body,
                                 headers=headers)
    assert response.status == 401
    assert probed == []
    assert await counts(services) == (0, 0)
    assert (await upload(client, tenant, body)).status == 201
    assert probed == [len(body)]


async def test_a_replay_with_an_extra_bogus_signature_is_still_the_same_request(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    url = f"/webhooks/upload/{tenant.customer_id}"
    first = await client.post(url, data=body, headers=headers)
    padded = {**headers, "X-Recstore-Signature": headers["X-Recstore-Signature"]
              + ",v2=" + "33" * 32}
    replay = await client.post(url, data=body, headers=padded)
    assert (first.status, replay.status) == (201, 200)
    assert (await first.json())["id"] == (await replay.json())["id"]
    assert await counts(services) == (1, 1)
