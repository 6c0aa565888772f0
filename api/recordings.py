"""Customer recording routes: list and search, read, stream audio (with Range), delete."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from aiohttp import web

from api.cutoff import cut_off_when_denied
from api.models import Recording, RecordingListQuery, RecordingPage
from api.parsing import parse_query, path_uuid
from api.security import CUSTOMER_ROLES, customer_of, starts_early
from crypto import CustomerKeyPair, normalize_phone
from recstore import audit
from recstore.accounts.customers import customer_row
from recstore.appkeys import services_key, streaming_started_key
from recstore.auth.tokens import Claims
from recstore.errors import Invalid
from recstore.object_store import ObjectStoreError
from recstore.recordings.audio import extension_for
from recstore.recordings.caller_index import caller_search_indexes
from recstore.recordings.read import (
    AudioSlice,
    KeyPairCache,
    ReadAhead,
    choose_slice,
    customer_view,
    data_key_for,
    decrypt_audio,
    list_page,
)
from recstore.recordings.store import object_key_for
from recstore.rights.erasure import erase_recording, live_row
from recstore.services import Services


async def list_recordings(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    query = parse_query(request, RecordingListQuery)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        caller_indexes = None
        if query.caller is not None:
            try:
                number = normalize_phone(query.caller)
            except ValueError:
                raise Invalid("caller is not a phone number") from None
            caller_indexes = await caller_search_indexes(
                svc.keys, await customer_row(conn, who.customer_id), number)
        page = await list_page(conn, who.customer_id, limit=query.limit, cursor=query.cursor,
                               since=query.since, until=query.until, caller_indexes=caller_indexes)
        pairs = KeyPairCache(conn, svc.keys, who.customer_id)
        items = [Recording.model_validate(await customer_view(row, pairs)) for row in page.rows]
    out = RecordingPage(items=items, next_cursor=page.next_cursor)
    return web.json_response(out.model_dump(mode="json"))


async def get_recording(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    recording_id = path_uuid(request, "id")
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        row = await live_row(conn, who.customer_id, recording_id)
        view = await customer_view(row, KeyPairCache(conn, svc.keys, who.customer_id))
        await audit.append(conn, who.customer_id, actor_type="customer", actor_id=who.user_id,
                           action="recording.metadata_read", recording_id=recording_id)
    return web.json_response(Recording.model_validate(view).model_dump(mode="json"))


_read_ahead_key = web.RequestKey("read_ahead", ReadAhead)


def _read_ahead(request: web.Request, claims: Claims) -> Callable[[], Awaitable[None]] | None:
    """A short Range's chunks, fetched while the token's user and the row are checked."""
    if claims.customer_id is None or claims.role not in CUSTOMER_ROLES:
        return None
    try:
        recording_id = UUID(request.match_info["id"])
    except ValueError:
        return None
    ahead = ReadAhead.for_range(request.app[services_key].store,
                                object_key_for(claims.customer_id, recording_id),
                                requested_range(request))
    if ahead is None:
        return None
    request[_read_ahead_key] = ahead
    return ahead.drop


@starts_early(_read_ahead)
async def get_audio(request: web.Request) -> web.StreamResponse:
    return await send_customer_audio(request)


async def send_customer_audio(request: web.Request, *, download: bool = False
                              ) -> web.StreamResponse:
    """The customer's audio, for the API and the portal alike (`download`: as a named file)."""
    svc, who = request.app[services_key], customer_of(request)
    recording_id = path_uuid(request, "id")
    customer_id = who.customer_id
    assert customer_id is not None
    http_range = requested_range(request)
    ahead = request.get(_read_ahead_key) or ReadAhead.for_range(
        svc.store, object_key_for(customer_id, recording_id), http_range)
    try:
        async with svc.pool.acquire() as conn:
            row = await live_row(conn, customer_id, recording_id)
            chosen = choose_slice(int(row["size_bytes"]), http_range)
            data_key = await data_key_for(
                row, lambda: svc.keys.keypair(conn, customer_id, row["epoch"]),
                epoch_alive=lambda: svc.keys.epochs.get(row["epoch"]) is not None)
    except BaseException:
        if ahead is not None:
            await ahead.drop()
        raise

    async def audited() -> None:
        async with svc.pool.acquire() as conn:
            await audit.append(conn, customer_id, actor_type="customer", actor_id=who.user_id,
                               action="recording.audio_read", recording_id=recording_id)

    filename = download_name(row) if download else None
    # A customer's read of their own recording is logged alongside the transfer, not before
    # its first byte (docs/BENCHMARKS.md, "Range reads"); the response completes only once
    # the entry is written, and a failure to write it cuts the connection.
    entry = asyncio.ensure_future(audited())
    try:
        return await stream_audio(request, svc, row, None, chosen, data_key=data_key,
                                  access_entry=entry, filename=filename, ahead=ahead)
    except ObjectStoreError:
        async with svc.pool.acquire() as conn:  # deleted meanwhile: 404, not an outage
            await live_row(conn, customer_id, recording_id)
        raise


async def delete_recording(request: web.Request) -> web.Response:
    """Crypto-shred, then remove object and row; 404 afterwards, as for any unknown id."""
    svc, who = request.app[services_key], customer_of(request)
    recording_id = path_uuid(request, "id")
    assert who.customer_id is not None
    await erase_recording(svc.pool, svc.store, who.customer_id, recording_id, who.user_id)
    return web.Response(status=204)


def download_name(row: asyncpg.Record) -> str:
    """Kind and time, no caller: file names end up in download folders and sync services."""
    return (f"recstore-{row['kind']}-{row['recorded_at']:%Y%m%d-%H%M%S}"
            f".{extension_for(row['content_type'])}")


_EMPTY_SUFFIX = re.compile(r"bytes=\s*-0+\s*")


def requested_range(request: web.Request) -> slice | None:
    if _EMPTY_SUFFIX.fullmatch(request.headers.get("Range", "")):
        return slice(0, 0)  # "bytes=-0" asks for no bytes: unsatisfiable, not the whole file
    try:
        return request.http_range if "Range" in request.headers else None
    except ValueError:
        return None  # RFC 9110: an unparseable Range is ignored, the whole body is sent


async def stream_audio(
    request: web.Request,
    svc: Services,
    row: asyncpg.Record,
    pair: CustomerKeyPair | None,
    chosen: AudioSlice,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
    *,
    data_key: bytes | None = None,
    access_entry: asyncio.Future[None] | None = None,
    filename: str | None = None,
    ahead: ReadAhead | None = None,
) -> web.StreamResponse:
    """`access_entry` (the access-log entry being written) is awaited before the end of the
    body: no response completes without it."""
    response = web.StreamResponse(status=206 if chosen.partial else 200)
    if filename is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.content_type = row["content_type"]
    response.content_length = chosen.length
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["ETag"] = f'"{bytes(row["sha256"]).hex()}"'
    response.headers["Cache-Control"] = "private, no-store"
    if chosen.partial:
        response.headers["Content-Range"] = f"bytes {chosen.start}-{chosen.end}/{chosen.total}"
    pieces = decrypt_audio(svc.store, row, pair, chosen, data_key=data_key,
                           still_allowed=still_allowed, ahead=ahead)
    try:
        first = await anext(pieces, b"")  # fail before the status line if the object is broken
        await response.prepare(request)
        request[streaming_started_key] = True  # from here an error can only cut the connection
        async with cut_off_when_denied(request, still_allowed):
            if first:
                await response.write(first)
            async for piece in pieces:
                await response.write(piece)
        if access_entry is not None:
            await access_entry
        await response.write_eof()
    finally:
        await pieces.aclose()  # a client that went away: stop reading the store now
        if ahead is not None:
            await ahead.drop()  # unused (another range, an empty one): retrieved unread
        if access_entry is not None and not access_entry.done():
            with contextlib.suppress(BaseException):
                await access_entry  # written even when the transfer failed, as before
    return response
