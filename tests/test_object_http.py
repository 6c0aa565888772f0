"""Object bodies over presigned requests, against the real S3 API of the embedded stack:
streaming PUTs that store all or nothing, and GETs read into buffers across windows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from recstore.object_store import ObjectStoreError
from recstore.services import Services

MIB = 1 << 20


def _key() -> str:
    return f"recordings/{uuid.uuid4()}/{uuid.uuid4()}"


async def _pieces(*parts: bytes, then: BaseException | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(0)
    if then is not None:
        raise then


async def test_a_sized_put_stores_exactly_its_bytes(services: Services) -> None:
    key, body = _key(), bytes(range(256)) * 8192  # 2 MiB
    await services.store.put_stream(key, _pieces(body[:MIB], body[MIB:]), size=len(body))
    assert await services.store.get_range(key, 0, len(body)) == body
    assert await services.store.get_range(key, MIB - 3, 6) == body[MIB - 3:MIB + 3]


@pytest.mark.parametrize("case", ["shorter", "longer", "raises"])
async def test_a_sized_put_cut_off_stores_nothing(services: Services, case: str) -> None:
    key, size = _key(), 3 * MIB
    if case == "shorter":
        pieces, expected = _pieces(bytes(MIB), bytes(MIB)), ObjectStoreError
    elif case == "longer":
        pieces, expected = _pieces(bytes(2 * MIB), bytes(2 * MIB)), ObjectStoreError
    else:
        pieces, expected = _pieces(bytes(2 * MIB), then=PermissionError("no")), PermissionError
    with pytest.raises(expected):
        await services.store.put_stream(key, pieces, size=size)
    await asyncio.sleep(0.2)  # the store has seen the connection close
    assert key not in await services.store.list_keys(key.rsplit("/", 1)[0])


async def test_reads_span_windows_and_survive_a_dropped_keep_alive(services: Services) -> None:
    key, body = _key(), bytes(range(251)) * 5000  # not a multiple of anything below
    await services.store.put_stream(key, _pieces(body), size=len(body))

    def read(window: int, piece: int) -> bytes:
        reader = services.store.open_read(key, 10, len(body) - 20, window=window)
        out = bytearray()
        while reader.remaining:
            out += reader.read(piece)
        reader.close()
        return bytes(out)

    assert await asyncio.to_thread(read, 100_000, 65_552) == body[10:-10]
    for idle in services.store._bodies.pool._idle:  # the store dropped its idle connections
        assert idle.sock is not None
        idle.sock.close()
    assert await asyncio.to_thread(read, 1 << 30, 333_333) == body[10:-10]


async def test_a_missing_object_fails_without_naming_its_key(services: Services) -> None:
    key = _key()
    with pytest.raises(ObjectStoreError) as failed:
        await services.store.get_range(key, 0, 100)
    assert str(failed.value) == "get failed: NoSuchKey"
    reader = services.store.open_read(key, 0, 100)
    with pytest.raises(ObjectStoreError) as failed:
        await asyncio.to_thread(reader.read, 100)
    assert key.split("/")[1] not in str(failed.value)
