"""The streaming download path: windows of one GET each, the opened-recording cache, and a
download cut off when its object disappears under it."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from crypto import CHUNK_SIZE
from factories import bearer, login, make_tenant, upload, wav
from recstore import object_store
from recstore.object_store import ObjectStoreError
from recstore.recordings import opened, read
from recstore.recordings.opened import OpenedCache
from recstore.recordings.read import choose_slice, decrypt_audio, get_row
from recstore.services import Services


@pytest.fixture
async def stored(client: Any, services: Services) -> Any:
    tenant = await make_tenant(services)
    body = wav(60.0)  # ~960 kB: fifteen 64 KiB chunks, four 256 KiB pieces
    response = await upload(client, tenant, body)
    assert response.status == 201, await response.text()
    token = await login(client, tenant.user_email)
    return tenant, (await response.json())["id"], body, token


async def test_a_download_spanning_many_windows_is_exact(
        client: Any, stored: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, recording_id, body, token = stored
    monkeypatch.setattr(object_store, "READ_WINDOW", 100_000)  # not a multiple of a chunk
    for spec, expected in ((None, body), ("bytes=70000-500000", body[70000:500001])):
        headers = {**bearer(token), **({"Range": spec} if spec else {})}
        response = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=headers)
        assert response.status == (206 if spec else 200)
        assert await response.read() == expected


async def test_an_object_deleted_mid_download_cuts_it_at_the_next_window(
        services: Services, stored: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, recording_id, body, _ = stored
    monkeypatch.setattr(object_store, "READ_WINDOW", 200_000)
    monkeypatch.setattr(read, "PIECE_CHUNKS", 1)
    monkeypatch.setattr(read, "PREFETCH_DEPTH", 1)
    row, pair = await _opened(services, tenant, recording_id)
    received = b""
    with pytest.raises(ObjectStoreError):
        async for piece in decrypt_audio(services.store, row, pair, choose_slice(len(body), None)):
            if not received:
                await services.store.delete(row["object_key"])
            received += piece
    assert 0 < len(received) <= 200_000 + 2 * CHUNK_SIZE and body.startswith(received)


async def test_a_guarded_stream_stops_within_a_piece_of_its_object_going(
        services: Services, stored: Any) -> None:
    """Staff streams: neither the windows nor the prefetch let an erased recording run on."""
    tenant, recording_id, body, _ = stored
    row, pair = await _opened(services, tenant, recording_id)

    async def allowed() -> bool:
        return True

    received = b""
    with pytest.raises(ObjectStoreError):
        async for piece in decrypt_audio(services.store, row, pair, choose_slice(len(body), None),
                                         still_allowed=allowed):
            if not received:
                await services.store.delete(row["object_key"])
            received += piece
    piece_size = read.GUARDED_PIECE_CHUNKS * CHUNK_SIZE
    assert 0 < len(received) <= 2 * piece_size < len(body) and body.startswith(received)


async def _opened(services: Services, tenant: Any, recording_id: str) -> tuple[Any, Any]:
    async with services.pool.acquire() as conn:
        row = await get_row(conn, tenant.customer_id, uuid.UUID(recording_id))
        pair = await services.keys.keypair(conn, tenant.customer_id, row["epoch"])
    return row, pair


async def test_a_recording_read_seconds_ago_is_refused_once_its_key_is_shredded(
        client: Any, services: Services, stored: Any) -> None:
    _, recording_id, body, token = stored
    url = f"/api/v1/recordings/{recording_id}/audio"
    first = await client.get(url, headers={**bearer(token), "Range": "bytes=0-99"})
    assert await first.read() == body[:100]  # key and header now in the opened cache
    await services.pool.execute(
        "UPDATE recordings SET shredded_at = now(), sealed_data_key = '' WHERE id = $1",
        uuid.UUID(recording_id))
    assert (await client.get(url, headers=bearer(token))).status == 404


async def test_another_customer_cannot_ride_on_a_cached_key(
        client: Any, services: Services, stored: Any) -> None:
    _, recording_id, _, token = stored
    url = f"/api/v1/recordings/{recording_id}/audio"
    assert (await client.get(url, headers=bearer(token))).status == 200
    other = await make_tenant(services, name="Other AB")
    other_token = await login(client, other.user_email)
    response = await client.get(url, headers=bearer(other_token))
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_a_client_that_goes_away_stops_the_reading_thread(
        services: Services, stored: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, recording_id, body, _ = stored
    monkeypatch.setattr(read, "PIECE_CHUNKS", 1)  # fifteen pieces: still reading after one
    monkeypatch.setattr(read, "PREFETCH_DEPTH", 1)
    row, pair = await _opened(services, tenant, recording_id)
    pieces = decrypt_audio(services.store, row, pair, choose_slice(len(body), None))
    assert body.startswith(await anext(pieces))
    assert any(t.name == "recstore-prefetch" for t in threading.enumerate())
    await pieces.aclose()
    for t in [t for t in threading.enumerate() if t.name == "recstore-prefetch"]:
        t.join(timeout=30)
        assert not t.is_alive()


def test_the_opened_cache_is_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(opened.time, "monotonic", lambda: now[0])
    cache = OpenedCache(ttl=10.0, size=2)
    rows = [{"id": uuid.uuid4(), "sealed_data_key": bytes([i]) * 8} for i in range(3)]
    for row in rows:
        cache.put(row, b"k" * 32, b"h")  # type: ignore[arg-type]
    assert cache.get(rows[0]) is None  # evicted: the oldest of three in a cache of two
    assert cache.get(rows[2]) is not None
    assert cache.get({**rows[2], "sealed_data_key": b""}) is None  # type: ignore[arg-type]
    now[0] += 10.5
    assert cache.get(rows[2]) is None and cache.get(rows[1]) is None


async def test_a_range_read_ahead_is_dropped_for_a_revoked_token_and_another_customer(
        client: Any, services: Services, stored: Any) -> None:
    """The chunks of a short Range are fetched before the token's user is checked: a
    withdrawn token or another customer's id still gets nothing but its refusal."""
    tenant, recording_id, body, token = stored
    url = f"/api/v1/recordings/{recording_id}/audio"
    spec = {"Range": "bytes=70000-70999"}
    ok = await client.get(url, headers={**bearer(token), **spec})
    assert ok.status == 206 and await ok.read() == body[70000:71000]
    other = await make_tenant(services, name="Other AB")
    other_token = await login(client, other.user_email)
    assert (await client.get(url, headers={**bearer(other_token), **spec})).status == 404
    await services.pool.execute("UPDATE users SET disabled_at = now() WHERE id = $1",
                                tenant.user_id)
    refused = await client.get(url, headers={**bearer(token), **spec})
    assert refused.status == 401
    assert not _reads_pending()


def _reads_pending() -> list[Any]:
    import asyncio
    return [t for t in asyncio.all_tasks() if "get_range" in repr(t.get_coro()) and not t.done()]
