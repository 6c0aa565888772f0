"""Twilio end to end against the real stack and a fake Twilio API on loopback: signed
callbacks become jobs, the worker fetches (the Call resource for From/To, the media with
the account's credentials), stores through the one store path, and deletes Twilio's copy
when asked."""

from __future__ import annotations

from typing import Any

import pytest
from provider_fakes import (
    CALLEE,
    CALLER,
    CALLER_NAME,
    STARTED,
    TWILIO_ACCOUNT,
    FakeProvider,
    configure,
    job_rows,
    post_twilio,
    recording_sid,
    rfc3339,
    run_worker,
    start_fake,
    twilio_status_params,
)

from factories import Tenant, bearer, counts, login, make_tenant, wav
from recstore.services import Services

AUDIO = wav(1.0)


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeProvider:
    return await start_fake(aiohttp_server, AUDIO)


@pytest.fixture
async def configured(services: Services, tenant: Tenant, fake: FakeProvider) -> Tenant:
    await configure(services, tenant.customer_id, "twilio", api_base=fake.base)
    return tenant


async def test_status_callback_is_queued_fetched_and_stored(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    response = await post_twilio(client, configured.customer_id,
                                 twilio_status_params(fake.base, 1))
    assert response.status == 204, await response.text()
    [job] = await job_rows(services)
    assert (job["status"], job["provider_recording_id"]) == ("queued", recording_sid(1))
    assert fake.requests == []  # the webhook answers before anything is fetched

    assert await run_worker(services) == 1, (await job_rows(services))[0]["last_error"]
    [job] = await job_rows(services)
    assert job["status"] == "done" and job["sealed"] is None and job["attempts"] == 1
    assert any(path.endswith(".json") and "/Calls/" in path for path in fake.paths("GET"))
    assert all(auth is not None for _, _, auth in fake.requests)  # account credentials sent

    token = await login(client, configured.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert (meta["caller_number"], meta["callee_number"], meta["caller_name"]) == (
        CALLER, CALLEE, CALLER_NAME)  # from the Call resource: the callback has no From/To
    assert (meta["kind"], meta["provider"], meta["provider_recording_id"]) == (
        "call", "twilio", recording_sid(1))
    assert meta["recorded_at"] == rfc3339(STARTED)
    audio = await client.get(f"/api/v1/recordings/{job['recording_id']}/audio",
                             headers=bearer(token))
    assert await audio.read() == AUDIO
    assert await counts(services) == (1, 1)


async def test_record_action_callback_is_a_voicemail_with_its_own_numbers(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    sid = recording_sid(2)
    params = {"AccountSid": TWILIO_ACCOUNT, "CallSid": "CA" + "0" * 32, "From": "+46709999999",
              "To": CALLEE, "CallStatus": "completed", "Digits": "#", "RecordingDuration": "1",
              "RecordingUrl": f"{fake.base}/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Recordings/{sid}"}
    assert (await post_twilio(client, configured.customer_id, params)).status == 204
    await run_worker(services)
    row = await services.pool.fetchrow("SELECT kind, provider_recording_id FROM recordings")
    assert (row["kind"], row["provider_recording_id"]) == ("voicemail", sid)
    assert not any("/Calls/" in path for path in fake.paths("GET"))  # From/To were sent


async def test_job_row_holds_no_personal_data_in_plaintext(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    params = twilio_status_params(fake.base, 3, From=CALLER, To=CALLEE)
    await post_twilio(client, configured.customer_id, params)
    [job] = await job_rows(services)
    stored = repr(dict(job)).encode() + bytes(job["sealed"])
    for secret in (CALLER, CALLEE, "/Recordings/"):
        assert secret.encode() not in stored


@pytest.mark.parametrize("case", ["tampered", "wrong-token", "missing", "unknown-customer",
                                  "not-configured", "malformed-id"])
async def test_bad_signatures_and_unknown_customers_all_get_the_same_403(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider,
        case: str) -> None:
    params = twilio_status_params(fake.base, 4)
    customer: Any = configured.customer_id
    if case == "unknown-customer":
        customer = "00000000-0000-4000-8000-000000000000"
    elif case == "not-configured":
        customer = (await make_tenant(services, "Other AB")).customer_id
    elif case == "malformed-id":
        customer = "not-a-uuid"
    if case == "tampered":
        path = f"/webhooks/twilio/{customer}"
        from ingest.twilio import compute_signature
        signature = compute_signature("twilio-auth-token-for-tests",
                                      str(client.make_url(path)), params.items())
        params["RecordingUrl"] = "http://169.254.169.254/latest/meta-data"
        response = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    elif case == "missing":
        response = await client.post(f"/webhooks/twilio/{customer}", data=params)
    else:
        token = "wrong" if case == "wrong-token" else "twilio-auth-token-for-tests"
        response = await post_twilio(client, customer, params, token=token)
    assert response.status == 403
    body = await response.json()
    assert body == {"type": "about:blank", "title": "Forbidden", "status": 403,
                    "detail": "signature does not match"}
    assert await job_rows(services) == []
    failures = services.metrics.webhook_signature_failures.labels("twilio")._value.get()
    assert failures == 1


async def test_retried_callback_makes_no_second_job_or_recording(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    params = twilio_status_params(fake.base, 5)
    for _ in range(3):
        assert (await post_twilio(client, configured.customer_id, params)).status == 204
    await run_worker(services)
    assert (await post_twilio(client, configured.customer_id, params)).status == 204  # late
    assert await run_worker(services) == 0
    assert len(await job_rows(services)) == 1
    assert await counts(services) == (1, 1)
    assert len(fake.paths("GET")) == 2  # one Call lookup, one media download


@pytest.mark.parametrize("status", ["in-progress", "absent", "failed"])
async def test_callbacks_without_a_finished_recording_queue_nothing(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider,
        status: str) -> None:
    params = twilio_status_params(fake.base, 6, RecordingStatus=status)
    assert (await post_twilio(client, configured.customer_id, params)).status == 204
    assert await job_rows(services) == []


async def test_public_base_url_is_what_twilio_signed_behind_a_proxy(
        make_settings: Any, services: Services, aiohttp_client: Any, configured: Tenant,
        fake: FakeProvider) -> None:
    from recstore.app import create_app
    from recstore.services import Services as Svc

    proxied = Svc(make_settings(public_base_url="https://recstore.example"), services.pool,
                  services.store, services.keys, services.tokens, services.metrics)
    client = await aiohttp_client(create_app(services=proxied))
    path = f"/webhooks/twilio/{configured.customer_id}"
    params = twilio_status_params(fake.base, 7)
    local = await post_twilio(client, configured.customer_id, params)
    assert local.status == 403  # signed for the address the app sees, not the public one
    public = await post_twilio(client, configured.customer_id, params,
                               signed_url=f"https://recstore.example{path}")
    assert public.status == 204
    with_port = await post_twilio(client, configured.customer_id, twilio_status_params(
        fake.base, 8), signed_url=f"https://recstore.example:443{path}")
    assert with_port.status == 204  # Twilio's own port inconsistency is accepted


@pytest.mark.parametrize("delete", [True, False])
async def test_twilio_copy_is_deleted_only_when_asked_and_only_after_storing(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider,
        delete: bool) -> None:
    await configure(services, tenant.customer_id, "twilio", api_base=fake.base,
                    delete_after_fetch=delete)
    await post_twilio(client, tenant.customer_id, twilio_status_params(fake.base, 9))
    await run_worker(services)
    deletes = fake.paths("DELETE")
    if delete:
        assert deletes == [f"/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Recordings/"
                           f"{recording_sid(9)}.json"]
        assert [m for m, _, _ in fake.requests][-1] == "DELETE"
    else:
        assert deletes == []
    assert await counts(services) == (1, 1)


@pytest.mark.parametrize("status", [404, 503])
async def test_failing_call_lookup_stores_the_recording_without_caller_identity(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider,
        status: int) -> None:
    fake.call_fail_next = [status] * 10  # the Call resource never answers
    params = twilio_status_params(fake.base, 40)
    assert (await post_twilio(client, configured.customer_id, params)).status == 204

    # Attempts before the last lookup attempt retry; then the audio is kept without identity.
    for _ in range(3):
        await run_worker(services, max_attempts=5, identity_lookup_attempts=3)
        await services.pool.execute("UPDATE ingest_jobs SET run_after = now()")
    [job] = await job_rows(services)
    assert job["status"] == "done", job["last_error"]
    assert job["attempts"] == 3
    assert await counts(services) == (1, 1)

    token = await login(client, configured.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert meta["identity"] == "lookup_failed"
    assert (meta["caller_number"], meta["callee_number"], meta["caller_name"]) == (
        None, None, None)
    audio = await client.get(f"/api/v1/recordings/{job['recording_id']}/audio",
                             headers=bearer(token))
    assert await audio.read() == AUDIO


async def test_a_call_lookup_that_recovers_keeps_the_caller_identity(
        client: Any, services: Services, configured: Tenant, fake: FakeProvider) -> None:
    fake.call_fail_next = [503]
    params = twilio_status_params(fake.base, 41)
    assert (await post_twilio(client, configured.customer_id, params)).status == 204
    await run_worker(services, max_attempts=5, identity_lookup_attempts=3)
    await services.pool.execute("UPDATE ingest_jobs SET run_after = now()")
    await run_worker(services, max_attempts=5, identity_lookup_attempts=3)
    [job] = await job_rows(services)
    assert (job["status"], job["attempts"]) == ("done", 2)
    token = await login(client, configured.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert (meta["identity"], meta["caller_number"]) == ("delivered", CALLER)
