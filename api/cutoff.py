"""Cutting a staff download off the moment its grant ends, whatever the client's read speed.

The per-piece check in decrypt_audio runs only when the next piece is written; a client that
reads slowly keeps the handler blocked in a write while megabytes sit in socket buffers. So
a watcher also checks every CHECK_SECONDS, and a cut resets the connection (SO_LINGER 0):
what is still queued on this side is discarded instead of flushed to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from recstore.errors import Forbidden

CHECK_SECONDS = 0.5


def reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _watch(request: web.Request, still_allowed: Callable[[], Awaitable[bool]]) -> None:
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            allowed = await still_allowed()
        except Forbidden:
            allowed = False
        if not allowed:
            reset_connection(request)
            return


@contextlib.asynccontextmanager
async def cut_off_when_denied(request: web.Request,
                              still_allowed: Callable[[], Awaitable[bool]] | None
                              ) -> AsyncIterator[None]:
    """Around the writing of a guarded body: watched meanwhile, reset on a refusal."""
    if still_allowed is None:
        yield
        return
    watcher = asyncio.create_task(_watch(request, still_allowed))
    try:
        yield
    except Forbidden:
        reset_connection(request)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
