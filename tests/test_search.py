"""Searching recordings: caller through the blind index, time windows, stable keyset paging,
and query plans that use the indexes (docs/SEARCH.md has the 1,000,000-row figures)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from crypto import blind_index, epoch_of
from factories import Tenant, bearer, login, make_tenant, upload, wav
from recstore.recordings.read import list_page
from recstore.services import Services

_TONES = itertools.count()

async def _upload(client: Any, tenant: Tenant, **headers: str) -> str:
    # A distinct body each time: identical signed bodies in one second are one delivery.
    response = await upload(client, tenant, wav(0.5, 200.0 + 10 * next(_TONES)), **headers)
    assert response.status == 201, await response.text()
    recording_id: str = (await response.json())["id"]
    return recording_id


async def _ids(client: Any, token: str, query: str) -> list[str]:
    response = await client.get(f"/api/v1/recordings?{query}", headers=bearer(token))
    assert response.status == 200, await response.text()
    return [item["id"] for item in (await response.json())["items"]]


async def bulk_rows(svc: Services, customer_id: uuid.UUID, count: int, *, newest: datetime,
                    step: timedelta = timedelta(seconds=1), caller_every: int = 0,
                    caller_index: bytes | None = None) -> None:
    """Metadata rows straight into PostgreSQL (no audio): what listing and search read."""
    oldest = newest - step * count
    async with svc.pool.acquire() as conn:
        week = oldest
        while week <= newest + timedelta(days=7):
            await svc.keys.public_key(conn, customer_id, epoch_of(min(week, newest)))
            week += timedelta(days=7)
        await conn.execute(
            "INSERT INTO recordings (id, customer_id, kind, provider, epoch, recorded_at,"
            " expires_at, content_type, size_bytes, sha256, object_key, sealed_data_key,"
            " caller_index)"
            " SELECT gen_random_uuid(), $1::uuid, 'voicemail', 'bulk',"
            " to_char(t AT TIME ZONE 'UTC', 'IYYY-\"W\"IW'), t, t + interval '90 days', 'audio/wav',"
            " 1000, '\\x00'::bytea, 'bulk/' || $1::uuid::text || '/' || g || '/' || gen_random_uuid(),"
            " '\\x00'::bytea, CASE WHEN $5 > 0 AND g % $5 = 0 THEN $6::bytea END"
            " FROM generate_series(1, $2) AS g,"
            " LATERAL (SELECT $3::timestamptz - g * $4::interval AS t) AS s",
            customer_id, count, newest, step, caller_every, caller_index)


async def test_caller_search_matches_every_common_swedish_notation(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    anna = await _upload(client, tenant, **{"X-Recstore-Caller": "+46701234567"})
    also_anna = await _upload(client, tenant, **{"X-Recstore-Caller": "070-123 45 67"})
    await _upload(client, tenant, **{"X-Recstore-Caller": "+46707654321"})
    await _upload(client, tenant, **{"X-Recstore-Caller": "anonymous"})
    token = await login(client, tenant.user_email)
    for notation in ("+46701234567", "070-123 45 67", "0701234567", "0046 70 123 45 67",
                     "+46 (0)70-123 45 67", "070.123.45.67"):
        found = await _ids(client, token, f"caller={quote(notation)}")
        assert sorted(found) == sorted([anna, also_anna]), notation
    assert await _ids(client, token, f"caller={quote('+46700000000')}") == []
    for bad in ("anonymous", "46701234567", "+46 70 abc", "+"):
        response = await client.get(f"/api/v1/recordings?caller={quote(bad)}",
                                    headers=bearer(token))
        assert response.status == 422, bad
        assert response.content_type == "application/problem+json"
        assert bad not in (await response.json())["detail"] or bad == "+"


async def test_caller_search_never_crosses_customers(client: Any, services: Services) -> None:
    tenant, other = await make_tenant(services), await make_tenant(services, "Other AB")
    theirs = await _upload(client, other, **{"X-Recstore-Caller": "+46701234567"})
    token = await login(client, tenant.user_email)
    assert await _ids(client, token, f"caller={quote('+46701234567')}") == []
    # The index keys differ per customer: the same number never links two customers' rows.
    indexes = await services.pool.fetch("SELECT caller_index FROM recordings")
    assert len(indexes) == 1 and indexes[0]["caller_index"] is not None
    mine = services.keys.search_indexes(tenant.customer_id, "+46701234567")
    assert mine and bytes(indexes[0]["caller_index"]) not in mine
    assert theirs in await _ids(client, await login(client, other.user_email),
                                f"caller={quote('+46701234567')}")


async def test_since_and_until_bound_the_window(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    now = datetime.now(UTC).replace(microsecond=0)
    made = {}
    for days in (1, 3, 5):
        at = (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")
        made[days] = await _upload(client, tenant, **{"X-Recstore-Recorded-At": at})
    token = await login(client, tenant.user_email)

    def q(value: datetime) -> str:
        return quote(value.isoformat())

    window = f"since={q(now - timedelta(days=4))}&until={q(now - timedelta(days=2))}"
    assert await _ids(client, token, window) == [made[3]]
    assert await _ids(client, token, f"since={q(now - timedelta(days=4))}") == [made[1], made[3]]
    assert await _ids(client, token, f"until={q(now - timedelta(days=3))}") == [made[5]]
    naive = await client.get("/api/v1/recordings?since=2026-01-01T00:00:00",
                             headers=bearer(token))
    assert naive.status == 422  # a time without offset is ambiguous


async def test_cursor_paging_is_stable_under_concurrent_inserts(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    newest = datetime.now(UTC) - timedelta(hours=1)
    await bulk_rows(services, tenant.customer_id, 300, newest=newest,
                    step=timedelta(seconds=10))
    original = [r["id"] for r in await services.pool.fetch(
        "SELECT id FROM recordings WHERE customer_id = $1 ORDER BY recorded_at DESC, id DESC",
        tenant.customer_id)]
    token = await login(client, tenant.user_email)
    stop = asyncio.Event()

    async def keep_inserting() -> None:
        # Newer, older and same-instant rows keep arriving while the client pages.
        while not stop.is_set():
            for offset in (timedelta(hours=-2), timedelta(hours=2), timedelta(0)):
                await bulk_rows(services, tenant.customer_id, 3, newest=newest + offset,
                                step=timedelta(seconds=10))
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_inserting())
    seen: list[tuple[str, str]] = []
    cursor = None
    try:
        while True:
            query = "limit=25" + (f"&cursor={cursor}" if cursor else "")
            response = await client.get(f"/api/v1/recordings?{query}", headers=bearer(token))
            assert response.status == 200
            page = await response.json()
            seen += [(item["recorded_at"], item["id"]) for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        await writer
    ids = [rid for _, rid in seen]
    assert len(ids) == len(set(ids)), "a row was served twice"
    assert set(map(str, original)) <= set(ids), "a row that existed throughout was skipped"
    keys = [(datetime.fromisoformat(at.replace("Z", "+00:00")), uuid.UUID(rid))
            for at, rid in seen]
    assert keys == sorted(keys, reverse=True), "pages are not in one newest-first order"
    assert len(ids) > len(original)  # the writer really did insert meanwhile


async def test_a_forged_cursor_is_422(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    token = await login(client, tenant.user_email)
    for cursor in ("not-base64!", "W10", "eyJhIjoxfQ"):
        response = await client.get(f"/api/v1/recordings?cursor={cursor}", headers=bearer(token))
        assert response.status == 422


def _literal(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    assert isinstance(value, int)
    return str(value)


class _Explaining:
    """Stands in for the connection: records the plan of the exact SQL list_page sends.

    A generic plan (what a prepared statement may switch to after a few runs, planned
    without the values) is shown by EXPLAIN EXECUTE of a statement prepared in SQL."""

    def __init__(self, conn: Any, generic: bool) -> None:
        self.conn, self.generic = conn, generic
        self.plans: list[dict[str, Any]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if not self.generic:
            plan = await self.conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
        else:
            await self.conn.execute(f"PREPARE listing AS {sql}")
            values = ", ".join(_literal(arg) for arg in args)  # EXECUTE takes no parameters
            plan = await self.conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE listing({values})")
            await self.conn.execute("DEALLOCATE listing")
        self.plans.append(json.loads(plan)[0]["Plan"])
        return []


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan] + [node for child in plan.get("Plans", []) for node in _nodes(child)]


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_listing_and_search_use_an_index_at_50k_rows(services: Services,
                                                           plan_cache_mode: str) -> None:
    tenants = [await make_tenant(services, f"Bulk {i}") for i in range(5)]
    target = tenants[0].customer_id
    index_key = b"\x01" * 32
    caller = blind_index(index_key, "+46701234567")
    newest = datetime.now(UTC) - timedelta(minutes=5)
    for tenant in tenants:
        await bulk_rows(services, tenant.customer_id, 10_000, newest=newest,
                        step=timedelta(seconds=30), caller_every=50, caller_index=caller)
    # Only the owner may ANALYZE (the app role's ANALYZE is skipped with a warning).
    owner = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await owner.execute("ANALYZE recordings")
    finally:
        await owner.close()
    async with services.pool.acquire() as conn:
        await conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        explaining = _Explaining(conn, generic=plan_cache_mode == "force_generic_plan")
        first = await list_page(conn, target, limit=50)
        assert first.next_cursor is not None
        since, until = newest - timedelta(days=2), newest - timedelta(days=1)
        shapes: list[dict[str, Any]] = [
            {}, {"cursor": first.next_cursor}, {"caller_index": caller},
            {"caller_index": caller, "cursor": first.next_cursor},
            {"since": since, "until": until},
            {"since": since, "until": until, "caller_index": caller}]
        for kwargs in shapes:
            await list_page(explaining, target, limit=50, **kwargs)  # type: ignore[arg-type]
    for kwargs, plan in zip(shapes, explaining.plans, strict=True):
        nodes = _nodes(plan)
        shown = json.dumps(plan, indent=1)
        assert all(n["Node Type"] != "Seq Scan" for n in nodes), shown
        indexes = {n["Index Name"] for n in nodes if "Index Name" in n}
        assert indexes and indexes <= {"recordings_customer_newest_idx",
                                       "recordings_caller_idx"}, shown
        if "since" not in kwargs:
            # Walking the index in order lets LIMIT stop after one page, at any table size.
            assert nodes[0]["Node Type"] == "Limit", shown
            assert nodes[1]["Node Type"] == "Index Scan" and len(nodes) == 2, shown
