"""Telnyx end to end: Ed25519-signed `call.recording.saved` events against the real stack,
media from presigned links on a fake Telnyx (renewed through the API once expired)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nacl.signing import SigningKey
from provider_fakes import (
    CALLEE,
    CALLER,
    STARTED,
    TELNYX_API_KEY,
    FakeProvider,
    configure,
    job_rows,
    rfc3339,
    run_worker,
    start_fake,
    telnyx_event,
    telnyx_headers,
    telnyx_public_key,
)

from factories import Tenant, bearer, counts, login, stop_webhook_clock, wav
from recstore.services import Services

AUDIO = wav(1.0)
RECORDING_ID = "10cd86ac-fef8-4765-b203-0f7511f9fc75"
KEY = SigningKey.generate()


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeProvider:
    return await start_fake(aiohttp_server, AUDIO)


@pytest.fixture
async def configured(services: Services, tenant: Tenant, fake: FakeProvider) -> Tenant:
    await configure(services, tenant.customer_id, "telnyx", api_base=fake.base,
                    public_key=telnyx_public_key(KEY), api_key=TELNYX_API_KEY)
    return tenant


def media(fake: FakeProvider, rid: str = RECORDING_ID) -> str:
    return f"{fake.base}/telephony-recorder-prod/{rid}.wav?X-Amz-Expires=600&X-Amz-Signature=ab"


async def send(client: Any, tenant: Tenant, event: dict[str, Any], *,
               key: SigningKey = KEY, timestamp: int | None = None, query: str = "") -> Any:
    body = json.dumps(event).encode()
    return await client.post(f"/webhooks/telnyx/{tenant.customer_id}{query}", data=body,
                             headers=telnyx_headers(key, body, timestamp=timestamp))


async def test_signed_event_is_queued_fetched_and_stored(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    response = await send(client, configured, telnyx_event(media(fake), RECORDING_ID))
    assert response.status == 204, await response.text()
    assert fake.requests == []
    assert await run_worker(services) == 1
    [job] = await job_rows(services)
    assert (job["status"], job["provider_recording_id"]) == ("done", RECORDING_ID)
    [presigned] = [auth for _, path, auth in fake.requests if path.endswith(".wav")]
    assert presigned is None  # the presigned link carries its own credential

    token = await login(client, configured.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert (meta["caller_number"], meta["callee_number"]) == (CALLER, CALLEE)  # the API's
    assert meta["recorded_at"] == rfc3339(STARTED)
    audio = await client.get(f"/api/v1/recordings/{job['recording_id']}/audio",
                             headers=bearer(token))
    assert await audio.read() == AUDIO


async def test_numbers_sent_in_the_event_are_used_without_asking_the_api(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    event = telnyx_event(media(fake), RECORDING_ID, **{"from": "+46700000001", "to": CALLEE})
    await send(client, configured, event, query="?kind=voicemail")
    await run_worker(services)
    assert fake.paths("GET") == [f"/telephony-recorder-prod/{RECORDING_ID}.wav"]
    row = await services.pool.fetchrow("SELECT kind FROM recordings")
    assert row["kind"] == "voicemail"


@pytest.mark.parametrize("case", ["wrong-key", "tampered", "stale", "future", "unsigned",
                                  "unknown-customer"])
async def test_bad_signatures_are_403_and_queue_nothing(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider,
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = stop_webhook_clock(monkeypatch)
    event = telnyx_event(media(fake), RECORDING_ID)
    body = json.dumps(event).encode()
    path = f"/webhooks/telnyx/{configured.customer_id}"
    headers = telnyx_headers(KEY, body)
    if case == "wrong-key":
        headers = telnyx_headers(SigningKey.generate(), body)
    elif case == "tampered":
        body = body.replace(b"single", b"dual")
    elif case == "stale":
        headers = telnyx_headers(KEY, body, timestamp=now - 301)
    elif case == "future":
        headers = telnyx_headers(KEY, body, timestamp=now + 301)
    elif case == "unsigned":
        headers = {"Content-Type": "application/json"}
    else:
        path = "/webhooks/telnyx/00000000-0000-4000-8000-000000000000"
    response = await client.post(path, data=body, headers=headers)
    assert response.status == 403
    assert (await response.json())["detail"] == "signature does not match"  # never which part
    assert await job_rows(services) == []


async def test_replayed_and_retried_events_make_one_job_and_one_recording(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    event = telnyx_event(media(fake), RECORDING_ID)
    body = json.dumps(event).encode()
    headers = telnyx_headers(KEY, body)
    for _ in range(3):  # the same signed bytes replayed inside the window
        response = await client.post(f"/webhooks/telnyx/{configured.customer_id}", data=body,
                                     headers=headers)
        assert response.status == 204
    await run_worker(services)
    event["meta"] = {"attempt": 2}  # Telnyx's own retry: same recording, newly signed
    assert (await send(client, configured, event)).status == 204
    assert await run_worker(services) == 0
    assert await counts(services) == (1, 1)


async def test_other_events_are_acknowledged_and_ignored(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    event = telnyx_event(None, None, event_type="call.hangup")
    assert (await send(client, configured, event)).status == 204
    assert await job_rows(services) == []


async def test_an_expired_presigned_link_is_renewed_through_the_api(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    fake.expired.add(RECORDING_ID)
    await send(client, configured, telnyx_event(media(fake), RECORDING_ID))
    await run_worker(services)
    [job] = await job_rows(services)
    assert job["status"] == "done", job["last_error"]
    lookups = [auth for _, path, auth in fake.requests if path.startswith("/v2/recordings/")]
    assert lookups and all(auth == f"Bearer {TELNYX_API_KEY}" for auth in lookups)
    assert await counts(services) == (1, 1)


async def test_telnyx_copy_is_deleted_when_asked(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider) -> None:
    await configure(services, tenant.customer_id, "telnyx", api_base=fake.base,
                    public_key=telnyx_public_key(KEY), api_key=TELNYX_API_KEY,
                    delete_after_fetch=True)
    await send(client, tenant, telnyx_event(media(fake), RECORDING_ID))
    await run_worker(services)
    assert fake.paths("DELETE") == [f"/v2/recordings/{RECORDING_ID}"]
    assert fake.requests[-1][2] == f"Bearer {TELNYX_API_KEY}"
    assert await counts(services) == (1, 1)


async def test_set_provider_refuses_a_public_key_that_is_not_32_bytes(
        services: Services, tenant: Tenant) -> None:
    from recstore.errors import Invalid

    with pytest.raises(Invalid, match="32 bytes"):
        await configure(services, tenant.customer_id, "telnyx", api_base=None,
                        public_key="c2hvcnQ=", api_key="k")
    assert await services.pool.fetchval("SELECT count(*) FROM provider_accounts") == 0


async def test_a_caller_that_is_not_utf8_keeps_the_recording_with_a_marked_caller(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    """A lone surrogate in the event's JSON ("\\udcff") reached seal_field and failed there."""
    event = telnyx_event(media(fake), RECORDING_ID, **{"from": "+4670\udcff", "to": CALLEE})
    body = json.dumps(event).encode()  # ensure_ascii: the surrogate travels as an escape
    assert b"\\udcff" in body
    response = await client.post(f"/webhooks/telnyx/{configured.customer_id}", data=body,
                                 headers=telnyx_headers(KEY, body))
    assert response.status == 204, await response.text()
    assert await run_worker(services) == 1
    [job] = await job_rows(services)
    assert job["status"] == "done", job["last_error"]
    token = await login(client, configured.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert meta["caller_number"].startswith("+4670") and "\ufffd" in meta["caller_number"]
