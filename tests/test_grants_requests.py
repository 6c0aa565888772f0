"""Access requests: filed by staff with a reason and a ticket, answered by the customer's
admin, expiring after 72 hours unanswered, and kept as history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from factories import Tenant, audit_actions, make_staff, make_tenant, token_headers, upload, wav
from recstore.consent import access_requests
from recstore.services import Services


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


class Desk:
    def __init__(self, client: Any, svc: Services, tenant: Tenant, staff: UUID,
                 recording_id: str) -> None:
        self.client, self.svc, self.tenant = client, svc, tenant
        self.staff, self.recording_id = staff, recording_id
        self.staff_headers = token_headers(svc, staff, "staff")
        self.admin = token_headers(svc, tenant.admin_id, "customer_admin", tenant.customer_id)

    async def file(self, **body: Any) -> Any:
        body = {"customer_id": str(self.tenant.customer_id), "reason": "no audio on call",
                "ticket": "SUP-1234", **body}
        if "all" not in body and "recording_ids" not in body:
            body["recording_ids"] = [self.recording_id]
        return await self.client.post("/staff/v1/access-requests", json=body,
                                      headers=self.staff_headers)

    async def filed(self) -> str:
        response = await self.file()
        assert response.status == 201, await response.text()
        request_id: str = (await response.json())["id"]
        return request_id

    async def answer(self, request_id: str, action: str, expires_at: str | None = None,
                     headers: dict[str, str] | None = None) -> Any:
        return await self.client.post(f"/api/v1/access-requests/{request_id}/{action}",
                                      json={"expires_at": expires_at or _at(1)},
                                      headers=headers or self.admin)


@pytest.fixture
async def desk(client: Any, services: Services) -> Desk:
    tenant = await make_tenant(services)
    response = await upload(client, tenant, wav(1.0))
    assert response.status == 201
    return Desk(client, services, tenant, await make_staff(services), (await response.json())["id"])


async def test_admin_sees_the_pending_request_with_its_ticket(desk: Desk) -> None:
    response = await desk.file()
    assert response.status == 201
    filed = await response.json()
    assert filed["status"] == "pending" and filed["ticket"] == "SUP-1234"
    created = datetime.fromisoformat(filed["created_at"])
    assert datetime.fromisoformat(filed["expires_at"]) - created == timedelta(hours=72)
    listing = await desk.client.get("/api/v1/access-requests?status=pending", headers=desk.admin)
    assert listing.status == 200
    (seen,) = (await listing.json())["items"]
    assert (seen["id"], seen["ticket"], seen["reason"], seen["staff_id"], seen["recording_ids"]) == (
        filed["id"], "SUP-1234", "no audio on call", str(desk.staff), [desk.recording_id])
    entry = (await audit_actions(desk.svc, desk.tenant.customer_id))[-1]
    assert (entry["action"], entry["actor_type"], entry["actor_id"]) == (
        "access_request.created", "staff", desk.staff)


async def test_approval_creates_a_grant_from_now_for_the_requester(desk: Desk) -> None:
    request_id = await desk.filed()
    before = datetime.now(UTC)
    response = await desk.answer(request_id, "approve", _at(3))
    assert response.status == 201
    grant = await response.json()
    assert grant["request_id"] == request_id and grant["ticket"] == "SUP-1234"
    assert grant["staff_id"] == str(desk.staff) and grant["recording_ids"] == [desk.recording_id]
    assert grant["created_by"] == str(desk.tenant.admin_id)  # the person, not a service account
    assert datetime.fromisoformat(grant["created_at"]) >= before - timedelta(seconds=1)
    audio = await desk.client.get(f"/staff/v1/recordings/{desk.recording_id}/audio",
                                  headers=desk.staff_headers)
    assert audio.status == 200
    (decided,) = (await (await desk.client.get("/api/v1/access-requests",
                                               headers=desk.admin)).json())["items"]
    assert (decided["status"], decided["decided_by"], decided["grant_id"]) == (
        "approved", str(desk.tenant.admin_id), grant["id"])
    actions = [(e["action"], e["actor_id"], e["grant_id"])
               for e in await audit_actions(desk.svc, desk.tenant.customer_id)]
    gid = UUID(grant["id"])
    assert ("grant.created", desk.tenant.admin_id, gid) in actions
    assert ("access_request.approved", desk.tenant.admin_id, gid) in actions
    mine = await (await desk.client.get("/staff/v1/access-requests",
                                        headers=desk.staff_headers)).json()
    assert mine["items"][0]["grant_id"] == grant["id"]


@pytest.mark.parametrize("expires", [7.01, -0.01])
async def test_approval_expiry_is_bounded(desk: Desk, expires: float) -> None:
    request_id = await desk.filed()
    assert (await desk.answer(request_id, "approve", _at(expires))).status == 422
    assert await desk.svc.pool.fetchval("SELECT status FROM access_requests") == "pending"
    assert await desk.svc.pool.fetchval("SELECT count(*) FROM grants") == 0


async def test_denial_is_recorded_and_final(desk: Desk) -> None:
    request_id = await desk.filed()
    response = await desk.answer(request_id, "deny")
    assert response.status == 200
    denied = await response.json()
    assert (denied["status"], denied["decided_by"]) == ("denied", str(desk.tenant.admin_id))
    assert (await desk.answer(request_id, "approve")).status == 409
    assert (await desk.answer(request_id, "deny")).status == 409
    assert await desk.svc.pool.fetchval("SELECT count(*) FROM grants") == 0
    entry = (await audit_actions(desk.svc, desk.tenant.customer_id))[-1]
    assert (entry["action"], entry["actor_id"]) == ("access_request.denied", desk.tenant.admin_id)


async def test_unanswered_requests_expire_after_72_hours(desk: Desk) -> None:
    old, fresh = await desk.filed(), await desk.filed()
    await desk.svc.pool.execute(
        "UPDATE access_requests SET created_at = now() - interval '72 hours 1 second'"
        " WHERE id = $1", UUID(old))
    async with desk.svc.pool.acquire() as conn:
        assert await access_requests.expire_pending(conn) == 1
        assert await access_requests.expire_pending(conn) == 0
    assert (await desk.answer(old, "approve")).status == 409
    listing = await (await desk.client.get("/api/v1/access-requests",
                                           headers=desk.admin)).json()
    assert {item["id"]: item["status"] for item in listing["items"]} == {
        old: "expired", fresh: "pending"}
    pending = await (await desk.client.get("/api/v1/access-requests?status=pending",
                                           headers=desk.admin)).json()
    assert [item["id"] for item in pending["items"]] == [fresh]
    system = [e for e in await audit_actions(desk.svc, desk.tenant.customer_id)
              if e["action"] == "access_request.expired"]
    assert len(system) == 1 and system[0]["actor_type"] == "system"


async def test_a_request_past_72_hours_cannot_be_approved_before_the_job_runs(desk: Desk) -> None:
    request_id = await desk.filed()
    await desk.svc.pool.execute(
        "UPDATE access_requests SET created_at = now() - interval '73 hours'")
    assert (await desk.answer(request_id, "approve")).status == 409
    assert await desk.svc.pool.fetchval("SELECT count(*) FROM grants") == 0


async def test_other_customers_cannot_see_or_answer_a_request(desk: Desk,
                                                              services: Services) -> None:
    request_id = await desk.filed()
    other = await make_tenant(services, "Other AB")
    other_admin = token_headers(services, other.admin_id, "customer_admin", other.customer_id)
    listing = await (await desk.client.get("/api/v1/access-requests",
                                           headers=other_admin)).json()
    assert listing["items"] == []
    for action in ("approve", "deny"):
        response = await desk.answer(request_id, action, headers=other_admin)
        assert response.status == 404
    user = token_headers(services, desk.tenant.user_id, "customer_user", desk.tenant.customer_id)
    assert (await desk.answer(request_id, "approve", headers=user)).status == 403
    assert await services.pool.fetchval("SELECT status FROM access_requests") == "pending"


async def test_staff_cannot_request_what_the_customer_does_not_hold(
        desk: Desk, services: Services, client: Any) -> None:
    other = await make_tenant(services, "Other AB")
    theirs = (await (await upload(client, other, wav(1.0))).json())["id"]
    assert (await desk.file(recording_ids=[theirs])).status == 422
    assert (await desk.file(recording_ids=[str(UUID(int=3))])).status == 422
    assert (await desk.file(customer_id=str(UUID(int=4)), all=True,
                            recording_ids=None)).status == 404
    assert (await desk.file(all=True, recording_ids=[desk.recording_id])).status == 422
    assert (await desk.file(ticket="")).status == 422
    assert await services.pool.fetchval("SELECT count(*) FROM access_requests") == 0


async def test_approving_a_request_whose_recordings_are_gone_is_422(desk: Desk) -> None:
    request_id = await desk.filed()
    await desk.svc.pool.execute("DELETE FROM recordings")
    assert (await desk.answer(request_id, "approve")).status == 422
    assert await desk.svc.pool.fetchval("SELECT status FROM access_requests") == "pending"
