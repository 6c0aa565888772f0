"""Caller search that shredding reaches, and monthly epochs moved to weekly ones.

Blind indexes are keyed per customer and epoch from the epoch's index secret, destroyed with
the epoch: after that, a backup of the rows plus every key that remains cannot confirm a
guessed caller of that period. Older recordings (monthly epochs, one per-customer index
key) are moved without re-encrypting their audio, and the monthly secrets destroyed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

from crypto import (
    MasterKeyring,
    blind_index,
    epoch_index_key,
    epoch_of,
    month_epoch_of,
    open_data_key,
    open_field,
    seal_data_key,
    seal_field,
)
from crypto.kdf import derive_subkey
from factories import Tenant, bearer, login, make_tenant, upload, wav
from recstore.epoch_keys import EpochKeyStore
from recstore.recordings.caller_index import reindex_legacy
from recstore.recordings.store import field_context
from recstore.retention.policy import epoch_destroy_after
from recstore.retention.scheduler import RetentionSettings, retention_pass
from recstore.retention.weekly_epochs import migrate_monthly_epochs
from recstore.services import Services
from recstore.settings import Settings

GUESS = "+46701234567"


async def _stored(client: Any, tenant: Tenant, recorded_at: datetime, body: bytes) -> UUID:
    response = await upload(client, tenant, body, **{
        "X-Recstore-Recorded-At": recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "X-Recstore-Caller": GUESS})
    assert response.status == 201, await response.text()
    return UUID((await response.json())["id"])


async def _found(client: Any, token: str) -> set[str]:
    response = await client.get(f"/api/v1/recordings?caller={quote(GUESS)}", headers=bearer(token))
    assert response.status == 200, await response.text()
    return {item["id"] for item in (await response.json())["items"]}


def _every_key_left(settings: Settings, services: Services) -> list[bytes]:
    """Every 32-byte key an attacker holding the key files and the configuration has."""
    keys: list[bytes] = []
    for text in (settings.master_keys_text(), settings.ingest_keys_text()):
        for entry in (text or "").split(","):
            raw = base64.b64decode(entry.split(":", 1)[1])
            keys += [raw, derive_subkey(raw, 1, b"rskeyrng")]
    epochs = services.keys.epochs
    keys += [s for e in epochs.epochs() if (s := epochs.get(e)) is not None]
    keys += [s for e in epochs.index_epochs() if (s := epochs.index_secret(e)) is not None]
    return keys


async def test_after_an_epoch_is_destroyed_no_remaining_key_confirms_a_guessed_caller(
        client: Any, services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    now = datetime.now(UTC)
    old = await _stored(client, tenant, now - timedelta(days=85), wav(0.5, 330.0))
    new = await _stored(client, tenant, now, wav(0.5, 550.0))
    old_epoch = epoch_of(now - timedelta(days=85))
    token = await login(client, tenant.user_email)
    assert await _found(client, token) == {str(old), str(new)}  # search spans the epochs
    backup = {r["id"]: (r["epoch"], bytes(r["caller_index"])) for r in await services.pool.fetch(
        "SELECT id, epoch, caller_index FROM recordings")}  # the rows, as a backup has them
    # While the epoch lives its index secret confirms the guess: the check below can fail.
    live_key = services.keys.index_key(tenant.customer_id, old_epoch)
    assert blind_index(live_key, GUESS) == backup[old][1]

    later = epoch_destroy_after(old_epoch) + timedelta(seconds=1)
    result = await retention_pass(services, RetentionSettings(), now=later)
    assert old_epoch in result["epochs_destroyed"]
    assert services.keys.epochs.index_secret(old_epoch) is None

    candidates = set()
    for key in _every_key_left(settings, services):
        candidates.add(blind_index(key, GUESS))
        for epoch in {old_epoch, *services.keys.epochs.index_epochs()}:
            candidates.add(blind_index(epoch_index_key(key, tenant.customer_id, epoch), GUESS))
    assert backup[old][1] not in candidates
    assert backup[new][1] in candidates  # the same search still finds the live period
    assert await _found(client, token) == {str(new)}


async def _make_monthly(services: Services, tenant: Tenant, recording_id: UUID,
                        legacy_key: bytes) -> str:
    """Turn a stored recording into one from before weekly epochs: its keys sealed to a
    monthly key pair, its caller indexed under a per-customer key wrapped by the master
    keyring. The audio object is left as it is, as the real migration leaves it."""
    async with services.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM recordings WHERE id = $1", recording_id)
        month = month_epoch_of(row["recorded_at"])
        weekly = await services.keys.keypair(conn, tenant.customer_id, row["epoch"])
        monthly_public = await services.keys.provision(conn, tenant.customer_id, month)
        context = field_context("caller_number", recording_id)
        number = open_field(weekly, bytes(row["caller_number_sealed"]), context=context)
        data_key = open_data_key(weekly, bytes(row["sealed_data_key"]))
        wrapped_legacy = services.keys.keyring.wrap(
            legacy_key, aad=f"recstore blind-index {tenant.customer_id}".encode())
        await conn.execute("UPDATE customers SET index_key_wrapped = $2 WHERE id = $1",
                           tenant.customer_id, wrapped_legacy)
        await conn.execute(
            "UPDATE recordings SET epoch = $2, sealed_data_key = $3, caller_number_sealed = $4,"
            " caller_index = $5 WHERE id = $1", recording_id, month,
            seal_data_key(monthly_public, data_key),
            seal_field(monthly_public, number, context=context), blind_index(legacy_key, GUESS))
    return month


async def test_monthly_epochs_move_to_weekly_ones_without_re_encrypting_audio(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    body = wav(0.5, 440.0)
    recorded = datetime.now(UTC) - timedelta(days=3)
    recording_id = await _stored(client, tenant, recorded, body)
    object_key = await services.pool.fetchval("SELECT object_key FROM recordings")
    ciphertext = await services.store.get_range(object_key, 0, 1 << 20)
    month = await _make_monthly(services, tenant, recording_id, b"\x07" * 32)
    token = await login(client, tenant.user_email)
    assert await _found(client, token) == {str(recording_id)}  # found by the legacy key

    result = await migrate_monthly_epochs(services.pool, services.keys)
    assert (result.moved, result.destroyed) == (1, [month])
    await reindex_legacy(services.pool, services.keys)

    row = await services.pool.fetchrow("SELECT * FROM recordings WHERE id = $1", recording_id)
    assert row["epoch"] == epoch_of(recorded)
    assert await services.store.get_range(object_key, 0, 1 << 20) == ciphertext  # untouched
    assert await services.pool.fetchval(
        "SELECT index_key_wrapped FROM customers WHERE id = $1", tenant.customer_id) is None
    assert services.keys.epochs.get(month) is None and month in services.keys.epochs.destroyed()
    assert await services.pool.fetchval(
        "SELECT count(*) FROM customer_keys WHERE epoch = $1", month) == 0
    assert await _found(client, token) == {str(recording_id)}  # now by the weekly index
    audio = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=bearer(token))
    assert audio.status == 200 and await audio.read() == body
    details = await client.get(f"/api/v1/recordings/{recording_id}", headers=bearer(token))
    assert (await details.json())["caller_number"] == GUESS
    again = await migrate_monthly_epochs(services.pool, services.keys)
    assert (again.moved, again.destroyed) == (0, [])




def test_index_secrets_follow_a_master_key_rotation(tmp_path: Path) -> None:
    first, second = MasterKeyring.generate_entry("m1"), MasterKeyring.generate_entry("m2")
    ingest = MasterKeyring.parse(MasterKeyring.generate_entry("i1"))
    path = tmp_path / "epochs.json"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    secret = EpochKeyStore(path, MasterKeyring.parse(first), ingest).ensure_index("2026-W49",
                                                                                  now=now)
    rotated = EpochKeyStore(path, MasterKeyring.parse(f"{first},{second}"), ingest)
    assert rotated.rewrap() >= 1 and rotated.rewrap() == 0
    # The old master key can go: search and ingest both still open the index secret.
    assert EpochKeyStore(path, MasterKeyring.parse(second)).index_secret("2026-W49") == secret
    assert EpochKeyStore(path, None, ingest).index_secret("2026-W49") == secret
