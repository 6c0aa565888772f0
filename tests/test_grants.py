"""Grants made directly by a customer admin: validation, scope, history, revocation, and a
download in progress cut off by revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from factories import Tenant, audit_actions, big_wav, make_staff, make_tenant, token_headers, upload, wav
from recstore.consent import grants
from recstore.recordings.read import choose_slice, decrypt_audio
from recstore.services import Services


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
async def acme(client: Any, services: Services) -> tuple[Tenant, str, dict[str, str]]:
    tenant = await make_tenant(services)
    response = await upload(client, tenant, wav(1.0))
    assert response.status == 201
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    return tenant, (await response.json())["id"], admin


async def test_created_grant_has_the_contract_shape_and_an_audit_entry(
        client: Any, services: Services, acme: Any) -> None:
    tenant, recording_id, admin = acme
    staff = await make_staff(services)
    expires = _at(2)
    response = await client.post("/api/v1/grants", headers=admin, json={
        "recording_ids": [recording_id], "staff_id": str(staff), "purpose": "silence on line",
        "expires_at": expires})
    assert response.status == 201
    grant = await response.json()
    assert grant["revoked_at"] is None and grant["revoked_by"] is None
    assert grant["recording_ids"] == [recording_id] and grant["all"] is False
    assert grant["staff_id"] == str(staff) and grant["purpose"] == "silence on line"
    assert grant["created_by"] == str(tenant.admin_id) and grant["request_id"] is None
    assert grant["status"] == "active"
    assert datetime.fromisoformat(grant["expires_at"]) == datetime.fromisoformat(expires)
    entry = (await audit_actions(services, tenant.customer_id))[-1]
    assert (entry["action"], entry["actor_type"], entry["actor_id"], str(entry["grant_id"])) == (
        "grant.created", "customer", tenant.admin_id, grant["id"])


@pytest.mark.parametrize("body", [
    {"all": True, "expires_at": _at(7.01)},                 # more than 7 days ahead
    {"all": True, "expires_at": _at(-0.01)},                # already over
    {"all": True, "expires_at": "2030-01-01T00:00:00"},     # no time zone
    {"all": True, "recording_ids": ["{rid}"], "expires_at": _at(1)},  # both scopes
    {"all": False, "expires_at": _at(1)},                   # neither
    {"recording_ids": [], "expires_at": _at(1)},
    {"all": True, "staff_id": "{admin}", "expires_at": _at(1)},     # not a staff member
    {"all": True, "purpose": "", "expires_at": _at(1)},
    {"all": True, "expires_at": _at(1), "extra": 1},
])
async def test_invalid_grants_are_422_and_leave_nothing(client: Any, services: Services,
                                                        acme: Any, body: dict[str, Any]) -> None:
    tenant, recording_id, admin = acme
    body = {key: ([v.format(rid=recording_id) for v in value] if isinstance(value, list)
                  else value.format(admin=tenant.admin_id) if isinstance(value, str) else value)
            for key, value in body.items()}
    body.setdefault("purpose", "p")
    response = await client.post("/api/v1/grants", headers=admin, json=body)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert await services.pool.fetchval("SELECT count(*) FROM grants") == 0


async def test_a_grant_never_names_another_customers_recording(
        client: Any, services: Services, acme: Any) -> None:
    _, recording_id, admin = acme
    other = await make_tenant(services, "Other AB")
    theirs = (await (await upload(client, other, wav(1.0))).json())["id"]
    answers = []
    for ids in ([theirs], [recording_id, theirs], [str(UUID(int=5))]):
        response = await client.post("/api/v1/grants", headers=admin, json={
            "recording_ids": ids, "purpose": "p", "expires_at": _at(1)})
        answers.append((response.status, (await response.json())["detail"]))
    # Another customer's recording and one that does not exist answer alike.
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 422
    assert await services.pool.fetchval("SELECT count(*) FROM grants") == 0


async def test_a_grant_never_outlives_the_recordings_it_names(
        client: Any, services: Services, acme: Any) -> None:
    _, recording_id, admin = acme
    soon = datetime.now(UTC) + timedelta(days=2)
    await services.pool.execute("UPDATE recordings SET expires_at = $2 WHERE id = $1",
                                UUID(recording_id), soon)
    response = await client.post("/api/v1/grants", headers=admin, json={
        "recording_ids": [recording_id], "purpose": "p", "expires_at": _at(6)})
    assert response.status == 201
    assert abs(datetime.fromisoformat((await response.json())["expires_at"]) - soon
               ) < timedelta(milliseconds=1)


async def test_only_the_admin_grants_and_revokes_but_users_see_the_history(
        client: Any, services: Services, acme: Any) -> None:
    tenant, _, admin = acme
    user = token_headers(services, tenant.user_id, "customer_user", tenant.customer_id)
    body = {"all": True, "purpose": "p", "expires_at": _at(1)}
    assert (await client.post("/api/v1/grants", headers=user, json=body)).status == 403
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json=body)).json())["id"]
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=user)).status == 403
    listing = await client.get("/api/v1/grants", headers=user)
    assert listing.status == 200
    assert [g["id"] for g in (await listing.json())["items"]] == [grant_id]


async def test_revocation_is_immediate_idempotent_and_kept_as_history(
        client: Any, services: Services, acme: Any) -> None:
    tenant, recording_id, admin = acme
    staff = await make_staff(services)
    staff_headers = token_headers(services, staff, "staff")
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "purpose": "p", "expires_at": _at(1)})).json())["id"]
    audio = f"/staff/v1/recordings/{recording_id}/audio"
    assert (await client.get(audio, headers=staff_headers)).status == 200
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
    assert (await client.get(audio, headers=staff_headers)).status == 403
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
    revocations = [e for e in await audit_actions(services, tenant.customer_id)
                   if e["action"] == "grant.revoked"]
    assert len(revocations) == 1 and revocations[0]["actor_id"] == tenant.admin_id
    listed = (await (await client.get("/api/v1/grants", headers=admin)).json())["items"]
    assert listed[0]["status"] == "revoked" and listed[0]["revoked_by"] == str(tenant.admin_id)
    assert listed[0]["revoked_at"] is not None


async def test_another_customers_grant_is_404_to_revoke(client: Any, services: Services,
                                                        acme: Any) -> None:
    _, _, admin = acme
    other = await make_tenant(services, "Other AB")
    other_admin = token_headers(services, other.admin_id, "customer_admin", other.customer_id)
    grant_id = (await (await client.post("/api/v1/grants", headers=other_admin, json={
        "all": True, "purpose": "p", "expires_at": _at(1)})).json())["id"]
    for target in (grant_id, str(UUID(int=9)), "nope"):
        assert (await client.delete(f"/api/v1/grants/{target}", headers=admin)).status == 404
    assert await services.pool.fetchval("SELECT revoked_at FROM grants") is None


async def test_grant_list_pages_newest_first(client: Any, services: Services,
                                             acme: Any) -> None:
    _, _, admin = acme
    made = [(await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "purpose": f"p{i}", "expires_at": _at(1)})).json())["id"] for i in range(3)]
    first = await (await client.get("/api/v1/grants?limit=2", headers=admin)).json()
    rest = await (await client.get(f"/api/v1/grants?limit=2&cursor={first['next_cursor']}",
                                   headers=admin)).json()
    assert [g["id"] for g in first["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None
    assert (await client.get("/api/v1/grants?cursor=garbage", headers=admin)).status == 422



async def test_revocation_stops_the_stream_at_the_next_piece(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    body = wav(30.0)  # ~480 kB: two pieces of decrypt_audio's four chunks
    recording_id = UUID((await (await upload(client, tenant, body)).json())["id"])
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "purpose": "p", "expires_at": _at(1)})).json())["id"]
    row = await services.pool.fetchrow("SELECT * FROM recordings WHERE id = $1", recording_id)
    async with services.pool.acquire() as conn:
        pair = await services.keys.keypair(conn, tenant.customer_id, row["epoch"])
    cuts: list[bool] = []

    async def on_cut() -> None:
        cuts.append(True)

    pieces = decrypt_audio(services.store, row, pair, choose_slice(len(body), None),
                           still_allowed=grants.stream_guard(services.pool, UUID(grant_id),
                                                             on_cut))
    first = await anext(pieces)
    assert body.startswith(first) and 0 < len(first) < len(body)
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
    with pytest.raises(grants.GrantRevoked):
        await anext(pieces)
    assert cuts == [True]


async def test_a_download_in_progress_is_cut_off_when_the_grant_is_revoked(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    body = big_wav(60)  # ~10 MB: the server is still writing when the client pauses
    response = await upload(client, tenant, body)
    assert response.status == 201, await response.text()
    recording_id = (await response.json())["id"]
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    staff = await make_staff(services)
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "staff_id": str(staff), "purpose": "p", "expires_at": _at(1)})).json())["id"]
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with client.get(f"/staff/v1/recordings/{recording_id}/audio",
                              headers=token_headers(services, staff, "staff")) as audio:
            assert audio.status == 200
            received = await audio.content.readexactly(64 * 1024)
            assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
            received += await audio.content.read()
    assert len(received) < len(body)
    assert body.startswith(received)
    actions = [e["action"] for e in await audit_actions(services, tenant.customer_id)]
    assert actions[-3:] == ["staff.audio_read", "grant.revoked", "staff.audio_cut_off"]
