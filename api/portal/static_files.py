"""The portal's few static files, read once at start and served from memory.

aiohttp's FileResponse opens the file in a worker thread: a request cancelled meanwhile (a
browser dropping its favicon request) leaves that file open, an fd leaked until garbage
collection. Three small files need no file I/O per request at all.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from recstore.errors import NotFound


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load(directory: Path) -> dict[str, StaticFile]:
    files = {}
    for path in sorted(directory.iterdir()):
        if path.is_file():
            body = path.read_bytes()
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[path.name] = StaticFile(body, content_type,
                                          f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return files


def handler(files: dict[str, StaticFile]
            ) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def serve(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise NotFound()
        headers = {"ETag": found.etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == found.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, content_type=found.content_type,
                            charset="utf-8" if found.content_type.startswith("text/") else None,
                            headers=headers)

    return serve
