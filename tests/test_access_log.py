"""The customer's access log: its API, its isolation, and verification of the chain by
recstore, by the CLI and by the standalone snippet in docs/AUDIT.md."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from factories import Tenant, make_staff, make_tenant, token_headers, upload, wav
from recstore import audit
from recstore.cli.main import main
from recstore.services import Services
from recstore.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "AUDIT.md"
CONTRACT_KEYS = {"id", "at", "actor_type", "actor_id", "action", "recording_id", "grant_id",
                 "prev_hash", "hash"}


def doc_verifier() -> dict[str, Any]:
    """The customer's snippet, exactly as published."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    namespace: dict[str, Any] = {"__name__": "verify_access_log"}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture
async def history(client: Any, services: Services) -> tuple[Tenant, dict[str, str]]:
    """A realistic log: a delivery, reads, a grant, a staff listen, a refusal, a revocation."""
    tenant = await make_tenant(services)
    recording_id = (await (await upload(client, tenant, wav(1.0))).json())["id"]
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    staff = token_headers(services, await make_staff(services), "staff")
    assert (await client.get(f"/api/v1/recordings/{recording_id}", headers=admin)).status == 200
    grant = await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "purpose": "p",
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})).json()
    assert (await client.get(f"/staff/v1/recordings/{recording_id}/audio",
                             headers=staff)).status == 200
    assert (await client.delete(f"/api/v1/grants/{grant['id']}", headers=admin)).status == 204
    assert (await client.get(f"/staff/v1/recordings/{recording_id}/audio",
                             headers=staff)).status == 403
    return tenant, admin


async def _all_pages(client: Any, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/access-log{query}", headers=headers)
        assert response.status == 200
        page = await response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_access_log_pages_newest_first_with_linked_hashes(client: Any, history: Any) -> None:
    tenant, admin = history
    items = await _all_pages(client, admin, limit=2)
    assert [item["action"] for item in items] == [
        "staff.audio_denied", "grant.revoked", "staff.audio_read", "grant.created",
        "recording.metadata_read", "recording.stored"]
    assert all(set(item) >= CONTRACT_KEYS for item in items)
    assert [item["seq"] for item in items] == list(range(len(items), 0, -1))
    for newer, older in itertools.pairwise(items):
        assert newer["prev_hash"] == older["hash"]
    assert items[-1]["prev_hash"] == "0" * 64
    assert all(re.fullmatch(r"[0-9a-f]{64}", item["hash"]) for item in items)
    read = items[2]
    assert read["actor_type"] == "staff" and read["grant_id"] == items[3]["grant_id"]
    assert items[-1]["actor_type"] == "provider" and items[-1]["actor_id"] is None
    assert items[4]["actor_id"] == str(tenant.admin_id)


async def test_access_log_is_the_callers_own_and_validates_its_query(
        client: Any, services: Services, history: Any) -> None:
    other = await make_tenant(services, "Other AB")
    user = token_headers(services, other.user_id, "customer_user", other.customer_id)
    response = await client.get("/api/v1/access-log", headers=user)
    assert response.status == 200
    page = await response.json()
    assert (page["items"], page["next_cursor"]) == ([], None)
    assert page["checkpoint"]["customer_id"] == str(other.customer_id)
    for bad in ("limit=0", "limit=501", "cursor=%%%", "cursor=c2VxOng", "other=1"):
        assert (await client.get(f"/api/v1/access-log?{bad}", headers=user)).status == 422
    assert (await client.get("/api/v1/access-log")).status == 401


async def test_published_snippet_verifies_a_real_export_and_api_pages(
        client: Any, services: Services, history: Any, tmp_path: Path) -> None:
    tenant, admin = history
    verifier = doc_verifier()
    async with services.pool.acquire() as conn:
        exported = await audit.export_entries(conn, tenant.customer_id)
    path = tmp_path / "access_log.json"
    path.write_text(json.dumps(exported))
    assert verifier["verify"](verifier["load"](str(path)), str(tenant.customer_id)) is None
    pages = await _all_pages(client, admin, limit=3)
    assert verifier["verify"](pages, str(tenant.customer_id)) is None
    assert verifier["verify"](pages, str(UUID(int=1))) == (1, "the entry was altered")


async def test_published_snippet_verifies_the_access_log_of_a_real_export(
        client: Any, history: Any, tmp_path: Path) -> None:
    tenant, admin = history
    response = await client.get("/api/v1/export", headers=admin)
    assert response.status == 200
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        (tmp_path / "access_log.json").write_bytes(archive.read("access_log.json"))
    verifier = doc_verifier()
    entries = verifier["load"](str(tmp_path / "access_log.json"))
    assert len(entries) >= 6
    assert verifier["verify"](entries, str(tenant.customer_id)) is None


async def _tamper(services: Services, sql: str, *args: Any) -> None:
    """What only the owner can do: switch the append-only trigger off, edit, switch it on."""
    conn = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete")
    finally:
        await conn.close()


async def _rehash(services: Services, customer_id: UUID, seq: int) -> None:
    row = await services.pool.fetchrow(
        "SELECT * FROM audit_log WHERE customer_id = $1 AND seq = $2", customer_id, seq)
    await _tamper(services, "UPDATE audit_log SET hash = $1 WHERE id = $2",
                  audit.entry_hash(dict(row)), row["id"])


TAMPERING = {
    # what the forger does → the first seq any verifier must name
    "edit": (["UPDATE audit_log SET action = 'recording.metadata_read'"
              " WHERE customer_id = $1 AND seq = 3"], 3),
    "edit_and_rehash": (["UPDATE audit_log SET grant_id = NULL WHERE customer_id = $1 AND seq = 3",
                         "rehash 3"], 4),
    "delete": (["DELETE FROM audit_log WHERE customer_id = $1 AND seq = 3"], 3),
    "reorder": (["UPDATE audit_log SET seq = -1 WHERE customer_id = $1 AND seq = 2",
                 "UPDATE audit_log SET seq = 2 WHERE customer_id = $1 AND seq = 3",
                 "UPDATE audit_log SET seq = 3 WHERE customer_id = $1 AND seq = -1"], 2),
    "backdate": (["UPDATE audit_log SET at = at - interval '1 day'"
                  " WHERE customer_id = $1 AND seq = 5"], 5),
}


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in settings.model_dump().items():
        if value is not None and not isinstance(value, bool | int):
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
            monkeypatch.setenv(f"RECSTORE_{name.upper()}", raw)


async def _cli_verify(customer_id: UUID, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify", str(customer_id), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("how", sorted(TAMPERING))
async def test_every_verifier_finds_the_first_broken_link(
        services: Services, settings: Settings, history: Any, tmp_path: Path, how: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tenant, _ = history
    customer_id = tenant.customer_id
    _cli_env(monkeypatch, settings)
    assert await _cli_verify(customer_id, capsys) == (0, {
        "customer_id": str(customer_id), "ok": True, "entries": 6, "first_broken_seq": None,
        "reason": None})
    steps, broken_at = TAMPERING[how]
    for step in steps:
        if step.startswith("rehash"):
            await _rehash(services, customer_id, int(step.split()[1]))
        else:
            await _tamper(services, step, customer_id)

    async with services.pool.acquire() as conn:
        check = await audit.verify_chain(conn, customer_id)
        exported = await audit.export_entries(conn, customer_id)
    assert check.first_broken_seq == broken_at and check.reason
    code, report = await _cli_verify(customer_id, capsys)
    assert code == 1
    assert (report["ok"], report["first_broken_seq"]) == (False, broken_at)
    verifier = doc_verifier()
    found = verifier["verify"](json.loads(json.dumps(exported)), str(customer_id))
    assert found is not None and found[0] == broken_at


async def test_other_customers_chains_are_untouched_by_tampering(
        services: Services, history: Any) -> None:
    tenant, _ = history
    other = UUID(int=77)
    async with services.pool.acquire() as conn:
        for i in range(3):
            await audit.append(conn, other, actor_type="system", actor_id=None, action=f"a.{i}")
    await _tamper(services, "DELETE FROM audit_log WHERE customer_id = $1 AND seq = 2",
                  tenant.customer_id)
    async with services.pool.acquire() as conn:
        assert await audit.verify_chain(conn, other) == audit.ChainCheck(3, None)
        assert (await audit.verify_chain(conn, tenant.customer_id)).first_broken_seq == 2
