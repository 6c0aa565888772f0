"""Right to erasure: one recording, or the whole account, from both sides of the door."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from contextlib import redirect_stdout
from typing import Any

from factories import PASSWORD, Tenant, bearer, login, make_staff, make_tenant, upload, wav
from recstore.cli.main import main as cli_main
from recstore.errors import NotFound
from recstore.rights.erasure import erasure_status, request_erasure, resume_pending, run_erasure
from recstore.services import Services, object_store_for
from recstore.settings import Settings


async def _upload(client: Any, tenant: Tenant, body: bytes | None = None, **headers: str) -> str:
    response = await upload(client, tenant, body or wav(), **headers)
    assert response.status == 201, await response.text()
    recording_id: str = (await response.json())["id"]
    return recording_id


async def _actions(svc: Services, customer_id: uuid.UUID) -> list[str]:
    rows = await svc.pool.fetch("SELECT action FROM audit_log WHERE customer_id = $1 ORDER BY seq",
                                customer_id)
    return [row["action"] for row in rows]


async def test_deleted_recording_is_gone_everywhere(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    recording_id = await _upload(client, tenant)
    kept = await _upload(client, tenant, wav(2.0))
    token = await login(client, tenant.user_email)
    key = await services.pool.fetchval("SELECT object_key FROM recordings WHERE id = $1",
                                       uuid.UUID(recording_id))

    response = await client.delete(f"/api/v1/recordings/{recording_id}", headers=bearer(token))
    assert response.status == 204
    for method, suffix in (("GET", ""), ("GET", "/audio"), ("DELETE", "")):
        again = await client.request(method, f"/api/v1/recordings/{recording_id}{suffix}",
                                     headers=bearer(token))
        assert again.status == 404, (method, suffix)
    assert key not in await services.store.list_keys()
    assert await services.store.size_of(key) is None
    listing = await (await client.get("/api/v1/recordings", headers=bearer(token))).json()
    assert [item["id"] for item in listing["items"]] == [kept]
    entry = await services.pool.fetchrow(
        "SELECT * FROM audit_log WHERE customer_id = $1 AND action = 'recording.deleted'",
        tenant.customer_id)
    assert entry["recording_id"] == uuid.UUID(recording_id)
    assert entry["actor_type"] == "customer" and entry["actor_id"] == tenant.user_id


async def test_deleting_another_customers_recording_is_404_and_harmless(
        client: Any, services: Services) -> None:
    tenant, other = await make_tenant(services), await make_tenant(services, "Other AB")
    theirs = await _upload(client, other)
    token = await login(client, tenant.admin_email)
    foreign = await client.delete(f"/api/v1/recordings/{theirs}", headers=bearer(token))
    missing = await client.delete(f"/api/v1/recordings/{uuid.uuid4()}", headers=bearer(token))
    assert foreign.status == missing.status == 404
    assert await foreign.json() == await missing.json()
    owner = await login(client, other.user_email)
    audio = await client.get(f"/api/v1/recordings/{theirs}/audio", headers=bearer(owner))
    assert audio.status == 200 and await audio.read() == wav()


async def _wait_done(svc: Services, customer_id: uuid.UUID) -> None:
    for _ in range(200):
        if (await erasure_status(svc.pool, customer_id)).state == "done":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("erasure did not finish")


async def test_account_erasure_removes_everything_personal(client: Any,
                                                           services: Services) -> None:
    tenant, other = await make_tenant(services), await make_tenant(services, "Other AB")
    ids = [await _upload(client, tenant, wav(1.0 + i), **{"X-Recstore-Caller": "+46701234567"})
           for i in range(3)]
    theirs = await _upload(client, other)
    staff = await make_staff(services)
    await services.pool.execute(
        "INSERT INTO grants (id, customer_id, staff_id, all_recordings, purpose, created_by,"
        " expires_at) VALUES ($1, $2, $3, true, 'debug the cut-off', $4, now() + interval '1 day')",
        uuid.uuid4(), tenant.customer_id, staff, tenant.admin_id)
    admin, user = await login(client, tenant.admin_email), await login(client, tenant.user_email)

    response = await client.delete("/api/v1/account", headers=bearer(admin))
    assert response.status == 202
    body = await response.json()
    assert body["customer_id"] == str(tenant.customer_id) and body["state"] in ("running", "done")
    for token in (admin, user):  # refused at once, not after the cleanup
        assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401
    again = await client.post("/api/v1/auth/login",
                              json={"email": tenant.admin_email, "password": PASSWORD})
    assert again.status == 401

    await _wait_done(services, tenant.customer_id)
    cid = tenant.customer_id
    assert await services.pool.fetchval("SELECT count(*) FROM recordings WHERE customer_id = $1",
                                        cid) == 0
    assert await services.pool.fetchval(
        "SELECT count(*) FROM customer_keys WHERE customer_id = $1", cid) == 0
    assert await services.store.list_keys(f"recordings/{cid}/") == []
    customer = await services.pool.fetchrow("SELECT * FROM customers WHERE id = $1", cid)
    assert customer["erased_at"] is not None
    assert [customer[k] for k in ("name", "email", "phone", "org_number")] == [None] * 4
    users = await services.pool.fetch("SELECT * FROM users WHERE customer_id = $1", cid)
    assert users and all(u["email"] is None and u["password_hash"] is None
                         and u["disabled_at"] is not None for u in users)
    grant = await services.pool.fetchrow("SELECT * FROM grants WHERE customer_id = $1", cid)
    assert grant["purpose"] == "" and grant["revoked_at"] is not None
    actions = await _actions(services, cid)
    assert actions.index("account.erasure_requested") < actions.index("account.erased")
    assert actions.count("access.denied.token_revoked") == 2  # the two refused tokens
    assert actions.count("recording.erased") == len(ids)
    log_text = str([dict(r) for r in await services.pool.fetch(
        "SELECT * FROM audit_log WHERE customer_id = $1", cid)])
    assert "Acme" not in log_text and "acme" not in log_text and "4670" not in log_text
    # The other customer is untouched.
    owner = await login(client, other.admin_email)
    assert (await client.get(f"/api/v1/recordings/{theirs}/audio",
                             headers=bearer(owner))).status == 200


async def test_only_a_customer_admin_erases_the_account(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    user = await login(client, tenant.user_email)
    response = await client.delete("/api/v1/account", headers=bearer(user))
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    assert await services.pool.fetchval("SELECT erased_at FROM customers WHERE id = $1",
                                        tenant.customer_id) is None
    assert "access.denied.role" in await _actions(services, tenant.customer_id)


async def test_erasure_is_idempotent_and_resumes_after_a_failure(
        client: Any, services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    for i in range(3):
        await _upload(client, tenant, wav(1.0 + i))
    first = await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    again = await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    assert first.requested_at == again.requested_at
    assert (await _actions(services, tenant.customer_id)).count("account.erasure_requested") == 1

    # A real store that fails (its bucket does not exist): the run stops part-way, says why.
    broken = object_store_for(settings.model_copy(update={"s3_bucket": "no-such-bucket-here"}))
    try:
        await run_erasure(services.pool, broken, tenant.customer_id)
    except Exception as exc:
        assert type(exc).__name__ == "Unavailable"
    else:
        raise AssertionError("a failing store must interrupt the erasure")
    stuck = await erasure_status(services.pool, tenant.customer_id)
    assert stuck.state == "running" and stuck.last_error == "Unavailable"
    assert stuck.recordings_remaining == 3

    await services.pool.execute("UPDATE customer_erasures SET lease_until = now() - interval '1 s'")
    assert await resume_pending(services.pool, services.store) == 1
    done = await erasure_status(services.pool, tenant.customer_id)
    assert done.state == "done" and done.recordings_remaining == 0 and done.last_error is None
    assert await services.store.list_keys(f"recordings/{tenant.customer_id}/") == []
    assert await run_erasure(services.pool, services.store, tenant.customer_id) is False


async def test_erasure_status_cli_prints_one_json_object(
        services: Services, settings: Settings, monkeypatch: Any) -> None:
    tenant = await make_tenant(services)
    await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    await run_erasure(services.pool, services.store, tenant.customer_id)
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"RECSTORE_{name.upper()}", str(raw))
    out = io.StringIO()
    with redirect_stdout(out):
        code = await asyncio.to_thread(
            cli_main, ["customer", "erasure-status", str(tenant.customer_id), "--json"])
    assert code == 0
    status = json.loads(out.getvalue())
    assert status["state"] == "done" and status["customer_id"] == str(tenant.customer_id)
    assert status["recordings_remaining"] == 0 and status["objects_remaining"] == 0
    try:
        await erasure_status(services.pool, uuid.uuid4())
    except NotFound:
        pass
    else:
        raise AssertionError("an unknown customer has no erasure status")


async def test_the_worker_finishes_an_erasure_whose_process_died(
        client: Any, services: Services) -> None:
    """No operator needed: the worker's erasure loop picks up a lapsed lease by itself."""
    import asyncio

    from recstore.runner import erasure_loop

    tenant = await make_tenant(services)
    await _upload(client, tenant, wav(1.0))
    await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    await services.pool.execute(  # the process that took the erasure died holding it
        "UPDATE customer_erasures SET lease_until = now() - interval '1 s'")
    stop = asyncio.Event()
    loop = asyncio.create_task(erasure_loop(services, stop, interval=0.1))
    try:
        for _ in range(100):
            if (await erasure_status(services.pool, tenant.customer_id)).state == "done":
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await loop
    assert (await erasure_status(services.pool, tenant.customer_id)).state == "done"
    assert await services.store.list_keys(f"recordings/{tenant.customer_id}/") == []
