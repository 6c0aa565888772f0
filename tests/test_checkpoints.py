"""Signed access-log checkpoints, tried from the attacker's side: an operator with the owner
DSN cuts the head, or removes entries and re-hashes the rest, or signs a fork with a key of
their own; a customer holding an earlier checkpoint catches each (CLI and standalone)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nacl.signing import SigningKey, VerifyKey
from test_access_log import _cli_env, doc_verifier

from factories import Tenant, make_staff, make_tenant, token_headers
from recstore import audit, audit_keys, checkpoints
from recstore.cli.main import main
from recstore.services import Services
from recstore.settings import Settings


async def _owner(services: Services, *statements: tuple[str, Any]) -> None:
    """What only the owner can do: switch the append-only trigger off and rewrite."""
    conn = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        try:
            for sql, *args in statements:
                await conn.execute(sql, *args)
        finally:
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete")
    finally:
        await conn.close()


async def _rehash_from(services: Services, customer_id: UUID, seq: int) -> None:
    """Renumber and re-hash every entry from ``seq`` on: a chain that verifies on its own."""
    async with services.pool.acquire() as conn:
        rows = [dict(r) for r in await conn.fetch(
            "SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY seq", customer_id)]
    prev = audit.GENESIS_HASH
    updates: list[tuple[str, Any]] = []
    for position, row in enumerate(rows, start=1):
        if position >= seq:
            row.update(seq=position, prev_hash=prev)
            row["hash"] = audit.entry_hash(row)
            updates.append(("UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3"
                            " WHERE id = $4", row["seq"], row["prev_hash"], row["hash"],
                            row["id"]))
        prev = bytes(row["hash"])
    await _owner(services, *updates)


@pytest.fixture
async def logged(client: Any, services: Services) -> tuple[Tenant, dict[str, str]]:
    tenant = await make_tenant(services)
    async with services.pool.acquire() as conn:
        for i in range(6):
            await audit.append(conn, tenant.customer_id, actor_type="staff", actor_id=uuid4(),
                               action="staff.audio_read" if i % 2 else "staff.metadata_read")
    return tenant, token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)


async def _page(client: Any, headers: dict[str, str], limit: int = 50) -> dict[str, Any]:
    response = await client.get(f"/api/v1/access-log?limit={limit}", headers=headers)
    assert response.status == 200
    page: dict[str, Any] = await response.json()
    return page


async def _published_keys(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/audit-keys", headers=headers)
    assert response.status == 200
    keys: dict[str, Any] = await response.json()
    return keys


def _verifies(checkpoint: dict[str, Any], keys: dict[str, Any]) -> bool:
    public = {k["key_id"]: k["public_key"] for k in keys["keys"]}
    message = checkpoints.message(checkpoint["customer_id"], checkpoint["seq"],
                                  checkpoint["hash"], checkpoint["at"])
    try:
        VerifyKey(base64.b64decode(public[checkpoint["key_id"]])).verify(
            message, base64.b64decode(checkpoint["signature"]))
    except Exception:
        return False
    return True


async def test_every_access_log_page_carries_a_checkpoint_of_the_head(
        client: Any, logged: Any) -> None:
    tenant, headers = logged
    page = await _page(client, headers, limit=2)
    checkpoint = page["checkpoint"]
    assert set(checkpoint) == {"customer_id", "seq", "hash", "at", "key_id", "signature"}
    assert checkpoint["customer_id"] == str(tenant.customer_id)
    newest = page["items"][0]
    assert (checkpoint["seq"], checkpoint["hash"]) == (newest["seq"], newest["hash"])
    keys = await _published_keys(client, headers)
    assert all(set(k) == {"key_id", "public_key"} and len(base64.b64decode(k["public_key"])) == 32
               for k in keys["keys"])
    assert _verifies(checkpoint, keys)
    assert not _verifies({**checkpoint, "seq": checkpoint["seq"] - 1}, keys)
    # The older page carries the same head, not its own.
    older = await client.get(f"/api/v1/access-log?limit=2&cursor={page['next_cursor']}",
                             headers=headers)
    assert (await older.json())["checkpoint"]["seq"] == checkpoint["seq"]


async def test_audit_keys_need_a_customer_token(client: Any, services: Services) -> None:
    assert (await client.get("/api/v1/audit-keys")).status == 401
    staff = token_headers(services, await make_staff(services), "staff")
    assert (await client.get("/api/v1/audit-keys", headers=staff)).status == 403


async def test_the_export_carries_a_checkpoint_of_its_last_entry(
        client: Any, logged: Any, tmp_path: Path) -> None:
    tenant, headers = logged
    response = await client.get("/api/v1/export", headers=headers)
    assert response.status == 200
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        entries = json.loads(archive.read("access_log.json"))
        checkpoint = json.loads(archive.read("checkpoint.json"))
        manifest = json.loads(archive.read("manifest.json"))
    assert "checkpoint.json" in {f["path"] for f in manifest["files"]}
    assert (checkpoint["seq"], checkpoint["hash"]) == (entries[-1]["seq"], entries[-1]["hash"])
    keys = await _published_keys(client, headers)
    assert _verifies(checkpoint, keys)
    verifier = doc_verifier()
    assert verifier["check_checkpoint"](entries, str(tenant.customer_id), checkpoint, keys) is None


async def _verify(customer_id: UUID, capsys: pytest.CaptureFixture[str],
                  checkpoint: Path | None = None) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    argv = ["audit", "verify", str(customer_id), "--json"]
    if checkpoint is not None:
        argv += ["--checkpoint", str(checkpoint)]
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _save(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    _cli_env(monkeypatch, settings)


@pytest.mark.usefixtures("cli")
async def test_a_cut_head_fails_against_an_earlier_checkpoint(
        client: Any, services: Services, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, headers = logged
    held = _save(tmp_path, "page.json", await _page(client, headers))  # head: seq 7
    code, report, _ = await _verify(tenant.customer_id, capsys, held)
    assert (code, report["ok"], report["checkpoint"]["extended"]) == (0, True, True)

    await _owner(services, ("DELETE FROM audit_log WHERE customer_id = $1 AND seq >= 6",
                            tenant.customer_id))
    assert (await _verify(tenant.customer_id, capsys))[0] == 0  # the chain alone is fine
    code, report, _ = await _verify(tenant.customer_id, capsys, held)
    assert code == 1 and report["ok"] is False
    assert report["checkpoint"] == {**report["checkpoint"], "signature_ok": True,
                                    "extended": False}
    assert "cut" in report["reason"]
    # The forger's own fresh checkpoint verifies, but the customer's held one cannot be
    # re-signed to match: the standalone verifier says the same.
    async with services.pool.acquire() as conn:
        entries = await audit.export_entries(conn, tenant.customer_id)
    verifier = doc_verifier()
    keys = await _published_keys(client, headers)
    assert verifier["verify"](entries, str(tenant.customer_id)) is None
    assert verifier["check_checkpoint"](entries, str(tenant.customer_id),
                                        json.loads(held.read_text()), keys)


@pytest.mark.usefixtures("cli")
async def test_removed_entries_and_a_rehashed_rest_fail(
        client: Any, services: Services, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, headers = logged
    held = _save(tmp_path, "page.json", await _page(client, headers))
    audio_reads = [("DELETE FROM audit_log WHERE customer_id = $1 AND action = 'staff.audio_read'",
                    tenant.customer_id)]
    await _owner(services, *audio_reads)
    await _rehash_from(services, tenant.customer_id, 1)
    code, report, _ = await _verify(tenant.customer_id, capsys)
    assert (code, report["ok"]) == (0, True)  # a consistent forgery, chain-wise
    # The service now signs the forged head with the real key: a re-signed fork that holds
    # on its own...
    fork = _save(tmp_path, "fork.json", await _page(client, headers))
    code, report, _ = await _verify(tenant.customer_id, capsys, fork)
    assert (code, report["checkpoint"]["signature_ok"]) == (0, True)
    # ...but not for the customer who kept the earlier checkpoint.
    code, report, _ = await _verify(tenant.customer_id, capsys, held)
    assert code == 1 and report["checkpoint"]["extended"] is False
    async with services.pool.acquire() as conn:
        entries = await audit.export_entries(conn, tenant.customer_id)
    keys = await _published_keys(client, headers)
    assert doc_verifier()["check_checkpoint"](entries, str(tenant.customer_id),
                                              json.loads(held.read_text()), keys)


@pytest.mark.usefixtures("cli")
async def test_a_forged_signature_fails_and_a_fork_signed_by_another_key_cannot_pass(
        client: Any, services: Services, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, headers = logged
    real = (await _page(client, headers))["checkpoint"]
    # Same key id, signature over other content: the stored chain matches, the signature not.
    other = base64.b64decode(real["signature"])
    forged = {**real, "signature": base64.b64encode(bytes([other[0] ^ 1]) + other[1:]).decode()}
    code, report, _ = await _verify(tenant.customer_id, capsys, _save(tmp_path, "f.json", forged))
    assert code == 1 and report["checkpoint"]["signature_ok"] is False and not report["ok"]

    # A fork: cut the head, then sign the new head with the operator's own key.
    await _owner(services, ("DELETE FROM audit_log WHERE customer_id = $1 AND seq = 7",
                            tenant.customer_id))
    mine = audit_keys.AuditKeys("audit-20261201-deadbeef", SigningKey.generate(), {})
    fork = checkpoints.sign(mine, tenant.customer_id, 6, real["hash"]).as_json()
    code, report, err = await _verify(tenant.customer_id, capsys, _save(tmp_path, "k.json", fork))
    assert code == 2 and report["ok"] is False and "never signed" in err
    keys = await _published_keys(client, headers)
    with pytest.raises(ValueError, match="never published"):
        doc_verifier()["check_checkpoint"]([], str(tenant.customer_id), fork, keys)


@pytest.mark.usefixtures("cli")
@pytest.mark.parametrize("content, says", [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    ('{"seq": 1}', "lacks"),
    ('{"customer_id": "x", "seq": 1, "hash": "00", "at": "", "key_id": "", "signature": ""}',
     "hash"),
    ('{"customer_id": "x", "seq": -1, "hash": "00", "at": "", "key_id": "", "signature": ""}',
     "seq"),
])
async def test_a_malformed_checkpoint_is_exit_2_not_a_pass(
        logged: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
        says: str) -> None:
    tenant, _ = logged
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, report, err = await _verify(tenant.customer_id, capsys, path)
    assert code == 2 and report["ok"] is False and says in err


@pytest.mark.usefixtures("cli")
async def test_another_customers_checkpoint_or_a_missing_file_is_exit_2(
        client: Any, services: Services, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, _ = logged
    theirs = await make_tenant(services, name="Other AB")
    other_headers = token_headers(services, theirs.admin_id, "customer_admin", theirs.customer_id)
    held = _save(tmp_path, "other.json", (await _page(client, other_headers))["checkpoint"])
    code, _, err = await _verify(tenant.customer_id, capsys, held)
    assert code == 2 and "another customer" in err
    code, _, err = await _verify(tenant.customer_id, capsys, tmp_path / "missing.json")
    assert code == 2 and "cannot read" in err


@pytest.mark.usefixtures("cli")
async def test_rotation_keeps_old_checkpoints_verifiable(
        client: Any, services: Services, settings: Settings, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, headers = logged
    before = (await _page(client, headers))["checkpoint"]
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["keys", "rotate-audit", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    after = (await _page(client, headers))["checkpoint"]
    assert after["key_id"] == rotated["key_id"] != before["key_id"]
    keys = await _published_keys(client, headers)
    assert {before["key_id"], after["key_id"]} <= {k["key_id"] for k in keys["keys"]}
    assert _verifies(before, keys) and _verifies(after, keys)
    code, report, _ = await _verify(tenant.customer_id, capsys,
                                    _save(tmp_path, "old.json", before))
    assert (code, report["ok"]) == (0, True)
    stored = json.loads(settings.audit_keys_path().read_text())
    assert "private_key" not in json.dumps(stored["retired"])  # retired keys cannot sign


@pytest.mark.usefixtures("cli")
async def test_init_audit_creates_the_key_once_and_verify_without_it_cannot_check(
        settings: Settings, logged: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant, _ = logged
    path = settings.audit_keys_path()
    assert not path.exists()
    held = checkpoints.sign(audit_keys.AuditKeys("audit-x", SigningKey.generate(), {}),
                            tenant.customer_id, 1, "0" * 64).as_json()
    code, report, err = await _verify(tenant.customer_id, capsys,
                                      _save(tmp_path, "held.json", held))
    assert code == 2 and report["ok"] is False and "no audit signing key file" in err
    for created in (True, False):
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["keys", "init-audit", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["created"] is created
    assert path.stat().st_mode & 0o777 == 0o600


def test_start_up_refuses_a_missing_or_broken_audit_key_file(
        settings: Settings, tmp_path: Path) -> None:
    from recstore.runner import require_audit_keys

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    with pytest.raises(audit_keys.AuditKeyFileInvalid, match="RECSTORE_AUDIT_KEYS_FILE"):
        require_audit_keys(settings.model_copy(update={"audit_keys_file": blocked / "k.json"}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"current": {"key_id": "k", "private_key": "c2hvcnQ="}}')
    with pytest.raises(audit_keys.AuditKeyFileInvalid, match="32 bytes"):
        require_audit_keys(settings.model_copy(update={"audit_keys_file": broken}))
    require_audit_keys(settings)  # creates it
    assert settings.audit_keys_path().exists()
