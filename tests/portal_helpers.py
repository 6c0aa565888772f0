"""Builders for the portal tests: stored voicemail (through the one storing path, not the
HTTP upload) and a signed-in cookie session driven like a browser's form posts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from factories import PASSWORD, wav
from recstore.recordings.store import IncomingRecording, store_recording
from recstore.services import Services

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def store_voicemail(svc: Services, customer_id: UUID, *, seconds: float = 1.0,
                          caller: str | None = "+46701234567", name: str | None = "Anna Svensson",
                          recorded_at: datetime | None = None, kind: str = "voicemail"
                          ) -> tuple[UUID, bytes]:
    audio = wav(seconds)

    async def body() -> AsyncIterator[bytes]:
        yield audio

    stored = await store_recording(
        svc.pool, svc.store, svc.keys,
        IncomingRecording(customer_id, "upload", kind=kind, recorded_at=recorded_at,
                          caller_number=caller, caller_name=name, callee_number="+46812345678"),
        body(), max_bytes=10_000_000)
    return stored.recording_id, audio


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def form_post(client: Any, path: str, data: dict[str, str], *, page: str = "/",
                    **kwargs: Any) -> Any:
    """POST a form the way a browser does: with the CSRF token of the page it came from."""
    html = await (await client.get(page)).text()
    origin = str(client.make_url("/")).rstrip("/")
    return await client.post(path, data={**data, "csrf": csrf_of(html)},
                             headers={"Origin": origin}, allow_redirects=False, **kwargs)


async def sign_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    response = await form_post(client, "/login", {"email": email, "password": password})
    assert response.status == 303, await response.text()
    return response
