"""Reading recordings: listing with cursors, metadata, and decrypting audio on the fly."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from crypto import (
    HEADER_SIZE,
    ChunkOpener,
    CryptoError,
    CustomerKeyPair,
    open_data_key,
    open_field,
    plan_range,
)
from crypto.stream_format import CHUNK_SIZE, CIPHER_CHUNK_SIZE
from recstore.db import Connection
from recstore.errors import Forbidden, Invalid, NotFound, RangeNotSatisfiable
from recstore.keys import KeyService
from recstore.object_store import ObjectReader, ObjectStore, ObjectStoreError
from recstore.recordings.opened import OPENED
from recstore.recordings.prefetch import Prefetcher
from recstore.recordings.store import field_context

MAX_PAGE = 200
PIECE_CHUNKS = 8  # 512 KiB pieces: few thread hops per MiB, a few MiB of memory per stream
GUARDED_PIECE_CHUNKS = 4  # 256 KiB: how far a staff download may run past a revocation
PREFETCH_DEPTH = 3  # pieces read and decrypted ahead of the one being sent
INLINE_OPEN_BYTES = 2 * CIPHER_CHUNK_SIZE  # opened on the loop: a Range read's chunk or two

OPERATIONAL_FIELDS = (
    "id", "kind", "provider", "provider_recording_id", "recorded_at", "received_at",
    "expires_at", "duration_ms", "content_type", "size_bytes", "sha256",
)
IDENTITY_FIELDS = ("caller_number", "caller_name", "callee_number")


@dataclass(frozen=True)
class Page:
    rows: list[asyncpg.Record]
    next_cursor: str | None


# A cursor is base64url of 8 bytes of signed microseconds since 1970 and a 16-byte id: 32
# characters, and every string of that form decodes (the OpenAPI pattern is exact).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_cursor(recorded_at: datetime, recording_id: UUID) -> str:
    micros = (recorded_at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big", signed=True) + recording_id.bytes
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise Invalid("cursor is not valid")
    raw = base64.urlsafe_b64decode(cursor)
    micros = min(max(int.from_bytes(raw[:8], "big", signed=True), _MIN_MICROS), _MAX_MICROS)
    return _EPOCH + timedelta(microseconds=micros), UUID(bytes=raw[8:])


async def list_page(
    conn: Connection,
    customer_id: UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    caller_index: bytes | None = None,
    caller_indexes: Sequence[bytes] | None = None,
) -> Page:
    """Newest first by (recorded_at, id): a keyset cursor stays stable under inserts.
    `caller_indexes`: the caller's blind index under each live epoch (any may match)."""
    if caller_index is not None:
        caller_indexes = [caller_index, *(caller_indexes or ())]
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    # Past its expiry, or with its key shredded, a recording is gone to readers even before
    # the scheduler removes it: nothing is served after the retention limit.
    where = ["customer_id = $1", "shredded_at IS NULL", "expires_at > now()"]
    args: list[Any] = [customer_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if cursor is not None:
        at, rid = decode_cursor(cursor)
        where.append(f"(recorded_at, id) < ({arg(at)}, {arg(rid)})")
    if since is not None:
        where.append(f"recorded_at >= {arg(since)}")
    if until is not None:
        where.append(f"recorded_at < {arg(until)}")
    if caller_indexes is not None and len(caller_indexes) == 1:
        where.append(f"caller_index = {arg(caller_indexes[0])}")
        caller_indexes = None
    order = " ORDER BY recorded_at DESC, id DESC LIMIT "
    lim = arg(limit + 1)
    filters = " AND ".join(where)
    if caller_indexes is None:
        sql = f"SELECT * FROM recordings WHERE {filters}{order}{lim}"  # noqa: S608 - placeholders
    elif not caller_indexes:
        return Page([], None)  # no live epoch: nothing can match
    else:
        # One branch per live epoch's index, each an ordered index scan with its own limit:
        # a row only ever matches under its own epoch's key.
        branches = [f"(SELECT * FROM recordings WHERE {filters} AND caller_index ="  # noqa: S608
                    f" {arg(index)}{order}{lim})" for index in caller_indexes]
        sql = f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS r{order}{lim}"  # noqa: S608
    rows = await conn.fetch(sql, *args)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["recorded_at"], rows[-1]["id"])
    return Page(list(rows), next_cursor)


async def get_row(conn: Connection, customer_id: UUID, recording_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM recordings WHERE id = $1 AND customer_id = $2 AND shredded_at IS NULL"
        " AND expires_at > now()", recording_id, customer_id
    )
    if row is None:
        raise NotFound()
    return row


def operational_view(row: asyncpg.Record) -> dict[str, Any]:
    view = {name: row[name] for name in OPERATIONAL_FIELDS}
    view["identity"] = row["caller_identity"]  # named so that staff views mention no caller
    view["sha256"] = bytes(row["sha256"]).hex()
    return view


class KeyPairCache:
    """One request's unwrapped key pairs, by epoch, so a page unwraps each month once."""

    def __init__(self, conn: Connection, keys: KeyService, customer_id: UUID) -> None:
        self._conn, self._keys, self._customer_id = conn, keys, customer_id
        self._pairs: dict[str, CustomerKeyPair] = {}

    async def get(self, epoch: str) -> CustomerKeyPair:
        if epoch not in self._pairs:
            self._pairs[epoch] = await self._keys.keypair(self._conn, self._customer_id, epoch)
        return self._pairs[epoch]


async def customer_view(row: asyncpg.Record, pairs: KeyPairCache) -> dict[str, Any]:
    view = operational_view(row)
    pair = await pairs.get(row["epoch"])
    for name in IDENTITY_FIELDS:
        sealed = row[f"{name}_sealed"]
        view[name] = (open_field(pair, bytes(sealed), context=field_context(name, row["id"]))
                      if sealed is not None else None)
    return view


@dataclass(frozen=True)
class AudioSlice:
    start: int
    end: int  # inclusive
    total: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1 if self.total else 0


def choose_slice(total: int, http_range: slice | None) -> AudioSlice:
    """Turn aiohttp's parsed Range (start/stop, stop exclusive) into a satisfiable slice."""
    if http_range is None or (http_range.start is None and http_range.stop is None):
        return AudioSlice(0, max(total - 1, 0), total, partial=False)
    start, stop = http_range.start, http_range.stop
    if start is not None and start < 0:  # suffix range "bytes=-N"
        start, stop = max(total + start, 0), total
    start = start or 0
    stop = total if stop is None else min(stop, total)
    if total == 0 or start >= total or stop <= start:
        raise RangeNotSatisfiable(total)
    return AudioSlice(start, stop - 1, total, partial=True)


async def data_key_for(row: asyncpg.Record,
                       pair: Callable[[], Awaitable[CustomerKeyPair]], *,
                       epoch_alive: Callable[[], bool]) -> bytes:
    """The recording's data key: from OPENED if it was opened seconds ago, else unwrapped.

    Call only with a row this request just found live for its customer. `epoch_alive` is
    asked before a cached key is served: once the epoch's secret is destroyed (by any
    process), a row restored from a backup must not open from this process's memory."""
    opened = OPENED.get(row)
    if opened is not None and epoch_alive():
        return opened.data_key
    data_key = open_data_key(await pair(), bytes(row["sealed_data_key"]))
    OPENED.put(row, data_key, None)
    return data_key


class _Pieces:
    """The steps of one read for a Prefetcher thread: read a piece, open it, hand it over.

    One thread per stream does both, reading straight into the piece's buffer and opening
    it in place: with the GIL shared by every thread of the process, a thread for reading
    and another for decrypting would spend more on handing pieces between them (and on
    waiting for the GIL) than they gain, which measured slower (docs/BENCHMARKS.md).
    """

    def __init__(self, reader: ObjectReader, opener: ChunkOpener, first_chunk: int,
                 piece_size: int, first: bytearray | None = None) -> None:
        self._reader, self._opener = reader, opener
        self._index, self._piece_size, self._first = first_chunk, piece_size, first

    def step(self) -> bytearray | None:
        data, self._first = self._first, None
        if data is None:
            if not self._reader.remaining:
                return None
            data = self._reader.read(self._piece_size)
        plaintext = self._opener.open(self._index, data)
        self._index += -(-len(data) // CIPHER_CHUNK_SIZE)
        return plaintext


class _Trim:
    """Cuts opened chunks to the requested bytes: `skip` from the start, `length` in all."""

    def __init__(self, skip: int, length: int) -> None:
        self.skip, self.remaining = skip, length

    def __call__(self, plain: bytearray) -> bytearray:
        if self.skip:
            cut = min(self.skip, len(plain))
            plain, self.skip = plain[cut:], self.skip - cut
        out = plain[:self.remaining] if len(plain) > self.remaining else plain
        self.remaining -= len(out)
        return out


class ReadAhead:
    """The ciphertext a short Range needs, fetched while the request's row is looked up.

    A bounded Range names its chunks, so their bytes are known before the row is: the GET
    starts at once, under the key this customer's recording would have, and its bytes are
    used only after the row was found live for this customer, at that same key (and then
    only once authenticated, as any other chunk). Otherwise they are dropped unread.
    """

    def __init__(self, store: ObjectStore, key: str, start: int, end: int) -> None:
        self.key, self.start, self.end = key, start, end
        self._bytes = asyncio.ensure_future(store.get_range(key, start, end - start + 1))

    @classmethod
    def for_range(cls, store: ObjectStore, key: str,
                  http_range: slice | None) -> ReadAhead | None:
        start = http_range.start if http_range is not None else None
        stop = http_range.stop if http_range is not None else None
        if start is None or stop is None or not 0 <= start < stop:
            return None
        first, last = start // CHUNK_SIZE, (stop - 1) // CHUNK_SIZE
        if last - first >= 2:
            return None  # not a player's small read: the streaming path serves it
        return cls(store, key, HEADER_SIZE + first * CIPHER_CHUNK_SIZE,
                   HEADER_SIZE + (last + 1) * CIPHER_CHUNK_SIZE - 1)

    def covers(self, key: str, start: int, end: int) -> bool:
        return key == self.key and start == self.start and end <= self.end

    async def take(self, length: int) -> bytes:
        data = await self._bytes
        if len(data) < length:
            raise ObjectStoreError("get failed: object shorter than expected")
        return data[:length]

    async def drop(self) -> None:
        if not self._bytes.done():
            self._bytes.cancel()
        with contextlib.suppress(BaseException):
            await self._bytes


async def decrypt_audio(
    store: ObjectStore,
    row: asyncpg.Record,
    pair: CustomerKeyPair | None,
    chosen: AudioSlice,
    *,
    data_key: bytes | None = None,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ahead: ReadAhead | None = None,
) -> AsyncGenerator[bytearray, None]:
    """Yield plaintext of `chosen`, touching only the chunks that cover it.

    The chunks stream over one ranged GET per READ_WINDOW (the header joins the first one,
    unless it starts mid-object: then it comes from OPENED or a GET at the same time), and
    up to PREFETCH_DEPTH pieces are read and decrypted ahead of the caller.

    `still_allowed` is checked before each piece is yielded (so a piece read ahead is never
    sent after access ended), and pieces are then 256 KiB, each its own GET, one ahead: a
    revoked grant or an erased object cuts a download off within a piece or two. Forbidden
    is raised, because once headers are out only a cut connection tells the client (a short
    body would leave it waiting for the promised Content-Length). Authentication failures
    raise CryptoError: no unauthenticated byte is ever yielded. `ahead` may hold the bytes
    of the chunks already (ReadAhead): then no GET of them is made here.
    """
    if chosen.length == 0:
        return
    if data_key is None:
        assert pair is not None
        data_key = open_data_key(pair, bytes(row["sealed_data_key"]))
    key, total = row["object_key"], int(row["size_bytes"])
    plan = plan_range(chosen.start, chosen.end, total)
    opened = OPENED.get(row)
    header = opened.header if opened is not None else None
    with_header = header is None and plan.first_chunk == 0
    start = 0 if with_header else plan.cipher_start
    guarded = still_allowed is not None
    piece_size = (GUARDED_PIECE_CHUNKS if guarded else PIECE_CHUNKS) * CIPHER_CHUNK_SIZE
    if ahead is not None and not guarded and ahead.covers(key, plan.cipher_start,
                                                          plan.cipher_end):
        with_header, start = False, plan.cipher_start
        reader = store.open_read(key, plan.cipher_end + 1, 0)  # every byte is in `ahead`
    else:
        ahead = None
        reader = store.open_read(key, start, plan.cipher_end - start + 1,
                                 window=piece_size if guarded else None)
    prefetch: Prefetcher | None = None
    try:
        first: bytearray | None = None
        length = plan.cipher_end - start + 1
        if ahead is not None:
            if header is None:
                header, data = await asyncio.gather(store.get_range(key, 0, HEADER_SIZE),
                                                    ahead.take(length))
            else:
                data = await ahead.take(length)
            first = bytearray(data)
        elif with_header:
            header = bytes(await asyncio.to_thread(reader.read, HEADER_SIZE))
        elif header is None:  # a Range that starts mid-object: both GETs at once
            header, first = await asyncio.gather(
                store.get_range(key, 0, HEADER_SIZE), asyncio.to_thread(reader.read, piece_size))
        assert header is not None
        opener = ChunkOpener(data_key, header, customer_id=row["customer_id"],
                             recording_id=row["id"], plaintext_size=total)
        pieces = _Pieces(reader, opener, plan.first_chunk, piece_size, first)
        if reader.remaining <= INLINE_OPEN_BYTES:  # a Range read: no thread of its own
            piece = pieces.step() if first is not None and len(first) <= INLINE_OPEN_BYTES \
                else await asyncio.to_thread(pieces.step)
            rest = await asyncio.to_thread(pieces.step) if reader.remaining else None
            piece = piece if rest is None or piece is None else piece + rest
        else:
            prefetch = Prefetcher(pieces.step, pieces.step, depth=1 if guarded else PREFETCH_DEPTH,
                                  on_exit=reader.close)
            piece = await prefetch.next()
        OPENED.put(row, data_key, header)  # only once a chunk authenticated under it
        trim = _Trim(plan.skip, plan.length)
        while piece is not None:
            # Checked before each piece leaves, however far ahead the reading is.
            if still_allowed is not None and not await still_allowed():
                raise Forbidden("access ended during the download")
            out = trim(piece)
            if out:
                yield out
            piece = await prefetch.next() if prefetch is not None else None
        if trim.remaining:
            raise CryptoError()  # the object ended before the range did
    finally:
        if prefetch is not None:
            prefetch.stop()  # the thread closes the reader when it stops
        else:
            reader.close()
