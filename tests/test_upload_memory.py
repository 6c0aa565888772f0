"""A big upload streams: memory stays near one multipart part, not the body size.

How many parts are alive at once depends on whether the object store takes a part before the
next one fills, which on a loaded machine is chance. So each case fixes that order with events
(never with timing): "S3 keeps up" (every part is stored before more of the body is read) and
"S3 lags" (a part's upload only starts once the parts behind it have filled, the most that
put_stream ever holds). What is held is sampled at those events, each piece put_stream takes
and each part upload, so thread scheduling inside a step cannot move it; the traced peak,
transients included, must still stay far below the body, so no copy of the whole body can hide
between two samples."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import pytest

from crypto import ciphertext_size
from factories import make_tenant, upload_headers, wav
from recstore.object_store import PART_SIZE, PARTS_IN_FLIGHT
from recstore.services import Services

MIB = 1024 * 1024


class PartOrder:
    """Wraps the store's put_stream and part upload to impose one order of events on them."""

    def __init__(self, lag: bool) -> None:
        self.lag = lag
        self.consumed = 0  # bytes put_stream has taken from its pieces
        self.exhausted = False
        self.part_sizes: dict[int, int] = {}
        self.uploading = 0
        self.held = 0  # the most traced memory at any of the events above
        self.changed = asyncio.Condition()

    def _sample(self) -> None:
        if tracemalloc.is_tracing():
            self.held = max(self.held, tracemalloc.get_traced_memory()[0])

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _wait(self, ready: Any) -> None:
        async with self.changed:
            await self.changed.wait_for(ready)

    def install(self, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
        put_stream, upload_part = store.put_stream, store._upload_part

        async def counted(pieces: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
            async for piece in pieces:
                if not self.lag:  # keeps up: nothing more is read while a part is uploading
                    await self._wait(lambda: self.uploading == 0)
                self.consumed += len(piece)
                self._sample()
                await self._notify()
                yield piece
            self.exhausted = True
            await self._notify()

        async def ordered_put_stream(key: str, pieces: AsyncIterable[bytes],
                                     size: int | None = None) -> Any:
            assert size is None  # a body without a length: the multipart path
            return await put_stream(key, counted(pieces))

        async def ordered_upload_part(key: str, upload_id: str, number: int, data: bytes) -> Any:
            self.part_sizes[number] = len(data)
            self.uploading += 1
            try:
                if self.lag:  # lags: stored only once the parts behind it have filled
                    through = sum(size for n, size in self.part_sizes.items() if n <= number)
                    await self._wait(lambda: self.exhausted or self.consumed - through
                                     >= PARTS_IN_FLIGHT * PART_SIZE)
                self._sample()
                return await upload_part(key, upload_id, number, data)
            finally:
                self._sample()
                self.uploading -= 1
                await self._notify()

        monkeypatch.setattr(store, "put_stream", ordered_put_stream)
        monkeypatch.setattr(store, "_upload_part", ordered_upload_part)


# Held at the events: two parts (filling and uploading, or filling and its joined copy) and
# what the pipeline around put_stream buffers, client included (it shares this process).
@pytest.mark.parametrize(("lag", "max_parts"), [(False, 3), (True, 2 + PARTS_IN_FLIGHT)],
                         ids=["s3-keeps-up", "s3-lags"])
async def test_64_mib_upload_peaks_far_below_its_size(client: Any, services: Services,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      lag: bool, max_parts: int) -> None:
    tenant = await make_tenant(services)
    total = 64 * MIB
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, b"",
                             body_sha256=_digest(total))
    order = PartOrder(lag)
    order.install(monkeypatch, services.store)
    response, peak = await _traced_upload(client, tenant.customer_id, headers, total)
    assert response.status == 201, await response.text()
    stored = await services.pool.fetchval("SELECT size_bytes FROM recordings")
    assert stored >= total
    assert len(order.part_sizes) >= total // PART_SIZE  # the order above was really imposed
    assert order.held < max_parts * PART_SIZE, f"held {order.held / MIB:.1f} MiB"
    assert peak < total * 5 // 8, f"peak {peak / MIB:.1f} MiB"  # never a copy of the body


async def test_a_sized_64_mib_upload_streams_in_one_put_holding_no_part(
        client: Any, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Content-Length the object streams up in one PUT, holding no part: what is held
    (traced here, the client in this process included) is the probe's 1 MiB head, a batch
    filling and one encrypting, each with its ciphertext, and the sockets' send buffers.
    The multipart path above holds up to three 8 MiB parts."""
    from recstore import object_http

    tenant = await make_tenant(services)
    total = 64 * MIB
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, b"",
                             body_sha256=_digest(total))
    headers["Content-Length"] = str(total)
    puts: list[int] = []
    real_put = object_http.ObjectHTTP.put

    async def counted_put(self: Any, key: str, size: int, pieces: Any) -> None:
        puts.append(size)
        await real_put(self, key, size, pieces)

    monkeypatch.setattr(object_http.ObjectHTTP, "put", counted_put)
    response, peak = await _traced_upload(client, tenant.customer_id, headers, total)
    assert response.status == 201, await response.text()
    assert puts == [ciphertext_size(total)]
    assert await services.pool.fetchval("SELECT size_bytes FROM recordings") == total
    assert peak < 12 * MIB < 3 * PART_SIZE, f"peak {peak / MIB:.1f} MiB"


def _body_pieces(total: int) -> Iterator[bytes]:
    """A valid WAV head, then 1 MiB pieces of silence: ffprobe only needs the head."""
    head, filler = wav(1.0), bytes(MIB)
    yield head
    size = len(head)
    while size < total:
        take = min(MIB, total - size)
        yield filler if take == MIB else filler[:take]
        size += take


def _digest(total: int) -> str:
    digest = hashlib.sha256()  # computed before measuring: the signature needs it
    for piece in _body_pieces(total):
        digest.update(piece)
    return digest.hexdigest()


async def _traced_upload(client: Any, customer_id: Any, headers: dict[str, str],
                         total: int) -> tuple[Any, int]:
    """The upload's response and the peak of traced memory while it ran."""
    async def stream() -> AsyncIterator[bytes]:
        for piece in _body_pieces(total):
            yield piece

    tracemalloc.start()
    try:
        response = await client.post(f"/webhooks/upload/{customer_id}", data=stream(),
                                     headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak
