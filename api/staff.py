"""Staff routes (/staff/v1): operational metadata of any customer, audio only under a live
grant of that customer, and access requests."""

from __future__ import annotations

from aiohttp import web

from api.grants_models import (
    AccessRequest,
    AccessRequestCreate,
    AccessRequestPage,
    PageQuery,
    StaffRecording,
    StaffRecordingPage,
    StaffRecordingQuery,
)
from api.parsing import parse_body, parse_query, path_uuid
from api.recordings import requested_range, stream_audio
from api.security import principal
from recstore.appkeys import services_key
from recstore.consent import access_requests as request_store
from recstore.consent import staff_views
from recstore.consent.grants import Scope, stream_guard
from recstore.errors import Forbidden


async def staff_list_recordings(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    customer_id = path_uuid(request, "customer_id")
    query = parse_query(request, StaffRecordingQuery)
    async with svc.pool.acquire() as conn:
        views, next_cursor = await staff_views.list_for_staff(
            conn, who.user_id, customer_id, limit=query.limit, cursor=query.cursor,
            since=query.since, until=query.until)
    page = StaffRecordingPage(items=[StaffRecording.model_validate(v) for v in views],
                              next_cursor=next_cursor)
    return web.json_response(page.model_dump(mode="json"))


async def staff_get_recording(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    recording_id = path_uuid(request, "id")
    async with svc.pool.acquire() as conn:
        view = await staff_views.get_for_staff(conn, who.user_id, recording_id)
    return web.json_response(StaffRecording.model_validate(view).model_dump(mode="json"))


async def staff_get_audio(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], principal(request)
    recording_id = path_uuid(request, "id")
    try:
        async with svc.pool.acquire() as conn:
            audio = await staff_views.open_audio_for_staff(
                conn, svc.keys, who.user_id, recording_id, requested_range(request))
    except Forbidden:
        svc.metrics.access_denied.labels("no_grant").inc()
        raise

    async def on_cut() -> None:
        async with svc.pool.acquire() as conn:
            await staff_views.log_cut_off(conn, audio, who.user_id)

    guard = stream_guard(svc.pool, audio.grant_id, on_cut)
    return await stream_audio(request, svc, audio.row, None, audio.chosen, guard,
                              data_key=audio.data_key)


async def staff_create_access_request(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    body = await parse_body(request, AccessRequestCreate)
    async with svc.pool.acquire() as conn:
        row = await request_store.create_request(
            conn, staff_id=who.user_id, customer_id=body.customer_id,
            scope=Scope(body.all, tuple(body.recording_ids or ())), reason=body.reason,
            ticket=body.ticket)
    out = AccessRequest.model_validate(request_store.request_view(row))
    return web.json_response(out.model_dump(mode="json"), status=201)


async def staff_list_access_requests(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    query = parse_query(request, PageQuery)
    async with svc.pool.acquire() as conn:
        page = await request_store.list_staff_requests(conn, who.user_id, limit=query.limit,
                                                       cursor=query.cursor)
    items = [AccessRequest.model_validate(request_store.request_view(r)) for r in page.rows]
    out = AccessRequestPage(items=items, next_cursor=page.next_cursor)
    return web.json_response(out.model_dump(mode="json"))
