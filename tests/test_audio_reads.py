"""Audio reads: Range semantics, ETag, and fail-closed decryption of tampered objects."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from crypto import CHUNK_SIZE, HEADER_SIZE
from factories import Tenant, bearer, login, make_tenant, upload, wav
from recstore.services import Services


@pytest.fixture
async def stored(client: Any, services: Services) -> tuple[Tenant, str, bytes, str]:
    tenant = await make_tenant(services)
    body = wav(20.0)  # ~320 kB: several 64 KiB chunks
    response = await upload(client, tenant, body)
    assert response.status == 201
    token = await login(client, tenant.user_email)
    return tenant, (await response.json())["id"], body, token


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-0", 0, 0),
    ("bytes=100-199", 100, 199),
    (f"bytes={CHUNK_SIZE - 10}-{CHUNK_SIZE + 9}", CHUNK_SIZE - 10, CHUNK_SIZE + 9),
    ("bytes=-500", None, None),
    ("bytes=300000-", 300000, None),
])
async def test_ranges_return_exactly_those_bytes(client: Any, stored: Any, spec: str,
                                                 start: int | None, end: int | None) -> None:
    _, recording_id, body, token = stored
    response = await client.get(f"/api/v1/recordings/{recording_id}/audio",
                                headers={**bearer(token), "Range": spec})
    assert response.status == 206
    if start is None:
        start, end = len(body) - 500, len(body) - 1
    if end is None:
        end = len(body) - 1
    data = await response.read()
    assert data == body[start:end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(body)}"
    assert int(response.headers["Content-Length"]) == end - start + 1


async def test_whole_file_has_etag_length_and_accept_ranges(client: Any, stored: Any) -> None:
    _, recording_id, body, token = stored
    response = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=bearer(token))
    assert response.status == 200
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(body)
    assert response.headers["Content-Type"] == "audio/wav"
    import hashlib
    assert response.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'


async def test_unsatisfiable_range_is_416(client: Any, stored: Any) -> None:
    _, recording_id, body, token = stored
    response = await client.get(f"/api/v1/recordings/{recording_id}/audio",
                                headers={**bearer(token), "Range": f"bytes={len(body)}-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(body)}"


async def _tamper(services: Services, offset: int) -> None:
    key = (await services.store.list_keys())[0]
    size = await services.store.size_of(key)
    assert size is not None
    data = bytearray(await services.store.get_range(key, 0, size))
    data[offset] ^= 0x01

    async def once() -> Any:
        yield bytes(data)

    await services.store.put_stream(key, once())


@pytest.mark.parametrize("where", ["header", "first_chunk", "later_chunk"])
async def test_tampered_ciphertext_never_yields_plaintext(client: Any, services: Services,
                                                          stored: Any, where: str) -> None:
    _, recording_id, body, token = stored
    offset = {"header": 5, "first_chunk": HEADER_SIZE + 10,
              "later_chunk": HEADER_SIZE + 3 * (CHUNK_SIZE + 16) + 7}[where]
    await _tamper(services, offset)
    received = b""
    try:
        response = await client.get(f"/api/v1/recordings/{recording_id}/audio",
                                    headers=bearer(token))
        if response.status == 200:
            received = await response.read()
        else:
            assert response.status >= 500
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        pass
    # Whatever arrived is a prefix of authentic plaintext from chunks before the damage,
    # never the whole file and never bytes of the damaged chunk.
    assert received != body
    damaged_chunk = max(0, (offset - HEADER_SIZE) // (CHUNK_SIZE + 16))
    assert len(received) <= damaged_chunk * CHUNK_SIZE
    assert body.startswith(received)


@pytest.mark.parametrize("state,change", [
    # Between the key shred and the row delete: 404, not a decryption error.
    ("being deleted", "shredded_at = now(), sealed_data_key = ''"),
    # The scheduler is down: nothing is served past the retention limit all the same.
    ("past expiry", "expires_at = now() - interval '1 second'"),
])
async def test_a_recording_on_its_way_out_is_already_gone_to_readers(
        client: Any, services: Services, stored: Any, state: str, change: str) -> None:
    _, recording_id, _, token = stored
    await services.pool.execute(f"UPDATE recordings SET {change} WHERE id = $1",
                                uuid.UUID(recording_id))
    for suffix in ("", "/audio"):
        response = await client.get(f"/api/v1/recordings/{recording_id}{suffix}",
                                    headers=bearer(token))
        assert response.status == 404, state
    listing = await (await client.get("/api/v1/recordings", headers=bearer(token))).json()
    assert listing["items"] == [], state


async def test_access_ending_mid_stream_raises_instead_of_ending_short(
        services: Services, stored: Any) -> None:
    """A short body under a promised Content-Length leaves clients hanging; a raise cuts."""
    from recstore.errors import Forbidden
    from recstore.recordings.read import choose_slice, decrypt_audio, get_row

    tenant, recording_id, body, _ = stored
    async with services.pool.acquire() as conn:
        row = await get_row(conn, tenant.customer_id, uuid.UUID(recording_id))
        pair = await services.keys.keypair(conn, tenant.customer_id, row["epoch"])
    checks = 0

    async def allowed_once() -> bool:
        nonlocal checks
        checks += 1
        return checks == 1

    received = b""
    with pytest.raises(Forbidden):
        async for piece in decrypt_audio(services.store, row, pair,
                                         choose_slice(len(body), None),
                                         still_allowed=allowed_once):
            received += piece
    assert 0 < len(received) < len(body) and body.startswith(received)
