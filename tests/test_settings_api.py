"""GET/PATCH /api/v1/settings: retention 1..90 days (shortening reaches stored recordings at
once) and provider-copy deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from factories import Tenant, bearer, make_tenant, upload, wav
from recstore.services import Services


def _admin(svc: Services, tenant: Tenant) -> dict[str, str]:
    return bearer(svc.tokens.issue(tenant.admin_id, "customer_admin", tenant.customer_id))


async def _recorded(client: Any, tenant: Tenant, days_ago: float, tone: float) -> str:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    response = await upload(client, tenant, wav(0.5, tone), **{"X-Recstore-Recorded-At": at})
    assert response.status == 201, await response.text()
    recording_id: str = (await response.json())["id"]
    return recording_id


async def test_settings_read_and_change(client: Any, services: Services, tenant: Tenant) -> None:
    headers = _admin(services, tenant)
    response = await client.get("/api/v1/settings", headers=headers)
    assert response.status == 200
    assert await response.json() == {"retention_days": 90, "delete_provider_copy": False}
    changed = await client.patch("/api/v1/settings", headers=headers,
                                 json={"retention_days": 30, "delete_provider_copy": True})
    assert changed.status == 200
    assert await changed.json() == {"retention_days": 30, "delete_provider_copy": True}
    row = await services.pool.fetchrow(
        "SELECT retention_days, delete_provider_copy FROM customers WHERE id = $1",
        tenant.customer_id)
    assert (row["retention_days"], row["delete_provider_copy"]) == (30, True)
    unchanged = await client.patch("/api/v1/settings", headers=headers, json={})
    assert await unchanged.json() == {"retention_days": 30, "delete_provider_copy": True}
    actions = [r["action"] for r in await services.pool.fetch(
        "SELECT action FROM audit_log WHERE customer_id = $1 ORDER BY seq", tenant.customer_id)]
    assert actions.count("settings.retention_changed") == 1
    assert actions.count("settings.provider_copy_changed") == 1


@pytest.mark.parametrize("body", [
    {"retention_days": 91}, {"retention_days": 0}, {"retention_days": -5},
    {"retention_days": 365}, {"retention_days": "thirty"}, {"retention_days": 30.5},
    {"delete_provider_copy": "maybe"}, {"retention_days": 30, "is_admin": True}, [30], "30",
])
async def test_invalid_settings_are_422_and_change_nothing(client: Any, services: Services,
                                                           tenant: Tenant, body: Any) -> None:
    response = await client.patch("/api/v1/settings", headers=_admin(services, tenant), json=body)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert await services.pool.fetchval("SELECT retention_days FROM customers WHERE id = $1",
                                        tenant.customer_id) == 90


async def test_only_an_admin_changes_settings(client: Any, services: Services,
                                              tenant: Tenant) -> None:
    user = bearer(services.tokens.issue(tenant.user_id, "customer_user", tenant.customer_id))
    assert (await client.get("/api/v1/settings", headers=user)).status == 200
    response = await client.patch("/api/v1/settings", headers=user, json={"retention_days": 1})
    assert response.status == 403
    assert await services.pool.fetchval("SELECT retention_days FROM customers WHERE id = $1",
                                        tenant.customer_id) == 90


async def test_shorter_retention_applies_to_stored_recordings_at_once(
        client: Any, services: Services, tenant: Tenant) -> None:
    old = await _recorded(client, tenant, days_ago=10, tone=300)
    recent = await _recorded(client, tenant, days_ago=1, tone=400)
    other = await make_tenant(services, "Other AB")
    theirs = await _recorded(client, other, days_ago=10, tone=500)
    old_key = await services.pool.fetchval("SELECT object_key FROM recordings WHERE id = $1",
                                           uuid.UUID(old))
    headers = _admin(services, tenant)

    response = await client.patch("/api/v1/settings", headers=headers, json={"retention_days": 5})
    assert response.status == 200
    assert (await client.get(f"/api/v1/recordings/{old}", headers=headers)).status == 404
    assert await services.store.size_of(old_key) is None
    row = await services.pool.fetchrow("SELECT recorded_at, expires_at FROM recordings"
                                       " WHERE id = $1", uuid.UUID(recent))
    assert row["expires_at"] == row["recorded_at"] + timedelta(days=5)
    assert await services.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE customer_id = $1 AND action = 'recording.expired'"
        " AND recording_id = $2", tenant.customer_id, uuid.UUID(old)) == 1
    # Another customer's recordings keep their own retention.
    assert await services.pool.fetchval("SELECT count(*) FROM recordings WHERE id = $1",
                                        uuid.UUID(theirs)) == 1

    # Longer again: the live recording is extended, the deleted one stays deleted.
    await client.patch("/api/v1/settings", headers=headers, json={"retention_days": 60})
    row = await services.pool.fetchrow("SELECT recorded_at, expires_at FROM recordings"
                                       " WHERE id = $1", uuid.UUID(recent))
    assert row["expires_at"] == row["recorded_at"] + timedelta(days=60)
    assert (await client.get(f"/api/v1/recordings/{old}", headers=headers)).status == 404
