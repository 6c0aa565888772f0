"""Every staff route under every grant state: the exact status, and the entry it leaves in the customer's
access log. Metadata is always readable; audio only under a live grant that covers this
recording and this staff member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from factories import Tenant, audit_actions, make_staff, make_tenant, token_headers, upload, wav
from recstore.services import Services


@dataclass
class World:
    a: Tenant
    b: Tenant
    staff: UUID
    other_staff: UUID
    recording: str
    other_recording: str
    b_recording: str
    body: bytes
    staff_headers: dict[str, str]

    def admin(self, svc: Services, tenant: Tenant | None = None) -> dict[str, str]:
        tenant = tenant or self.a
        return token_headers(svc, tenant.admin_id, "customer_admin", tenant.customer_id)


@pytest.fixture
async def world(client: Any, services: Services) -> World:
    a, b = await make_tenant(services, "Acme AB"), await make_tenant(services, "Bolag AB")
    staff = await make_staff(services, "s1@recstore.example")
    other_staff = await make_staff(services, "s2@recstore.example")
    body = wav(3.0)
    ids = []
    for tenant, frequency in ((a, 440.0), (a, 550.0), (b, 660.0)):
        response = await upload(client, tenant, wav(3.0, frequency) if frequency != 440.0 else body)
        assert response.status == 201
        ids.append((await response.json())["id"])
    return World(a, b, staff, other_staff, ids[0], ids[1], ids[2], body,
                 token_headers(services, staff, "staff"))


def _soon(days: float = 1.0) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _grant(client: Any, headers: dict[str, str], **body: Any) -> str:
    body.setdefault("purpose", "debug ticket 42")
    body.setdefault("expires_at", _soon())
    response = await client.post("/api/v1/grants", json=body, headers=headers)
    assert response.status == 201, await response.text()
    grant_id: str = (await response.json())["id"]
    return grant_id


async def _request(client: Any, w: World) -> str:
    response = await client.post("/staff/v1/access-requests", headers=w.staff_headers, json={
        "customer_id": str(w.a.customer_id), "recording_ids": [w.recording],
        "reason": "customer reports silence", "ticket": "SUP-1"})
    assert response.status == 201, await response.text()
    request_id: str = (await response.json())["id"]
    return request_id


async def _state(state: str, client: Any, svc: Services, w: World) -> str | None:
    """Bring the world into `state`; returns the grant id that must be used, if any."""
    admin = w.admin(svc)
    if state == "none":
        return None
    if state == "pending":
        await _request(client, w)
        return None
    if state in ("approved", "denied"):
        request_id = await _request(client, w)
        action = {"approved": "approve", "denied": "deny"}[state]
        response = await client.post(f"/api/v1/access-requests/{request_id}/{action}",
                                     json={"expires_at": _soon()}, headers=admin)
        assert response.status in (200, 201), await response.text()
        return (await response.json())["id"] if state == "approved" else None
    if state == "direct":
        return await _grant(client, admin, recording_ids=[w.recording], staff_id=str(w.staff))
    if state == "any_staff_all":
        return await _grant(client, admin, all=True, staff_id=None)
    if state == "expired":
        grant_id = await _grant(client, admin, recording_ids=[w.recording], staff_id=str(w.staff))
        await svc.pool.execute("UPDATE grants SET created_at = now() - interval '3 days',"
                               " expires_at = now() - interval '1 second' WHERE id = $1",
                               UUID(grant_id))
        return None
    if state == "revoked":
        grant_id = await _grant(client, admin, recording_ids=[w.recording], staff_id=str(w.staff))
        assert (await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)).status == 204
        return None
    if state == "other_recording":
        await _grant(client, admin, recording_ids=[w.other_recording], staff_id=str(w.staff))
        return None
    if state == "other_staff":
        await _grant(client, admin, recording_ids=[w.recording], staff_id=str(w.other_staff))
        return None
    if state == "other_customer":
        await _grant(client, w.admin(svc, w.b), all=True, staff_id=str(w.staff))
        return None
    raise AssertionError(state)


async def _last(svc: Services, customer_id: UUID) -> dict[str, Any]:
    return (await audit_actions(svc, customer_id))[-1]


STATES = ["none", "pending", "approved", "denied", "direct", "any_staff_all", "expired",
          "revoked", "other_recording", "other_staff", "other_customer"]
ALLOWED = {"approved", "direct", "any_staff_all"}


@pytest.mark.parametrize("state", STATES)
async def test_staff_routes_under_each_grant_state(client: Any, services: Services,
                                                   world: World, state: str) -> None:
    w, a = world, world.a.customer_id
    grant_id = await _state(state, client, services, w)
    b_entries_before = len(await audit_actions(services, w.b.customer_id))

    listing = await client.get(f"/staff/v1/customers/{a}/recordings", headers=w.staff_headers)
    assert listing.status == 200
    assert {item["id"] for item in (await listing.json())["items"]} == {
        w.recording, w.other_recording}
    entry = await _last(services, a)
    assert (entry["actor_type"], entry["actor_id"], entry["action"], entry["recording_id"]) == (
        "staff", w.staff, "staff.recordings_listed", None)

    one = await client.get(f"/staff/v1/recordings/{w.recording}", headers=w.staff_headers)
    assert one.status == 200
    entry = await _last(services, a)
    assert (entry["action"], str(entry["recording_id"]), entry["grant_id"]) == (
        "staff.metadata_read", w.recording, None)

    audio = await client.get(f"/staff/v1/recordings/{w.recording}/audio",
                             headers=w.staff_headers)
    entry = await _last(services, a)
    assert entry["actor_type"] == "staff" and entry["actor_id"] == w.staff
    assert str(entry["recording_id"]) == w.recording
    if state in ALLOWED:
        assert audio.status == 200
        assert await audio.read() == w.body
        assert entry["action"] == "staff.audio_read"
        assert str(entry["grant_id"]) == grant_id
    else:
        assert audio.status == 403
        assert audio.content_type == "application/problem+json"
        assert entry["action"] == "staff.audio_denied"
        assert entry["grant_id"] is None
    # Nothing about A's recording lands in B's log, whoever granted what.
    assert len(await audit_actions(services, w.b.customer_id)) == b_entries_before


async def test_range_under_a_grant_is_206_with_exactly_those_bytes(
        client: Any, services: Services, world: World) -> None:
    await _state("direct", client, services, world)
    response = await client.get(f"/staff/v1/recordings/{world.recording}/audio",
                                headers={**world.staff_headers, "Range": "bytes=100-1099"})
    assert response.status == 206
    assert await response.read() == world.body[100:1100]
    assert response.headers["Content-Range"] == f"bytes 100-1099/{len(world.body)}"
    unsatisfiable = await client.get(
        f"/staff/v1/recordings/{world.recording}/audio",
        headers={**world.staff_headers, "Range": f"bytes={len(world.body)}-"})
    assert unsatisfiable.status == 416


async def test_staff_views_carry_no_caller_identity(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    staff = token_headers(services, await make_staff(services), "staff")
    response = await upload(client, tenant, wav(1.0), **{
        "X-Recstore-Caller": "+46701234567", "X-Recstore-Caller-Name": "Greta Garbo",
        "X-Recstore-Callee": "+4687654321"})
    assert response.status == 201
    recording_id = (await response.json())["id"]
    for path in (f"/staff/v1/customers/{tenant.customer_id}/recordings",
                 f"/staff/v1/recordings/{recording_id}"):
        answer = await client.get(path, headers=staff)
        text = await answer.text()
        assert answer.status == 200
        for secret in ("46701234567", "Garbo", "4687654321", "caller", "callee"):
            assert secret not in text
    view = await (await client.get(f"/staff/v1/recordings/{recording_id}", headers=staff)).json()
    assert view["customer_id"] == str(tenant.customer_id) and view["ingest_status"] == "stored"


@pytest.mark.parametrize("path", [
    "/staff/v1/customers/{other}/recordings", "/staff/v1/recordings/{other}",
    "/staff/v1/recordings/{other}/audio", "/staff/v1/recordings/not-a-uuid"])
async def test_unknown_ids_are_404_for_staff(client: Any, services: Services, path: str) -> None:
    staff = token_headers(services, await make_staff(services), "staff")
    response = await client.get(path.format(other=UUID(int=7)), headers=staff)
    assert response.status == 404


@pytest.mark.parametrize("route", [
    ("GET", "/staff/v1/customers/{cid}/recordings"), ("GET", "/staff/v1/recordings/{rid}"),
    ("GET", "/staff/v1/recordings/{rid}/audio"), ("POST", "/staff/v1/access-requests")])
async def test_customer_roles_cannot_use_staff_routes(client: Any, services: Services,
                                                      world: World, route: Any) -> None:
    method, path = route
    path = path.format(cid=world.a.customer_id, rid=world.recording)
    for headers in (world.admin(services),
                    token_headers(services, world.a.user_id, "customer_user",
                                  world.a.customer_id)):
        response = await client.request(method, path, headers=headers, json={
            "customer_id": str(world.a.customer_id), "all": True, "reason": "x", "ticket": "y"})
        assert response.status == 403
    assert (await client.request(method, path)).status == 401


async def test_staff_cannot_use_customer_routes(client: Any, services: Services,
                                                world: World) -> None:
    await _state("direct", client, services, world)
    for method, path in (("GET", f"/api/v1/recordings/{world.recording}/audio"),
                         ("GET", "/api/v1/grants"), ("POST", "/api/v1/grants"),
                         ("GET", "/api/v1/access-log"), ("GET", "/api/v1/access-requests")):
        response = await client.request(method, path, headers=world.staff_headers,
                                        json={"all": True, "purpose": "me",
                                              "expires_at": _soon()})
        assert response.status == 403, (method, path)
