"""Grants enforced by keys, tried from the attacker's side: whoever can write the database
but holds no customer key cannot make the staff service open a recording."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from factories import Tenant, audit_actions, make_staff, make_tenant, token_headers, upload, wav
from recstore.consent import grant_keys
from recstore.services import Services


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
async def acme(client: Any, services: Services) -> tuple[Tenant, str, dict[str, str], UUID]:
    tenant = await make_tenant(services)
    response = await upload(client, tenant, wav(1.0))
    assert response.status == 201
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    return tenant, (await response.json())["id"], admin, await make_staff(services)


async def _grant(client: Any, admin: dict[str, str], **body: Any) -> str:
    body = {"purpose": "ticket 7", "expires_at": _at(1), **body}
    response = await client.post("/api/v1/grants", headers=admin, json=body)
    assert response.status == 201, await response.text()
    grant_id: str = (await response.json())["id"]
    return grant_id


async def _listen(client: Any, services: Services, staff: UUID, recording_id: str) -> int:
    response = await client.get(f"/staff/v1/recordings/{recording_id}/audio",
                                headers=token_headers(services, staff, "staff"))
    await response.read()
    status: int = response.status
    return status


async def test_a_grant_seals_the_data_key_and_revocation_destroys_it(
        client: Any, services: Services, acme: Any) -> None:
    _tenant, recording_id, admin, staff = acme
    grant_id = await _grant(client, admin, recording_ids=[recording_id], staff_id=str(staff))
    assert await services.pool.fetchval(
        "SELECT count(*) FROM grant_keys WHERE grant_id = $1", UUID(grant_id)) == 1
    assert await _listen(client, services, staff, recording_id) == 200
    response = await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)
    assert response.status == 204
    assert await services.pool.fetchval(
        "SELECT count(*) FROM grant_keys WHERE grant_id = $1", UUID(grant_id)) == 0


async def test_a_grant_un_revoked_in_the_database_opens_nothing(
        client: Any, services: Services, acme: Any) -> None:
    tenant, recording_id, admin, staff = acme
    grant_id = await _grant(client, admin, recording_ids=[recording_id], staff_id=str(staff))
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
    await services.pool.execute(
        "UPDATE grants SET revoked_at = NULL, revoked_by = NULL WHERE id = $1", UUID(grant_id))
    assert await _listen(client, services, staff, recording_id) == 403
    last = (await audit_actions(services, tenant.customer_id))[-1]
    assert (last["action"], last["actor_id"]) == ("staff.audio_denied", staff)


async def test_a_grant_row_forged_in_the_database_opens_nothing(
        client: Any, services: Services, acme: Any) -> None:
    tenant, recording_id, _admin, staff = acme
    await services.pool.execute(
        "INSERT INTO grants (id, customer_id, staff_id, all_recordings, purpose, created_by,"
        " expires_at) VALUES ($1, $2, NULL, true, 'forged', $3, now() + interval '1 day')",
        uuid.uuid4(), tenant.customer_id, tenant.admin_id)
    assert await _listen(client, services, staff, recording_id) == 403
    actions = [e["action"] for e in await audit_actions(services, tenant.customer_id)]
    assert actions[-1] == "staff.audio_denied"


async def test_grant_keys_are_bound_to_grant_staff_member_and_recording(
        client: Any, services: Services, acme: Any) -> None:
    tenant, recording_id, admin, staff = acme
    other_staff = await make_staff(services, "s2@recstore.example")
    second = await upload(client, tenant, wav(1.0, 550.0))
    second_id = (await second.json())["id"]
    grant_id = await _grant(client, admin, recording_ids=[recording_id], staff_id=str(staff))
    # The row handed to another staff member: the key still names the first one.
    await services.pool.execute("UPDATE grants SET staff_id = $2 WHERE id = $1",
                                UUID(grant_id), other_staff)
    assert await _listen(client, services, other_staff, recording_id) == 403
    await services.pool.execute("UPDATE grants SET staff_id = $2 WHERE id = $1",
                                UUID(grant_id), staff)
    # The key copied onto another recording, and the row widened to cover it: refused.
    await services.pool.execute(
        "UPDATE grants SET recording_ids = recording_ids || $2::uuid WHERE id = $1",
        UUID(grant_id), UUID(second_id))
    await services.pool.execute(
        "INSERT INTO grant_keys (grant_id, recording_id, customer_id, expires_at, sealed_key)"
        " SELECT grant_id, $2, customer_id, expires_at, sealed_key FROM grant_keys"
        " WHERE grant_id = $1", UUID(grant_id), UUID(second_id))
    assert await _listen(client, services, staff, second_id) == 403
    assert await _listen(client, services, staff, recording_id) == 200


async def test_an_all_recordings_grant_covers_recordings_that_arrive_while_it_is_live(
        client: Any, services: Services, acme: Any) -> None:
    tenant, _recording_id, admin, staff = acme
    grant_id = await _grant(client, admin, all=True)
    later = await upload(client, tenant, wav(1.0, 660.0))
    later_id = (await later.json())["id"]
    assert await services.pool.fetchval(
        "SELECT count(*) FROM grant_keys WHERE grant_id = $1", UUID(grant_id)) == 2
    assert await _listen(client, services, staff, later_id) == 200
    assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
    after = await upload(client, tenant, wav(1.0, 770.0))
    after_id = (await after.json())["id"]
    assert await services.pool.fetchval(
        "SELECT count(*) FROM grant_keys WHERE recording_id = $1", UUID(after_id)) == 0


async def test_expired_grant_keys_are_destroyed_and_never_open(
        client: Any, services: Services, acme: Any) -> None:
    _tenant, recording_id, admin, staff = acme
    grant_id = await _grant(client, admin, recording_ids=[recording_id])
    await services.pool.execute(
        "UPDATE grant_keys SET expires_at = now() - interval '1 second' WHERE grant_id = $1",
        UUID(grant_id))
    assert await grant_keys.purge_expired(services.pool) == 1
    assert await _listen(client, services, staff, recording_id) == 403


async def test_deleting_a_recording_destroys_its_grant_keys(
        client: Any, services: Services, acme: Any) -> None:
    _tenant, recording_id, admin, _staff = acme
    await _grant(client, admin, all=True)
    response = await client.delete(f"/api/v1/recordings/{recording_id}", headers=admin)
    assert response.status == 204
    assert await services.pool.fetchval(
        "SELECT count(*) FROM grant_keys WHERE recording_id = $1", UUID(recording_id)) == 0
