"""GET /api/v1/export: a complete, verifiable, streamed archive of one customer's data."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from crypto.stream_format import CIPHER_CHUNK_SIZE
from factories import Tenant, bearer, login, make_staff, make_tenant, upload, wav
from recstore import audit
from recstore.recordings.read import PIECE_CHUNKS, PREFETCH_DEPTH
from recstore.rights.export import export_archive
from recstore.services import Services


async def _upload(client: Any, tenant: Tenant, body: bytes, **headers: str) -> str:
    response = await upload(client, tenant, body, **headers)
    assert response.status == 201, await response.text()
    recording_id: str = (await response.json())["id"]
    return recording_id


async def _export(client: Any, token: str) -> zipfile.ZipFile:
    response = await client.get("/api/v1/export", headers=bearer(token))
    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "Content-Length" not in response.headers  # streamed, not buffered
    return zipfile.ZipFile(io.BytesIO(await response.read()))


async def _grant(svc: Services, tenant: Tenant, staff_id: uuid.UUID, recording_id: str) -> None:
    now = datetime.now(UTC)
    await svc.pool.execute(
        "INSERT INTO grants (id, customer_id, staff_id, all_recordings, recording_ids, purpose,"
        " created_by, created_at, expires_at) VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8)",
        uuid.uuid4(), tenant.customer_id, staff_id, [uuid.UUID(recording_id)],
        "ticket 42: audio cuts out", tenant.admin_id, now, now + timedelta(days=1))


async def test_export_holds_every_file_with_a_manifest_that_verifies(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    first, second = wav(1.0, 440.0), wav(2.0, 660.0)
    id1 = await _upload(client, tenant, first, **{"X-Recstore-Caller": "070-123 45 67",
                                                  "X-Recstore-Caller-Name": "Anna Andersson"})
    id2 = await _upload(client, tenant, second)
    await _grant(services, tenant, await make_staff(services), id1)
    token = await login(client, tenant.admin_email)

    archive = await _export(client, token)
    names = set(archive.namelist())
    assert names == {"manifest.json", "account.json", "grants.json", "access_log.json",
                     "checkpoint.json", f"recordings/{id1}.json", f"recordings/{id1}.wav",
                     f"recordings/{id2}.json", f"recordings/{id2}.wav"}
    assert archive.testzip() is None  # every CRC matches
    assert archive.read(f"recordings/{id1}.wav") == first
    assert archive.read(f"recordings/{id2}.wav") == second

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "recstore-export" and manifest["recordings"] == 2
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert {"account.json", "grants.json", "access_log.json"} <= set(manifest["formats"])

    meta = json.loads(archive.read(f"recordings/{id1}.json"))
    assert meta["caller_number"] == "+46701234567" and meta["caller_name"] == "Anna Andersson"
    assert meta["sha256"] == hashlib.sha256(first).hexdigest()
    assert meta["audio_file"] == f"recordings/{id1}.wav"
    account = json.loads(archive.read("account.json"))
    assert account["customer"]["name"] == "Acme AB"
    assert {u["email"] for u in account["users"]} == {tenant.admin_email, tenant.user_email}
    grants = json.loads(archive.read("grants.json"))
    assert grants["grants"][0]["recording_ids"] == [id1]
    assert grants["grants"][0]["purpose"] == "ticket 42: audio cuts out"


async def test_access_log_in_the_export_is_a_chain_the_customer_can_verify(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    await _upload(client, tenant, wav())
    archive = await _export(client, await login(client, tenant.user_email))
    entries = json.loads(archive.read("access_log.json"))
    assert [e["action"] for e in entries][-1] == "account.exported"
    assert entries[-1]["actor_id"] == str(tenant.user_id)
    prev = audit.GENESIS_HASH
    for entry in entries:
        fields = {**entry, "at": datetime.fromisoformat(entry["at"].replace("Z", "+00:00")),
                  "prev_hash": bytes.fromhex(entry["prev_hash"])}
        assert fields["prev_hash"] == prev
        assert audit.entry_hash(fields).hex() == entry["hash"]
        prev = bytes.fromhex(entry["hash"])


async def test_export_holds_nothing_of_another_customer(client: Any, services: Services) -> None:
    tenant, other = await make_tenant(services), await make_tenant(services, "Other AB")
    mine = await _upload(client, tenant, wav(1.0))
    theirs = await _upload(client, other, wav(1.5))
    archive = await _export(client, await login(client, tenant.admin_email))
    text = b"".join(archive.read(name) for name in archive.namelist())
    assert mine.encode() in text
    assert theirs.encode() not in text and str(other.customer_id).encode() not in text
    assert b"Other AB" not in text and other.admin_email.encode() not in text


async def test_export_requires_a_customer_token(client: Any, services: Services) -> None:
    await make_tenant(services)
    response = await client.get("/api/v1/export")
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    await make_staff(services)
    staff = await login(client, "support@recstore.example")
    assert (await client.get("/api/v1/export", headers=bearer(staff))).status == 403


async def test_export_memory_stays_flat_while_audio_streams(client: Any,
                                                            services: Services) -> None:
    """Python allocations peak at a few pieces of audio, not at the size of the account.

    In flight at once: the piece being sent, the one being hashed and zipped a step behind,
    PREFETCH_DEPTH decrypted ahead and one being decrypted, each with its ciphertext; how
    many are held at the peak moment depends on thread timing, so the bound counts them all."""
    tenant = await make_tenant(services)
    bodies = [wav(150.0, 300.0 + 50 * i) for i in range(8)]  # 8 x 2.4 MB
    for body in bodies:
        await _upload(client, tenant, body)
    total_audio = sum(len(body) for body in bodies)

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        exported = 0
        async for piece in export_archive(services.pool, services.store, services.keys,
                                          tenant.customer_id, tenant.admin_id):
            exported += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exported > total_audio
    piece = PIECE_CHUNKS * CIPHER_CHUNK_SIZE
    pieces_in_flight = PREFETCH_DEPTH + 4
    assert peak < pieces_in_flight * piece * 1.25 < total_audio / 3, peak
